package httpx_test

import (
	"crypto/tls"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"testing"

	"github.com/latchkey/latchkey/internal/platform/httpx"
)

func mustProxies(t *testing.T, cidrs ...string) *httpx.Proxies {
	t.Helper()
	p, err := httpx.NewProxies(cidrs)
	if err != nil {
		t.Fatalf("NewProxies(%q): %v", cidrs, err)
	}
	return p
}

func TestNewProxies(t *testing.T) {
	tests := []struct {
		cidrs   []string
		wantErr bool
	}{
		{nil, false},
		{[]string{"10.0.0.0/8", "fd00::/8"}, false},
		{[]string{"203.0.113.7"}, false}, // a bare address is one host
		{[]string{"::1"}, false},
		{[]string{"10.0.0.0/33"}, true},
		{[]string{"example.com"}, true},
		{[]string{""}, true},
	}
	for _, tt := range tests {
		if _, err := httpx.NewProxies(tt.cidrs); (err != nil) != tt.wantErr {
			t.Errorf("NewProxies(%q) error = %v, want error %v", tt.cidrs, err, tt.wantErr)
		}
	}
}

func request(remote string, header map[string]string, overTLS bool) *http.Request {
	r := httptest.NewRequest(http.MethodGet, "/", nil)
	r.RemoteAddr = remote
	for k, v := range header {
		r.Header.Set(k, v)
	}
	r.TLS = nil
	if overTLS {
		r.TLS = &tls.ConnectionState{}
	}
	return r
}

func TestClientIP(t *testing.T) {
	trusting := mustProxies(t, "10.0.0.0/8", "fd00::/8", "192.0.2.1")
	none := mustProxies(t)
	tests := []struct {
		name    string
		proxies *httpx.Proxies
		remote  string
		xff     string
		want    string
	}{
		{"direct, no proxies", none, "203.0.113.9:1234", "", "203.0.113.9"},
		{"direct, XFF ignored without trusted proxies", none, "203.0.113.9:1234", "198.51.100.1", "203.0.113.9"},
		{"nil proxies", nil, "203.0.113.9:1234", "198.51.100.1", "203.0.113.9"},
		{"untrusted peer's XFF ignored", trusting, "203.0.113.9:1234", "10.1.1.1", "203.0.113.9"},
		{"untrusted peer claims loopback", trusting, "203.0.113.9:1234", "127.0.0.1", "203.0.113.9"},
		{"trusted proxy", trusting, "10.0.0.1:1234", "198.51.100.1", "198.51.100.1"},
		{"trusted single-host proxy", trusting, "192.0.2.1:1234", "198.51.100.1", "198.51.100.1"},
		{"proxy chain, right-most untrusted wins", trusting, "10.0.0.1:1234", "198.51.100.1, 10.0.0.2", "198.51.100.1"},
		{"spoofed entries left of the real client", trusting, "10.0.0.1:1234", "127.0.0.1, 10.9.9.9, 198.51.100.1", "198.51.100.1"},
		{"spoofed loopback then real client via two proxies", trusting, "10.0.0.1:1234", "127.0.0.1, 198.51.100.1, 10.0.0.2", "198.51.100.1"},
		{"garbage right of the client stops the walk", trusting, "10.0.0.1:1234", "198.51.100.1, nonsense", "10.0.0.1"},
		{"garbage left of the client is never reached", trusting, "10.0.0.1:1234", "nonsense, 198.51.100.1", "198.51.100.1"},
		{"all trusted", trusting, "10.0.0.1:1234", "10.0.0.3, 10.0.0.2", "10.0.0.1"},
		{"empty XFF", trusting, "10.0.0.1:1234", "", "10.0.0.1"},
		{"spaces", trusting, "10.0.0.1:1234", "  198.51.100.1  ,10.0.0.2 ", "198.51.100.1"},
		{"IPv6 client through IPv6 proxy", trusting, "[fd00::1]:443", "2001:db8::5", "2001:db8::5"},
		{"IPv4-mapped peer is unmapped and trusted", trusting, "[::ffff:10.0.0.1]:1234", "198.51.100.1", "198.51.100.1"},
		{"IPv4-mapped client is unmapped", trusting, "10.0.0.1:1234", "::ffff:198.51.100.1", "198.51.100.1"},
		{"remote without port", none, "203.0.113.9", "", "203.0.113.9"},
		{"unparseable remote", none, "pipe", "", "invalid IP"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := request(tt.remote, map[string]string{"X-Forwarded-For": tt.xff}, false)
			if got := tt.proxies.ClientIP(r).String(); got != tt.want {
				t.Errorf("ClientIP(remote %s, XFF %q) = %s, want %s", tt.remote, tt.xff, got, tt.want)
			}
		})
	}
}

func TestIsHTTPS(t *testing.T) {
	trusting := mustProxies(t, "10.0.0.0/8")
	none := mustProxies(t)
	tests := []struct {
		name    string
		proxies *httpx.Proxies
		remote  string
		proto   string
		tls     bool
		want    bool
	}{
		{"direct TLS", none, "203.0.113.9:1", "", true, true},
		{"direct TLS, proto says http", trusting, "10.0.0.1:1", "http", true, true},
		{"plain", none, "203.0.113.9:1", "", false, false},
		{"untrusted peer claims https", none, "203.0.113.9:1", "https", false, false},
		{"untrusted peer claims https, proxies configured", trusting, "203.0.113.9:1", "https", false, false},
		{"trusted proxy https", trusting, "10.0.0.1:1", "https", false, true},
		{"trusted proxy HTTPS upper case", trusting, "10.0.0.1:1", "HTTPS", false, true},
		{"trusted proxy, first of a list", trusting, "10.0.0.1:1", " https , http", false, true},
		{"trusted proxy, https only later in the list", trusting, "10.0.0.1:1", "http, https", false, false},
		{"trusted proxy http", trusting, "10.0.0.1:1", "http", false, false},
		{"trusted proxy, no header", trusting, "10.0.0.1:1", "", false, false},
		{"trusted proxy, garbage", trusting, "10.0.0.1:1", "httpsx", false, false},
	}
	for _, tt := range tests {
		r := request(tt.remote, map[string]string{"X-Forwarded-Proto": tt.proto}, tt.tls)
		if got := tt.proxies.IsHTTPS(r); got != tt.want {
			t.Errorf("%s: IsHTTPS = %v, want %v", tt.name, got, tt.want)
		}
	}
}

func TestIsLocalAddress(t *testing.T) {
	tests := []struct {
		addr string
		want bool
	}{
		{"127.0.0.1", true},
		{"127.8.9.10", true},
		{"::1", true},
		{"10.1.2.3", true},
		{"172.16.0.1", true},
		{"172.31.255.255", true},
		{"192.168.1.1", true},
		{"169.254.1.1", true},
		{"fe80::1", true},
		{"fd12:3456::1", true},
		{"172.32.0.1", false},
		{"8.8.8.8", false},
		{"100.64.0.1", false}, // carrier-grade NAT is not private
		{"203.0.113.9", false},
		{"2001:db8::1", false},
		{"0.0.0.0", false},
		{"::", false},
	}
	for _, tt := range tests {
		if got := httpx.IsLocalAddress(netip.MustParseAddr(tt.addr)); got != tt.want {
			t.Errorf("IsLocalAddress(%s) = %v, want %v", tt.addr, got, tt.want)
		}
	}
	if httpx.IsLocalAddress(netip.Addr{}) {
		t.Error("IsLocalAddress(zero Addr) = true, want false")
	}
}

// Keycloak's sslRequired: all × external × none, for local and public
// clients, over http and https, directly and behind a trusted proxy.
func TestSSLRequirementMet(t *testing.T) {
	trusting := mustProxies(t, "10.0.0.0/8")
	type client struct {
		name   string
		remote string
		header map[string]string
		tls    bool
	}
	clients := []client{
		{"local http", "127.0.0.1:1", nil, false},
		{"private http", "192.168.1.5:1", nil, false},
		{"public http", "203.0.113.9:1", nil, false},
		{"public https", "203.0.113.9:1", nil, true},
		{"local https", "127.0.0.1:1", nil, true},
		{"public via proxy, http", "10.0.0.1:1", map[string]string{"X-Forwarded-For": "203.0.113.9"}, false},
		{"public via proxy, https", "10.0.0.1:1", map[string]string{"X-Forwarded-For": "203.0.113.9", "X-Forwarded-Proto": "https"}, false},
		{"local via proxy, http", "10.0.0.1:1", map[string]string{"X-Forwarded-For": "192.168.1.5"}, false},
		{"public spoofing loopback, http", "203.0.113.9:1", map[string]string{"X-Forwarded-For": "127.0.0.1"}, false},
		{"unparseable remote, http", "pipe", nil, false},
	}
	// want[policy][client index]
	want := map[string][]bool{
		"all":      {false, false, false, true, true, false, true, false, false, false},
		"external": {true, true, false, true, true, false, true, true, false, false},
		"none":     {true, true, true, true, true, true, true, true, true, true},
		// An unknown policy is treated as the default, external.
		"bogus": {true, true, false, true, true, false, true, true, false, false},
	}
	for policy, wants := range want {
		for i, c := range clients {
			r := request(c.remote, c.header, c.tls)
			if got := trusting.SSLRequirementMet(r, policy); got != wants[i] {
				t.Errorf("SSLRequirementMet(%s, %q) = %v, want %v", c.name, policy, got, wants[i])
			}
		}
	}
}

func TestBearerToken(t *testing.T) {
	tests := []struct {
		name   string
		header string
		set    bool
		want   string
		wantOK bool
	}{
		{"canonical", "Bearer abc.def.ghi", true, "abc.def.ghi", true},
		{"lower case scheme", "bearer abc", true, "abc", true},
		{"upper case scheme", "BEARER abc", true, "abc", true},
		{"mixed case scheme", "BeArEr abc", true, "abc", true},
		{"extra spaces around the token", "Bearer    abc   ", true, "abc", true},
		{"no header", "", false, "", false},
		{"empty header", "", true, "", false},
		{"scheme only", "Bearer", true, "", false},
		{"scheme and space", "Bearer ", true, "", false},
		{"scheme and spaces", "Bearer     ", true, "", false},
		{"no space after scheme", "Bearerabc", true, "", false},
		{"tab after scheme", "Bearer\tabc", true, "", false},
		{"space inside the token", "Bearer abc def", true, "", false},
		{"tab inside the token", "Bearer abc\tdef", true, "", false},
		{"basic", "Basic dXNlcjpwYXNz", true, "", false},
		{"token scheme", "Token abc", true, "", false},
		{"leading space", " Bearer abc", true, "", false},
		{"DPoP", "DPoP abc", true, "", false},
	}
	for _, tt := range tests {
		r := httptest.NewRequest(http.MethodGet, "/", nil)
		if tt.set {
			r.Header["Authorization"] = []string{tt.header}
		}
		got, ok := httpx.BearerToken(r)
		if got != tt.want || ok != tt.wantOK {
			t.Errorf("%s: BearerToken(%q) = %q, %v; want %q, %v", tt.name, tt.header, got, ok, tt.want, tt.wantOK)
		}
	}
}

// TestLimitKey: IPv4 addresses count one by one; IPv6 ones by their /64.
func TestLimitKey(t *testing.T) {
	for _, tc := range []struct{ addr, want string }{
		{"192.0.2.7", "192.0.2.7"},
		{"::ffff:192.0.2.7", "192.0.2.7"},
		{"2001:db8:1:2:aaaa:bbbb:cccc:dddd", "2001:db8:1:2::/64"},
		{"2001:db8:1:2::1", "2001:db8:1:2::/64"},
		{"::1", "::/64"},
	} {
		if got := httpx.LimitKey(netip.MustParseAddr(tc.addr)); got != tc.want {
			t.Errorf("LimitKey(%s) = %q, want %q", tc.addr, got, tc.want)
		}
	}
}
