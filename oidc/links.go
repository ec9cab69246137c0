package oidc

// OfferLoginLinks makes every realm's login page offer "email me a sign-in
// link", sent by links. Call it while wiring, before serving; without it the
// page offers the password only.
func (ps *Providers) OfferLoginLinks(links LinkSender) { ps.links = links }

// loginLinks is the sender of the login page's sign-in links, nil when the
// page does not offer them.
func (p *Provider) loginLinks() LinkSender { return p.set.links }
