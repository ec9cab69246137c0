package oidc

// mayRevoke reports whether clientID may revoke an access token whose azp is
// azp. A token issued to a client of the realm belongs to that client alone
// (RFC 7009 §2.1). A token whose azp names no client of the realm — the
// password credential APIs' tokens (azp "latchkey-api") — has no owner to
// protect, so any authenticated client of the realm may revoke it: knowing
// the token already grants everything revoking it takes away.
func (p *Provider) mayRevoke(azp, clientID string) bool {
	if azp == clientID {
		return true
	}
	_, owned := p.realm.Client(azp)
	return !owned
}
