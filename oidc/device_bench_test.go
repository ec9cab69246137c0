package oidc_test

import (
	"bytes"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/latchkey/latchkey/internal/testkit/clock"
)

// benchDeviceConfig has a device client whose grants outlive any benchmark
// run, polled every second of a clock the benchmark moves.
const benchDeviceConfig = `
realms:
  - name: tvland
    rateLimits: {perIP: "off", perAccount: "off"}
    deviceFlow: {lifespan: 100000h, pollInterval: 1s}
    clients:
      - clientId: tv
        public: true
        grantTypes: ["urn:ietf:params:oauth:grant-type:device_code"]
`

// BenchmarkDevicePoll measures one poll of the token endpoint for a pending
// device grant through the whole server handler, with the bbolt store
// syncing as in production: "pending" polls in step (authorization_pending,
// the common case: one read and one write of the grant), "slow_down" polls
// too fast (the same work, plus the interval raised).
func BenchmarkDevicePoll(b *testing.B) {
	clk := clock.At(clock.T0)
	h := benchServerWith(b, benchDeviceConfig, clk.Now)
	start := func(b *testing.B) string {
		req := httptest.NewRequest(http.MethodPost, benchPublicURL+"/auth/realms/tvland"+pDeviceAuth,
			strings.NewReader(url.Values{"client_id": {"tv"}, "scope": {"openid"}}.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		var da deviceAuthorization
		if err := json.Unmarshal(rec.Body.Bytes(), &da); err != nil || rec.Code != http.StatusOK {
			b.Fatalf("device authorization = %d %s", rec.Code, rec.Body.String())
		}
		return da.DeviceCode
	}
	cases := []struct {
		name string
		step time.Duration // clock advance before each poll
		want string
	}{
		{"pending", time.Second, "authorization_pending"},
		{"slow_down", 0, "slow_down"},
	}
	for _, bc := range cases {
		b.Run(bc.name, func(b *testing.B) {
			body := url.Values{"grant_type": {deviceGrant}, "client_id": {"tv"}, "device_code": {start(b)}}.Encode()
			path := benchPublicURL + "/auth/realms/tvland" + pToken
			poll := func() *httptest.ResponseRecorder {
				req := httptest.NewRequest(http.MethodPost, path, strings.NewReader(body))
				req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
				rec := httptest.NewRecorder()
				h.ServeHTTP(rec, req)
				return rec
			}
			poll() // the first poll of a grant is never too fast
			want := []byte(`"error":"` + bc.want + `"`)
			b.ReportAllocs()
			b.ResetTimer()
			for b.Loop() {
				clk.Advance(bc.step)
				if rec := poll(); rec.Code != http.StatusBadRequest || !bytes.Contains(rec.Body.Bytes(), want) {
					b.Fatalf("poll = %d %s, want 400 %s", rec.Code, rec.Body.String(), bc.want)
				}
			}
		})
	}
}
