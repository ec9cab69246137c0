// Package metrics owns Latchkey's Prometheus registry and the server-wide
// collectors (HTTP requests, latency, tokens issued). Feature packages register
// their own collectors on Registry with promauto.With(metrics.Registry).
package metrics

import (
	"net/http"
	"strconv"
	"time"

	"github.com/gorilla/mux"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promauto"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Registry is the registry /metrics serves.
var Registry = prometheus.NewRegistry()

var (
	requests = promauto.With(Registry).NewCounterVec(prometheus.CounterOpts{
		Name: "latchkey_http_requests_total", Help: "HTTP requests by route, realm and status.",
	}, []string{"route", "realm", "status"})
	latency = promauto.With(Registry).NewHistogramVec(prometheus.HistogramOpts{
		Name: "latchkey_http_request_duration_seconds", Help: "HTTP request latency by route.",
		Buckets: []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5},
	}, []string{"route"})
	// TokensIssued counts access tokens minted, by realm and grant/API.
	TokensIssued = promauto.With(Registry).NewCounterVec(prometheus.CounterOpts{
		Name: "latchkey_tokens_issued_total", Help: "Access tokens issued by realm and grant.",
	}, []string{"realm", "grant"})
)

func init() {
	Registry.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
}

// Observe records one finished request. The route label is the mux route
// template, so that ids in paths do not explode cardinality.
func Observe(r *http.Request, status int, elapsed time.Duration) {
	route := "unmatched"
	if cur := mux.CurrentRoute(r); cur != nil {
		if name := cur.GetName(); name != "" {
			route = name
		} else if tpl, err := cur.GetPathTemplate(); err == nil {
			route = tpl
		}
	}
	realm := mux.Vars(r)["realm"]
	requests.WithLabelValues(route, realm, strconv.Itoa(status)).Inc()
	latency.WithLabelValues(route).Observe(elapsed.Seconds())
}

// Handler serves the registry in the Prometheus text format.
func Handler() http.Handler {
	return promhttp.HandlerFor(Registry, promhttp.HandlerOpts{})
}
