# shellcheck shell=bash
# shellcheck disable=SC2034,SC2153 # globals shared with run.sh and scenarios.sh
# Helpers of bench/run.sh: tools, processes, load generators, results.
# Sourced, not run. Expects BENCH_DIR, ROOT, RUN_DIR and the settings of run.sh.

log() { printf '[bench %s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
die() { log "error: $*"; exit 1; }

# --- tools -------------------------------------------------------------------

# apt_install installs Debian packages, refreshing the package lists once if
# the first attempt fails (a fresh machine has none).
apt_install() {
  local sudo=()
  [ "$(id -u)" -eq 0 ] || sudo=(sudo)
  if ! "${sudo[@]}" apt-get -o DPkg::Lock::Timeout=600 install -y --no-install-recommends "$@" >"$RUN_DIR/apt.log" 2>&1; then
    "${sudo[@]}" apt-get -o DPkg::Lock::Timeout=600 update >>"$RUN_DIR/apt.log" 2>&1 || true
    "${sudo[@]}" apt-get -o DPkg::Lock::Timeout=600 install -y --no-install-recommends "$@" >>"$RUN_DIR/apt.log" 2>&1 ||
      die "apt-get install $* failed (see $RUN_DIR/apt.log)"
  fi
}

# ensure_tools installs wrk, jq, curl and taskset from Debian and k6 from the
# Go module proxy (a few minutes the first time; cached in GOPATH/bin).
ensure_tools() {
  local missing=()
  command -v wrk >/dev/null || missing+=(wrk)
  command -v jq >/dev/null || missing+=(jq)
  command -v curl >/dev/null || missing+=(curl)
  command -v taskset >/dev/null || missing+=(util-linux)
  if [ ${#missing[@]} -gt 0 ]; then
    log "installing ${missing[*]} (apt)"
    apt_install "${missing[@]}"
  fi
  if ! [ -x "$K6" ] || ! "$K6" version 2>/dev/null | grep -q "$K6_VERSION"; then
    log "building k6 $K6_VERSION with go install (a few minutes, once)"
    (cd / && GOFLAGS=-buildvcs=false GOBIN="$(dirname "$K6")" go install "go.k6.io/k6@$K6_VERSION") ||
      die "go install go.k6.io/k6@$K6_VERSION failed"
  fi
}

# build_all builds the server and the bench helpers into bench/.bin.
build_all() {
  log "building latchkey and the bench tools"
  mkdir -p "$BIN"
  (cd "$ROOT" &&
    go build -o "$BIN/latchkey" ./cmd/latchkey &&
    go build -o "$BIN/seed" ./bench/cmd/seed &&
    go build -o "$BIN/smtpsink" ./bench/cmd/smtpsink &&
    go build -o "$BIN/ceilings" ./bench/cmd/ceilings &&
    go build -o "$BIN/profserve" ./bench/cmd/profserve &&
    go build -o "$BIN/pgserver" ./bench/cmd/pgserver) || die "go build failed"
}

# --- processes ---------------------------------------------------------------

PIDS=()

# cleanup stops every process this run started, by PID: TERM, then KILL.
cleanup() {
  local pid
  for pid in "${PIDS[@]}"; do
    kill -TERM "$pid" 2>/dev/null || true
  done
  for pid in "${PIDS[@]}"; do
    for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$pid" 2>/dev/null || true
  done
  PIDS=()
}

# stop_pid stops one process we started and forgets it.
stop_pid() {
  local pid=$1 keep=() p
  kill -TERM "$pid" 2>/dev/null || true
  for _ in $(seq 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.05; done
  kill -KILL "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
  for p in "${PIDS[@]}"; do [ "$p" = "$pid" ] || keep+=("$p"); done
  PIDS=("${keep[@]}")
}

now_ms() { echo $(($(date +%s%N) / 1000000)); }

# wait_ready polls URL until it answers 2xx (extra curl options after it);
# fails when PID dies or TIMEOUT seconds pass.
wait_ready() {
  local pid=$1 timeout=$2 url=$3
  shift 3
  local deadline=$(($(now_ms) + timeout * 1000))
  until curl -fsS -o /dev/null --max-time 1 "$@" "$url" 2>/dev/null; do
    kill -0 "$pid" 2>/dev/null || return 1
    [ "$(now_ms)" -lt "$deadline" ] || return 1
    sleep 0.01
  done
}

# rss_kb prints "VmRSS VmHWM" of PID in kB ("null null" when unknown).
rss_kb() {
  local rss hwm
  rss=$(awk '/^VmRSS:/ {print $2}' "/proc/$1/status" 2>/dev/null || true)
  hwm=$(awk '/^VmHWM:/ {print $2}' "/proc/$1/status" 2>/dev/null || true)
  echo "${rss:-null} ${hwm:-null}"
}

# port_free HOST:PORT fails when something already answers there (a server
# left from an earlier run would otherwise be measured instead of ours).
port_free() {
  ! (exec 3<>"/dev/tcp/${1%:*}/${1##*:}") 2>/dev/null || die "$1 is already in use (set PORT, DEMO_PORT, SMTP_PORT or SINK_PORT)"
}

# start_sink starts the loopback SMTP sink on the load core.
start_sink() {
  port_free "127.0.0.1:$SMTP_PORT"
  port_free "127.0.0.1:$SINK_PORT"
  "${LOAD_PIN[@]}" "$BIN/smtpsink" -smtp "127.0.0.1:$SMTP_PORT" -http "127.0.0.1:$SINK_PORT" \
    >"$RUN_DIR/smtpsink.log" 2>&1 &
  SINK_PID=$!
  PIDS+=("$SINK_PID")
  wait_ready "$SINK_PID" 10 "http://127.0.0.1:$SINK_PORT/health" || die "smtpsink did not start (see $RUN_DIR/smtpsink.log)"
}

# sink_settle waits until the sink has received no mail for half a second
# (at most 30s), so that mail still queued by one scenario does not load the
# next one.
sink_settle() {
  local last=-1 n deadline=$(($(now_ms) + 30000))
  while [ "$(now_ms)" -lt "$deadline" ]; do
    n=$(curl -fsS --max-time 2 "http://127.0.0.1:$SINK_PORT/stats" 2>/dev/null | jq -r .received 2>/dev/null) || return 0
    [ "$n" = "$last" ] && return 0
    last=$n
    sleep 0.5
  done
}

# start_server MODE CONFIG DB starts latchkey (pinned to SERVER_CPU when MODE
# is not "unpinned"), waits for /health/ready and sets SERVER_PID and
# STARTUP_MS (exec to ready). With PROFILE=1 the pinned and scale modes run
# bench/cmd/profserve (the same server plus pprof) and PROF_ON is set.
start_server() {
  local mode=$1 config=$2 db=$3 pin=()
  local cmd=("$BIN/latchkey" serve --config "$config")
  SERVER_ARGS=("$@")
  [ "$mode" = unpinned ] || pin=("${SERVER_PIN[@]}")
  port_free "127.0.0.1:$PORT"
  PROF_ON=
  if [ "$PROFILE" = 1 ] && [ "$mode" != unpinned ]; then
    port_free "127.0.0.1:$PPROF_PORT"
    cmd=("$BIN/profserve" -pprof "127.0.0.1:$PPROF_PORT" -config "$config")
    PROF_ON=1
  fi
  local t0
  t0=$(now_ms)
  LATCHKEY_SERVER_LISTEN="127.0.0.1:$PORT" LATCHKEY_SERVER_PUBLICURL="$BASE" \
    LATCHKEY_STORAGE_PATH="$db" LATCHKEY_SMTP_PORT="$SMTP_PORT" \
    "${pin[@]}" "${cmd[@]}" >>"$RUN_DIR/server.log" 2>&1 &
  SERVER_PID=$!
  PIDS+=("$SERVER_PID")
  if ! wait_ready "$SERVER_PID" 120 "$BASE/health/ready"; then
    tail -20 "$RUN_DIR/server.log" >&2
    die "latchkey did not become ready"
  fi
  STARTUP_MS=$(($(now_ms) - t0))
}

# --- profiles --------------------------------------------------------------------

# prof_start NAME starts fetching a CPU profile covering the measured run
# (PROF_ON only); prof_stop waits for it, writes `go tool pprof -top` next
# to it and sets PROF_FILE to that text file (repo-relative; empty without a
# profile). Not to be called in a subshell: they track the curl by PID.
prof_start() {
  PROF_CURL=
  [ -n "${PROF_ON:-}" ] || return 0
  mkdir -p "$PROFILE_DIR"
  curl -sS -o "$PROFILE_DIR/$MODE-$1.pprof" --max-time $((DURATION + 30)) \
    "http://127.0.0.1:$PPROF_PORT/debug/pprof/profile?seconds=$((DURATION > 2 ? DURATION - 1 : 1))" 2>/dev/null &
  PROF_CURL=$!
  PIDS+=("$PROF_CURL")
}

prof_stop() {
  PROF_FILE=
  [ -n "${PROF_CURL:-}" ] || return 0
  wait "$PROF_CURL" 2>/dev/null || true
  stop_pid "$PROF_CURL"
  local f="$PROFILE_DIR/$MODE-$1"
  go tool pprof -top -nodecount=30 "$BIN/profserve" "$f.pprof" >"$f.top.txt" 2>&1 || true
  PROF_FILE="${f#"$ROOT"/}.top.txt"
}

# --- load generators -----------------------------------------------------------

# headers_to_curl turns "Name: value" lines into curl -H arguments (CURL_H).
headers_to_curl() {
  CURL_H=()
  local line
  while IFS= read -r line; do
    [ -n "$line" ] && CURL_H+=(-H "$line")
  done <<<"$1"
}

# probe METHOD URL BODY HEADERS: one request with curl; prints the status and
# leaves the body in $RUN_DIR/probe.body.
probe() {
  local method=$1 url=$2 body=$3 hdrs=$4 data=()
  headers_to_curl "$hdrs"
  [ -z "$body" ] || data=(--data-binary "$body")
  local code
  code=$(curl -sS -o "$RUN_DIR/probe.body" -w '%{http_code}' --max-time 30 -X "$method" "${CURL_H[@]}" "${data[@]}" "$url" 2>/dev/null) || true
  echo "${code:-000}"
}

# wrk_run SECONDS URL CONNS METHOD BODY HEADERS USERS: runs wrk on the load
# core(s) and prints normalized metrics as JSON (empty on failure).
wrk_run() {
  local secs=$1 url=$2 conns=$3 method=$4 body=$5 hdrs=$6 users=${7:-0} out
  out=$(WRK_METHOD="$method" WRK_BODY="$body" WRK_HEADERS="$hdrs" WRK_USERS="$users" \
    "${LOAD_PIN_NOW[@]}" wrk -t"$WRK_THREADS" -c"$conns" -d"${secs}s" --timeout 10s \
    -s "$BENCH_DIR/wrk/request.lua" "$url" 2>&1) || true
  echo "$out" >>"$RUN_DIR/wrk.log"
  echo "$out" | sed -n 's/^WRKJSON //p' | jq -c '{
      ops: .requests, rps: (.requests / (.duration_us / 1e6)),
      p50_ms: (.p50_us / 1000), p90_ms: (.p90_us / 1000), p99_ms: (.p99_us / 1000),
      errors: (.errors_socket + .errors_status), errors_socket, errors_status}'
}

# k6_run SECONDS SCRIPT VUS [-e K=V ...]: runs k6 on the load core(s) and
# prints normalized metrics as JSON (empty on failure).
k6_run() {
  local secs=$1 script=$2 vus=$3 sum
  shift 3
  sum="$RUN_DIR/k6-summary.json"
  rm -f "$sum"
  K6_NO_USAGE_REPORT=true K6_AUTO_EXTENSION_RESOLUTION=false \
    "${LOAD_PIN_NOW[@]}" "$K6" run --quiet --no-color -e "DURATION=${secs}s" -e "VUS=$vus" \
    -e "SUMMARY_FILE=$sum" "$@" "$BENCH_DIR/k6/$script" >>"$RUN_DIR/k6.log" 2>&1 || true
  [ -s "$sum" ] || return 0
  jq -c --argjson secs "$secs" '{
      ops, rps: (.ops / $secs), p50_ms, p90_ms, p99_ms, errors, http_reqs}' "$sum"
}

# --- results -------------------------------------------------------------------

# record TARGET MODE SCENARIO STATUS TOOL UNIT NOTE [METRICS_JSON]: appends one
# result line (with the server's RSS and the machine's 1-minute load average,
# which tells a quiet machine from a busy one) to results.jsonl. The status
# becomes "crashed" when the target process is gone.
record() {
  local target=$1 mode=$2 scenario=$3 status=$4 tool=$5 unit=$6 note=$7 metrics=${8:-}
  [ -n "$metrics" ] || metrics='{}'
  local rss=null hwm=null pid=${TARGET_PID:-} load1
  if [ -n "$pid" ] && ! kill -0 "$pid" 2>/dev/null; then
    status=crashed
    note="the server process exited during the scenario (see bench/.run/server.log)"
  fi
  [ -z "$pid" ] || read -r rss hwm < <(rss_kb "$pid")
  load1=$(cut -d' ' -f1 /proc/loadavg)
  jq -nc --arg target "$target" --arg mode "$mode" --argjson round "$ROUND" --arg scenario "$scenario" \
    --arg status "$status" --arg tool "$tool" --arg unit "$unit" --arg note "$note" \
    --argjson m "$metrics" --argjson rss "$rss" --argjson hwm "$hwm" --argjson load1 "$load1" \
    '{target: $target, mode: $mode, round: $round, scenario: $scenario, status: $status, tool: $tool,
      unit: $unit, note: $note, rss_kb: $rss, hwm_kb: $hwm, load1: $load1} + $m' >>"$RUN_DIR/results.jsonl"
  local line
  line=$(tail -1 "$RUN_DIR/results.jsonl" | jq -r '"\(.scenario) [\(.target) \(.mode)]: \(.status)" +
    (if .rps then " \(.rps | floor) \(.unit)/s p50 \(.p50_ms * 100 | round / 100) ms p99 \(.p99_ms * 100 | round / 100) ms errors \(.errors)" else "" end) +
    (if .note != "" then " (\(.note))" else "" end)')
  log "$line"
}

# probe_verdict STATUS: "ok", "unavailable" (404/405: not built yet) or "failed".
probe_verdict() {
  case $1 in
    2??) echo ok ;;
    404 | 405) echo unavailable ;;
    *) echo failed ;;
  esac
}

# probe_note describes a failed probe: status and the start of the body.
probe_note() {
  printf 'probe: HTTP %s %s' "$1" "$(head -c 160 "$RUN_DIR/probe.body" 2>/dev/null | tr -d '\n\r' || true)"
}
