// Package magiclink is the magic-link feature: the KOBIL-compatible
// access-link API (POST {realm}/kobil-magic-link/access-link), the link
// tokens behind it, the mail that carries them, and the landing flow
// ({realm}/kobil-magic-link/login) that turns a click into an OIDC
// authorization response for the client that asked.
//
// A link is a 256-bit random key. Only its SHA-256 is stored, as a storage
// one-time token whose group is the user and client (a newer link supersedes
// older ones) and whose subject is the user (disabling the user kills it).
//
// The domain steps are the Service's: Issue validates an API request and
// mails the link (service.go); Peek tells whether a link or pending password
// reset is still usable without using it, Redeem uses a link (exactly one of
// concurrent uses wins) and RedeemReset sets the new password a link asked
// for, each refusal a typed error (ErrLinkUnknown, ErrLinkUsed, ...;
// redeem.go). The handlers decide nothing: the API (api.go) runs on the
// shared JSON pipeline, internal/jsonapi, and answers in the KOBIL API's
// {message,status,subSystem} shape (errors.go); the landing (landing.go,
// password.go) calls those steps and only renders their outcome. Its GET
// shows a confirm page, so mail scanners that prefetch links cannot burn
// them; its CSRF-protected POST redeems, then has the realm's OIDC provider
// start the SSO session and complete the authorization (oidc.Provider.Complete).
//
// The Service also implements oidc.LinkSender, the login page's "email me a
// sign-in link".
package magiclink
