package backchannel

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/latchkey/latchkey/internal/crypto/tokens"
	"github.com/latchkey/latchkey/internal/outbox"
	"github.com/latchkey/latchkey/realm"
	"github.com/latchkey/latchkey/storage"
)

// EventLogout is the event a logout token carries (its only member).
const EventLogout = "http://schemas.openid.net/event/backchannel-logout"

// tokenLifespan bounds a logout token: it is minted at each attempt, so it
// only has to outlive the POST.
const tokenLifespan = 2 * time.Minute

// policy retries a receiver that is down for about an hour and a half
// (1 s doubling to 10 min), then gives up.
var policy = outbox.Policy{MaxAttempts: 15, InitialBackoff: time.Second, MaxBackoff: 10 * time.Minute, Timeout: 10 * time.Second}

// LogoutToken are the claims of a logout token (OIDC Back-Channel Logout
// 1.0 §2.4): no nonce, an events member, the session and user it ends.
type LogoutToken struct {
	Issuer    string                    `json:"iss"`
	Subject   string                    `json:"sub"`
	Audience  string                    `json:"aud"`
	IssuedAt  int64                     `json:"iat"`
	Expiry    int64                     `json:"exp"`
	ID        string                    `json:"jti"`
	SessionID string                    `json:"sid"`
	Events    map[string]map[string]any `json:"events"`
	// Type is Keycloak's typ claim of logout tokens.
	Type string `json:"typ"`
}

// Deliveries sends the realms' back-channel logouts.
type Deliveries struct {
	Realms *realm.Registry
	// HTTPClient posts logout tokens; nil uses one that does not follow
	// redirects (a receiver answers, it does not send us elsewhere).
	HTTPClient *http.Client

	once   sync.Once
	client *http.Client
}

// Register makes w deliver back-channel logouts.
func (d *Deliveries) Register(w *outbox.Worker) {
	w.Register(realm.KindBackchannelLogout, outbox.HandlerFunc(d.prepare))
}

func (d *Deliveries) httpClient() *http.Client {
	d.once.Do(func() {
		d.client = d.HTTPClient
		if d.client == nil {
			d.client = &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
		}
	})
	return d.client
}

// prepare finds the entry's realm and client as configured now: a realm or
// client removed since, or one that no longer wants the notices, gives up.
func (d *Deliveries) prepare(e storage.OutboxEntry) (outbox.Delivery, error) {
	var n realm.LogoutNotice
	if err := json.Unmarshal(e.Payload, &n); err != nil {
		return outbox.Delivery{}, fmt.Errorf("decode logout notice: %w", err)
	}
	rl, ok := d.Realms.Get(e.Realm)
	if !ok {
		return outbox.Delivery{}, fmt.Errorf("realm %q no longer exists", e.Realm)
	}
	c, ok := rl.Client(n.ClientID)
	if !ok || c.BackchannelLogoutURI == "" {
		return outbox.Delivery{}, fmt.Errorf("client %q of realm %q no longer takes back-channel logouts", n.ClientID, e.Realm)
	}
	uri := c.BackchannelLogoutURI
	return outbox.Delivery{Policy: policy, Do: func(ctx context.Context) error {
		token, err := Mint(rl, n)
		if err != nil {
			return err
		}
		return d.post(ctx, uri, token)
	}}, nil
}

// Mint signs the logout token of a notice with the realm's active key.
func Mint(rl *realm.Realm, n realm.LogoutNotice) (string, error) {
	now := rl.Now()
	iss := n.Issuer
	if !rl.Tokens.IsIssuer(iss) { // a notice queued before notices named it
		iss = rl.Issuer
	}
	return rl.Tokens.Sign(LogoutToken{
		Issuer: iss, Subject: n.UserID, Audience: n.ClientID, IssuedAt: now.Unix(),
		Expiry: now.Add(tokenLifespan).Unix(), ID: tokens.NewID(), SessionID: n.SessionID,
		Events: map[string]map[string]any{EventLogout: {}}, Type: "Logout",
	})
}

// post sends the token as the spec's form. 200 and 204 are success; 400 is
// the receiver refusing this token, which no retry changes; anything else
// (5xx, 429, a network error) is retried.
func (d *Deliveries) post(ctx context.Context, uri, token string) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, uri, strings.NewReader(url.Values{"logout_token": {token}}.Encode()))
	if err != nil {
		return outbox.GiveUp(fmt.Errorf("build request: %w", err))
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	resp, err := d.httpClient().Do(req)
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err // the URL is the client's config, not news
		}
		return fmt.Errorf("post logout token: %w", err)
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	switch {
	case resp.StatusCode == http.StatusOK || resp.StatusCode == http.StatusNoContent:
		return nil
	case resp.StatusCode == http.StatusBadRequest:
		return outbox.GiveUp(fmt.Errorf("receiver refused the logout token: %s", resp.Status))
	}
	return fmt.Errorf("receiver answered %s", resp.Status)
}
