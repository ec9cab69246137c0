// Package credentials serves the two password credential APIs of every realm,
// whose wire formats are fixed by the seed documents (SPEC §5.2, §5.3):
//
//   - POST {prefix}/user/login           {"emailId","password"} → token, apiKey, expiry
//   - POST {prefix}/wf/generate-user-token {"email","password"} → user_id, token, expires
//
// under both realm prefixes (/auth/realms/{realm}, /realms/{realm}) and at the
// root for the registry's default realm, so clients written against the seed
// documents work unchanged.
//
// Both APIs share one pipeline (realm, per-IP rate limit, capped JSON decoding,
// per-account rate limit, realm.Authenticate with its brute-force lockout,
// token minting through the realm's tokens.Service) and differ only in how
// they spell requests, answers and errors: each has a single writeError that
// maps the pipeline's errors to its own JSON shape. Bad input always gets a
// 4xx in that shape; faults get the API's 5xx shape and are logged with the
// request id, never echoed. Passwords, tokens and API keys are never logged.
//
// API keys (returned by /user/login) are derived, not stored: see APIKeys.
package credentials
