package magiclink

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"sync/atomic"

	"github.com/latchkey/latchkey/internal/platform/mail"
	"github.com/latchkey/latchkey/oidc"
	"github.com/latchkey/latchkey/realm"
	"github.com/latchkey/latchkey/storage"
)

// Paths under a realm prefix (realm.RoutePrefixes).
const (
	APIPath     = "/kobil-magic-link/access-link"
	LandingPath = "/kobil-magic-link/login"
)

// Options are the Service's dependencies.
type Options struct {
	// Realms are parsed for their mail templates at construction.
	Realms *realm.Registry
	// Providers are the realms' OIDC providers, which complete the
	// authorizations links carry.
	Providers *oidc.Providers
	// Mailer returns the sender for a realm's SMTP settings.
	Mailer func(*realm.Realm) (mail.Sender, error)
	Logger *slog.Logger
}

// Service issues, mails and redeems magic links. It is safe for concurrent use.
type Service struct {
	providers *oidc.Providers
	mailer    func(*realm.Realm) (mail.Sender, error)
	logger    *slog.Logger
	templates atomic.Pointer[map[string]*mail.Template]
}

var _ oidc.LinkSender = (*Service)(nil)

// NewService builds the service. It fails when a realm's mail template does
// not parse, naming the realm and the template.
func NewService(o Options) (*Service, error) {
	if o.Providers == nil || o.Mailer == nil {
		return nil, errors.New("magiclink: Providers and Mailer are required")
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	s := &Service{providers: o.Providers, mailer: o.Mailer, logger: o.Logger}
	s.templates.Store(&map[string]*mail.Template{})
	if o.Realms != nil {
		if err := s.LoadTemplates(o.Realms); err != nil {
			return nil, err
		}
	}
	return s, nil
}

// LoadTemplates parses every realm's mail templates and, when all parse,
// uses them from now on (a config reload); on error nothing changes.
func (s *Service) LoadTemplates(reg *realm.Registry) error {
	ts := map[string]*mail.Template{}
	for _, r := range reg.All() {
		t, err := parseTemplates(r)
		if err != nil {
			return err
		}
		ts[r.Name] = t
	}
	s.templates.Store(&ts)
	return nil
}

// provider returns the OIDC provider of an enabled realm.
func (s *Service) provider(name string) (*oidc.Provider, bool) { return s.providers.Get(name) }

// errNoUser means the link's user does not exist (and may not be created) or
// is disabled.
var errNoUser = errors.New("user not present or disabled")

// Issue validates an access-link request and mails the link. caller is the
// requesting token's subject, the key of the per-caller rate limit ("" for
// none). It returns nil when the mail was accepted — or, with
// magicLink.revealUnknownUsers off, when the user is unknown and nothing was
// sent. Refusals are *Error (400, 404, 429, 502); other errors are faults.
func (s *Service) Issue(ctx context.Context, r *realm.Realm, req Request, caller string) error {
	if caller != "" {
		ok, wait, err := r.IPLimiter.Allow(ctx, "magic-link-caller:"+caller)
		if err != nil {
			return err
		}
		if !ok {
			return &Error{Code: http.StatusTooManyRequests, Message: "Too many requests, please try again later", RetryAfter: wait}
		}
	}
	p, ok := s.provider(r.Name)
	if !ok {
		return &Error{Code: http.StatusNotFound, Message: MsgRealmNotFound}
	}
	sp, err := req.validate(p)
	if err != nil {
		return err
	}
	return s.send(ctx, r, sp, "api", r.MagicLink.RevealUnknownUsers)
}

// SendLoginLink implements oidc.LinkSender for the login page's "email me a
// sign-in link": params come from an authorization request the endpoint
// already validated. Unknown and disabled users get no mail and no error, so
// the page cannot tell who has an account.
func (s *Service) SendLoginLink(ctx context.Context, r *realm.Realm, email string, params oidc.AuthParams) error {
	email, err := realm.NormalizeEmail(email)
	if err != nil {
		return fmt.Errorf("send sign-in link: %w", err)
	}
	return s.send(ctx, r, spec{email: email, params: params, lifespan: r.MagicLink.Lifespan}, "login", false)
}

// send applies the per-email limits, issues the link (creating the user if
// asked, in the same transaction) and mails it. A failed mail withdraws the link.
//
// The mail goes to the address stored for the user, never to the request's
// spelling: storage finds users by a lower-cased address, so
// "\u212Aim@example.com" (KELVIN SIGN) finds kim@example.com's account but is
// another mailbox. The message is therefore rendered only once issue has
// found (or created) the user.
func (s *Service) send(ctx context.Context, r *realm.Realm, sp spec, source string, reveal bool) error {
	ok, wait, err := r.AccountLimiter.Allow(ctx, "magic-link:"+foldEmail(sp.email))
	if err != nil {
		return err
	}
	if !ok {
		return &Error{Code: http.StatusTooManyRequests, Message: "Too many magic links for this email, please try again later", RetryAfter: wait}
	}
	notPresent := func() error {
		if !reveal {
			s.logger.DebugContext(ctx, "magic link not sent: unknown or disabled user", "realm", r.Name, "client_id", sp.params.ClientID, "source", source)
			return nil
		}
		return &Error{Code: http.StatusNotFound, Message: MsgUserNotPresent}
	}
	u, err := r.Store.GetUserByEmail(ctx, r.Name, sp.email)
	switch {
	case errors.Is(err, storage.ErrNotFound):
		if !sp.forceCreate {
			return notPresent()
		}
	case err != nil:
		return fmt.Errorf("look up user in realm %q: %w", r.Name, err)
	case !u.Enabled:
		return notPresent()
	}
	release, wait, ok, err := r.ResendSlots.Reserve(ctx, resendKey(sp.email, sp.params.ClientID), r.MagicLink.ResendInterval)
	if err != nil {
		return err
	}
	if !ok {
		return &Error{Code: http.StatusTooManyRequests, Message: "A magic link was sent to this user for this client recently, please try again later", RetryAfter: wait}
	}
	tpl, err := s.template(r)
	if err != nil {
		release()
		return err
	}
	sender, err := s.mailer(r)
	if err != nil {
		release()
		mailFailures.WithLabelValues(r.Name).Inc()
		return &Error{Code: http.StatusBadGateway, Message: MsgMailFailed, Err: fmt.Errorf("mail settings of realm %q: %w", r.Name, err)}
	}
	key := newKey()
	u, created, err := s.issue(ctx, r, sp, key)
	if errors.Is(err, errNoUser) {
		release()
		return notPresent()
	}
	if err != nil {
		release()
		return err
	}
	// Rendered after the transaction (it holds the store's write lock), for
	// the address stored for the very user the link was issued to.
	msg, err := message(tpl, r, u.Email, sp, key)
	if err == nil {
		err = sender.Send(ctx, msg)
	}
	if err != nil {
		// No live link may outlive a mail that was not accepted.
		if derr := r.Store.DeleteOneTimeToken(context.WithoutCancel(ctx), r.Name, kindLink, hashKey(key)); derr != nil {
			err = errors.Join(err, fmt.Errorf("withdraw magic link: %w", derr))
		}
		release()
		mailFailures.WithLabelValues(r.Name).Inc()
		return &Error{Code: http.StatusBadGateway, Message: MsgMailFailed, Err: fmt.Errorf("mail magic link in realm %q: %w", r.Name, err)}
	}
	linksIssued.WithLabelValues(r.Name, source).Inc()
	s.logger.InfoContext(ctx, "magic link sent", "realm", r.Name, "client_id", sp.params.ClientID, "user_id", u.ID,
		"user_created", created, "reset_password", sp.resetPassword, "lifespan", sp.lifespan.String(), "source", source)
	return nil
}

// template returns the realm's parsed mail templates.
func (s *Service) template(r *realm.Realm) (*mail.Template, error) {
	if t := (*s.templates.Load())[r.Name]; t != nil {
		return t, nil
	}
	return parseTemplates(r)
}

// message renders the link's mail to to, the address stored for the link's user.
func message(t *mail.Template, r *realm.Realm, to string, sp spec, key string) (mail.Message, error) {
	msg, err := t.Render(to, mailData{
		RealmName: r.DisplayName, Link: r.Issuer + LandingPath + "?key=" + key,
		Email: to, Lifetime: mail.HumanDuration(sp.lifespan),
	})
	if err != nil {
		return mail.Message{}, fmt.Errorf("magic link mail of realm %q: %w", r.Name, err)
	}
	return msg, nil
}

// issue stores the link's token — and, with forceCreate, the user — in one
// transaction, re-checking the user there so that a concurrent disable or
// creation is seen. It returns the user as the transaction saw it, whose
// stored email the mail goes to (for a user it creates, the request's
// address, which is what it stores), and whether it was created. errNoUser
// when the user is absent (without forceCreate) or disabled.
func (s *Service) issue(ctx context.Context, r *realm.Realm, sp spec, key string) (storage.User, bool, error) {
	now := r.Now()
	var (
		user      storage.User
		created   bool
		renderErr error
	)
	err := r.Store.InTx(ctx, func(tx storage.Tx) error {
		u, err := tx.GetUserByEmail(r.Name, sp.email)
		created, renderErr = false, nil
		switch {
		case errors.Is(err, storage.ErrNotFound) && sp.forceCreate:
			// Username = email; the email counts as verified only once the link is used.
			u = r.NewUser(sp.email, nil)
			if err := tx.CreateUser(u); err != nil {
				return err
			}
			created = true
		case errors.Is(err, storage.ErrNotFound):
			return errNoUser
		case err != nil:
			return err
		case !u.Enabled:
			return errNoUser
		}
		body, err := json.Marshal(newPayload(sp, u.Email))
		if err != nil {
			renderErr = fmt.Errorf("encode magic link payload: %w", err)
			return renderErr
		}
		user = u
		return tx.IssueOneTimeToken(storage.OneTimeToken{
			Realm: r.Name, Kind: kindLink, Hash: hashKey(key), Group: linkGroup(u.ID, sp.params.ClientID),
			Subject: u.ID, Payload: body, CreatedAt: now, ExpiresAt: now.Add(sp.lifespan),
		})
	})
	switch {
	case errors.Is(err, errNoUser):
		return storage.User{}, false, errNoUser
	case renderErr != nil && errors.Is(err, renderErr):
		return storage.User{}, false, renderErr
	case err != nil:
		return storage.User{}, false, fmt.Errorf("issue magic link in realm %q: %w", r.Name, err)
	}
	return user, created, nil
}
