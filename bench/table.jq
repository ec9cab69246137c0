# Prints a bench/results/*.json file as the Markdown table of bench/README.md:
#   jq -r -f bench/table.jq bench/results/latest.json

def pad($n): tostring as $s | if ($s | length) >= $n then $s else $s + ([range($n - ($s | length))] | map(" ") | add) end;
def num: if . == null then "-" elif . >= 100 then (round | tostring) else ((. * 10 | round) / 10 | tostring) end;
def ms: if . == null then "-" elif . < 10 then ((. * 100 | round) / 100 | tostring) else ((. * 10 | round) / 10 | tostring) end;
def mb: if . == null then "-" else ((. / 1024 * 10 | round) / 10 | tostring) end;
def pct: if . == null then "-" else ((. * 100 | round | tostring) + "%") end;

# row prints cells padded to the widths of the header.
def row($widths): [., $widths] | transpose | map(. as [$c, $w] | $c | pad($w // 0)) | "| " + join(" | ") + " |";

def table($header; $rows):
  ([$header] + $rows) as $all
  | ([range($header | length)] | map(. as $i | $all | map(.[$i] | tostring | length) | max)) as $w
  | ($header | row($w)),
    ($w | map("-" * .) | "|-" + join("-|-") + "-|"),
    ($rows[] | row($w));

. as $doc
| "Latchkey benchmark — \(.date), commit \(.git.commit)\(if .git.dirty then " (dirty)" else "" end)",
  "Machine: \(.machine.nproc) × \(.machine.cpu), \(.machine.mem_kb / 1048576 | round) GiB, Linux \(.machine.kernel); \(.tools.go), wrk \(.tools.wrk), k6 \(.tools.k6)",
  "Load average when the run started: \(.machine.loadavg_at_start) (a busy machine makes every number lower and noisier)",
  "Settings: \(.settings.duration_s)s per scenario after \(.settings.warmup_s)s warm-up, \(.settings.rounds) round(s); pinned = server on CPU \(.settings.server_cpu), load tool on CPU \(.settings.load_cpu)",
  "Ceilings on one core: RS256 \(.ceilings.rs256_per_s | num)/s, ES256 \(.ceilings.es256_per_s | num)/s, EdDSA \(.ceilings.eddsa_per_s | num)/s, argon2id (\(.ceilings.argon2id_params)) \(.ceilings.argon2id_per_s | num)/s, fsync'd bbolt commit \(.ceilings.bbolt_commits_per_s | num)/s",
  "Demo config: idle RSS \(.demo.idle_rss_kb | mb) MB, ready \(.demo.startup_ms) ms after exec; bench config ready after \(.startups | map(.startup_ms | tostring) | join(", ")) ms",
  (if .scale then "Scale: \(.scale.users) users in \(.scale.realms) realms (seeded in \(.scale.seed.seconds * 10 | round / 10) s, \(.scale.db_bytes / 1048576 | round) MB file); ready \(.scale.startup_first_ms) ms after exec on first start (creates the realm keys), \(.scale.startup_ms) ms on restart; idle RSS \(.scale.idle_rss_kb | mb) MB" else empty end),
  "",
  table(["target", "mode", "scenario", "status", "ops/s", "p50 ms", "p99 ms", "errors", "RSS MB", "peak MB", "of ceiling", "load", "note"];
    [.summary[] | [.target, .mode, .scenario, .status,
      (if .rps then (.rps | num) + (if .unit == "flow" then " flows" else "" end) else "-" end),
      (.p50_ms | ms), (.p99_ms | ms), (.errors // "-" | tostring), (.rss_kb | mb), (.hwm_kb | mb),
      (if .ceiling then (.ceiling.fraction | pct) + " " + (.ceiling.name | sub("_per_s$"; "")) else "-" end),
      (.load1 // "-" | tostring),
      (.note // "" | .[0:90])]]),
  (if .peer then
    "",
    "Latchkey / peer (\(.peer.issuer)), pinned mode: throughput ratio (higher is better) and p99 ratio (lower is better)",
    "",
    ([$doc.summary[] | select(.mode == "pinned" and .status == "ok")] as $ok
     | table(["scenario", "latchkey ops/s", "peer ops/s", "ratio", "p99 ratio"];
        [$ok[] | select(.target == "peer") as $p
         | ($ok[] | select(.target == "latchkey" and .scenario == $p.scenario)) as $l
         | [$p.scenario, ($l.rps | num), ($p.rps | num), ((($l.rps / $p.rps) * 100 | round) / 100 | tostring) + "×",
            (if $p.p99_ms > 0 then ((($l.p99_ms / $p.p99_ms) * 100 | round) / 100 | tostring) + "×" else "-" end)]]))
  else empty end)
