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
// tokens minted by internal/crypto/tokens so every API's tokens look alike. It
// also serves the login page and exports Complete so that other flows (magic
// links) can finish an authorization response exactly as the authorization
// endpoint would.
//
// One file per flow: authorize.go (the authorization endpoint), code.go
// (code exchange), refresh.go (refresh-token rotation), clientcredentials.go,
// userinfo.go, introspect.go, revoke.go, logout.go (RP-initiated logout) and
// device.go (the device authorization grant, RFC 8628, whose verification
// page is device_page.go),
// over idtoken.go (ID tokens) and tokenresponse.go (the token endpoint's
// Keycloak-shaped answer). Around them: provider.go (Providers, Options,
// discovery, routes), server.go (the library's server with those flows
// overriding it), storage.go and adapters.go (the library's Storage over
// package storage), login.go, session.go and links.go (the login page and SSO
// sessions), respond.go (the authorization response, and Complete), params.go
// (ValidateParams, shared with the magic-link API), fastpath.go (the hot
// endpoints without the router) and keycloakjs.go (what Keycloak's JavaScript
// adapter loads: the session-status iframe and the third-party-cookie probe,
// with their scripts in keycloakjs/).
package oidc
