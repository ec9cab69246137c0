// Package credentials serves the two password credential APIs of every realm,
// whose wire formats are fixed by the API documents their existing clients
// were written against:
//
//   - POST {prefix}/user/login           {"emailId","password"} → token, apiKey, expiry
//   - POST {prefix}/wf/generate-user-token {"email","password"} → user_id, token, expires
//
// under both realm prefixes (/auth/realms/{realm}, /realms/{realm}) and at the
// root for the registry's default realm, so those clients work unchanged.
//
// Both APIs run on the shared JSON API pipeline, internal/jsonapi (realm
// lookup, the /wf/ path check, method, per-IP rate limit, capped JSON
// decoding, panic recovery), and then on this package's common step in handler.go
// (per-account rate limit, realm.Authenticate with its brute-force lockout,
// token minting through the realm's tokens.Service). They differ only in how
// they spell requests, answers and errors (userlogin.go, wftoken.go): each
// has a single jsonapi.Writer that maps every error to its own JSON shape.
// Bad input always gets a 4xx in that shape; faults get the API's 5xx shape
// and are logged with the request id, never echoed. Passwords, tokens and API
// keys are never logged.
//
// API keys (returned by /user/login) are derived, not stored: see APIKeys.
package credentials
