package realm

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"sort"
	"strings"
	"sync/atomic"
	"time"

	"github.com/latchkey/latchkey/config"
	"github.com/latchkey/latchkey/internal/crypto/keys"
	"github.com/latchkey/latchkey/internal/crypto/password"
	"github.com/latchkey/latchkey/internal/crypto/tokens"
	"github.com/latchkey/latchkey/storage"
)

// Registry holds every configured realm by name. Its view is swapped whole
// by Replace (a config reload): a request works on the realms it looked up,
// while later lookups see the new view.
type Registry struct {
	view atomic.Pointer[registryView]
}

// registryView is one immutable generation of the registry.
type registryView struct {
	realms       map[string]*Realm
	order        []string
	defaultRealm string
}

// Get returns the realm by name; disabled realms are reported absent.
func (g *Registry) Get(name string) (*Realm, bool) {
	r, ok := g.view.Load().realms[name]
	if !ok || !r.Enabled {
		return nil, false
	}
	return r, true
}

// All returns every realm (enabled or not) in config order.
func (g *Registry) All() []*Realm {
	v := g.view.Load()
	out := make([]*Realm, 0, len(v.order))
	for _, n := range v.order {
		out = append(out, v.realms[n])
	}
	return out
}

// Default is the realm behind the root aliases of the credential APIs.
func (g *Registry) Default() string { return g.view.Load().defaultRealm }

// Replace makes next's realms this registry's, atomically, for everyone who
// holds this registry.
func (g *Registry) Replace(next *Registry) { g.view.Store(next.view.Load()) }

// Build creates the runtime realms from a validated config: it loads or
// generates each realm's signing keys and creates seed users that are absent
// (existing users are never overwritten).
func Build(ctx context.Context, cfg *config.Config, store storage.Store, now func() time.Time) (*Registry, error) {
	if now == nil {
		now = time.Now
	}
	v := &registryView{realms: map[string]*Realm{}, defaultRealm: cfg.DefaultRealm}
	base := strings.TrimRight(cfg.Server.PublicURL, "/")
	for _, rc := range cfg.Realms {
		r, err := newRealm(cfg, rc, base, store, now)
		if err != nil {
			return nil, fmt.Errorf("realm %q: %w", rc.Name, err)
		}
		ring, err := keys.Open(ctx, store, r.Name, rc.SigningAlgorithm, rc.Tokens.KeyRotationOverlap, now)
		if err != nil {
			return nil, fmt.Errorf("realm %q: %w", rc.Name, err)
		}
		r.Keys = ring
		r.Tokens = &tokens.Service{Issuer: r.Issuer, Issuers: []string{r.Issuer, r.AltIssuer}, Realm: r.Name, Ring: ring, Revocations: store, Sessions: store, Now: now}
		if err := r.seedUsers(ctx, rc.Users); err != nil {
			return nil, fmt.Errorf("realm %q: %w", rc.Name, err)
		}
		v.realms[r.Name] = r
		v.order = append(v.order, r.Name)
	}
	g := &Registry{}
	g.view.Store(v)
	return g, nil
}

func newRealm(cfg *config.Config, rc config.Realm, base string, store storage.Store, now func() time.Time) (*Realm, error) {
	perIP, err := parseRate(rc.RateLimits.PerIP)
	if err != nil {
		return nil, fmt.Errorf("rateLimits.perIP: %w", err)
	}
	perAccount, err := parseRate(rc.RateLimits.PerAccount)
	if err != nil {
		return nil, fmt.Errorf("rateLimits.perAccount: %w", err)
	}
	smtp := cfg.RealmSMTP(rc.Name)
	r := &Realm{
		Name: rc.Name, DisplayName: rc.DisplayName, Enabled: rc.IsEnabled(),
		Issuer:      base + LegacyPrefix + rc.Name,
		AltIssuer:   base + Prefix + rc.Name,
		SSLRequired: rc.SSLRequired,
		Lifetimes: Lifetimes{
			AccessToken: rc.Tokens.AccessTokenLifespan, APIToken: rc.Tokens.APITokenLifespan,
			IDToken: rc.Tokens.IDTokenLifespan, RefreshToken: rc.Tokens.RefreshTokenLifespan,
			SSOIdle: rc.Tokens.SSOSessionIdle, SSOMax: rc.Tokens.SSOSessionMax,
			OfflineIdle: rc.Tokens.OfflineSessionIdle,
		},
		MagicLink: MagicLinkPolicy{
			Lifespan: rc.MagicLink.Lifespan, MaxLifespan: rc.MagicLink.MaxLifespan,
			ConfirmPage:        rc.MagicLink.ConfirmPage == nil || *rc.MagicLink.ConfirmPage,
			ResendInterval:     rc.MagicLink.ResendInterval,
			RevealUnknownUsers: rc.MagicLink.RevealUnknownUsers == nil || *rc.MagicLink.RevealUnknownUsers,
		},
		DeviceFlow: DeviceFlowPolicy{Lifespan: rc.DeviceFlow.Lifespan, PollInterval: rc.DeviceFlow.PollInterval},
		BruteForce: BruteForcePolicy{
			Enabled:       rc.BruteForce.Enabled == nil || *rc.BruteForce.Enabled,
			FailureFactor: rc.BruteForce.FailureFactor, WaitIncrement: rc.BruteForce.WaitIncrement,
			MaxWait: rc.BruteForce.MaxWait, FailureResetTime: rc.BruteForce.FailureResetTime,
		},
		RateLimits:     RateLimits{PerIP: perIP, PerAccount: perAccount},
		MinPasswordLen: rc.PasswordPolicy.MinLength,
		SMTP: SMTP{
			Host: smtp.Host, Port: smtp.Port, From: smtp.From, Username: smtp.Username,
			Password: smtp.Password, Security: smtp.Security, Timeout: smtp.Timeout,
		},
		MailTemplates: MailTemplates{
			MagicLinkSubject: rc.MailTemplates.MagicLinkSubject, MagicLinkText: rc.MailTemplates.MagicLinkText,
			MagicLinkHTML: rc.MailTemplates.MagicLinkHTML, AppLinkSubject: rc.MailTemplates.AppLinkSubject,
			AppLinkText: rc.MailTemplates.AppLinkText, AppLinkHTML: rc.MailTemplates.AppLinkHTML,
		},
		MaxLinkEmails: rc.LinkAPI.MaxEmails,
		clients:       map[string]*Client{},
		sites:         map[string]*Site{},
		workflows:     map[string]*Workflow{},
		Store:         store,
		Now:           now,
	}
	// Replicas on PostgreSQL share counters through it; the bbolt file
	// belongs to one process, whose memory is then the whole truth.
	shared := cfg.Storage.Driver == config.DriverPostgres
	r.IPLimiter = newLimiter(perIP, rc.Name+"\x00ip", store, shared, now)
	r.AccountLimiter = newLimiter(perAccount, rc.Name+"\x00account", store, shared, now)
	r.ResendSlots = newSlots(rc.Name+"\x00resend", store, shared, now)
	if r.BruteForce.FailureFactor < 1 {
		r.BruteForce.FailureFactor = 1
	}
	for _, cc := range rc.Clients {
		c := &Client{
			ID: cc.ClientID, Name: cc.Name, Public: cc.Public,
			PostLogoutRedirectURIs: cc.PostLogoutRedirectURIs, WebOrigins: cc.WebOrigins,
			BackchannelLogoutURI: cc.BackchannelLogoutURI,
			PKCERequired:         cc.PKCE == config.PKCERequired,
			ServiceAccountRoles:  cc.ServiceAccountRoles,
			grants:               map[string]bool{},
		}
		for _, u := range cc.RedirectURIs {
			if cc.WildcardRedirects && strings.HasSuffix(u, "*") {
				c.RedirectPrefixes = append(c.RedirectPrefixes, strings.TrimSuffix(u, "*"))
			} else {
				c.RedirectURIs = append(c.RedirectURIs, u)
			}
		}
		for _, gt := range cc.GrantTypes {
			c.grants[gt] = true
		}
		switch {
		case cc.Secret != "":
			sum := sha256.Sum256([]byte(cc.Secret))
			c.secretSHA = sum[:]
		case cc.SecretHash != "":
			c.secretPHC = cc.SecretHash
		}
		if err := setAuthenticator(c, cc); err != nil {
			return nil, fmt.Errorf("client %q: %w", cc.ClientID, err)
		}
		r.clients[c.ID] = c
		r.clientOrder = append(r.clientOrder, c.ID)
	}
	for _, sc := range rc.Sites {
		r.sites[sc.Name] = &Site{Name: sc.Name, AppURL: sc.AppURL, UsernameSuffix: sc.UsernameSuffix,
			ExtraParams: sc.ExtraParams, TokenLifespan: sc.TokenLifespan}
	}
	for _, wc := range rc.Workflows {
		r.workflows[wc.Name] = &Workflow{Name: wc.Name, Webhook: wc.Webhook, Secret: wc.Secret,
			MaxAttempts: wc.MaxAttempts, InitialBackoff: wc.InitialBackoff, Timeout: wc.Timeout}
	}
	return r, nil
}

func parseRate(s string) (Rate, error) {
	if s == "" {
		return Rate{}, nil
	}
	n, per, err := config.ParseRate(s)
	if err != nil {
		return Rate{}, err
	}
	return Rate{N: n, Per: per}, nil
}

func (r *Realm) seedUsers(ctx context.Context, seeds []config.User) error {
	for i, s := range seeds {
		email, err := NormalizeEmail(s.Email)
		if err != nil {
			return fmt.Errorf("users[%d]: %w", i, err)
		}
		if _, err := r.Store.GetUserByEmail(ctx, r.Name, email); err == nil {
			continue
		} else if !errors.Is(err, storage.ErrNotFound) {
			return fmt.Errorf("users[%d]: %w", i, err)
		}
		u := r.NewUser(email, append([]string(nil), s.Roles...))
		sort.Strings(u.Roles)
		if s.Username != "" {
			u.Username = s.Username
		}
		u.Enabled = s.IsEnabled()
		u.EmailVerified = s.EmailVerified
		switch {
		case s.PasswordHash != "":
			u.PasswordHash = s.PasswordHash
		case s.Password != "":
			if u.PasswordHash, err = password.Hash(s.Password); err != nil {
				return fmt.Errorf("users[%d]: %w", i, err)
			}
		}
		if err := r.Store.CreateUser(ctx, u); err != nil && !errors.Is(err, storage.ErrAlreadyExists) {
			return fmt.Errorf("users[%d]: create: %w", i, err)
		}
	}
	return nil
}
