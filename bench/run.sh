#!/usr/bin/env bash
# Latchkey's benchmark: whole-server throughput and latency on loopback.
#
#   bench/run.sh                 # everything, default settings (~5 minutes on 2 cores)
#   SCENARIOS="discovery cc_rs256" DURATION=5 bench/run.sh
#   SCALE=1 bench/run.sh         # also: 100,000 users in 10 realms
#   PEER_ISSUER=... bench/run.sh # also: the same OIDC scenarios against another provider
#   PROFILE=1 bench/run.sh       # also: a CPU profile of each pinned scenario
#   STORAGE=postgres bench/run.sh # also: the pinned scenarios on PostgreSQL (mode "postgres"),
#                                 # with PostgreSQL pinned to the server's core too (PG_CPU=0:
#                                 # to the load tool's core instead)
#
# Installs what it needs (wrk, jq from Debian; k6 from the Go module proxy),
# builds latchkey, starts a loopback SMTP sink and the server, runs every
# scenario for DURATION seconds after WARMUP seconds, prints a table and writes
# bench/results/<timestamp>.json and bench/results/latest.json. Every setting,
# scenario and column is described in bench/README.md.
set -euo pipefail

BENCH_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(cd "$BENCH_DIR/.." && pwd)"
BIN="$BENCH_DIR/.bin"
RUN_DIR="$BENCH_DIR/.run"
RESULTS_DIR="$BENCH_DIR/results"

# --- settings ------------------------------------------------------------------
DURATION=${DURATION:-10}
DURATION=${DURATION%s}
WARMUP=${WARMUP:-3}
WARMUP=${WARMUP%s}
ROUNDS=${ROUNDS:-1}
UNPINNED=${UNPINNED:-1}
ALL_SCENARIOS="discovery jwks cc_rs256 cc_eddsa introspect refresh device_poll user_login wf_token code_flow ml_issue ml_consume genlink_1 genlink_100"
SCENARIOS=${SCENARIOS:-$ALL_SCENARIOS}
UNPINNED_SCENARIOS=${UNPINNED_SCENARIOS:-"discovery jwks cc_rs256 cc_eddsa introspect user_login"}
PEER_SCENARIOS="discovery jwks cc_rs256 introspect refresh code_flow"
SCALE=${SCALE:-0}
STORAGE=${STORAGE:-bbolt}
PG_SCENARIOS=${PG_SCENARIOS:-"cc_rs256 introspect refresh device_poll user_login wf_token code_flow ml_issue ml_consume genlink_1"}
SCALE_USERS=${SCALE_USERS:-100000}
SCALE_REALMS=${SCALE_REALMS:-10}
SCALE_SCENARIOS=${SCALE_SCENARIOS:-"cc_rs256 cc_eddsa introspect refresh user_login wf_token code_flow"}
PORT=${PORT:-18080}
DEMO_PORT=${DEMO_PORT:-18443}
SMTP_PORT=${SMTP_PORT:-2525}
SINK_PORT=${SINK_PORT:-2526}
PROFILE=${PROFILE:-0}
PPROF_PORT=${PPROF_PORT:-18081}
SERVER_CPU=${SERVER_CPU:-1}
LOAD_CPU=${LOAD_CPU:-0}
K6_VERSION=v1.8.1
K6=${K6:-"$(go env GOPATH)/bin/k6"}
BASE="http://127.0.0.1:$PORT"
REDIRECT="http://127.0.0.1:9/cb" # registered in bench.yaml; never contacted
BENCH_USER=bench@bench.test
BENCH_PASSWORD=bench-password

# shellcheck source=bench/lib.sh
source "$BENCH_DIR/lib.sh"
# shellcheck source=bench/scenarios.sh
source "$BENCH_DIR/scenarios.sh"

SERVER_PIN=(taskset -c "$SERVER_CPU")
LOAD_PIN=(taskset -c "$LOAD_CPU")
if [ "$(nproc)" -lt 2 ]; then
  log "warning: fewer than 2 CPUs, running unpinned"
  SERVER_PIN=()
  LOAD_PIN=()
fi

# set_mode MODE: pinned (server on SERVER_CPU, load tool on LOAD_CPU, one wrk
# thread), unpinned (both free, two wrk threads), scale and peer (as pinned).
set_mode() {
  MODE=$1
  if [ "$MODE" = unpinned ]; then
    LOAD_PIN_NOW=()
    WRK_THREADS=2
  else
    LOAD_PIN_NOW=("${LOAD_PIN[@]}")
    WRK_THREADS=1
  fi
}

# selected NAME LIST: whether scenario NAME is in LIST and in SCENARIOS.
selected() {
  [[ " ${2//,/ } " == *" $1 "* ]] && [[ " ${SCENARIOS//,/ } " == *" $1 "* ]]
}

# run_scenarios LIST runs the selected scenarios of LIST against TARGET,
# restarting a Latchkey server that died (its scenario is recorded "crashed").
run_scenarios() {
  local list=$1 s
  for s in ${list//,/ }; do
    selected "$s" "$list" || continue
    if [ "$TARGET" = latchkey ] && ! kill -0 "$SERVER_PID" 2>/dev/null; then
      log "latchkey exited (see $RUN_DIR/server.log); restarting it"
      tail -5 "$RUN_DIR/server.log" >&2 || true
      start_server "${SERVER_ARGS[@]}"
      TARGET_PID=$SERVER_PID
    fi
    "s_$s"
  done
}

# machine_info writes meta.json: when, where, what.
machine_info() {
  local commit dirty=false
  commit=$(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo unknown)
  [ -z "$(git -C "$ROOT" status --porcelain 2>/dev/null)" ] || dirty=true
  jq -n --arg date "$(date -u +%Y-%m-%dT%H:%M:%SZ)" --arg commit "$commit" --argjson dirty "$dirty" \
    --argjson nproc "$(nproc)" --arg cpu "$(awk -F': ' '/^model name/ {print $2; exit}' /proc/cpuinfo)" \
    --arg kernel "$(uname -r)" --arg go "$(go env GOVERSION)" --arg wrk "$(wrk -v 2>&1 | head -1 | awk '{print $2}')" \
    --arg k6 "$K6_VERSION" --argjson mem "$(awk '/^MemTotal:/ {print $2}' /proc/meminfo)" \
    --argjson duration "$DURATION" --argjson warmup "$WARMUP" --argjson rounds "$ROUNDS" \
    --arg server_cpu "$SERVER_CPU" --arg load_cpu "$LOAD_CPU" --arg load "$(cut -d' ' -f1-3 /proc/loadavg)" \
    '{version: 1, date: $date, git: {commit: $commit, dirty: $dirty},
      machine: {nproc: $nproc, cpu: $cpu, kernel: $kernel, mem_kb: $mem, loadavg_at_start: $load},
      tools: {go: $go, wrk: $wrk, k6: $k6},
      settings: {duration_s: $duration, warmup_s: $warmup, rounds: $rounds,
                 server_cpu: $server_cpu, load_cpu: $load_cpu}}' >"$RUN_DIR/meta.json"
}

# measure_ceilings runs bench/cmd/ceilings on the server's core.
measure_ceilings() {
  log "measuring ceilings (signatures, argon2id, bbolt commits) on CPU $SERVER_CPU"
  "${SERVER_PIN[@]}" "$BIN/ceilings" -time 1s -dir "$RUN_DIR" >"$RUN_DIR/ceilings.json" ||
    die "ceilings failed"
}

# idle_demo starts `latchkey serve` with the embedded demo config (no
# --config) and reads its RSS after 3 idle seconds.
idle_demo() {
  log "idle RSS with the demo config"
  mkdir -p "$RUN_DIR/demo"
  local t0 pid startup rss hwm
  port_free "127.0.0.1:$DEMO_PORT"
  t0=$(now_ms)
  env -u LATCHKEY_CONFIG LATCHKEY_SERVER_LISTEN="127.0.0.1:$DEMO_PORT" \
    LATCHKEY_STORAGE_PATH="$RUN_DIR/demo/latchkey.db" \
    "${SERVER_PIN[@]}" "$BIN/latchkey" serve >"$RUN_DIR/demo.log" 2>&1 &
  pid=$!
  PIDS+=("$pid")
  wait_ready "$pid" 60 "https://127.0.0.1:$DEMO_PORT/health/ready" -k || die "demo server did not start (see $RUN_DIR/demo.log)"
  startup=$(($(now_ms) - t0))
  sleep 3
  read -r rss hwm < <(rss_kb "$pid")
  stop_pid "$pid"
  jq -n --argjson rss "$rss" --argjson hwm "$hwm" --argjson startup "$startup" \
    '{idle_rss_kb: $rss, hwm_kb: $hwm, startup_ms: $startup}' >"$RUN_DIR/demo.json"
  log "demo: idle RSS $((rss / 1024)) MB, ready after $startup ms"
}

note_startup() {
  jq -nc --arg mode "$1" --argjson round "$ROUND" --argjson ms "$2" '{mode: $mode, round: $round, startup_ms: $ms}' \
    >>"$RUN_DIR/startups.jsonl"
}

# latchkey_rounds runs the scenarios against Latchkey in one mode.
latchkey_rounds() {
  set_mode "$1"
  log "round $ROUND, $MODE: starting latchkey"
  start_server "$MODE" "$BENCH_DIR/bench.yaml" "$RUN_DIR/bench.db"
  note_startup "$MODE" "$STARTUP_MS"
  TARGET=latchkey TARGET_PID=$SERVER_PID
  context_latchkey
  if [ "$MODE" = unpinned ]; then run_scenarios "$UNPINNED_SCENARIOS"; else run_scenarios "$ALL_SCENARIOS"; fi
  stop_pid "$SERVER_PID"
}

# postgres_round runs the pinned scenarios with storage.driver postgres on a
# fresh, durable PostgreSQL (pinned to the server's core, so that "the server
# on one core" includes its database).
postgres_round() {
  set_mode pinned
  MODE=postgres
  log "round $ROUND, postgres: starting PostgreSQL and latchkey"
  local dsn
  taskset -c "${PG_CPU:-$SERVER_CPU}" "$BIN/pgserver" >"$RUN_DIR/pg.dsn" 2>"$RUN_DIR/pg.log" &
  PG_PID=$!
  PIDS+=("$PG_PID")
  for _ in $(seq 120); do
    [ -s "$RUN_DIR/pg.dsn" ] && break
    kill -0 "$PG_PID" 2>/dev/null || die "PostgreSQL did not start (see $RUN_DIR/pg.log)"
    sleep 0.5
  done
  dsn=$(head -1 "$RUN_DIR/pg.dsn")
  [ -n "$dsn" ] || die "PostgreSQL did not start (see $RUN_DIR/pg.log)"
  LATCHKEY_STORAGE_DRIVER=postgres LATCHKEY_STORAGE_POSTGRES_DSN="$dsn" \
    LATCHKEY_API_KEY_SECRET=bench-api-key-secret-of-at-least-32-bytes \
    start_server pinned "$BENCH_DIR/bench.yaml" "$RUN_DIR/unused.db"
  note_startup "$MODE" "$STARTUP_MS"
  TARGET=latchkey TARGET_PID=$SERVER_PID
  context_latchkey
  run_scenarios "$PG_SCENARIOS"
  stop_pid "$SERVER_PID"
  stop_pid "$PG_PID"
}

peer_round() {
  set_mode peer
  MODE=pinned
  TARGET=peer TARGET_PID=${PEER_PID:-}
  log "round $ROUND: peer $PEER_ISSUER"
  context_peer
  run_scenarios "$PEER_SCENARIOS"
}

# scale_round seeds SCALE_USERS users over SCALE_REALMS realms, measures the
# server's startup and idle RSS with that store, then runs the token and
# login scenarios with a random seeded user per login.
scale_round() {
  set_mode scale
  ROUND=1
  local cfg="$RUN_DIR/scale.yaml" db="$RUN_DIR/scale.db" realms="bench,bench-eddsa" i
  cp "$BENCH_DIR/bench.yaml" "$cfg"
  for i in $(seq 2 $((SCALE_REALMS - 1))); do
    realms+=",bench-s$i"
    cat >>"$cfg" <<EOF
  - name: bench-s$i
    sslRequired: none
    bruteForce: { enabled: false }
    rateLimits: { perIP: "off", perAccount: "off" }
    clients:
      - clientId: bench-confidential
        secret: "bench-secret"
        grantTypes: [client_credentials]
EOF
  done
  log "scale: seeding $SCALE_USERS users in $SCALE_REALMS realms"
  rm -f "$db"
  "$BIN/seed" -db "$db" -realms "$realms" -users "$SCALE_USERS" -password "$BENCH_PASSWORD" >"$RUN_DIR/seed.json" ||
    die "seeding failed"
  start_server scale "$cfg" "$db"
  local first=$STARTUP_MS rss hwm
  sleep 3
  read -r rss hwm < <(rss_kb "$SERVER_PID")
  stop_pid "$SERVER_PID"
  start_server scale "$cfg" "$db"
  log "scale: startup $first ms (first, creates realm keys), $STARTUP_MS ms (restart), idle RSS $((rss / 1024)) MB"
  jq -n --slurpfile seed "$RUN_DIR/seed.json" --argjson users "$SCALE_USERS" --argjson realms "$SCALE_REALMS" \
    --argjson first "$first" --argjson restart "$STARTUP_MS" --argjson rss "$rss" \
    --argjson db "$(stat -c %s "$db")" \
    '{users: $users, realms: $realms, seed: $seed[0], db_bytes: $db, startup_first_ms: $first,
      startup_ms: $restart, idle_rss_kb: $rss}' >"$RUN_DIR/scale.json"
  TARGET=latchkey TARGET_PID=$SERVER_PID
  SCALE_USERS_PER_REALM=$((SCALE_USERS / SCALE_REALMS))
  context_latchkey
  run_scenarios "$SCALE_SCENARIOS"
  SCALE_USERS_PER_REALM=
  stop_pid "$SERVER_PID"
}

# assemble writes the result JSON and prints the table.
assemble() {
  local out="$RESULTS_DIR/$STAMP.json"
  mkdir -p "$RESULTS_DIR"
  touch "$RUN_DIR/results.jsonl" "$RUN_DIR/startups.jsonl"
  [ -f "$RUN_DIR/scale.json" ] || echo null >"$RUN_DIR/scale.json"
  jq -n --slurpfile meta "$RUN_DIR/meta.json" --slurpfile ceil "$RUN_DIR/ceilings.json" \
    --slurpfile demo "$RUN_DIR/demo.json" --slurpfile scale "$RUN_DIR/scale.json" \
    --slurpfile results "$RUN_DIR/results.jsonl" --slurpfile startups "$RUN_DIR/startups.jsonl" \
    --arg peer "${PEER_ISSUER:-}" -f "$BENCH_DIR/assemble.jq" >"$out"
  cp "$out" "$RESULTS_DIR/latest.json"
  echo
  jq -r -f "$BENCH_DIR/table.jq" "$out"
  echo
  log "results: $out (and $RESULTS_DIR/latest.json)"
}

main() {
  mkdir -p "$RUN_DIR"
  rm -rf "${RUN_DIR:?}"/*
  STAMP=$(date -u +%Y%m%dT%H%M%SZ)
  PROFILE_DIR="$RESULTS_DIR/profiles-$STAMP"
  trap cleanup EXIT
  trap 'exit 130' INT TERM
  ensure_tools
  build_all
  machine_info
  measure_ceilings
  idle_demo
  BENCH_PASSWORD_HASH=$("$BIN/seed" -hash -password "$BENCH_PASSWORD")
  export BENCH_PASSWORD_HASH
  start_sink
  for ROUND in $(seq "$ROUNDS"); do
    latchkey_rounds pinned
    [ "$UNPINNED" != 1 ] || latchkey_rounds unpinned
    [ "$STORAGE" != postgres ] || postgres_round
    [ -z "${PEER_ISSUER:-}" ] || peer_round
  done
  [ "$SCALE" != 1 ] || scale_round
  assemble
}

main "$@"
