package storagetest

import (
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/latchkey/latchkey/storage"
)

func newAuthRequest(realm, id string, now time.Time, ttl time.Duration) storage.AuthRequest {
	maxAge := uint(300)
	return storage.AuthRequest{
		Realm:               realm,
		ID:                  id,
		ClientID:            "web",
		RedirectURI:         "https://app.example.com/cb",
		Scopes:              []string{"openid", "email"},
		ResponseType:        "code",
		ResponseMode:        "query",
		State:               "st",
		Nonce:               "n",
		CodeChallenge:       "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM",
		CodeChallengeMethod: "S256",
		Prompt:              []string{"login"},
		MaxAge:              &maxAge,
		LoginHint:           "alice@example.com",
		CreatedAt:           now,
		ExpiresAt:           now.Add(ttl),
	}
}

func testAuthRequests(t *testing.T, h harness) {
	s := h.store(t)
	now := clock()
	a := newAuthRequest("a", "ar1", now, 10*time.Minute)
	mustOK(t, "CreateAuthRequest", s.CreateAuthRequest(ctx, a))
	wantErr(t, "CreateAuthRequest duplicate", s.CreateAuthRequest(ctx, a), storage.ErrAlreadyExists)
	wantErr(t, "CreateAuthRequest same id other realm", s.CreateAuthRequest(ctx, newAuthRequest("b", "ar1", now, time.Minute)), nil)

	got, err := s.GetAuthRequest(ctx, "a", "ar1")
	wantErr(t, "GetAuthRequest", err, nil)
	equal(t, "GetAuthRequest", got, a)

	done, err := s.UpdateAuthRequest(ctx, "a", "ar1", func(x storage.AuthRequest) (storage.AuthRequest, error) {
		x.UserID, x.SessionID, x.AuthTime, x.AMR, x.Done = "u1", "s1", now, []string{"pwd", "otp"}, true
		return x, nil
	})
	wantErr(t, "UpdateAuthRequest", err, nil)
	got, _ = s.GetAuthRequest(ctx, "a", "ar1")
	equal(t, "GetAuthRequest after update", got, done)
	if !got.Done || got.UserID != "u1" {
		t.Errorf("after update: Done %v UserID %q, want true u1", got.Done, got.UserID)
	}

	errBoom := errors.New("boom")
	_, err = s.UpdateAuthRequest(ctx, "a", "ar1", func(x storage.AuthRequest) (storage.AuthRequest, error) {
		x.UserID = "u2"
		return x, errBoom
	})
	if err != errBoom {
		t.Errorf("UpdateAuthRequest with failing fn: got error %v, want errBoom unchanged", err)
	}
	got, _ = s.GetAuthRequest(ctx, "a", "ar1")
	equal(t, "GetAuthRequest after failed update", got, done)

	testDeviceAuthRequest(t, s, now)

	expired := newAuthRequest("a", "ar-old", now.Add(-time.Hour), 10*time.Minute)
	mustOK(t, "CreateAuthRequest expired", s.CreateAuthRequest(ctx, expired))
	tests := []struct {
		name string
		err  error
		want error
	}{
		{"get unknown", second(s.GetAuthRequest(ctx, "a", "nope")), storage.ErrNotFound},
		{"get from other realm", second(s.GetAuthRequest(ctx, "c", "ar1")), storage.ErrNotFound},
		{"get expired", second(s.GetAuthRequest(ctx, "a", "ar-old")), storage.ErrExpired},
		{"update unknown", second(s.UpdateAuthRequest(ctx, "a", "nope", keepAuthRequest)), storage.ErrNotFound},
		{"update expired", second(s.UpdateAuthRequest(ctx, "a", "ar-old", keepAuthRequest)), storage.ErrExpired},
	}
	for _, tt := range tests {
		wantErr(t, tt.name, tt.err, tt.want)
	}

	mustOK(t, "DeleteAuthRequest", s.DeleteAuthRequest(ctx, "a", "ar1"))
	_, err = s.GetAuthRequest(ctx, "a", "ar1")
	wantErr(t, "GetAuthRequest after delete", err, storage.ErrNotFound)
	wantErr(t, "DeleteAuthRequest absent", s.DeleteAuthRequest(ctx, "a", "ar1"), nil)
	_, err = s.GetAuthRequest(ctx, "b", "ar1")
	wantErr(t, "other realm's request after delete", err, nil)
}

func keepAuthRequest(a storage.AuthRequest) (storage.AuthRequest, error) { return a, nil }

// testDeviceAuthRequest checks the fields of a device authorization grant
// (RFC 8628): they round-trip, and concurrent updaters of one request are
// serialised, so that every poll's interval change is kept.
func testDeviceAuthRequest(t *testing.T, s storage.Store, now time.Time) {
	t.Helper()
	d := storage.AuthRequest{
		Realm: "a", ID: "dev1", ClientID: "tv", Scopes: []string{"openid"}, Device: true,
		PollInterval: 5 * time.Second, CreatedAt: now, ExpiresAt: now.Add(10 * time.Minute),
	}
	mustOK(t, "CreateAuthRequest device", s.CreateAuthRequest(ctx, d))
	got, err := s.GetAuthRequest(ctx, "a", "dev1")
	wantErr(t, "GetAuthRequest device", err, nil)
	equal(t, "GetAuthRequest device", got, d)
	if !got.LastPolledAt.IsZero() || got.Denied {
		t.Errorf("new device request: LastPolledAt %v Denied %v, want zero and false", got.LastPolledAt, got.Denied)
	}

	polled := now.Add(1500 * time.Millisecond)
	upd, err := s.UpdateAuthRequest(ctx, "a", "dev1", func(x storage.AuthRequest) (storage.AuthRequest, error) {
		x.LastPolledAt, x.PollInterval, x.Denied = polled, x.PollInterval+5*time.Second+time.Microsecond, true
		return x, nil
	})
	wantErr(t, "UpdateAuthRequest device", err, nil)
	got, _ = s.GetAuthRequest(ctx, "a", "dev1")
	equal(t, "GetAuthRequest device after update", got, upd)
	if got.PollInterval != 10*time.Second+time.Microsecond || !got.LastPolledAt.Equal(polled) || !got.Denied {
		t.Errorf("after update: PollInterval %v LastPolledAt %v Denied %v, want 10.000001s %v true",
			got.PollInterval, got.LastPolledAt, got.Denied, polled)
	}

	const n = 8
	c := d
	c.ID = "dev2"
	mustOK(t, "CreateAuthRequest device 2", s.CreateAuthRequest(ctx, c))
	errs := parallel(n, func(i int) error {
		_, err := s.UpdateAuthRequest(ctx, "a", "dev2", func(x storage.AuthRequest) (storage.AuthRequest, error) {
			x.PollInterval += 5 * time.Second
			return x, nil
		})
		if err != nil {
			return fmt.Errorf("updater %d: %w", i, err)
		}
		return nil
	})
	for _, err := range errs {
		wantErr(t, "concurrent UpdateAuthRequest", err, nil)
	}
	got, _ = s.GetAuthRequest(ctx, "a", "dev2")
	if want := d.PollInterval + n*5*time.Second; got.PollInterval != want {
		t.Errorf("after %d concurrent +5s updates: PollInterval %v, want %v (an update was lost)", n, got.PollInterval, want)
	}
}
