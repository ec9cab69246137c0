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

	"github.com/latchkey/latchkey/internal/platform/httpx"
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

// Observe records one finished request with the labels the router recorded
// (see LabelRoute); requests that matched no route are "unmatched".
func Observe(r *http.Request, status int, elapsed time.Duration) {
	route, realm := "unmatched", ""
	if l := httpx.RouteLabelsFrom(r.Context()); l != nil && l.Route != "" {
		route, realm = l.Route, l.Realm
	}
	requests.WithLabelValues(route, realm, strconv.Itoa(status)).Inc()
	latency.WithLabelValues(route).Observe(elapsed.Seconds())
}

// LabelRoute is router middleware that records the matched route's name (or
// path template) and realm for Observe. Realm names that are not configured
// are recorded as "unknown", so that random paths cannot grow the label set.
func LabelRoute(knownRealm func(string) bool) mux.MiddlewareFunc {
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if l := httpx.RouteLabelsFrom(r.Context()); l != nil {
				if cur := mux.CurrentRoute(r); cur != nil {
					if l.Route = cur.GetName(); l.Route == "" {
						l.Route, _ = cur.GetPathTemplate()
					}
				}
				if realm, ok := mux.Vars(r)["realm"]; ok {
					l.Realm = "unknown"
					if knownRealm(realm) {
						l.Realm = realm
					}
				}
			}
			next.ServeHTTP(w, r)
		})
	}
}

// Handler serves the registry in the Prometheus text format.
func Handler() http.Handler {
	return promhttp.HandlerFor(Registry, promhttp.HandlerOpts{})
}
