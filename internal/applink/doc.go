// Package applink is the application-link API: POST /generate-link-api/ per
// realm and at the root for the default realm, whose wire format is fixed by
// the API document its existing clients were written against. For each email
// it finds or creates the user, mints a link token (a realm token whose
// audience is the target site and which is never a credential for the realm's
// APIs), and answers with the site's appURL carrying the token and the site's
// parameters in a fixed order.
//
// The user creations of one request and the outbox entries of its workflows
// (the built-in "email" and configured webhooks) are written in one storage
// transaction; internal/outbox delivers the entries afterwards, at least
// once, through the handlers this package registers (Deliveries).
package applink
