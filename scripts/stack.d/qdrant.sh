# shellcheck shell=bash
# scripts/stack.d/qdrant.sh: a Qdrant server for scripts/stack (sourced by it;
# defines qdrant_supports/_up/_down/_status/_env/_restart and overrides its stub).
#
#   scripts/stack up|down|restart|status|env qdrant
#
# No package registry serves a Qdrant server, so scripts/stack does not install
# one: it starts a binary you provide, TUNEBENCH_QDRANT_BIN, or
# $CACHE/qdrant/bin/qdrant when that exists. Ways to get one:
#   - Docker users: the `qdrant` service of docker-compose.yml (same ports and
#     version; then you do not need this file at all);
#   - the release archive of the tested version from Qdrant's GitHub releases,
#     https://github.com/qdrant/qdrant/releases (qdrant-x86_64-unknown-linux-gnu.tar.gz);
#   - a build from Qdrant's source at the tested tag: `cargo build --release
#     --bin qdrant` (needs protoc and clang; about 1.5 h on 2 cores: docs/qdrant.md
#     says how it was built for tunebench's own verification).
# Tested version: QDRANT_TESTED below (docker-compose.yml runs the same).
#
# The server listens on 127.0.0.1 only, with telemetry reporting off, its
# storage and snapshots in $CACHE/qdrant/, its log in $CACHE/qdrant/qdrant.log
# and its PID in $CACHE/qdrant/qdrant.pid. It runs as the calling user.
#
# Environment (defaults in brackets; docker-compose.yml uses the same ports):
#   TUNEBENCH_QDRANT_BIN        the server binary [$CACHE/qdrant/bin/qdrant]
#   TUNEBENCH_QDRANT_HTTP_PORT  REST port [6333]
#   TUNEBENCH_QDRANT_GRPC_PORT  gRPC port [6334] (what tunebench's qdrant target talks to)

QDRANT_TESTED=1.19.0
QDRANT_HOME="$CACHE/qdrant"
QDRANT_BIN="${TUNEBENCH_QDRANT_BIN:-$QDRANT_HOME/bin/qdrant}"
QDRANT_HTTP_PORT="${TUNEBENCH_QDRANT_HTTP_PORT:-6333}"
QDRANT_GRPC_PORT="${TUNEBENCH_QDRANT_GRPC_PORT:-6334}"
QDRANT_STORAGE="$QDRANT_HOME/storage"
QDRANT_SNAPSHOTS="$QDRANT_HOME/snapshots"
QDRANT_LOG="$QDRANT_HOME/qdrant.log"
QDRANT_PIDFILE="$QDRANT_HOME/qdrant.pid"

qdrant_check_settings() {
  local v
  for v in QDRANT_HTTP_PORT QDRANT_GRPC_PORT; do
    [[ "${!v}" =~ ^[0-9]+$ ]] && (( ${!v} > 0 && ${!v} < 65536 )) \
      || { log "error: TUNEBENCH_$v must be a TCP port, got '${!v}'"; exit 2; }
  done
  [[ "$QDRANT_HTTP_PORT" != "$QDRANT_GRPC_PORT" ]] \
    || { log "error: TUNEBENCH_QDRANT_HTTP_PORT and TUNEBENCH_QDRANT_GRPC_PORT are both $QDRANT_HTTP_PORT"; exit 2; }
}

qdrant_installed() { [[ -x "$QDRANT_BIN" ]]; }

qdrant_how_to_get() {
  log "qdrant: no server binary at $QDRANT_BIN. No package registry serves one, so scripts/stack does not install it." \
      "Provide Qdrant $QDRANT_TESTED (a release archive from https://github.com/qdrant/qdrant/releases, or a build of tag v$QDRANT_TESTED)" \
      "as $QDRANT_HOME/bin/qdrant or via TUNEBENCH_QDRANT_BIN, or run the qdrant service of docker-compose.yml." \
      "Without a server, qdrant targets use the embedded engine (qdrant-edge)."
}

qdrant_supports() {
  qdrant_check_settings
  case "$1" in
    up|restart) qdrant_installed || { qdrant_how_to_get; exit 2; } ;;
  esac
}

qdrant_version() {
  qdrant_installed && "$QDRANT_BIN" --version 2>/dev/null | awk 'NR==1 { print $NF }'
}

# PID of the server started from this cache, or nothing. The PID file is trusted only if
# that process is alive and runs with our storage folder; otherwise it is removed.
qdrant_pid() {
  local pid
  [[ -f "$QDRANT_PIDFILE" ]] || return 0
  pid="$(head -n1 "$QDRANT_PIDFILE" 2>/dev/null || true)"
  if [[ "$pid" =~ ^[0-9]+$ ]] && pid_alive "$pid" \
     && tr '\0' '\n' <"/proc/$pid/environ" 2>/dev/null | grep -qxF -- "QDRANT__STORAGE__STORAGE_PATH=$QDRANT_STORAGE"; then
    echo "$pid"
    return 0
  fi
  rm -f "$QDRANT_PIDFILE" 2>/dev/null || true
  return 0
}

qdrant_log_tail() {
  if [[ -f "$QDRANT_LOG" ]]; then
    log "last 30 lines of $QDRANT_LOG:"
    tail -n 30 "$QDRANT_LOG" >&2 || true
  fi
}

qdrant_start() {
  local p
  for p in "$QDRANT_HTTP_PORT" "$QDRANT_GRPC_PORT"; do
    port_in_use "$p" \
      && die "qdrant: 127.0.0.1:$p is already in use by another process; stop it or set TUNEBENCH_QDRANT_HTTP_PORT / TUNEBENCH_QDRANT_GRPC_PORT"
  done
  mkdir -p "$QDRANT_STORAGE" "$QDRANT_SNAPSHOTS"
  if [[ -f "$QDRANT_LOG" ]] && (( $(stat -c %s "$QDRANT_LOG") > 100 * 1024 * 1024 )); then
    mv -f "$QDRANT_LOG" "$QDRANT_LOG.old"
  fi
  log "qdrant: starting $(qdrant_version) on 127.0.0.1:$QDRANT_HTTP_PORT (REST) and :$QDRANT_GRPC_PORT (gRPC), log $QDRANT_LOG"
  printf '\n===== %s scripts/stack: starting qdrant =====\n' "$(date -u +%FT%TZ)" >>"$QDRANT_LOG"
  rm -f "$QDRANT_PIDFILE"
  (
    cd "$QDRANT_HOME"
    # A clean environment: only what the server should see.
    while IFS= read -r v; do
      case "$v" in PATH|LANG|LC_*|TZ|HOME) ;; *) unset "$v" 2>/dev/null || true ;; esac
    done < <(compgen -e)
    export QDRANT__SERVICE__HOST=127.0.0.1
    export QDRANT__SERVICE__HTTP_PORT="$QDRANT_HTTP_PORT"
    export QDRANT__SERVICE__GRPC_PORT="$QDRANT_GRPC_PORT"
    export QDRANT__STORAGE__STORAGE_PATH="$QDRANT_STORAGE"
    export QDRANT__STORAGE__SNAPSHOTS_PATH="$QDRANT_SNAPSHOTS"
    export QDRANT__TELEMETRY_DISABLED=true
    export QDRANT__CLUSTER__ENABLED=false
    # shellcheck disable=SC2016
    setsid -f /bin/sh -c 'echo $$ >"$1" && shift && exec "$@"' tunebench-qdrant \
      "$QDRANT_PIDFILE" "$QDRANT_BIN" --disable-telemetry </dev/null >>"$QDRANT_LOG" 2>&1 9>&-
  ) || { qdrant_log_tail; die "qdrant: could not start $QDRANT_BIN"; }
  local deadline=$((SECONDS + 10))
  until [[ -n "$(qdrant_pid)" ]]; do
    if (( SECONDS >= deadline )); then
      log "error: qdrant exited right after start"
      qdrant_log_tail
      exit 1
    fi
    sleep 0.2
  done
}

# Waits until /readyz answers (collections loaded), for at most 120 s.
qdrant_wait_ready() {
  local deadline=$((SECONDS + 120)) pid
  until curl -fsS -o /dev/null --noproxy '*' --max-time 2 "http://127.0.0.1:$QDRANT_HTTP_PORT/readyz" 2>/dev/null; do
    pid="$(qdrant_pid)"
    if [[ -z "$pid" ]]; then
      log "error: qdrant exited during startup"
      qdrant_log_tail
      exit 1
    fi
    if (( SECONDS >= deadline )); then
      log "error: qdrant (pid $pid) was not ready on 127.0.0.1:$QDRANT_HTTP_PORT within 120 s"
      qdrant_log_tail
      exit 1
    fi
    sleep 0.3
  done
}

qdrant_up() {
  command -v curl >/dev/null 2>&1 || die "qdrant: curl is needed to check the server's readiness"
  lock_cache
  mkdir -p "$QDRANT_HOME"
  local pid version
  pid="$(qdrant_pid)"
  if [[ -n "$pid" ]]; then
    log "qdrant: already running (pid $pid)"
  else
    qdrant_start
  fi
  qdrant_wait_ready
  version="$(qdrant_version)"
  [[ "$version" == "$QDRANT_TESTED" ]] \
    || log "qdrant: note: $QDRANT_BIN is version ${version:-unknown}; tunebench was tested with $QDRANT_TESTED"
  log "qdrant: ready at http://127.0.0.1:$QDRANT_GRPC_PORT (gRPC), http://127.0.0.1:$QDRANT_HTTP_PORT (REST)"
}

qdrant_stop_pid() {
  stop_pid qdrant "$1" 30
  rm -f "$QDRANT_PIDFILE"
  log "qdrant: stopped"
}

qdrant_down() {
  [[ -d "$QDRANT_HOME" ]] || { log "qdrant: not initialised; nothing to stop"; return 0; }
  lock_cache
  local pid
  pid="$(qdrant_pid)"
  if [[ -z "$pid" ]]; then
    log "qdrant: not running"
    return 0
  fi
  qdrant_stop_pid "$pid"
}

qdrant_restart() {
  lock_cache
  local pid
  pid="$( [[ -d "$QDRANT_HOME" ]] && qdrant_pid || true)"
  if [[ -n "$pid" ]]; then qdrant_stop_pid "$pid"; else log "qdrant: not running; starting it"; fi
  mkdir -p "$QDRANT_HOME"
  qdrant_start
  qdrant_wait_ready
  log "qdrant: ready at http://127.0.0.1:$QDRANT_GRPC_PORT (gRPC)"
}

qdrant_status() {
  local pid=""
  if ! qdrant_installed; then
    log "qdrant: no server binary at $QDRANT_BIN (embedded qdrant-edge is used; scripts/stack.d/qdrant.sh says how to get one)"
    return 0
  fi
  [[ -d "$QDRANT_HOME" ]] && pid="$(qdrant_pid)"
  if [[ -n "$pid" ]]; then
    log "qdrant: running (pid $pid) on 127.0.0.1:$QDRANT_GRPC_PORT (gRPC) and :$QDRANT_HTTP_PORT (REST), $(qdrant_version)"
  else
    log "qdrant: stopped, ports $QDRANT_GRPC_PORT (gRPC) / $QDRANT_HTTP_PORT (REST), $(qdrant_version)"
  fi
}

qdrant_env() {
  if ! qdrant_installed; then
    log "qdrant: no server binary at $QDRANT_BIN; TUNEBENCH_QDRANT_URL is left unset (embedded engine)"
    return 0
  fi
  printf 'export TUNEBENCH_QDRANT_URL=%q\n' "http://127.0.0.1:$QDRANT_GRPC_PORT"
  printf 'export TUNEBENCH_QDRANT_REST_URL=%q\n' "http://127.0.0.1:$QDRANT_HTTP_PORT"
}
