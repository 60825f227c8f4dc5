# shellcheck shell=bash
# scripts/stack.d/neo4j.sh: Neo4j 5 (LTS line) for scripts/stack, natively.
# Sourced by scripts/stack after its own definitions (log, die, lock_cache,
# ensure_run_user, ensure_traversable, as_run_user, own, port_in_use, CACHE,
# REPO_ROOT); defines neo4j_supports/_up/_down/_status/_env/_restart.
#
# Neo4j runs embedded in a small launcher kept in scripts/neo4j-launcher
# (pom.xml + Launcher.java): org.neo4j:neo4j and org.neo4j:neo4j-bolt from
# Maven Central, plus APOC core, at the versions pinned in that pom.xml. It is
# built with Maven into the cache when missing or when its sources change.
# Everything lives under $CACHE/neo4j:
#   neo4j.conf    Neo4j settings, standard names, key=value (see below)
#   jvm.conf      heap and JVM flags (see below)
#   neo4j.log     the launcher's log (stdout/stderr: Neo4j's user log)
#   logs/         Neo4j's own logs (debug.log, ...)
#   data/         databases and transaction logs
#   home/         Neo4j home (import/, ...)
#   run/          neo4j.pid (written by the launcher), ready (see below)
#   m2/ build/    Maven's local repository and build tree
#   dist/         the built launcher: launcher jar, lib/*.jar, plugins/*.jar
#
# neo4j.conf: Neo4j's configuration format, one `setting.name=value` a line,
#   '#' starts a comment; e.g. server.memory.pagecache.size=512m,
#   db.memory.transaction.total.max=256m. Read by Neo4j itself at every start
#   with strict validation (a misspelt name stops the start). The listen
#   addresses, directories and authentication are set by the launcher and
#   win over the file. Created with nothing set (Neo4j's defaults) if missing
#   and never overwritten: a profile edits it, then `scripts/stack restart neo4j`.
# jvm.conf: `key=value` lines, '#' comments, read at every start:
#   heap=<size>   -Xms<size> -Xmx<size>; a JVM size: digits and an optional
#                 k, m or g (512m, 2g). TUNEBENCH_NEO4J_HEAP wins over it.
#                 Unset: the JVM's default (1/4 of RAM at most).
#   opt=<flag>    one more JVM flag, e.g. opt=-XX:+UseParallelGC; repeatable.
#   Created with nothing set if missing and never overwritten.
# run/ready: written by the launcher once the DBMS is up, the password set and
#   a query answered over Bolt as user neo4j; key=value lines pid, version,
#   edition, apoc_procedures, apoc_functions, bolt, user, started.
#
# Environment:
#   TUNEBENCH_NEO4J_PORT      Bolt port on 127.0.0.1 (default 7687)
#   TUNEBENCH_NEO4J_PASSWORD  password of user neo4j (default tunebench, >= 8
#                             characters); set at every start of the server
#   TUNEBENCH_NEO4J_HEAP      heap size (-Xms/-Xmx), wins over jvm.conf
#   JAVA_HOME                 the Java (17 or later) to use; default: java on PATH
# There is no HTTP connector (the embedded DBMS has none; docker-compose.yml
# publishes the image's on 127.0.0.1:7474).

NEO4J_SRC="$REPO_ROOT/scripts/neo4j-launcher"
NEO4J_VERSION="$(sed -n 's:.*<neo4j.version>\(.*\)</neo4j.version>.*:\1:p' "$NEO4J_SRC/pom.xml" 2>/dev/null | head -n1)"
NEO4J_PORT="${TUNEBENCH_NEO4J_PORT:-7687}"
NEO4J_USER=neo4j
NEO4J_PASSWORD="${TUNEBENCH_NEO4J_PASSWORD:-tunebench}"
NEO4J_DIR="$CACHE/neo4j"
NEO4J_M2="$NEO4J_DIR/m2"
NEO4J_BUILD="$NEO4J_DIR/build"
NEO4J_DIST="$NEO4J_DIR/dist"
NEO4J_DATA="$NEO4J_DIR/data"
NEO4J_LOGS="$NEO4J_DIR/logs"
NEO4J_SERVER_HOME="$NEO4J_DIR/home"
NEO4J_RUN="$NEO4J_DIR/run"
NEO4J_PIDFILE="$NEO4J_RUN/neo4j.pid"
NEO4J_READY="$NEO4J_RUN/ready"
NEO4J_LOG="$NEO4J_DIR/neo4j.log"
NEO4J_CONF="$NEO4J_DIR/neo4j.conf"
NEO4J_JVM_CONF="$NEO4J_DIR/jvm.conf"
NEO4J_MAIN=tunebench.neo4j.Launcher
NEO4J_START_TIMEOUT=120
NEO4J_STOP_TIMEOUT=60

# The JVM flags of a Neo4j 5 server (its neo4j.conf's server.jvm.additional),
# so that the embedded DBMS behaves like one; jvm.conf adds to them.
NEO4J_JVM_DEFAULTS=(
  -XX:+UseG1GC
  -XX:-OmitStackTraceInFastThrow
  -XX:+AlwaysPreTouch
  -XX:+UnlockExperimentalVMOptions
  -XX:+TrustFinalNonStaticFields
  -XX:+DisableExplicitGC
  -Djdk.nio.maxCachedBufferSize=1024
  -Dio.netty.tryReflectionSetAccessible=true
  -Djdk.tls.ephemeralDHKeySize=2048
  -Djdk.tls.rejectClientInitiatedRenegotiation=true
  -XX:FlightRecorderOptions=stackdepth=256
  -XX:+UnlockDiagnosticVMOptions
  -XX:+DebugNonSafepoints
  --add-opens=java.base/java.nio=ALL-UNNAMED
  --add-opens=java.base/java.io=ALL-UNNAMED
  --add-opens=java.base/sun.nio.ch=ALL-UNNAMED
  -Dlog4j2.disable.jmx=true
  -Dfile.encoding=UTF-8
)

neo4j_supports() {
  case "$1" in
    up|restart)
      [[ -n "$NEO4J_VERSION" ]] || { log "error: neo4j: no <neo4j.version> in $NEO4J_SRC/pom.xml"; exit 2; }
      [[ "$NEO4J_PORT" =~ ^[0-9]+$ ]] && (( NEO4J_PORT > 0 && NEO4J_PORT < 65536 )) \
        || { log "error: TUNEBENCH_NEO4J_PORT must be a TCP port, got '$NEO4J_PORT'"; exit 2; }
      (( ${#NEO4J_PASSWORD} >= 8 )) \
        || { log "error: TUNEBENCH_NEO4J_PASSWORD must have at least 8 characters (Neo4j's minimum)"; exit 2; }
      ;;
  esac
}

# ------------------------------------------------------------- build ---

# The Java to run (and build with): $JAVA_HOME/bin/java or java on PATH, 17+.
neo4j_java() {
  local java major
  if [[ -n "${JAVA_HOME:-}" && -x "$JAVA_HOME/bin/java" ]]; then
    java="$JAVA_HOME/bin/java"
  else
    java="$(command -v java || true)"
    [[ -n "$java" ]] || die "neo4j: java is not installed (Neo4j $NEO4J_VERSION needs Java 17 or later)"
  fi
  java="$(readlink -f "$java")"
  major="$("$java" -XshowSettings:properties -version 2>&1 \
            | sed -n 's/^ *java\.specification\.version = \([0-9.]*\).*/\1/p' | head -n1)"
  major="${major#1.}"; major="${major%%.*}"
  [[ "$major" =~ ^[0-9]+$ ]] && (( major >= 17 )) \
    || die "neo4j: $java is Java ${major:-?}; Neo4j $NEO4J_VERSION needs Java 17 or later (set JAVA_HOME)"
  printf '%s\n' "$java"
}

# Hash of the launcher sources (pom.xml and src/), which names the build.
neo4j_src_hash() {
  (cd "$NEO4J_SRC" && find pom.xml src -type f -print0 | LC_ALL=C sort -z | xargs -0 sha256sum) \
    | sha256sum | cut -c1-16
}

neo4j_built() { [[ -f "$NEO4J_DIST/.built-$(neo4j_src_hash)" ]]; }

neo4j_build() {
  local hash start tmp t
  hash="$(neo4j_src_hash)"
  [[ -f "$NEO4J_DIST/.built-$hash" ]] && return 0
  command -v mvn >/dev/null 2>&1 || die "neo4j: mvn (Apache Maven) is needed to build the launcher"
  log "neo4j: building the launcher (Neo4j $NEO4J_VERSION from Maven Central) into $NEO4J_DIST"
  mkdir -p "$NEO4J_DIR" "$NEO4J_M2"
  rm -rf "$NEO4J_BUILD"
  mkdir -p "$NEO4J_BUILD"
  cp -R "$NEO4J_SRC/pom.xml" "$NEO4J_SRC/src" "$NEO4J_BUILD/"
  start=$SECONDS
  if ! (cd "$NEO4J_BUILD" && JAVA_HOME="$(dirname "$(dirname "$(neo4j_java)")")" \
          mvn -q -B -Dmaven.repo.local="$NEO4J_M2" package </dev/null) >"$NEO4J_DIR/build.log" 2>&1; then
    tail -n 40 "$NEO4J_DIR/build.log" >&2
    die "neo4j: the launcher build failed (log $NEO4J_DIR/build.log)"
  fi
  t="$NEO4J_BUILD/target"
  [[ -f "$t/tunebench-neo4j-launcher.jar" ]] && compgen -G "$t/lib/neo4j-bolt-*.jar" >/dev/null \
    || die "neo4j: the build left no launcher jar or no neo4j-bolt jar in $t"
  # Assemble beside the target and move into place, so that a half-copied
  # tree never counts as built.
  tmp="$(mktemp -d "$NEO4J_DIR/.dist.XXXXXX")"
  cp "$t/tunebench-neo4j-launcher.jar" "$tmp/launcher.jar"
  cp -R "$t/lib" "$tmp/lib"
  mkdir -p "$tmp/plugins"
  if compgen -G "$t/plugins/*.jar" >/dev/null; then cp "$t"/plugins/*.jar "$tmp/plugins/"; fi
  chmod -R a+rX "$tmp"
  touch "$tmp/.built-$hash"
  rm -rf "$NEO4J_DIST"
  mv "$tmp" "$NEO4J_DIST"
  log "neo4j: launcher built in $((SECONDS - start)) s ($(ls "$NEO4J_DIST/lib" | wc -l) jars, $(du -sh "$NEO4J_DIST" | cut -f1))"
}

# ----------------------------------------------------------- configuration ---

neo4j_write_default_confs() {
  if [[ ! -f "$NEO4J_CONF" ]]; then
    cat >"$NEO4J_CONF.tmp" <<'EOF'
# Neo4j settings of the tunebench native stack (scripts/stack up neo4j).
# Neo4j's own format: one `setting.name=value` a line, '#' starts a comment.
# Read at every start, with strict validation (an unknown name stops the
# start); change a value, then run: scripts/stack restart neo4j
# Set by scripts/stack whatever this file says: listen addresses (Bolt on
# 127.0.0.1 only, no HTTP), directories, authentication. The heap is a JVM
# flag: see jvm.conf beside this file.
# Nothing is set here, so Neo4j's defaults apply (the baseline profile), e.g.
#server.memory.pagecache.size=512m
#db.memory.transaction.total.max=256m
EOF
    chmod 0644 "$NEO4J_CONF.tmp"
    mv "$NEO4J_CONF.tmp" "$NEO4J_CONF"
  fi
  if [[ ! -f "$NEO4J_JVM_CONF" ]]; then
    cat >"$NEO4J_JVM_CONF.tmp" <<'EOF'
# JVM settings of the tunebench Neo4j (scripts/stack up neo4j), read at every
# start; change a value, then run: scripts/stack restart neo4j
#   heap=<size>   initial and maximum heap (-Xms/-Xmx): digits and an optional
#                 k, m or g, e.g. heap=2g. TUNEBENCH_NEO4J_HEAP wins over it.
#                 Unset: the JVM's default (at most 1/4 of RAM).
#   opt=<flag>    one more JVM flag, e.g. opt=-XX:+UseParallelGC (repeatable)
# Nothing is set here, so the defaults apply (the baseline profile), e.g.
#heap=1g
EOF
    chmod 0644 "$NEO4J_JVM_CONF.tmp"
    mv "$NEO4J_JVM_CONF.tmp" "$NEO4J_JVM_CONF"
  fi
}

# The JVM flags from TUNEBENCH_NEO4J_HEAP and jvm.conf, one a line.
neo4j_jvm_flags() {
  local heap="" heap_from="" line key value n=0
  if [[ -f "$NEO4J_JVM_CONF" ]]; then
    while IFS= read -r line || [[ -n "$line" ]]; do
      n=$((n + 1))
      line="${line%$'\r'}"
      [[ "$line" =~ ^[[:space:]]*(#|$) ]] && continue
      [[ "$line" == *=* ]] || die "neo4j: $NEO4J_JVM_CONF:$n: expected key=value, got '$line'"
      key="${line%%=*}"; value="${line#*=}"
      key="${key//[[:space:]]/}"
      value="${value#"${value%%[![:space:]]*}"}"; value="${value%"${value##*[![:space:]]}"}"
      case "$key" in
        heap) heap="$value"; heap_from="$NEO4J_JVM_CONF" ;;
        opt)
          [[ "$value" == -* ]] || die "neo4j: $NEO4J_JVM_CONF:$n: opt= takes one JVM flag starting with '-', got '$value'"
          printf '%s\n' "$value" ;;
        *) die "neo4j: $NEO4J_JVM_CONF:$n: unknown key '$key' (heap=, opt=)" ;;
      esac
    done <"$NEO4J_JVM_CONF"
  fi
  if [[ -n "${TUNEBENCH_NEO4J_HEAP:-}" ]]; then
    heap="$TUNEBENCH_NEO4J_HEAP"; heap_from=TUNEBENCH_NEO4J_HEAP
  fi
  if [[ -n "$heap" ]]; then
    [[ "$heap" =~ ^[0-9]+[kKmMgG]?$ ]] \
      || die "neo4j: heap size '$heap' (from $heap_from) is not a JVM size such as 512m or 2g"
    printf '%s\n' "-Xms$heap" "-Xmx$heap"
  fi
}

# ------------------------------------------------------------- process ---

# PID of the launcher running from this cache, or nothing. A pid file whose
# process is gone (or a zombie: nothing reaps here) or is not our launcher is
# removed, with the ready file.
neo4j_pid() {
  local pid state cmd
  [[ -f "$NEO4J_PIDFILE" ]] || return 0
  pid="$(head -n1 "$NEO4J_PIDFILE" 2>/dev/null || true)"
  if [[ "$pid" =~ ^[0-9]+$ ]] && [[ -d "/proc/$pid" ]]; then
    state="$(sed -E 's/^.*\) ([A-Za-z]).*$/\1/' "/proc/$pid/stat" 2>/dev/null || true)"
    cmd="$(tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null || true)"
    if [[ ! "$state" =~ ^[ZXx]?$ && "$cmd" == *" $NEO4J_MAIN "*" --pid-file $NEO4J_PIDFILE "* ]]; then
      echo "$pid"
      return 0
    fi
  fi
  rm -f "$NEO4J_PIDFILE" "$NEO4J_READY" 2>/dev/null || true
  return 0
}

# A field of the ready file (written by the launcher when it is ready).
neo4j_ready_field() { sed -n "s/^$1=//p" "$NEO4J_READY" 2>/dev/null | head -n1; }

# The last lines of the log, of this start only when it began here.
neo4j_log_tail() {
  if [[ -f "$NEO4J_LOG" ]]; then
    log "last lines of $NEO4J_LOG:"
    tail -c +"$(( ${NEO4J_LOG_OFFSET:-0} + 1 ))" "$NEO4J_LOG" | tail -n 30 >&2 || true
  fi
}

neo4j_prepare_dirs() {
  ensure_run_user
  mkdir -p "$NEO4J_DIR" "$NEO4J_DATA" "$NEO4J_LOGS" "$NEO4J_SERVER_HOME" "$NEO4J_RUN"
  touch "$NEO4J_LOG"
  if is_root; then
    local d
    for d in "$NEO4J_DATA" "$NEO4J_SERVER_HOME" "$NEO4J_LOGS"; do
      # A directory made earlier by another user is handed over as a whole.
      [[ "$(stat -c %U "$d")" == "$RUN_USER" ]] || chown -R "$RUN_USER:" "$d"
    done
    own "$NEO4J_RUN" "$NEO4J_LOG"
  else
    [[ -O "$NEO4J_DATA" ]] || die "$NEO4J_DATA belongs to $(stat -c %U "$NEO4J_DATA"); run as that user or as root"
  fi
  chmod 0700 "$NEO4J_DATA"
  chmod 0755 "$NEO4J_DIR" "$NEO4J_LOGS" "$NEO4J_SERVER_HOME" "$NEO4J_RUN"
  ensure_traversable "$NEO4J_DIR"
  # Keep the log from growing without bound across many runs.
  if (( $(stat -c %s "$NEO4J_LOG") > 100 * 1024 * 1024 )); then
    mv -f "$NEO4J_LOG" "$NEO4J_LOG.old"
    touch "$NEO4J_LOG"
    own "$NEO4J_LOG"
  fi
}

# Class data sharing (JDK 13+): the first start of a build records the classes Neo4j loads
# into an archive, written when that JVM exits cleanly; later starts map the archive instead
# of loading and verifying about 20,000 classes again. Only start-up time changes. An archive
# the JVM cannot use (another Java, a changed class path) is ignored with a warning in the
# log, and the start goes on as without it.
neo4j_cds_flag() {
  local jsa
  jsa="$NEO4J_RUN/classes-$(neo4j_src_hash).jsa"
  if [[ -s "$jsa" ]]; then
    printf '%s\n' "-XX:SharedArchiveFile=$jsa"
  else
    rm -f "$NEO4J_RUN"/classes-*.jsa 2>/dev/null || true
    # The dump lists every class it leaves out (signed jars, classes that failed
    # verification): about 1,500 harmless warnings, kept out of the log.
    printf '%s\n' "-XX:ArchiveClassesAtExit=$jsa" "-Xlog:cds=off"
  fi
}

neo4j_start() {
  local java text flags=() logsize cds=()
  if port_in_use "$NEO4J_PORT"; then
    die "neo4j: 127.0.0.1:$NEO4J_PORT is already in use by another process (not the launcher of $NEO4J_DIR); stop it or set TUNEBENCH_NEO4J_PORT"
  fi
  java="$(neo4j_java)"
  text="$(neo4j_jvm_flags)"
  [[ -z "$text" ]] || mapfile -t flags <<<"$text"
  rm -f "$NEO4J_PIDFILE" "$NEO4J_READY"
  mapfile -t cds < <(neo4j_cds_flag)
  logsize="$(stat -c %s "$NEO4J_LOG")"
  log "neo4j: starting Neo4j $NEO4J_VERSION on 127.0.0.1:$NEO4J_PORT (data $NEO4J_DATA, log $NEO4J_LOG${flags[*]:+, JVM ${flags[*]}})"
  # setsid -f: its own session, detached from this shell; the launcher writes
  # its pid file itself. The password reaches it through the environment.
  TUNEBENCH_NEO4J_PASSWORD="$NEO4J_PASSWORD" as_run_user setsid -f "$java" \
    "${NEO4J_JVM_DEFAULTS[@]}" "${cds[@]}" "${flags[@]}" \
    -cp "$NEO4J_DIST/launcher.jar:$NEO4J_DIST/lib/*:$NEO4J_DIST/plugins/*" \
    "$NEO4J_MAIN" \
    --home "$NEO4J_SERVER_HOME" --conf "$NEO4J_CONF" \
    --data "$NEO4J_DATA" --logs "$NEO4J_LOGS" --plugins "$NEO4J_DIST/plugins" \
    --port "$NEO4J_PORT" --pid-file "$NEO4J_PIDFILE" --ready-file "$NEO4J_READY" \
    >>"$NEO4J_LOG" 2>&1 \
    || die "neo4j: could not start $java"
  NEO4J_LOG_OFFSET="$logsize"
}

# Wait until the launcher reports ready (DBMS up, password set, a query
# answered over Bolt) and the port is open; on failure print the log, exit 1.
neo4j_wait_ready() {
  local start=$SECONDS deadline=$((SECONDS + NEO4J_START_TIMEOUT)) seen=0 pid
  while :; do
    pid="$(neo4j_pid)"
    if [[ -n "$pid" ]]; then
      seen=1
      if [[ "$(neo4j_ready_field pid)" == "$pid" ]] && port_in_use "$NEO4J_PORT"; then
        return 0
      fi
    elif (( seen )); then
      log "error: neo4j: the launcher exited during its start"
      neo4j_log_tail
      exit 1
    elif (( SECONDS >= start + 30 )) \
         || tail -c +"$(( ${NEO4J_LOG_OFFSET:-0} + 1 ))" "$NEO4J_LOG" 2>/dev/null \
              | grep -q -E '^Error: |^Error occurred during initialization of VM|^Unrecognized VM option'; then
      log "error: neo4j: the launcher did not start (no pid file $NEO4J_PIDFILE)"
      neo4j_log_tail
      exit 1
    fi
    if (( SECONDS >= deadline )); then
      log "error: neo4j: not ready on 127.0.0.1:$NEO4J_PORT within $NEO4J_START_TIMEOUT s (pid ${pid:-none})"
      neo4j_log_tail
      exit 1
    fi
    sleep 0.5
  done
}

# SIGTERM (the launcher shuts the DBMS down cleanly), then wait; SIGKILL only
# after NEO4J_STOP_TIMEOUT seconds.
neo4j_stop_pid() {
  stop_pid neo4j "$1" "$NEO4J_STOP_TIMEOUT"
  rm -f "$NEO4J_PIDFILE" "$NEO4J_READY" 2>/dev/null || true
  log "neo4j: stopped"
}

# ------------------------------------------------------------- actions ---

neo4j_ready_message() {
  log "neo4j: ready at bolt://127.0.0.1:$NEO4J_PORT (pid $(neo4j_ready_field pid), Neo4j $(neo4j_ready_field version) $(neo4j_ready_field edition), APOC $(neo4j_ready_field apoc_procedures) procedures), user $NEO4J_USER"
}

# Up, with the cache lock held.
neo4j_up_locked() {
  local pid port start
  pid="$(neo4j_pid)"
  if [[ -n "$pid" ]]; then
    port="$(neo4j_ready_field bolt)"; port="${port##*:}"
    if [[ -n "$port" && "$port" != "$NEO4J_PORT" ]]; then
      die "neo4j: already running (pid $pid) on port $port, not $NEO4J_PORT; run scripts/stack restart neo4j"
    fi
    log "neo4j: already running (pid $pid) on 127.0.0.1:$NEO4J_PORT"
    neo4j_built || log "neo4j: note: the launcher sources changed since it was built; scripts/stack restart neo4j rebuilds it"
    neo4j_wait_ready
  else
    neo4j_java >/dev/null
    neo4j_build
    neo4j_prepare_dirs
    neo4j_write_default_confs
    start=$SECONDS
    neo4j_start
    neo4j_wait_ready
    log "neo4j: started in $((SECONDS - start)) s"
  fi
  neo4j_ready_message
}

neo4j_up() {
  lock_cache
  neo4j_up_locked
}

neo4j_restart() {
  lock_cache
  local pid
  pid="$(neo4j_pid)"
  if [[ -z "$pid" ]]; then
    log "neo4j: not running; starting it"
  else
    neo4j_stop_pid "$pid"
  fi
  neo4j_up_locked
}

neo4j_down() {
  [[ -d "$NEO4J_DIR" ]] || { log "neo4j: not installed; nothing to stop"; return 0; }
  lock_cache
  local pid
  pid="$(neo4j_pid)"
  if [[ -z "$pid" ]]; then
    log "neo4j: not running"
    return 0
  fi
  neo4j_stop_pid "$pid"
}

neo4j_status() {
  local pid built="not built" what
  if neo4j_built; then
    built="built"
  elif [[ -d "$NEO4J_DIST" ]]; then
    built="built from older launcher sources"
  fi
  pid="$( [[ -d "$NEO4J_DIR" ]] && neo4j_pid || true)"
  if [[ -n "$pid" && "$(neo4j_ready_field pid)" == "$pid" ]]; then
    what="running (pid $pid) on 127.0.0.1:$(neo4j_ready_field bolt | sed 's/.*://'), Neo4j $(neo4j_ready_field version) $(neo4j_ready_field edition)"
  elif [[ -n "$pid" ]]; then
    what="starting (pid $pid), port $NEO4J_PORT, Neo4j $NEO4J_VERSION"
  else
    what="stopped, port $NEO4J_PORT, Neo4j $NEO4J_VERSION ($built)"
  fi
  log "neo4j: $what, data $NEO4J_DATA"
}

neo4j_env() {
  [[ -d "$NEO4J_DIST" ]] || log "neo4j: not built yet; run scripts/stack up neo4j"
  printf 'export TUNEBENCH_NEO4J_URL=%q\n' "bolt://127.0.0.1:$NEO4J_PORT"
  printf 'export TUNEBENCH_NEO4J_USER=%q\n' "$NEO4J_USER"
  printf 'export TUNEBENCH_NEO4J_PASSWORD=%q\n' "$NEO4J_PASSWORD"
}
