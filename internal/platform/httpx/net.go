package httpx

import (
	"net"
	"net/http"
	"net/netip"
	"strings"
)

// Proxies decides which X-Forwarded-* headers are believed.
type Proxies struct{ trusted []netip.Prefix }

// NewProxies parses CIDRs; invalid entries are an error.
func NewProxies(cidrs []string) (*Proxies, error) {
	p := &Proxies{}
	for _, c := range cidrs {
		pfx, err := netip.ParsePrefix(c)
		if err != nil {
			addr, aerr := netip.ParseAddr(c)
			if aerr != nil {
				return nil, err
			}
			pfx = netip.PrefixFrom(addr, addr.BitLen())
		}
		p.trusted = append(p.trusted, pfx)
	}
	return p, nil
}

func (p *Proxies) trusts(a netip.Addr) bool {
	if p == nil {
		return false
	}
	for _, t := range p.trusted {
		if t.Contains(a.Unmap()) {
			return true
		}
	}
	return false
}

func remoteAddr(r *http.Request) netip.Addr {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		host = r.RemoteAddr
	}
	a, _ := netip.ParseAddr(host)
	return a.Unmap()
}

// ClientIP returns the client's address: the peer's, or — when the peer is a
// trusted proxy — the right-most untrusted address of X-Forwarded-For.
func (p *Proxies) ClientIP(r *http.Request) netip.Addr {
	peer := remoteAddr(r)
	if !p.trusts(peer) {
		return peer
	}
	parts := strings.Split(r.Header.Get("X-Forwarded-For"), ",")
	for i := len(parts) - 1; i >= 0; i-- {
		a, err := netip.ParseAddr(strings.TrimSpace(parts[i]))
		if err != nil {
			break
		}
		if !p.trusts(a) {
			return a.Unmap()
		}
	}
	return peer
}

// IsHTTPS reports whether the client reached us over TLS: directly, or through
// a trusted proxy that says so in X-Forwarded-Proto.
func (p *Proxies) IsHTTPS(r *http.Request) bool {
	if r.TLS != nil {
		return true
	}
	if p.trusts(remoteAddr(r)) {
		return strings.EqualFold(strings.TrimSpace(strings.Split(r.Header.Get("X-Forwarded-Proto"), ",")[0]), "https")
	}
	return false
}

// IsLocalAddress reports whether a is loopback or private (RFC 1918, ULA, link-local):
// the addresses Keycloak's sslRequired=external lets use plain http.
func IsLocalAddress(a netip.Addr) bool {
	return a.IsLoopback() || a.IsPrivate() || a.IsLinkLocalUnicast()
}

// SSLRequirementMet applies Keycloak's sslRequired rule: "all" needs https,
// "external" needs https unless the client address is local, "none" never does.
func (p *Proxies) SSLRequirementMet(r *http.Request, policy string) bool {
	if p.IsHTTPS(r) {
		return true
	}
	switch policy {
	case "none":
		return true
	case "all":
		return false
	default:
		return IsLocalAddress(p.ClientIP(r))
	}
}

// BearerToken extracts the token of an "Authorization: Bearer <token>" header.
func BearerToken(r *http.Request) (string, bool) {
	h := r.Header.Get("Authorization")
	const prefix = "bearer "
	if len(h) <= len(prefix) || !strings.EqualFold(h[:len(prefix)], prefix) {
		return "", false
	}
	tok := strings.TrimSpace(h[len(prefix):])
	if tok == "" || strings.ContainsAny(tok, " \t\r\n") {
		return "", false
	}
	return tok, true
}

// LimitKey is the rate-limit identity of a client address: the address
// itself for IPv4, its /64 network for IPv6. A /64 is what one subscriber
// is given, so counting its addresses one by one would hand an attacker
// 2^64 fresh budgets.
func LimitKey(a netip.Addr) string {
	a = a.Unmap()
	if a.Is6() {
		if p, err := a.Prefix(64); err == nil {
			return p.String()
		}
	}
	return a.String()
}
