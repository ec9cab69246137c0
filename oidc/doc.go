// Package oidc serves one OpenID Connect provider per realm, built on
// zitadel/oidc's op package and mounted under /auth/realms/{realm} (and the
// Keycloak 17+ alias /realms/{realm}).
//
// The library does the protocol parsing and validation; this package supplies
// its Storage adapter and overrides the parts where Latchkey behaves like
// Keycloak rather than like the library's defaults: atomic single-use codes,
// PKCE that cannot be downgraded, refresh tokens for every client with the
// grant (no offline_access needed) with replay detection, hybrid response
// types, validated response modes, SSO sessions with prompt/max_age, and access
// tokens minted by internal/tokens so every API's tokens look alike. It also
// serves the login page and exports Complete so that other flows (magic
// links) can finish an authorization response exactly as the authorization
// endpoint would.
package oidc
