package outbox

import (
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"

	"github.com/latchkey/latchkey/internal/platform/metrics"
)

// Results of a delivery attempt, the "result" label of deliveriesTotal.
const (
	resultOK      = "ok"
	resultFailed  = "failed"   // will be retried
	resultGivenUp = "given_up" // abandoned: attempts exhausted or undeliverable
)

var (
	deliveriesTotal = promauto.With(metrics.Registry).NewCounterVec(prometheus.CounterOpts{
		Name: "latchkey_outbox_deliveries_total",
		Help: "Outbox delivery attempts by entry kind and result (ok, failed = will retry, given_up).",
	}, []string{"kind", "result"})
	depth = promauto.With(metrics.Registry).NewGauge(prometheus.GaugeOpts{
		Name: "latchkey_outbox_depth",
		Help: "Entries waiting in the durable outbox (sampled by the worker).",
	})
)
