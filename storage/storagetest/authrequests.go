package storagetest

import (
	"errors"
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
