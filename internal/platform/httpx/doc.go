// Package httpx holds Latchkey's HTTP plumbing shared by every API: capped JSON
// decoding with typed errors, client address and scheme resolution behind
// trusted proxies, Keycloak's sslRequired rule, bearer-token parsing, CSRF
// tokens for forms, security headers, request ids, access logs and panic
// recovery. It knows nothing about realms or wire formats: internal/jsonapi
// turns httpx errors into its own typed errors, which each API then writes in
// its own shape.
package httpx
