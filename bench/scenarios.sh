# shellcheck shell=bash
# The scenarios of bench/run.sh, one function s_<name> each (bench/README.md
# says what each measures). Sourced, not run. They read the target context
# (context_latchkey or context_peer) and the mode (set_mode).

# --- target context ----------------------------------------------------------

# load_discovery URL sets the endpoints from an OpenID discovery document.
load_discovery() {
  DISCOVERY=$1
  local doc
  doc=$(curl -fsS --max-time 10 "$DISCOVERY") || die "discovery $DISCOVERY failed"
  TOKEN_EP=$(jq -r .token_endpoint <<<"$doc")
  JWKS_EP=$(jq -r .jwks_uri <<<"$doc")
  INTROSPECT_EP=$(jq -r '.introspection_endpoint // empty' <<<"$doc")
  DEVICE_EP=$(jq -r '.device_authorization_endpoint // empty' <<<"$doc")
  AUTH_EP=$(jq -r .authorization_endpoint <<<"$doc")
}

context_latchkey() {
  REALM_URL="$BASE/auth/realms/bench"
  load_discovery "$REALM_URL/.well-known/openid-configuration"
  EDDSA_TOKEN_EP="$BASE/auth/realms/bench-eddsa/protocol/openid-connect/token"
  CC_ID=bench-confidential CC_SECRET=bench-secret
  CODE_ID=bench-public CODE_SECRET=
  LOGIN_USER=$BENCH_USER LOGIN_PASSWORD=$BENCH_PASSWORD
  REDIRECT_URI=$REDIRECT
}

context_peer() {
  REALM_URL=
  load_discovery "${PEER_ISSUER%/}/.well-known/openid-configuration"
  EDDSA_TOKEN_EP=
  CC_ID=${PEER_CLIENT_ID:?PEER_CLIENT_ID is required with PEER_ISSUER}
  CC_SECRET=${PEER_CLIENT_SECRET:?PEER_CLIENT_SECRET is required with PEER_ISSUER}
  CODE_ID=$CC_ID CODE_SECRET=$CC_SECRET
  LOGIN_USER=${PEER_USER:-} LOGIN_PASSWORD=${PEER_PASSWORD:-}
  REDIRECT_URI=${PEER_REDIRECT_URI:-$REDIRECT}
}

basic() { printf 'Basic %s' "$(printf '%s:%s' "$1" "$2" | base64 -w0)"; }

form_headers() { printf 'Authorization: %s\nContent-Type: application/x-www-form-urlencoded' "$(basic "$1" "$2")"; }

# client_token TOKEN_ENDPOINT ID SECRET prints a client_credentials access token.
client_token() {
  curl -fsS --max-time 10 -u "$2:$3" -d grant_type=client_credentials "$1" | jq -r .access_token
}

# service_token is an access token of bench-service (roles magic-link-sender, link-generator).
service_token() { client_token "$TOKEN_EP" bench-service bench-service-secret 2>/dev/null || echo none; }

# login_user: the login of the password APIs: the bench user, or in
# scale mode "u{i}@bench.test" (a random seeded user per request, see wrk/request.lua).
login_user() {
  if [ -n "${SCALE_USERS_PER_REALM:-}" ]; then echo 'u{i}@bench.test'; else echo "$LOGIN_USER"; fi
}

# --- generic runners -----------------------------------------------------------

# settle NAME waits for the mail of a mailing scenario to be delivered.
settle() {
  case $1 in ml_*) sink_settle ;; esac
}

# measure_wrk NAME UNIT URL CONNS METHOD BODY HEADERS EXPECT [USERS] [NOTE]:
# probe once (404/405: "unavailable"; another non-2xx or a body without the
# EXPECT regex: "failed"), warm up, measure, record.
measure_wrk() {
  local name=$1 unit=$2 url=$3 conns=$4 method=$5 body=$6 hdrs=$7 expect=$8 users=${9:-0} note=${10:-}
  local code verdict m
  code=$(probe "$method" "$url" "${body//\{i\}/0}" "$hdrs")
  verdict=$(probe_verdict "$code")
  if [ "$verdict" = ok ] && ! grep -q -- "$expect" "$RUN_DIR/probe.body"; then verdict=failed; fi
  if [ "$verdict" != ok ]; then
    record "$TARGET" "$MODE" "$name" "$verdict" wrk "$unit" "$(probe_note "$code")"
    return 0
  fi
  wrk_run "$WARMUP" "$url" "$conns" "$method" "$body" "$hdrs" "$users" >/dev/null
  prof_start "$name"
  m=$(wrk_run "$DURATION" "$url" "$conns" "$method" "$body" "$hdrs" "$users")
  prof_stop "$name"
  settle "$name"
  if [ -z "$m" ]; then
    record "$TARGET" "$MODE" "$name" failed wrk "$unit" "wrk gave no result (see bench/.run/wrk.log)"
    return 0
  fi
  record "$TARGET" "$MODE" "$name" ok wrk "$unit" "$note" \
    "$(jq -c --argjson c "$conns" --arg p "$PROF_FILE" '. + {connections: $c} + (if $p == "" then {} else {profile: $p} end)' <<<"$m")"
}

# measure_k6 NAME UNIT SCRIPT VUS [-e K=V ...]: warm up, measure, record. A
# run where no op succeeded is "failed" with k6's first warning as the note.
# Set P_METHOD, P_URL, P_BODY, P_HEADERS first to probe like measure_wrk.
measure_k6() {
  local name=$1 unit=$2 script=$3 vus=$4 code verdict m
  shift 4
  if [ -n "${P_URL:-}" ]; then
    code=$(probe "$P_METHOD" "$P_URL" "$P_BODY" "$P_HEADERS")
    P_URL=
    verdict=$(probe_verdict "$code")
    if [ "$verdict" != ok ]; then
      record "$TARGET" "$MODE" "$name" "$verdict" k6 "$unit" "$(probe_note "$code")"
      return 0
    fi
  fi
  : >"$RUN_DIR/k6.log"
  k6_run "$WARMUP" "$script" "$vus" "$@" >/dev/null
  : >"$RUN_DIR/k6.log"
  prof_start "$name"
  m=$(k6_run "$DURATION" "$script" "$vus" "$@")
  prof_stop "$name"
  settle "$name"
  cp "$RUN_DIR/k6.log" "$RUN_DIR/k6-$TARGET-$MODE-$name.log"
  if [ -z "$m" ] || [ "$(jq -r .ops <<<"$m")" = 0 ]; then
    local why
    why=$(grep -m1 -oE '(VU [0-9]+: .*|level=error msg=.*)' "$RUN_DIR/k6.log" | head -c 200 | tr -d '"' || true)
    record "$TARGET" "$MODE" "$name" failed k6 "$unit" "no successful op: ${why:-see bench/.run/k6.log}" "${m:-}"
    return 0
  fi
  record "$TARGET" "$MODE" "$name" ok k6 "$unit" "" \
    "$(jq -c --argjson v "$vus" --arg p "$PROF_FILE" '. + {vus: $v} + (if $p == "" then {} else {profile: $p} end)' <<<"$m")"
}

# k6 environment shared by the code-flow scenarios.
flow_env() {
  K6_ENV=(-e "AUTH_ENDPOINT=$AUTH_EP" -e "TOKEN_ENDPOINT=$TOKEN_EP" -e "REDIRECT_URI=$REDIRECT_URI"
    -e "PASSWORD=$LOGIN_PASSWORD")
  if [ -n "${SCALE_USERS_PER_REALM:-}" ]; then
    K6_ENV+=(-e "USER_FMT=u{i}@bench.test" -e "USER_COUNT=$SCALE_USERS_PER_REALM")
  else
    K6_ENV+=(-e "USER=$LOGIN_USER")
  fi
}

# --- scenarios -------------------------------------------------------------------

s_discovery() {
  measure_wrk discovery req "$DISCOVERY" 64 GET "" "" '"issuer"'
}

s_jwks() {
  measure_wrk jwks req "$JWKS_EP" 64 GET "" "" '"keys"'
}

s_cc_rs256() {
  measure_wrk cc_rs256 req "$TOKEN_EP" 32 POST "grant_type=client_credentials" "$(form_headers "$CC_ID" "$CC_SECRET")" '"access_token"'
}

s_cc_eddsa() {
  [ -n "$EDDSA_TOKEN_EP" ] || return 0
  measure_wrk cc_eddsa req "$EDDSA_TOKEN_EP" 32 POST "grant_type=client_credentials" "$(form_headers "$CC_ID" "$CC_SECRET")" '"access_token"'
}

s_introspect() {
  if [ -z "$INTROSPECT_EP" ]; then
    record "$TARGET" "$MODE" introspect unavailable wrk req "no introspection_endpoint in discovery"
    return 0
  fi
  local tok
  tok=$(client_token "$TOKEN_EP" "$CC_ID" "$CC_SECRET") || tok=none
  measure_wrk introspect req "$INTROSPECT_EP" 32 POST "token=$tok&token_type_hint=access_token" \
    "$(form_headers "$CC_ID" "$CC_SECRET")" '"active": *true'
}

s_refresh() {
  if [ -z "$LOGIN_USER" ]; then
    record "$TARGET" "$MODE" refresh skipped k6 req "no user credentials (PEER_USER, PEER_PASSWORD)"
    return 0
  fi
  flow_env
  measure_k6 refresh req refresh.js 32 "${K6_ENV[@]}" -e "CLIENT_ID=$CC_ID" -e "CLIENT_SECRET=$CC_SECRET"
}

s_device_poll() {
  if [ -z "$DEVICE_EP" ]; then
    record "$TARGET" "$MODE" device_poll unavailable k6 req "no device_authorization_endpoint in discovery"
    return 0
  fi
  measure_k6 device_poll req device_poll.js 32 -e "DEVICE_ENDPOINT=$DEVICE_EP" -e "TOKEN_ENDPOINT=$TOKEN_EP" \
    -e "CLIENT_ID=${DEVICE_ID:-bench-device}"
}

s_user_login() {
  local users=${SCALE_USERS_PER_REALM:-0}
  measure_wrk user_login req "$REALM_URL/user/login" 8 POST \
    "{\"emailId\":\"$(login_user)\",\"password\":\"$LOGIN_PASSWORD\"}" "Content-Type: application/json" \
    '"responseCode":200' "$users"
}

s_wf_token() {
  local users=${SCALE_USERS_PER_REALM:-0}
  measure_wrk wf_token req "$REALM_URL/wf/generate-user-token" 8 POST \
    "{\"email\":\"$(login_user)\",\"password\":\"$LOGIN_PASSWORD\"}" "Content-Type: application/json" \
    '"status":"success"' "$users"
}

s_code_flow() {
  if [ -z "$LOGIN_USER" ]; then
    record "$TARGET" "$MODE" code_flow skipped k6 flow "no user credentials (PEER_USER, PEER_PASSWORD)"
    return 0
  fi
  flow_env
  measure_k6 code_flow flow code_flow.js 8 "${K6_ENV[@]}" -e "CLIENT_ID=$CODE_ID" -e "CLIENT_SECRET=$CODE_SECRET"
}

# magic_link_body EMAIL: an access-link request for the confidential client.
magic_link_body() {
  printf '{"email":"%s","clientId":"%s","redirectUri":"%s","scope":"openid","responseMode":"query","responseType":"code","forceCreate":true}' \
    "$1" "$CC_ID" "$REDIRECT_URI"
}

s_ml_issue() {
  measure_wrk ml_issue req "$REALM_URL/kobil-magic-link/access-link" 32 POST "$(magic_link_body ml-issue@bench.test)" \
    "$(printf 'Authorization: Bearer %s\nContent-Type: application/json' "$(service_token)")" '"status":"Ok"'
}

s_ml_consume() {
  P_METHOD=POST P_URL="$REALM_URL/kobil-magic-link/access-link" P_BODY=$(magic_link_body ml-probe@bench.test)
  P_HEADERS=$(printf 'Authorization: Bearer %s\nContent-Type: application/json' "$(service_token)")
  measure_k6 ml_consume flow magic_link.js 16 -e "ACCESS_LINK_URL=$P_URL" -e "TOKEN_ENDPOINT=$TOKEN_EP" \
    -e "SERVICE_TOKEN_ENDPOINT=$TOKEN_EP" -e SERVICE_ID=bench-service -e SERVICE_SECRET=bench-service-secret \
    -e "CLIENT_ID=$CC_ID" -e "CLIENT_SECRET=$CC_SECRET" -e "REDIRECT_URI=$REDIRECT_URI" \
    -e "SINK_URL=http://127.0.0.1:$SINK_PORT"
}

# genlink_body N: a generate-link request for N distinct emails, no workflow.
genlink_body() {
  local emails
  emails=$(seq 0 $(($1 - 1)) | sed 's/.*/"gl-&@bench.test"/' | paste -sd, -)
  printf '{"metadata":"bench","workflows_list":"","site":"bench","emails":[%s]}' "$emails"
}

s_genlink_1() {
  measure_wrk genlink_1 req "$REALM_URL/generate-link-api/" 32 POST "$(genlink_body 1)" \
    "$(printf 'Authorization: Bearer %s\nContent-Type: application/json' "$(service_token)")" '"GeneratedMessage"'
}

s_genlink_100() {
  measure_wrk genlink_100 req "$REALM_URL/generate-link-api/" 4 POST "$(genlink_body 100)" \
    "$(printf 'Authorization: Bearer %s\nContent-Type: application/json' "$(service_token)")" '"GeneratedMessage"' \
    0 "100 links (signed tokens) per request"
}
