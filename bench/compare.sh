#!/usr/bin/env bash
# Compares two bench/run.sh result files, scenario by scenario:
#
#   bench/compare.sh OLD.json [NEW.json]     # NEW defaults to bench/results/latest.json
#
# For every (target, mode, scenario) measured in both it prints throughput
# old → new with the ratio new/old (above 1: faster), p99 latency old → new
# with its ratio (below 1: better), and RSS. Scenarios present in only one
# file are listed with "-" on the other side.
set -euo pipefail

if [ $# -lt 1 ] || [ $# -gt 2 ]; then
  echo "usage: $0 OLD.json [NEW.json]" >&2
  exit 2
fi
old=$1
new=${2:-"$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/results/latest.json"}
command -v jq >/dev/null || { echo "compare.sh needs jq (apt-get install jq)" >&2; exit 1; }

jq -rn --slurpfile o "$old" --slurpfile n "$new" '
  def pad($w): tostring as $s | if ($s | length) >= $w then $s else $s + ([range($w - ($s | length))] | map(" ") | add) end;
  def num: if . == null then "-" elif . >= 100 then (round | tostring) else ((. * 10 | round) / 10 | tostring) end;
  def ratio($a; $b): if $a == null or $b == null or $b == 0 then "-" else ((($a / $b) * 100 | round) / 100 | tostring) + "×" end;
  def key: "\(.target) \(.mode) \(.scenario)";
  def ok: map(select(.status == "ok")) | map({key: key, value: .}) | from_entries;
  ($o[0].summary | ok) as $old | ($n[0].summary | ok) as $new
  | (($old | keys) + ($new | keys) | unique) as $keys
  | "old: \($o[0].date) commit \($o[0].git.commit)   new: \($n[0].date) commit \($n[0].git.commit)",
    "",
    (["target mode scenario", "ops/s old → new", "ratio", "p99 ms old → new", "p99 ratio", "RSS MB old → new"] as $h
     | [$keys[] | [., "\($old[.].rps | num) → \($new[.].rps | num)", ratio($new[.].rps; $old[.].rps),
                   "\($old[.].p99_ms | num) → \($new[.].p99_ms | num)", ratio($new[.].p99_ms; $old[.].p99_ms),
                   "\(($old[.].rss_kb // null) | if . then . / 1024 | num else "-" end) → \(($new[.].rss_kb // null) | if . then . / 1024 | num else "-" end)"]] as $rows
     | ([$h] + $rows) as $all
     | ([range($h | length)] | map(. as $i | $all | map(.[$i] | length) | max)) as $w
     | $all[] | [., $w] | transpose | map(. as [$c, $x] | $c | pad($x)) | join("  "))
'
