package oidc

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	jose "github.com/go-jose/go-jose/v4"

	"github.com/latchkey/latchkey/internal/crypto/jwkset"
)

// Fetching a client's jwksUri (private_key_jwt, RFC 7523).
const (
	// jwksTTL is how long a fetched set is used before it is fetched again.
	jwksTTL = 5 * time.Minute
	// jwksMinRefetch spaces out fetches of one set: an assertion with an
	// unknown kid (a client that rotated its key) fetches the set again, as
	// Keycloak does, but a stream of made-up kids makes at most one request
	// to the client's server per interval.
	jwksMinRefetch = 10 * time.Second
	// jwksTimeout bounds one fetch; the token request waits for it.
	jwksTimeout = 5 * time.Second
	// jwksMaxBytes caps a fetched document; a set of a few keys with
	// certificate chains is a few KiB.
	jwksMaxBytes = 256 << 10
	// jwksMaxStale bounds how long a set is used after its server stopped
	// answering: long enough to ride out an outage, short enough that a key
	// the client withdrew (say, a leaked one) stops working within a day
	// even if its key server is kept down.
	jwksMaxStale = 24 * time.Hour
)

// jwksCache fetches and caches the JWK Sets of clients' jwksUri, shared by
// every realm (a set depends on its URL only) and kept across config
// reloads. A set that cannot be fetched again is served stale: a client's
// key server being down must not lock the client out while its keys are
// known. Only public signature keys are ever kept (jwkset.Parse).
type jwksCache struct {
	client *http.Client
	log    *slog.Logger
	mu     sync.Mutex
	sets   map[string]*jwksEntry // by URL
}

// jwksEntry is one URL's set. fetch serializes fetches, so that requests
// waiting on a refresh share its result; state is read without a lock.
type jwksEntry struct {
	fetch sync.Mutex
	state atomic.Pointer[jwksState]
}

// jwksState is an immutable snapshot of an entry.
type jwksState struct {
	keys    []jose.JSONWebKey // nil until a fetch succeeded
	fetched time.Time         // last successful fetch
	tried   time.Time         // last attempt
	err     error             // the last attempt's failure, nil after a success
}

// result returns the keys, stale or not (up to jwksMaxStale past their
// fetch), or the failure when no usable set is known.
func (s *jwksState) result(now time.Time) ([]jose.JSONWebKey, error) {
	switch {
	case s.keys != nil && now.Sub(s.fetched) < jwksMaxStale:
		return s.keys, nil
	case s.keys != nil:
		return nil, fmt.Errorf("client JWKS last fetched %s ago; stale keys are no longer used: %w", now.Sub(s.fetched).Round(time.Minute), s.err)
	}
	return nil, s.err
}

func newJWKSCache(log *slog.Logger) *jwksCache {
	if log == nil {
		log = slog.Default()
	}
	return &jwksCache{
		client: &http.Client{
			Timeout: jwksTimeout,
			// A redirect could lead from the https URL the admin checked to
			// anywhere; a key server that moved gets its new URL configured.
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		},
		log:  log,
		sets: map[string]*jwksEntry{},
	}
}

func (c *jwksCache) entry(uri string) *jwksEntry {
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.sets[uri]
	if !ok {
		e = &jwksEntry{}
		c.sets[uri] = e
	}
	return e
}

// keys returns the set at uri for an assertion whose header names kid (""
// for none). It fetches when the set is unknown, older than jwksTTL, or
// lacks kid, but never more often than jwksMinRefetch; a failed fetch leaves
// the previous set in use.
func (c *jwksCache) keys(ctx context.Context, uri, kid string, now time.Time) ([]jose.JSONWebKey, error) {
	e := c.entry(uri)
	st := e.state.Load()
	if st != nil && st.keys != nil && now.Sub(st.fetched) < jwksTTL && (kid == "" || jwkset.HasKID(st.keys, kid)) {
		return st.keys, nil
	}
	if st != nil && now.Sub(st.tried) < jwksMinRefetch {
		return st.result(now)
	}
	e.fetch.Lock()
	defer e.fetch.Unlock()
	if cur := e.state.Load(); cur != st {
		return cur.result(now) // fetched by another request while this one waited
	}
	// Detached from the request: the result serves every request waiting on
	// this fetch, and one client hanging up must not spoil it for the rest.
	fctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), jwksTimeout)
	defer cancel()
	keys, err := c.fetch(fctx, uri)
	next := &jwksState{keys: keys, fetched: now, tried: now}
	if err != nil {
		next = &jwksState{tried: now, err: err}
		if st != nil {
			next.keys, next.fetched = st.keys, st.fetched
		}
		c.log.WarnContext(ctx, "client JWKS fetch failed", "jwks_uri", uri, "stale_keys", len(next.keys), "error", err)
	}
	e.state.Store(next)
	return next.result(now)
}

// fetch GETs and parses one set.
func (c *jwksCache) fetch(ctx context.Context, uri string) ([]jose.JSONWebKey, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, uri, nil)
	if err != nil {
		return nil, fmt.Errorf("build request: %w", err)
	}
	req.Header.Set("Accept", "application/json, application/jwk-set+json")
	resp, err := c.client.Do(req)
	if err != nil {
		return nil, fmt.Errorf("fetch client JWKS: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("fetch client JWKS: status %d", resp.StatusCode)
	}
	doc, err := io.ReadAll(io.LimitReader(resp.Body, jwksMaxBytes+1))
	if err != nil {
		return nil, fmt.Errorf("read client JWKS: %w", err)
	}
	if len(doc) > jwksMaxBytes {
		return nil, fmt.Errorf("client JWKS is larger than %d bytes", jwksMaxBytes)
	}
	keys, problems, err := jwkset.Parse(doc)
	if err != nil {
		return nil, fmt.Errorf("parse client JWKS: %w", err)
	}
	if len(problems) > 0 {
		c.log.WarnContext(ctx, "client JWKS: keys skipped", "jwks_uri", uri, "problems", errors.Join(problems...).Error())
	}
	if len(keys) == 0 {
		return nil, errors.New("client JWKS has no usable signature key")
	}
	return keys, nil
}
