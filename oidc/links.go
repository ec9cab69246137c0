package oidc

// Links returns the sign-in link sender the providers were built with (nil
// when the login page offers no "email me a sign-in link"), so that the
// package implementing it can mount its own routes on the same instance.
func (ps *Providers) Links() LinkSender { return ps.opts.Links }
