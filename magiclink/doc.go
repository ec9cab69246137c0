// Package magiclink is the magic-link feature: the KOBIL-compatible
// access-link API (POST {realm}/kobil-magic-link/access-link), the link
// tokens behind it, the mail that carries them, and the landing flow
// ({realm}/kobil-magic-link/login) that turns a click into an OIDC
// authorization response for the client that asked.
//
// A link is a 256-bit random key. Only its SHA-256 is stored, as a storage
// one-time token whose group is the user and client (a newer link supersedes
// older ones) and whose subject is the user (disabling the user kills it).
// The landing's GET only shows a confirm page, so mail scanners that prefetch
// links cannot burn them; its CSRF-protected POST consumes the link (exactly
// one of concurrent uses wins), optionally asks for a new password, starts
// the SSO session and completes the authorization through the realm's OIDC
// provider.
//
// The Service also implements oidc.LinkSender, the login page's "email me a
// sign-in link".
package magiclink
