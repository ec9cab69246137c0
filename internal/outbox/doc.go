// Package outbox delivers the durable work items that features write to
// storage's outbox in the same transaction as the change that causes them
// (application-link mails and webhooks). Because the entries live in the
// store, a crash between the commit and the delivery loses nothing: the next
// start picks them up. Delivery is therefore at-least-once; every entry's ID
// is stable across attempts so that receivers can deduplicate by it.
//
// A Worker is a generic dispatcher: features register a Handler per entry
// Kind, and the worker runs due entries with bounded concurrency, retries
// failures with exponential backoff and gives up after the handler's
// MaxAttempts (logged and counted). It never runs inside a request.
package outbox
