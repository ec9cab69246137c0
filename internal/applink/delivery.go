package applink

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/latchkey/latchkey/internal/outbox"
	"github.com/latchkey/latchkey/internal/platform/mail"
	"github.com/latchkey/latchkey/realm"
	"github.com/latchkey/latchkey/storage"
)

// Webhook delivery headers, a contract with receivers (README.md documents
// it): the entry's stable ID to deduplicate by, the send time, and the
// signature (Sign).
const (
	HeaderDelivery  = "X-Latchkey-Delivery"
	HeaderTimestamp = "X-Latchkey-Timestamp"
	HeaderSignature = "X-Latchkey-Signature"
)

// Retry policy of the built-in email workflow (webhooks configure their own).
const (
	emailMaxAttempts    = 10
	emailInitialBackoff = time.Second
	emailTimeout        = 30 * time.Second
)

// Deliveries delivers the outbox entries of this package: webhooks and the
// built-in email workflow. Register it on the outbox worker with Register.
type Deliveries struct {
	Realms *realm.Registry
	// Mailer returns the realm's mail sender (nil: the email workflow's
	// entries are retried until the realm has one).
	Mailer func(r *realm.Realm) mail.Sender
	// HTTPClient posts webhooks; nil uses a client that does not follow
	// redirects (a redirect is a non-2xx answer and is retried).
	HTTPClient *http.Client

	once      sync.Once
	client    *http.Client
	templates sync.Map // realm name -> *mail.Template
}

// Register sets d as the handler of both kinds on w.
func (d *Deliveries) Register(w *outbox.Worker) {
	w.Register(KindWebhook, outbox.HandlerFunc(d.prepareWebhook))
	w.Register(KindEmail, outbox.HandlerFunc(d.prepareEmail))
}

func (d *Deliveries) httpClient() *http.Client {
	d.once.Do(func() {
		d.client = d.HTTPClient
		if d.client == nil {
			tr := http.DefaultTransport.(*http.Transport).Clone()
			tr.MaxIdleConnsPerHost = outbox.DefaultConcurrency
			d.client = &http.Client{Transport: tr,
				CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
		}
	})
	return d.client
}

// event decodes e's payload and finds its realm.
func (d *Deliveries) event(e storage.OutboxEntry) (Event, *realm.Realm, error) {
	var ev Event
	if err := json.Unmarshal(e.Payload, &ev); err != nil {
		return Event{}, nil, fmt.Errorf("decode payload of outbox entry %s: %w", e.ID, err)
	}
	r, ok := d.Realms.Get(ev.Realm)
	if !ok {
		return Event{}, nil, fmt.Errorf("realm %q no longer exists or is disabled", ev.Realm)
	}
	return ev, r, nil
}

// webhookBody is the JSON a webhook receives, in the field order README.md
// documents for receivers.
type webhookBody struct {
	ID       string `json:"id"`
	Event    string `json:"event"`
	Realm    string `json:"realm"`
	Site     string `json:"site"`
	User     string `json:"user"`
	Link     string `json:"link"`
	Metadata string `json:"metadata"`
}

func (d *Deliveries) prepareWebhook(e storage.OutboxEntry) (outbox.Delivery, error) {
	ev, r, err := d.event(e)
	if err != nil {
		return outbox.Delivery{}, err
	}
	wf, ok := r.Workflow(ev.Workflow)
	if !ok {
		return outbox.Delivery{}, fmt.Errorf("workflow %q of realm %q is no longer configured", ev.Workflow, r.Name)
	}
	body, err := marshal(webhookBody{ID: e.ID, Event: ev.Event, Realm: ev.Realm, Site: ev.Site,
		User: ev.User, Link: ev.Link, Metadata: ev.Metadata})
	if err != nil {
		return outbox.Delivery{}, err
	}
	policy := outbox.Policy{MaxAttempts: wf.MaxAttempts, InitialBackoff: wf.InitialBackoff, Timeout: wf.Timeout}
	return outbox.Delivery{Policy: policy, Do: func(ctx context.Context) error {
		return d.postWebhook(ctx, r, wf, e.ID, body)
	}}, nil
}

// Sign returns the X-Latchkey-Signature value of a webhook body sent at ts:
// "sha256=" and the hex HMAC-SHA256 of "<ts>.<body>" under secret.
func Sign(secret string, ts int64, body []byte) string {
	m := hmac.New(sha256.New, []byte(secret))
	m.Write([]byte(strconv.FormatInt(ts, 10)))
	m.Write([]byte{'.'})
	m.Write(body)
	return "sha256=" + hex.EncodeToString(m.Sum(nil))
}

// postWebhook makes one delivery attempt. Its errors never carry the URL
// (which may hold credentials in its query) or the secret.
func (d *Deliveries) postWebhook(ctx context.Context, r *realm.Realm, wf *realm.Workflow, id string, body []byte) error {
	if err := checkWebhookURL(wf.Webhook); err != nil {
		return outbox.GiveUp(fmt.Errorf("workflow %q: %w", wf.Name, err))
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, wf.Webhook, bytes.NewReader(body))
	if err != nil {
		return outbox.GiveUp(fmt.Errorf("workflow %q: build request: invalid webhook URL", wf.Name))
	}
	ts := r.Now().Unix()
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "Latchkey-Webhook/1")
	req.Header.Set(HeaderDelivery, id)
	req.Header.Set(HeaderTimestamp, strconv.FormatInt(ts, 10))
	req.Header.Set(HeaderSignature, Sign(wf.Secret, ts, body))
	resp, err := d.httpClient().Do(req)
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		return fmt.Errorf("workflow %q: post webhook: %w", wf.Name, err)
	}
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	_ = resp.Body.Close()
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return fmt.Errorf("workflow %q: webhook answered %d", wf.Name, resp.StatusCode)
	}
	return nil
}

// checkWebhookURL re-checks at delivery what config validation checks at
// start (https, or http for loopback hosts only), so that nothing sends a
// link over cleartext to another machine whatever path the URL took.
func checkWebhookURL(raw string) error {
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" {
		return errors.New("webhook URL is not an absolute URL")
	}
	switch u.Scheme {
	case "https":
		return nil
	case "http":
		host := u.Hostname()
		if strings.EqualFold(host, "localhost") {
			return nil
		}
		if ip := net.ParseIP(host); ip != nil && ip.IsLoopback() {
			return nil
		}
		return errors.New("webhook URL uses http for a host that is not loopback")
	default:
		return errors.New("webhook URL must be https")
	}
}

func (d *Deliveries) prepareEmail(e storage.OutboxEntry) (outbox.Delivery, error) {
	ev, r, err := d.event(e)
	if err != nil {
		return outbox.Delivery{}, err
	}
	tpl, err := d.mailTemplates(r)
	if err != nil {
		return outbox.Delivery{}, err
	}
	policy := outbox.Policy{MaxAttempts: emailMaxAttempts, InitialBackoff: emailInitialBackoff, Timeout: emailTimeout}
	if r.SMTP.Timeout > 0 {
		policy.Timeout = r.SMTP.Timeout + 5*time.Second
	}
	return outbox.Delivery{Policy: policy, Do: func(ctx context.Context) error {
		to, err := recipient(ctx, r, ev)
		if err != nil {
			return err
		}
		msg, err := tpl.Render(to, mailData{RealmName: realmName(r), Email: to, Link: ev.Link,
			Site: ev.Site, Lifetime: mail.HumanDuration(ev.Lifetime)})
		if err != nil {
			return outbox.GiveUp(err)
		}
		var s mail.Sender
		if d.Mailer != nil {
			s = d.Mailer(r)
		}
		if s == nil {
			return fmt.Errorf("realm %q has no mail sender", r.Name)
		}
		if err := s.Send(ctx, msg); err != nil {
			return fmt.Errorf("send application link mail: %w", err)
		}
		return nil
	}}, nil
}

// recipient is the address an email delivery goes to: the one stored for the
// user when the link was generated, never the request's spelling: users are
// found by a folded address, so another spelling can be another mailbox.
// Entries queued before events carried it get the user's stored address now;
// if the user is gone there is nobody to mail.
func recipient(ctx context.Context, r *realm.Realm, ev Event) (string, error) {
	if ev.Email != "" {
		return ev.Email, nil
	}
	u, err := r.Store.GetUserByEmail(ctx, r.Name, ev.User)
	switch {
	case errors.Is(err, storage.ErrNotFound):
		return "", outbox.GiveUp(fmt.Errorf("the link's user no longer exists in realm %q", r.Name))
	case err != nil:
		return "", fmt.Errorf("look up the link's user in realm %q: %w", r.Name, err)
	}
	return u.Email, nil
}

func (d *Deliveries) mailTemplates(r *realm.Realm) (*mail.Template, error) {
	if t, ok := d.templates.Load(r.Name); ok {
		return t.(*mail.Template), nil
	}
	t, err := parseMailTemplates(r.MailTemplates)
	if err != nil {
		return nil, fmt.Errorf("realm %q: %w", r.Name, err)
	}
	actual, _ := d.templates.LoadOrStore(r.Name, t)
	return actual.(*mail.Template), nil
}

func realmName(r *realm.Realm) string {
	if r.DisplayName != "" {
		return r.DisplayName
	}
	return r.Name
}

// marshal encodes v as JSON without HTML escaping, so that links keep their
// "&" (escaping it as \u0026 is valid JSON but hard to read in logs of the
// receiving side and in the API's answer).
func marshal(v any) ([]byte, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, fmt.Errorf("encode JSON: %w", err)
	}
	return bytes.TrimSuffix(buf.Bytes(), []byte{'\n'}), nil
}
