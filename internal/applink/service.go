package applink

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"github.com/latchkey/latchkey/internal/crypto/tokens"
	"github.com/latchkey/latchkey/internal/platform/metrics"
	"github.com/latchkey/latchkey/realm"
	"github.com/latchkey/latchkey/storage"
)

// Outbox entry kinds this package writes and delivers.
const (
	KindEmail   = "applink.email"
	KindWebhook = "applink.webhook"
)

// EventLinkGenerated is the event name of every delivery.
const EventLinkGenerated = "link.generated"

// maxCommitTries bounds how often a request is redone when a concurrent
// request created one of its users between our lookup and our transaction.
const maxCommitTries = 3

// errUserRaced aborts a transaction whose planned user appeared meanwhile.
var errUserRaced = errors.New("user created concurrently")

// Link is one element of the response array.
type Link struct {
	User             string `json:"user"`
	GeneratedMessage string `json:"GeneratedMessage"`
}

// Result is what Generate did.
type Result struct {
	Links   []Link
	Created int // users created by this request
	Queued  int // outbox entries written
}

// Service generates application links.
type Service struct {
	// Notify, when set, is called after a commit that queued deliveries
	// (the outbox worker's wake-up).
	Notify func()

	// beforeCommit, set only by tests (export_test.go), runs between the
	// user lookups and the transaction, where a concurrent request could
	// create one of the planned users.
	beforeCommit func(newEmails []string)
}

// Event is the outbox payload of one delivery: everything it needs, so that
// it can run after a restart without the request.
type Event struct {
	Event    string `json:"event"`
	Realm    string `json:"realm"`
	Workflow string `json:"workflow"`
	Site     string `json:"site"`
	// User is the address as the request spelled it (the answer's "user").
	User string `json:"user"`
	// Email is the address stored for the user: the email workflow mails
	// this one, never User (another spelling can be another mailbox).
	// Entries queued before it existed lack it; their delivery looks the user
	// up by User.
	Email    string `json:"email,omitempty"`
	Link     string `json:"link"`
	Metadata string `json:"metadata"`
	// Lifetime is the token lifespan, for the mail's wording.
	Lifetime time.Duration `json:"lifetime"`
}

// planned is one email's user and link before the commit. email is the
// request's spelling; user.Email is the address stored for the user, which
// differs from it when storage's case-insensitive lookup found an existing
// account ("BOSS@example.com", or a KELVIN SIGN for a "k"). For a new user
// they are the same.
type planned struct {
	email string
	user  storage.User
	isNew bool
	link  string
}

// Generate finds or creates the users of req, mints their tokens and builds
// their links, and commits the user creations together with the workflows'
// outbox entries in one transaction: all of them or none. Tokens are signed
// before the transaction, which must stay short and free of side effects.
// A *BadRequestError means a user cannot get a link (disabled).
func (s *Service) Generate(ctx context.Context, r *realm.Realm, req Request) (Result, error) {
	for try := 1; ; try++ {
		res, err := s.generate(ctx, r, req)
		if errors.Is(err, errUserRaced) && try < maxCommitTries {
			continue
		}
		if err != nil {
			return Result{}, err
		}
		metrics.TokensIssued.WithLabelValues(r.Name, "generate_link").Add(float64(len(res.Links)))
		linksGenerated.WithLabelValues(r.Name, req.Site.Name).Add(float64(len(res.Links)))
		if res.Queued > 0 && s.Notify != nil {
			s.Notify()
		}
		return res, nil
	}
}

func (s *Service) generate(ctx context.Context, r *realm.Realm, req Request) (Result, error) {
	plan := make([]planned, len(req.Emails))
	for i, email := range req.Emails {
		u, err := r.Store.GetUserByEmail(ctx, r.Name, email)
		switch {
		case errors.Is(err, storage.ErrNotFound):
			plan[i] = planned{email: email, user: r.NewUser(email, nil), isNew: true}
		case err != nil:
			return Result{}, fmt.Errorf("look up user in realm %q: %w", r.Name, err)
		case !u.Enabled:
			return Result{}, badRequest("User is disabled: %s", email)
		default:
			plan[i] = planned{email: email, user: u}
		}
	}
	if err := mintAll(ctx, r, req, plan); err != nil {
		return Result{}, err
	}
	res := Result{Links: make([]Link, len(plan))}
	for i, p := range plan {
		res.Links[i] = Link{User: p.email, GeneratedMessage: p.link}
	}
	entries, err := outboxEntries(r, req, plan)
	if err != nil {
		return Result{}, err
	}
	if s.beforeCommit != nil {
		var fresh []string
		for _, p := range plan {
			if p.isNew {
				fresh = append(fresh, p.email)
			}
		}
		s.beforeCommit(fresh)
	}
	var created int
	err = r.Store.InTx(ctx, func(tx storage.Tx) error {
		created = 0 // fn may run more than once
		for _, p := range plan {
			if !p.isNew {
				continue
			}
			if err := createUser(tx, p.user); err != nil {
				return err
			}
			created++
		}
		if len(entries) == 0 {
			return nil
		}
		return tx.EnqueueOutbox(entries...)
	})
	if err != nil {
		if errors.Is(err, errUserRaced) {
			return Result{}, err
		}
		return Result{}, fmt.Errorf("commit application links in realm %q: %w", r.Name, err)
	}
	res.Created, res.Queued = created, len(entries)
	return res, nil
}

// createUser stores a planned user unless the email was taken since the
// lookup (errUserRaced: the caller redoes the request, reusing that user).
// A username clash with another account (a seed user's username may look
// like someone else's email) falls back to the user ID as username.
func createUser(tx storage.Tx, u storage.User) error {
	if _, err := tx.GetUserByEmail(u.Realm, u.Email); err == nil {
		return errUserRaced
	} else if !errors.Is(err, storage.ErrNotFound) {
		return err
	}
	err := tx.CreateUser(u)
	if errors.Is(err, storage.ErrAlreadyExists) {
		u.Username = u.ID
		err = tx.CreateUser(u)
	}
	if errors.Is(err, storage.ErrAlreadyExists) {
		return errUserRaced // the ID itself collided: redo with fresh IDs
	}
	return err
}

// mintAll signs every planned user's token and builds the links. Signing
// (RSA by default) is nearly all of a request's CPU time, so it is spread over
// the available cores: a 1000-email request answers in a fraction of the time.
func mintAll(ctx context.Context, r *realm.Realm, req Request, plan []planned) error {
	workers := min(runtime.GOMAXPROCS(0), len(plan))
	errs := make([]error, workers)
	var next atomic.Int64
	var wg sync.WaitGroup
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1)) - 1
				if i >= len(plan) || ctx.Err() != nil {
					return
				}
				tok, err := mint(ctx, r, req.Site, plan[i].user)
				if err != nil {
					errs[w] = err
					return
				}
				// The link names the account it signs in: the stored address.
				plan[i].link = BuildLink(req.Site, tok, plan[i].user.Email, req.Metadata)
			}
		}()
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return err
	}
	return ctx.Err()
}

// mint signs the link token: a realm access token for the user, with the
// site as audience and the site's lifespan.
func mint(ctx context.Context, r *realm.Realm, site *realm.Site, u storage.User) (string, error) {
	roles := append([]string{}, u.Roles...)
	tok, _, err := r.Tokens.Mint(ctx, tokens.Spec{
		// azp PartyLink makes it a link token: the token gate accepts it at
		// userinfo and introspection only, never as a credential for the
		// realm's APIs, whatever roles its user has.
		Subject: u.ID, UserID: u.ID, TokenType: "access", Audience: []string{site.Name}, AuthorizedParty: tokens.PartyLink,
		// The site may ask userinfo who the link is for.
		Scopes:   []string{"openid", "profile", "email"},
		Lifespan: site.TokenLifespan, Email: u.Email, Roles: roles,
	})
	if err != nil {
		return "", fmt.Errorf("mint link token in realm %q: %w", r.Name, err)
	}
	return tok, nil
}

// outboxEntries returns one entry per link and workflow. IDs are left to
// the store, which makes them unique and time-ordered; they are the delivery
// ids receivers deduplicate by.
func outboxEntries(r *realm.Realm, req Request, plan []planned) ([]storage.OutboxEntry, error) {
	if len(req.Workflows) == 0 {
		return nil, nil
	}
	now := r.Now()
	out := make([]storage.OutboxEntry, 0, len(plan)*len(req.Workflows))
	for _, p := range plan {
		for _, wf := range req.Workflows {
			payload, err := json.Marshal(Event{
				Event: EventLinkGenerated, Realm: r.Name, Workflow: wf, Site: req.Site.Name,
				User: p.email, Email: p.user.Email, Link: p.link, Metadata: req.Metadata, Lifetime: req.Site.TokenLifespan,
			})
			if err != nil {
				return nil, fmt.Errorf("encode outbox payload: %w", err)
			}
			kind := KindWebhook
			if wf == WorkflowEmail {
				kind = KindEmail
			}
			out = append(out, storage.OutboxEntry{Realm: r.Name, Kind: kind, Payload: payload,
				NextAttemptAt: now, CreatedAt: now})
		}
	}
	return out, nil
}
