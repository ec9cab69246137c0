// Package backchannel delivers OIDC Back-Channel Logout 1.0 notifications:
// when a session ends, the realm queues one outbox entry per client that
// took part in it and registered a backchannelLogoutUri (realm.EndSession);
// this package turns each entry into a signed logout token POSTed to that
// URI, with the outbox's retries and leases, so a notice survives restarts
// and is delivered by exactly one replica at a time.
package backchannel
