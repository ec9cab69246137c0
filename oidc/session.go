package oidc

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"time"

	"github.com/zitadel/oidc/v3/pkg/oidc"

	"github.com/latchkey/latchkey/storage"
)

// sessionTouchInterval bounds how often a session's idle timer is written
// back, so that a burst of requests does not write on each one.
const sessionTouchInterval = time.Minute

// StartSession creates a browser SSO session for user and sets its cookie.
// amr lists how the user authenticated ("pwd", "email").
func (p *Provider) StartSession(ctx context.Context, w http.ResponseWriter, r *http.Request, user storage.User, amr []string) (storage.Session, error) {
	// A new login replaces the browser's previous session of this realm.
	if old, ok := p.sessionFromCookie(ctx, r); ok {
		if err := p.realm.EndSession(ctx, old.ID); err != nil {
			p.opts.Logger.WarnContext(ctx, "end the replaced session", "realm", p.realm.Name, "error", err)
		}
	}
	now := p.realm.Now()
	secret := newSecret(32)
	s := storage.Session{
		Realm: p.realm.Name, ID: newSecret(18), TokenHash: hashSecret(secret), UserID: user.ID,
		AuthTime: now, AMR: amr, LastSeen: now, IdleUntil: now.Add(p.realm.Lifetimes.SSOIdle),
		ExpiresAt: now.Add(p.realm.Lifetimes.SSOMax), CreatedAt: now,
	}
	if s.IdleUntil.After(s.ExpiresAt) {
		s.IdleUntil = s.ExpiresAt
	}
	if err := p.realm.Store.CreateSession(ctx, s); err != nil {
		return storage.Session{}, fmt.Errorf("create session in realm %q: %w", p.realm.Name, err)
	}
	http.SetCookie(w, p.sessionLikeCookie(r, sessionCookieName(p.realm.Name), secret, int(p.realm.Lifetimes.SSOMax.Seconds())))
	return s, nil
}

// sessionLikeCookie is a cookie with the SSO session cookie's attributes:
// HttpOnly, SameSite=Lax, Secure when the browser came over https, path "/".
// The third-party-cookie probe uses the same, so that its answer holds for
// the session cookie (see serve3pCookiesStep1).
func (p *Provider) sessionLikeCookie(r *http.Request, name, value string, maxAge int) *http.Cookie {
	return &http.Cookie{
		Name: name, Value: value, Path: "/", MaxAge: maxAge, HttpOnly: true,
		Secure: p.opts.Proxies.IsHTTPS(r), SameSite: http.SameSiteLaxMode,
	}
}

// CurrentSession returns the live session of the request's cookie and its
// (enabled) user, refreshing the idle timer.
func (p *Provider) CurrentSession(ctx context.Context, r *http.Request) (storage.Session, storage.User, bool) {
	s, ok := p.sessionFromCookie(ctx, r)
	if !ok {
		return storage.Session{}, storage.User{}, false
	}
	u, err := p.realm.Store.GetUser(ctx, p.realm.Name, s.UserID)
	if err != nil || !u.Enabled {
		return storage.Session{}, storage.User{}, false
	}
	return s, u, true
}

// SessionFromHeader is CurrentSession for callers that only have headers
// (the library's Server methods).
func (p *Provider) sessionFromHeader(ctx context.Context, h http.Header) (storage.Session, storage.User, bool) {
	return p.CurrentSession(ctx, &http.Request{Header: h})
}

func (p *Provider) sessionFromCookie(ctx context.Context, r *http.Request) (storage.Session, bool) {
	c, err := r.Cookie(sessionCookieName(p.realm.Name))
	if err != nil || len(c.Value) < 32 || len(c.Value) > 128 {
		return storage.Session{}, false
	}
	s, err := p.realm.Store.GetSessionByTokenHash(ctx, p.realm.Name, hashSecret(c.Value))
	if err != nil {
		return storage.Session{}, false
	}
	now := p.realm.Now()
	if !now.Before(s.ExpiresAt) || !now.Before(s.IdleUntil) {
		_ = p.realm.Store.DeleteSession(ctx, p.realm.Name, s.ID)
		return storage.Session{}, false
	}
	if now.Sub(s.LastSeen) >= sessionTouchInterval {
		s = p.touchSession(ctx, s.ID, s)
	}
	return s, true
}

// touchSession extends the idle timer (capped at the session's max lifetime).
func (p *Provider) touchSession(ctx context.Context, id string, fallback storage.Session) storage.Session {
	now := p.realm.Now()
	s, err := p.realm.Store.UpdateSession(ctx, p.realm.Name, id, func(s storage.Session) (storage.Session, error) {
		s.LastSeen = now
		s.IdleUntil = now.Add(p.realm.Lifetimes.SSOIdle)
		if s.IdleUntil.After(s.ExpiresAt) {
			s.IdleUntil = s.ExpiresAt
		}
		return s, nil
	})
	if err != nil {
		return fallback
	}
	return s
}

// liveSession returns the session by id if it has not ended.
func (p *Provider) liveSession(ctx context.Context, id string) (storage.Session, error) {
	s, err := p.realm.Store.GetSession(ctx, p.realm.Name, id)
	if err != nil {
		return storage.Session{}, err
	}
	now := p.realm.Now()
	if !now.Before(s.ExpiresAt) || !now.Before(s.IdleUntil) {
		return storage.Session{}, storage.ErrExpired
	}
	return s, nil
}

// endSession deletes the browser's session (if any) and clears its cookie.
func (p *Provider) endSession(ctx context.Context, h http.Header, setCookie func(*http.Cookie)) {
	r := &http.Request{Header: h}
	if s, ok := p.sessionFromCookie(ctx, r); ok {
		if err := p.realm.EndSession(ctx, s.ID); err != nil {
			p.opts.Logger.WarnContext(ctx, "end session", "realm", p.realm.Name, "error", err)
		}
	}
	setCookie(&http.Cookie{Name: sessionCookieName(p.realm.Name), Value: "", Path: "/", MaxAge: -1, HttpOnly: true, SameSite: http.SameSiteLaxMode})
}

// joinSession records that a client received tokens in a session, so that
// it is told when the session ends (back-channel logout). A session that
// already lists the client is left as it is.
func (p *Provider) joinSession(ctx context.Context, sid, clientID string) error {
	if sid == "" {
		return nil
	}
	alt := p.issuer(ctx) == p.realm.AltIssuer
	_, err := p.realm.Store.UpdateSession(ctx, p.realm.Name, sid, func(s storage.Session) (storage.Session, error) {
		if !slices.Contains(s.Clients, clientID) {
			s.Clients = append(s.Clients, clientID)
		}
		// The issuer the client last got tokens under is the one it knows.
		s.AltIssuerClients = slices.DeleteFunc(s.AltIssuerClients, func(id string) bool { return id == clientID })
		if alt {
			s.AltIssuerClients = append(s.AltIssuerClients, clientID)
		}
		return s, nil
	})
	if errors.Is(err, storage.ErrNotFound) {
		return oidc.ErrInvalidGrant().WithDescription("Session not active")
	}
	if err != nil {
		return fmt.Errorf("join session: %w", err)
	}
	return nil
}
