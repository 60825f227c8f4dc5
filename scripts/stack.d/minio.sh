# shellcheck shell=bash
# scripts/stack.d/minio.sh: MinIO for scripts/stack (sourced by it; defines
# minio_supports/_up/_down/_status/_env/_restart and overrides its stub).
#
#   scripts/stack up|down|restart|status|env minio
#
# MinIO is built from source with `go install` (the Go module proxy is the only
# source reachable here) into $CACHE/go/bin; GOPATH, GOMODCACHE and GOCACHE
# live under $CACHE/go too. One server process over four drive folders,
# $CACHE/minio/data{1...4} (MinIO's ellipsis syntax), so erasure coding,
# versioning and lifecycle work as on a real deployment. It listens on
# 127.0.0.1 only, runs as user tunebench when we are root, logs to
# $CACHE/minio/minio.log and keeps its PID in $CACHE/minio/minio.pid.
#
# Environment (defaults in brackets; docker-compose.yml uses the same):
#   TUNEBENCH_MINIO_PORT          S3 API port [9000]
#   TUNEBENCH_MINIO_CONSOLE_PORT  web console port on 127.0.0.1 [9001]; "off" disables the console
#   TUNEBENCH_MINIO_USER          root user = S3 access key [tunebench]
#   TUNEBENCH_MINIO_PASSWORD      root password = S3 secret key [tunebench-secret]
#   TUNEBENCH_INSTALL_WARP=1      `up minio` also installs warp (MinIO's S3 benchmark) into $CACHE/go/bin
#
# Server settings file $CACHE/minio/env (written with the default below when
# missing; read at every start, so change it and run `scripts/stack restart minio`):
#   - one KEY=VALUE per line, no spaces around '='; blank lines and lines
#     starting with '#' are ignored; the value is taken literally up to the end
#     of the line (one pair of surrounding "..." or '...' is stripped); the file
#     is parsed, never sourced;
#   - KEY is any MinIO server variable (MINIO_*), except those scripts/stack
#     sets itself: MINIO_ROOT_USER, MINIO_ROOT_PASSWORD, MINIO_VOLUMES,
#     MINIO_OPTS, MINIO_ADDRESS, MINIO_CONSOLE_ADDRESS, MINIO_BROWSER,
#     MINIO_PROMETHEUS_AUTH_TYPE, MINIO_CONFIG_ENV_FILE, MINIO_CERTS_DIR;
#   - MINIO_STORAGE_CLASS_STANDARD=EC:N is the parity of new objects (N parity
#     shards out of the 4 drives of the erasure set, 0 <= N <= 2). Default EC:2,
#     which is also MinIO's own default for a 4-drive set: 2 data + 2 parity,
#     any 2 drives may be lost. MINIO_STORAGE_CLASS_RRS (default EC:1) is the
#     REDUCED_REDUNDANCY class and must not exceed STANDARD when both are > 0.
#     Parity applies to objects written after the start: existing objects keep
#     the parity they were written with.
#   Example:
#     MINIO_STORAGE_CLASS_STANDARD=EC:1
#
# Metrics: MINIO_PROMETHEUS_AUTH_TYPE=public, so
# http://127.0.0.1:9000/minio/v2/metrics/cluster is readable without a bearer
# token (the server listens on loopback only).

# Pinned MinIO: release RELEASE.2025-04-22T22-12-26Z, the release that
# docker-compose.yml runs (and the last one with the full web console). MinIO's
# tags are not semver, so the Go module proxy serves them only as pseudo-versions
# (v0.0.0-<commit time>-<commit>); `go list -m -versions github.com/minio/minio`
# lists none and `@latest` is a 2026 development commit. The release's commit is
# 0d7408fc9969caf07de6a8c3a84f9fbb10a6739e (the commit-id that release's binaries
# print), hence the pseudo-version below; it builds with Go 1.24+ (tested with
# go1.26.8). The release tag and commit are stamped into the binary like
# MinIO's own builds do, so `minio --version` names the release.
MINIO_MODULE_VERSION=v0.0.0-20250422221226-0d7408fc9969
MINIO_RELEASE_TAG=RELEASE.2025-04-22T22-12-26Z
MINIO_COMMIT_ID=0d7408fc9969caf07de6a8c3a84f9fbb10a6739e
# Pinned warp (only installed with TUNEBENCH_INSTALL_WARP=1): a 2025 release
# (semver tag). NOTE: the module proxy of the machine this was written on
# refused github.com/minio/warp altogether, so this pin is not build-tested.
MINIO_WARP_VERSION=v1.1.4

MINIO_PORT="${TUNEBENCH_MINIO_PORT:-9000}"
MINIO_CONSOLE_PORT="${TUNEBENCH_MINIO_CONSOLE_PORT:-9001}"
MINIO_USER="${TUNEBENCH_MINIO_USER:-tunebench}"
MINIO_PASSWORD="${TUNEBENCH_MINIO_PASSWORD:-tunebench-secret}"
MINIO_REGION=us-east-1                    # MinIO's default site region
MINIO_GOPATH="$CACHE/go"
MINIO_GOBIN="$MINIO_GOPATH/bin"
MINIO_BIN="$MINIO_GOBIN/minio"
MINIO_WARP_BIN="$MINIO_GOBIN/warp"
MINIO_HOME="$CACHE/minio"
MINIO_DATA="$MINIO_HOME"                  # drives: $MINIO_DATA/data1 .. data4
MINIO_VOLUMES="$MINIO_DATA/data{1...4}"   # literal ellipsis, expanded by MinIO
MINIO_LOG="$MINIO_HOME/minio.log"
MINIO_PIDFILE="$MINIO_HOME/minio.pid"
MINIO_ENVFILE="$MINIO_HOME/env"
MINIO_APPLIED="$MINIO_HOME/env.applied"   # copy of the env file the server started with
MINIO_DEFAULT_PARITY=EC:2

minio_check_settings() {
  [[ "$MINIO_PORT" =~ ^[0-9]+$ ]] && (( MINIO_PORT > 0 && MINIO_PORT < 65536 )) \
    || { log "error: TUNEBENCH_MINIO_PORT must be a TCP port, got '$MINIO_PORT'"; exit 2; }
  if [[ "$MINIO_CONSOLE_PORT" != off ]]; then
    [[ "$MINIO_CONSOLE_PORT" =~ ^[0-9]+$ ]] && (( MINIO_CONSOLE_PORT > 0 && MINIO_CONSOLE_PORT < 65536 )) \
      || { log "error: TUNEBENCH_MINIO_CONSOLE_PORT must be a TCP port or 'off', got '$MINIO_CONSOLE_PORT'"; exit 2; }
    [[ "$MINIO_CONSOLE_PORT" != "$MINIO_PORT" ]] \
      || { log "error: TUNEBENCH_MINIO_CONSOLE_PORT must differ from TUNEBENCH_MINIO_PORT ($MINIO_PORT)"; exit 2; }
  fi
  # MinIO's own limits for root credentials.
  (( ${#MINIO_USER} >= 3 )) || { log "error: TUNEBENCH_MINIO_USER must have at least 3 characters"; exit 2; }
  (( ${#MINIO_PASSWORD} >= 8 )) || { log "error: TUNEBENCH_MINIO_PASSWORD must have at least 8 characters"; exit 2; }
}

minio_supports() { minio_check_settings; }

# ------------------------------------------------------------- install ---

minio_installed() {
  [[ -x "$MINIO_BIN" && "$(cat "$MINIO_GOBIN/.minio.version" 2>/dev/null)" == "$MINIO_MODULE_VERSION" ]]
}

minio_warp_installed() {
  [[ -x "$MINIO_WARP_BIN" && "$(cat "$MINIO_GOBIN/.warp.version" 2>/dev/null)" == "$MINIO_WARP_VERSION" ]]
}

# minio_go_install NAME MODULE@VERSION [go install flags...]
# Builds into a temporary GOBIN and moves the binary into $MINIO_GOBIN, so a
# half-built binary never counts as installed (nor replaces a good one).
minio_go_install() {
  local name="$1" target="$2" tmpbin start rc=0
  shift 2
  command -v go >/dev/null 2>&1 \
    || die "minio: the go command is needed to build $name (go install $target); install Go 1.24 or newer"
  mkdir -p "$MINIO_GOBIN" "$MINIO_GOPATH/pkg/mod" "$MINIO_GOPATH/cache"
  tmpbin="$(mktemp -d "$MINIO_GOPATH/.gobin.XXXXXX")"
  log "minio: building $name: go install $target (into $MINIO_GOBIN; GOPATH $MINIO_GOPATH)"
  start=$SECONDS
  # Everything of Go's under the cache. -modcacherw keeps the module cache
  # deletable with rm -rf. CGO off: a static binary, like MinIO's releases.
  env -u GOOS -u GOARCH -u GOWORK \
    GOPATH="$MINIO_GOPATH" GOMODCACHE="$MINIO_GOPATH/pkg/mod" GOCACHE="$MINIO_GOPATH/cache" \
    GOBIN="$tmpbin" CGO_ENABLED=0 GOFLAGS=-modcacherw \
    go install "$@" "$target" </dev/null >&2 || rc=$?
  if (( rc != 0 )) || [[ ! -x "$tmpbin/$name" ]]; then
    rm -rf "$tmpbin"
    die "minio: go install $target failed (exit $rc)"
  fi
  chmod 0755 "$tmpbin/$name"
  mv -f "$tmpbin/$name" "$MINIO_GOBIN/$name"
  rm -rf "$tmpbin"
  printf '%s\n' "${target##*@}" >"$MINIO_GOBIN/.$name.version"
  log "minio: built $name in $((SECONDS - start)) s"
}

minio_install() {
  minio_installed && return 0
  [[ -z "$(minio_pid)" ]] \
    || die "minio: a server runs from $MINIO_DATA with a binary other than $MINIO_RELEASE_TAG; run scripts/stack down minio first"
  local v="$MINIO_RELEASE_TAG" ldflags
  ldflags="-s -w -X github.com/minio/minio/cmd.ReleaseTag=$v"
  ldflags+=" -X github.com/minio/minio/cmd.Version=$(sed -E 's/^RELEASE\.([0-9-]+)T([0-9]+)-([0-9]+)-([0-9]+)Z$/\1T\2:\3:\4Z/' <<<"$v")"
  ldflags+=" -X github.com/minio/minio/cmd.CommitID=$MINIO_COMMIT_ID"
  ldflags+=" -X github.com/minio/minio/cmd.ShortCommitID=${MINIO_COMMIT_ID:0:12}"
  ldflags+=" -X github.com/minio/minio/cmd.CopyrightYear=2025"
  minio_go_install minio "github.com/minio/minio@$MINIO_MODULE_VERSION" -trimpath -ldflags="$ldflags"
  "$MINIO_BIN" --version >/dev/null 2>&1 || die "minio: $MINIO_BIN does not run"
  log "minio: installed $(minio_version)"
}

minio_install_warp() {
  minio_warp_installed && return 0
  minio_go_install warp "github.com/minio/warp@$MINIO_WARP_VERSION" -trimpath -ldflags="-s -w"
}

# Builds can take minutes: they hold their own lock, not the cache lock that
# every other scripts/stack call waits for (up to 300 s).
minio_install_locked() {
  mkdir -p "$CACHE"
  exec 8>"$CACHE/.minio-install.lock"
  flock -w 3600 8 || die "another scripts/stack has been building MinIO for an hour ($CACHE/.minio-install.lock)"
  minio_install
  if [[ "${TUNEBENCH_INSTALL_WARP:-0}" == 1 ]]; then
    minio_install_warp
  fi
  exec 8>&-
}

minio_version() {
  if [[ -x "$MINIO_BIN" ]]; then
    "$MINIO_BIN" --version 2>/dev/null | sed -n '1s/^minio version \([^ ]*\).*/\1/p'
  fi
}

# -------------------------------------------------------------- process ---

# PID of the MinIO server serving our data dir, or nothing. The PID file is
# trusted only if that process is alive, is minio and has our drives on its
# command line; otherwise the stale file is removed.
minio_pid() {
  local pid exe
  [[ -f "$MINIO_PIDFILE" ]] || return 0
  pid="$(head -n1 "$MINIO_PIDFILE" 2>/dev/null || true)"
  if [[ "$pid" =~ ^[0-9]+$ ]] && pid_alive "$pid" \
     && tr '\0' '\n' <"/proc/$pid/cmdline" 2>/dev/null | grep -qxF -- "$MINIO_VOLUMES"; then
    exe="$(readlink "/proc/$pid/exe" 2>/dev/null || true)"
    exe="${exe% (deleted)}"     # the binary was replaced since it started
    if [[ "$exe" == "$MINIO_BIN" || "$exe" == "$(readlink -f "$MINIO_BIN")" ]] \
       || [[ -z "$exe" && "$(cat "/proc/$pid/comm" 2>/dev/null)" == minio ]]; then
      echo "$pid"
      return 0
    fi
  fi
  rm -f "$MINIO_PIDFILE" 2>/dev/null || true
  return 0
}

# Port the running server listens on (from its --address argument).
minio_running_port() {
  tr '\0' '\n' <"/proc/$1/cmdline" 2>/dev/null \
    | sed -n '/^--address$/{n;s/^.*://p;q}'
}

minio_log_tail() {
  if [[ -f "$MINIO_LOG" ]]; then
    log "last 30 lines of $MINIO_LOG:"
    tail -n 30 "$MINIO_LOG" >&2 || true
  fi
}

# ------------------------------------------------------------- settings ---

minio_write_default_env() {
  [[ -f "$MINIO_ENVFILE" ]] && return 0
  cat >"$MINIO_ENVFILE.tmp" <<EOF
# MinIO server settings, read by scripts/stack at every start of MinIO
# (change, then: scripts/stack restart minio). One KEY=VALUE per line, no
# spaces around '=', values literal; '#' starts a comment line. See the top of
# scripts/stack.d/minio.sh for the keys that may not be set here.
#
# Parity of new objects: EC:N = N parity shards out of the 4 drives (0..2).
# EC:2 is MinIO's default for 4 drives (2 data + 2 parity).
MINIO_STORAGE_CLASS_STANDARD=$MINIO_DEFAULT_PARITY
EOF
  chmod 0644 "$MINIO_ENVFILE.tmp"
  mv "$MINIO_ENVFILE.tmp" "$MINIO_ENVFILE"
}

# Prints the settings of FILE as KEY=VALUE lines (validated), or dies.
minio_read_env() {
  local file="$1" line key value n=0
  [[ -f "$file" ]] || return 0
  while IFS= read -r line || [[ -n "$line" ]]; do
    n=$((n + 1))
    line="${line%$'\r'}"
    [[ "$line" =~ ^[[:space:]]*(#.*)?$ ]] && continue
    [[ "$line" =~ ^([A-Za-z_][A-Za-z0-9_]*)=(.*)$ ]] \
      || die "minio: $file line $n: expected KEY=VALUE, got: $line"
    key="${BASH_REMATCH[1]}" value="${BASH_REMATCH[2]}"
    if [[ "$value" =~ ^\"(.*)\"$ || "$value" =~ ^\'(.*)\'$ ]]; then value="${BASH_REMATCH[1]}"; fi
    case "$key" in
      MINIO_ROOT_USER|MINIO_ROOT_PASSWORD|MINIO_VOLUMES|MINIO_OPTS|MINIO_ADDRESS|MINIO_CONSOLE_ADDRESS|\
      MINIO_BROWSER|MINIO_PROMETHEUS_AUTH_TYPE|MINIO_CONFIG_ENV_FILE|MINIO_CERTS_DIR)
        die "minio: $file line $n: $key is set by scripts/stack (see scripts/stack.d/minio.sh)" ;;
      MINIO_STORAGE_CLASS_STANDARD|MINIO_STORAGE_CLASS_RRS)
        [[ "$value" =~ ^EC:[0-2]$ ]] \
          || die "minio: $file line $n: $key must be EC:0, EC:1 or EC:2 with 4 drives, got '$value'" ;;
      MINIO_*) ;;
      *) die "minio: $file line $n: only MINIO_* variables may be set, got $key" ;;
    esac
    printf '%s=%s\n' "$key" "$value"
  done <"$file"
}

# Parity (storage class STANDARD) of a settings file, MinIO's default if unset.
minio_parity_of() {
  local p
  p="$(minio_read_env "$1" 2>/dev/null | sed -n 's/^MINIO_STORAGE_CLASS_STANDARD=//p' | tail -n1)"
  printf '%s' "${p:-$MINIO_DEFAULT_PARITY}"
}

# -------------------------------------------------------------- up/down ---

# Seconds since START (an $EPOCHREALTIME value), with one decimal.
minio_elapsed() {
  local now="$EPOCHREALTIME"
  awk -v a="${1/,/.}" -v b="${now/,/.}" 'BEGIN { printf "%.1f", b - a }'
}

minio_prepare_dirs() {
  ensure_run_user
  mkdir -p "$MINIO_HOME" "$MINIO_HOME/certs" "$MINIO_DATA"/data{1..4}
  if is_root; then
    # Directories made earlier by another user are handed over as a whole.
    local d
    for d in "$MINIO_HOME" "$MINIO_HOME/certs" "$MINIO_DATA"/data{1..4}; do
      [[ "$(stat -c %U "$d")" == "$RUN_USER" ]] || chown -R "$RUN_USER:" "$d"
    done
    [[ ! -e "$MINIO_LOG" ]] || chown "$RUN_USER:" "$MINIO_LOG"
  else
    [[ -O "$MINIO_HOME" ]] || die "$MINIO_HOME belongs to $(stat -c %U "$MINIO_HOME"); run as that user or as root"
  fi
  chmod 0755 "$MINIO_HOME"
  chmod 0700 "$MINIO_HOME/certs" "$MINIO_DATA"/data{1..4}
  ensure_traversable "$MINIO_HOME"
  ensure_traversable "$MINIO_GOBIN"
  # Keep the log from growing without bound across many runs.
  if [[ -f "$MINIO_LOG" ]] && (( $(stat -c %s "$MINIO_LOG") > 100 * 1024 * 1024 )); then
    mv -f "$MINIO_LOG" "$MINIO_LOG.old"
  fi
  touch "$MINIO_LOG"
  own "$MINIO_LOG"
  minio_write_default_env
}

minio_start() {
  local settings console_args=() pid deadline
  settings="$(minio_read_env "$MINIO_ENVFILE")" || exit 1
  if port_in_use "$MINIO_PORT"; then
    die "minio: 127.0.0.1:$MINIO_PORT is already in use by another process (not the server of $MINIO_DATA); stop it or set TUNEBENCH_MINIO_PORT"
  fi
  if [[ "$MINIO_CONSOLE_PORT" != off ]]; then
    if port_in_use "$MINIO_CONSOLE_PORT"; then
      die "minio: console port 127.0.0.1:$MINIO_CONSOLE_PORT is in use; set TUNEBENCH_MINIO_CONSOLE_PORT to another port or to off"
    fi
    console_args=(--console-address "127.0.0.1:$MINIO_CONSOLE_PORT")
  fi
  log "minio: starting on 127.0.0.1:$MINIO_PORT ($(minio_parity_of "$MINIO_ENVFILE") over $MINIO_VOLUMES, log $MINIO_LOG)"
  rm -f "$MINIO_PIDFILE"
  printf '\n===== %s scripts/stack: starting minio =====\n' "$(date -u +%FT%TZ)" >>"$MINIO_LOG"
  (
    # A clean environment: only what the server should see. (CI=... would put
    # MinIO in its CI/CD mode, which caps its buffer pool: not for benchmarks.)
    while IFS= read -r v; do
      case "$v" in PATH|LANG|LC_*|TZ) ;; *) unset "$v" 2>/dev/null || true ;; esac
    done < <(compgen -e)
    export MINIO_ROOT_USER="$MINIO_USER" MINIO_ROOT_PASSWORD="$MINIO_PASSWORD"
    export MINIO_PROMETHEUS_AUTH_TYPE=public
    # The drives are folders on whatever disk holds the cache, often the root
    # disk, which MinIO refuses unless told what a "root drive" is: only a
    # drive of <= 1 byte counts as one here.
    export MINIO_ROOTDRIVE_THRESHOLD_SIZE=1B
    export MINIO_UPDATE=off
    [[ "$MINIO_CONSOLE_PORT" != off ]] || export MINIO_BROWSER=off
    while IFS= read -r kv; do
      [[ -n "$kv" ]] && export "${kv?}"
    done <<<"$settings"
    # setsid -f: detached from our session, so it outlives the calling shell;
    # sh writes its own PID, then becomes minio.
    # shellcheck disable=SC2016
    as_run_user setsid -f /bin/sh -c 'echo $$ >"$1" && shift && exec "$@"' tunebench-minio \
      "$MINIO_PIDFILE" "$MINIO_BIN" server --anonymous \
      --address "127.0.0.1:$MINIO_PORT" "${console_args[@]}" \
      --certs-dir "$MINIO_HOME/certs" "$MINIO_VOLUMES" >>"$MINIO_LOG" 2>&1
  ) || { minio_log_tail; die "minio: could not start $MINIO_BIN"; }
  cp -f "$MINIO_ENVFILE" "$MINIO_APPLIED" 2>/dev/null || true
  deadline=$((SECONDS + 10))
  until [[ -n "$(minio_pid)" ]]; do
    if (( SECONDS >= deadline )); then
      log "error: minio exited right after start"
      minio_log_tail
      exit 1
    fi
    sleep 0.2
  done
}

# Waits until the S3 API is live and the cluster (erasure set) has write
# quorum, for at most 60 s; on failure prints the log tail and exits 1.
minio_wait_ready() {
  local deadline=$((SECONDS + 60)) base="http://127.0.0.1:$MINIO_PORT" pid
  until curl -fsS -o /dev/null --noproxy '*' --max-time 2 "$base/minio/health/live" 2>/dev/null \
        && curl -fsS -o /dev/null --noproxy '*' --max-time 2 "$base/minio/health/cluster" 2>/dev/null; do
    pid="$(minio_pid)"
    if [[ -z "$pid" ]]; then
      log "error: minio exited during startup"
      minio_log_tail
      exit 1
    fi
    if (( SECONDS >= deadline )); then
      log "error: minio (pid $pid) did not become ready on 127.0.0.1:$MINIO_PORT within 60 s"
      minio_log_tail
      exit 1
    fi
    sleep 0.5
  done
}

minio_up() {
  command -v curl >/dev/null 2>&1 || die "minio: curl is needed to check the server's health"
  minio_install_locked
  lock_cache
  minio_prepare_dirs
  local pid port start=$EPOCHREALTIME
  pid="$(minio_pid)"
  if [[ -n "$pid" ]]; then
    port="$(minio_running_port "$pid")"
    if [[ -n "$port" && "$port" != "$MINIO_PORT" ]]; then
      die "minio: already running (pid $pid) on port $port, not $MINIO_PORT; run scripts/stack restart minio"
    fi
    log "minio: already running (pid $pid) on 127.0.0.1:$MINIO_PORT"
    cmp -s "$MINIO_ENVFILE" "$MINIO_APPLIED" \
      || log "minio: note: $MINIO_ENVFILE changed since the server started; run scripts/stack restart minio to apply it"
  else
    minio_start
  fi
  minio_wait_ready
  log "minio: ready at http://127.0.0.1:$MINIO_PORT in $(minio_elapsed "$start") s ($(minio_parity_of "$MINIO_APPLIED"), $(minio_version))"
}

# Stops PID: SIGTERM (MinIO shuts down gracefully), then SIGKILL after 30 s.
minio_stop_pid() {
  stop_pid minio "$1" 30
  rm -f "$MINIO_PIDFILE"
  log "minio: stopped"
}

minio_down() {
  [[ -d "$MINIO_HOME" ]] || { log "minio: not initialised; nothing to stop"; return 0; }
  lock_cache
  local pid
  pid="$(minio_pid)"
  if [[ -z "$pid" ]]; then
    log "minio: not running"
    return 0
  fi
  minio_stop_pid "$pid"
}

# Stops (if running) and starts again, reading $CACHE/minio/env anew.
minio_restart() {
  command -v curl >/dev/null 2>&1 || die "minio: curl is needed to check the server's health"
  minio_install_locked
  lock_cache
  local pid start=$EPOCHREALTIME
  # Check the settings before stopping a server that could not start again.
  minio_read_env "$MINIO_ENVFILE" >/dev/null
  pid="$( [[ -d "$MINIO_HOME" ]] && minio_pid || true)"
  if [[ -n "$pid" ]]; then
    minio_stop_pid "$pid"
  else
    log "minio: not running; starting it"
  fi
  minio_prepare_dirs
  minio_start
  minio_wait_ready
  log "minio: ready at http://127.0.0.1:$MINIO_PORT in $(minio_elapsed "$start") s ($(minio_parity_of "$MINIO_APPLIED"), $(minio_version))"
}

minio_status() {
  local version="not installed" pid="" port
  minio_installed && version="$(minio_version)"
  [[ -d "$MINIO_HOME" ]] && pid="$(minio_pid)"
  if [[ -n "$pid" ]]; then
    port="$(minio_running_port "$pid")"
    local note=""
    cmp -s "$MINIO_ENVFILE" "$MINIO_APPLIED" || note=" ($MINIO_ENVFILE changed since start: restart to apply)"
    log "minio: running (pid $pid) on 127.0.0.1:${port:-?}, $version, $(minio_parity_of "$MINIO_APPLIED") over $MINIO_VOLUMES$note"
  else
    log "minio: stopped, port $MINIO_PORT, $version, $(minio_parity_of "$MINIO_ENVFILE") over $MINIO_VOLUMES"
  fi
}

minio_env() {
  minio_installed || log "minio: not installed yet; run scripts/stack up minio"
  printf 'export TUNEBENCH_S3_ENDPOINT=%q\n' "http://127.0.0.1:$MINIO_PORT"
  printf 'export TUNEBENCH_S3_ACCESS_KEY=%q\n' "$MINIO_USER"
  printf 'export TUNEBENCH_S3_SECRET_KEY=%q\n' "$MINIO_PASSWORD"
  printf 'export TUNEBENCH_S3_REGION=%q\n' "$MINIO_REGION"
  printf 'export TUNEBENCH_MINIO_METRICS=%q\n' "http://127.0.0.1:$MINIO_PORT/minio/v2/metrics/cluster"
  if [[ -x "$MINIO_WARP_BIN" ]]; then
    printf 'export TUNEBENCH_WARP_BIN=%q\n' "$MINIO_WARP_BIN"
  fi
}
