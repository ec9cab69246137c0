# Builds bench/results/<timestamp>.json from the pieces bench/run.sh wrote
# (jq -n with --slurpfile meta, ceil, demo, scale, results, startups; --arg peer).
#
# "results" holds every measured run (one per target, mode, round and
# scenario); "summary" folds the rounds: the median of each number over the
# rounds whose status was ok.

def median: map(select(. != null)) | sort | if length == 0 then null else .[(length - 1) / 2 | floor] end;

# How a scenario relates to a ceiling of bench/cmd/ceilings: [key, costs per op].
def ceiling_of($scenario):
  {cc_rs256: ["rs256_per_s", 1], cc_eddsa: ["eddsa_per_s", 1], genlink_1: ["rs256_per_s", 1],
   genlink_100: ["rs256_per_s", 100], user_login: ["argon2id_per_s", 1], wf_token: ["argon2id_per_s", 1],
   code_flow: ["argon2id_per_s", 1]}[$scenario];

$meta[0] + {
  ceilings: $ceil[0],
  demo: $demo[0],
  scale: $scale[0],
  peer: (if $peer == "" then null else {issuer: $peer} end),
  startups: $startups,
  results: $results,
  summary: (
    $results
    | group_by([.target, .mode, .scenario])
    | map(
        (map(select(.status == "ok"))) as $ok
        | if ($ok | length) == 0 then .[0]
          else $ok[0] + {
            rounds: ($ok | length),
            rps: ($ok | map(.rps) | median),
            p50_ms: ($ok | map(.p50_ms) | median),
            p90_ms: ($ok | map(.p90_ms) | median),
            p99_ms: ($ok | map(.p99_ms) | median),
            errors: ($ok | map(.errors) | add),
            rss_kb: ($ok | map(.rss_kb) | median),
            hwm_kb: ($ok | map(.hwm_kb) | max)
          } end
        | del(.round)
        | . as $r
        | if .target == "latchkey" and .mode != "unpinned" and .rps != null and ceiling_of(.scenario) != null
          then ceiling_of(.scenario) as [$key, $per]
            | . + {ceiling: {name: $key, per_s: $ceil[0][$key],
                             fraction: (($r.rps * $per) / $ceil[0][$key])}}
          else . end)
    | sort_by(
        (.target != "latchkey"),
        ({pinned: 0, unpinned: 1, scale: 2}[.mode] // 3),
        (.scenario as $s
         | "discovery jwks cc_rs256 cc_eddsa introspect refresh user_login wf_token code_flow ml_issue ml_consume genlink_1 genlink_100"
         | split(" ") | index($s) // 99)
      )
  )
}
