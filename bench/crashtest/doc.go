// Package crashtest proves Latchkey's durability and resource behaviour
// against the real binary, not an in-process server: its tests build
// cmd/latchkey, run it on a bbolt file in a temporary directory, kill it with
// SIGKILL at random moments while several clients drive the write paths
// (magic-link issuance with forceCreate, generate-link with a webhook
// workflow, refresh-token rotation), restart it on the same file and check
// that every request answered 2xx before a kill is still in effect.
//
// The non-test files are the harness those tests and bench/cmd/soak share:
// building and supervising the binary (Build, Start), writing its config
// (Config), a client for the endpoints the tests drive (Client), a counting
// SMTP sink and the soak itself (Soak). Nothing here is imported by the
// server.
//
// Tests:
//   - TestCrashKillLoop: the SIGKILL loop (LATCHKEY_CRASH_KILLS kills, default
//     20; bench/crashtest.sh runs 100).
//   - TestGracefulTerm: SIGTERM drains in-flight requests, exits 0 and keeps
//     undelivered outbox entries for the next start.
//   - TestSoakShort: a 10 s soak (skipped with -short); go run ./bench/cmd/soak
//     runs the full 60 s one.
package crashtest
