#!/usr/bin/env bash
# Crash-safety run: kills the real latchkey binary with SIGKILL many times
# while clients write (magic links, generate-link users and webhooks, refresh
# rotation), restarts it on the same bbolt file, and checks that everything
# acknowledged survived; then checks a graceful SIGTERM. CI runs the same
# test with 20 kills; this runs 100 (override: LATCHKEY_CRASH_KILLS=N).
#
#   bench/crashtest.sh [extra go test flags]
set -euo pipefail
cd "$(dirname "$0")/.."
export LATCHKEY_CRASH_KILLS="${LATCHKEY_CRASH_KILLS:-100}"
exec go test -race -count=1 -timeout 20m -v -run '^(TestCrashKillLoop|TestGracefulTerm)$' "$@" ./bench/crashtest/
