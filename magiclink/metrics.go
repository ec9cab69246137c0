package magiclink

import (
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"

	"github.com/latchkey/latchkey/internal/platform/metrics"
)

// Landing failure reasons (label values).
const (
	reasonExpired    = "expired"
	reasonUsed       = "used"
	reasonSuperseded = "superseded"
	reasonUnknown    = "unknown"
)

var (
	linksIssued = promauto.With(metrics.Registry).NewCounterVec(prometheus.CounterOpts{
		Name: "latchkey_magiclink_links_issued_total",
		Help: "Magic links mailed, by realm and source (api: the access-link API; login: the login page).",
	}, []string{"realm", "source"})
	linksConsumed = promauto.With(metrics.Registry).NewCounterVec(prometheus.CounterOpts{
		Name: "latchkey_magiclink_links_consumed_total",
		Help: "Magic links used successfully, by realm.",
	}, []string{"realm"})
	landingFailures = promauto.With(metrics.Registry).NewCounterVec(prometheus.CounterOpts{
		Name: "latchkey_magiclink_landing_failures_total",
		Help: "Magic link landings that could not be used, by realm and reason (expired, used, superseded, unknown).",
	}, []string{"realm", "reason"})
	mailFailures = promauto.With(metrics.Registry).NewCounterVec(prometheus.CounterOpts{
		Name: "latchkey_magiclink_mail_failures_total",
		Help: "Magic link mails the SMTP server did not accept, by realm (the link was withdrawn).",
	}, []string{"realm"})
)
