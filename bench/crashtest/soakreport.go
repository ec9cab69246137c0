package crashtest

import (
	"fmt"
	"io"
	"slices"
	"sort"
	"strings"
	"time"
)

// tally turns the clients' samples into per-kind figures.
func (rep *SoakReport) tally(results [][]sample) {
	lat := map[string][]time.Duration{}
	for _, rs := range results {
		for _, s := range rs {
			k := rep.Kinds[s.kind]
			if k == nil {
				k = &KindStats{Statuses: map[int]int{}}
				rep.Kinds[s.kind] = k
			}
			k.Requests++
			if s.status == 0 {
				k.Errors++
				continue
			}
			k.Statuses[s.status]++
			lat[s.kind] = append(lat[s.kind], s.latency)
		}
	}
	for kind, ls := range lat {
		slices.Sort(ls)
		rep.Kinds[kind].P50, rep.Kinds[kind].P99 = percentile(ls, 0.50), percentile(ls, 0.99)
	}
}

// percentile is the q-quantile of sorted (nearest rank).
func percentile(sorted []time.Duration, q float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	return sorted[min(len(sorted)-1, int(q*float64(len(sorted))))]
}

// judge records every broken promise in Violations.
func (rep *SoakReport) judge() {
	o := rep.Options
	add := func(format string, args ...any) {
		rep.Violations = append(rep.Violations, fmt.Sprintf(format, args...))
	}
	for kind, k := range rep.Kinds {
		for st, n := range k.Statuses {
			if st >= 500 {
				add("%d answers %d to %s, want no 5xx", n, st, kind)
			}
		}
		if k.Errors > 0 {
			add("%d %s requests got no answer (transport error), want 0", k.Errors, kind)
		}
	}
	if limit := int64(float64(rep.RSSWarm.RSS) * (1 + o.RSSGrowth)); rep.RSSEnd.RSS > limit {
		add("RSS grew from %s after the warm-up to %s at the end, more than %.0f%%",
			mib(rep.RSSWarm.RSS), mib(rep.RSSEnd.RSS), o.RSSGrowth*100)
	}
	if d := rep.GoAfter - rep.GoBefore; d > o.GoroutineSlack || d < -o.GoroutineSlack {
		add("goroutines %d before the load and %d after it settled, want within ±%d", rep.GoBefore, rep.GoAfter, o.GoroutineSlack)
	}
	if rep.ExitCode != 0 {
		add("exit code %d after SIGTERM, want 0", rep.ExitCode)
	}
}

// WriteTo prints the summary.
func (rep *SoakReport) WriteTo(w io.Writer) (int64, error) {
	var b strings.Builder
	o := rep.Options
	total := 0
	fmt.Fprintf(&b, "soak: %d clients for %s (warm-up %s)\n", o.Clients, rep.Elapsed.Round(time.Millisecond), o.Warmup)
	fmt.Fprintf(&b, "  %-20s %9s %9s %10s %10s  %s\n", "kind", "requests", "req/s", "p50", "p99", "statuses")
	kinds := make([]string, 0, len(rep.Kinds))
	for k := range rep.Kinds {
		kinds = append(kinds, k)
	}
	sort.Strings(kinds)
	for _, kind := range kinds {
		k := rep.Kinds[kind]
		total += k.Requests
		var st []string
		codes := make([]int, 0, len(k.Statuses))
		for c := range k.Statuses {
			codes = append(codes, c)
		}
		sort.Ints(codes)
		for _, c := range codes {
			st = append(st, fmt.Sprintf("%d×%d", c, k.Statuses[c]))
		}
		if k.Errors > 0 {
			st = append(st, fmt.Sprintf("transport-error×%d", k.Errors))
		}
		fmt.Fprintf(&b, "  %-20s %9d %9.1f %10s %10s  %s\n", kind, k.Requests, float64(k.Requests)/rep.Elapsed.Seconds(),
			k.P50.Round(10*time.Microsecond), k.P99.Round(10*time.Microsecond), strings.Join(st, " "))
	}
	fmt.Fprintf(&b, "  total %d requests (%.1f/s), %d mails sent\n", total, float64(total)/rep.Elapsed.Seconds(), rep.Mails)
	fmt.Fprintf(&b, "  RSS: %s after warm-up (anon %s, file %s), %s at the end (anon %s, file %s), %s idle after settling\n",
		mib(rep.RSSWarm.RSS), mib(rep.RSSWarm.Anon), mib(rep.RSSWarm.File),
		mib(rep.RSSEnd.RSS), mib(rep.RSSEnd.Anon), mib(rep.RSSEnd.File), mib(rep.RSSIdle.RSS))
	fmt.Fprintf(&b, "  goroutines: %d before, %d after; exit code %d after SIGTERM\n", rep.GoBefore, rep.GoAfter, rep.ExitCode)
	if len(rep.Violations) == 0 {
		b.WriteString("  PASS\n")
	}
	for _, v := range rep.Violations {
		fmt.Fprintf(&b, "  FAIL: %s\n", v)
	}
	n, err := io.WriteString(w, b.String())
	return int64(n), err
}

func mib(b int64) string { return fmt.Sprintf("%.1f MiB", float64(b)/(1<<20)) }
