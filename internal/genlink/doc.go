// Package genlink is the application-link API (SPEC §5.4, seed
// generate-link-api.txt): POST /generate-link-api/ per realm and at the root
// for the default realm. For each email it finds or creates the user, mints a
// realm access token whose audience is the target site, and answers with the
// site's appURL carrying the token and the site's parameters in a fixed order.
//
// The user creations of one request and the outbox entries of its workflows
// (the built-in "email" and configured webhooks) are written in one storage
// transaction; internal/outbox delivers the entries afterwards, at least
// once, through the handlers this package registers (Deliveries).
package genlink
