package config

import (
	"fmt"
	htmltemplate "html/template"
	"net/mail"
	"regexp"
	"slices"
	"strings"
	"text/template"
	"time"

	"github.com/latchkey/latchkey/internal/crypto/password"
)

var realmNameRE = regexp.MustCompile(`^[A-Za-z0-9_-]+$`)

func (r *Realm) validate(key string, p *problems) {
	if !realmNameRE.MatchString(r.Name) {
		p.add(key+".name", "%q must be non-empty and use only letters, digits, \"_\" and \"-\" (it is part of URLs)", r.Name)
	}
	oneOf(r.SSLRequired, key+".sslRequired", p, SSLAll, SSLExternal, SSLNone)
	oneOf(r.SigningAlgorithm, key+".signingAlgorithm", p, AlgRS256, AlgES256, AlgEdDSA)

	t, tk := r.Tokens, key+".tokens."
	positive(t.AccessTokenLifespan, tk+"accessTokenLifespan", p)
	positive(t.APITokenLifespan, tk+"apiTokenLifespan", p)
	positive(t.IDTokenLifespan, tk+"idTokenLifespan", p)
	positive(t.RefreshTokenLifespan, tk+"refreshTokenLifespan", p)
	positive(t.SSOSessionIdle, tk+"ssoSessionIdle", p)
	positive(t.OfflineSessionIdle, tk+"offlineSessionIdle", p)
	positive(t.SSOSessionMax, tk+"ssoSessionMax", p)
	positive(t.KeyRotationOverlap, tk+"keyRotationOverlap", p)

	ml, mk := r.MagicLink, key+".magicLink."
	positive(ml.Lifespan, mk+"lifespan", p)
	positive(ml.MaxLifespan, mk+"maxLifespan", p)
	if ml.Lifespan > ml.MaxLifespan && ml.MaxLifespan > 0 {
		p.add(mk+"lifespan", "%s is longer than magicLink.maxLifespan (%s)", ml.Lifespan, ml.MaxLifespan)
	}
	if ml.ResendInterval < 0 {
		p.add(mk+"resendInterval", "must not be negative (0 turns it off), got %s", ml.ResendInterval)
	}

	df, dk := r.DeviceFlow, key+".deviceFlow."
	positive(df.Lifespan, dk+"lifespan", p)
	switch iv := df.PollInterval; {
	case iv < time.Second || iv%time.Second != 0:
		// The interval travels as whole seconds (RFC 8628 §3.2).
		p.add(dk+"pollInterval", "must be a whole number of seconds, at least 1s, got %s", iv)
	case df.Lifespan > 0 && iv >= df.Lifespan:
		p.add(dk+"pollInterval", "%s is not shorter than deviceFlow.lifespan (%s)", iv, df.Lifespan)
	}

	bf, bk := r.BruteForce, key+".bruteForce."
	if bf.Enabled == nil || *bf.Enabled {
		if bf.FailureFactor < 1 {
			p.add(bk+"failureFactor", "must be at least 1 when brute-force detection is enabled, got %d", bf.FailureFactor)
		}
		positive(bf.WaitIncrement, bk+"waitIncrement", p)
		positive(bf.MaxWait, bk+"maxWait", p)
		positive(bf.FailureResetTime, bk+"failureResetTime", p)
	}

	if _, _, err := ParseRate(r.RateLimits.PerIP); err != nil {
		p.add(key+".rateLimits.perIP", "%v", err)
	}
	if _, _, err := ParseRate(r.RateLimits.PerAccount); err != nil {
		p.add(key+".rateLimits.perAccount", "%v", err)
	}
	if r.PasswordPolicy.MinLength < 1 {
		p.add(key+".passwordPolicy.minLength", "must be at least 1, got %d", r.PasswordPolicy.MinLength)
	}
	if !r.SMTP.IsZero() {
		validateSMTP(r.SMTP, key+".smtp", true, p)
	}
	r.MailTemplates.validate(key+".mailTemplates", p)
	if r.LinkAPI.MaxEmails < 1 {
		p.add(key+".linkAPI.maxEmails", "must be at least 1, got %d", r.LinkAPI.MaxEmails)
	}

	ids := map[string]int{}
	for i := range r.Clients {
		ck := fmt.Sprintf("%s.clients[%d]", key, i)
		id := r.Clients[i].ClientID
		if j, dup := ids[id]; dup && id != "" {
			p.add(ck+".clientId", "duplicate clientId %q (also %s.clients[%d])", id, key, j)
		} else {
			ids[id] = i
		}
		r.Clients[i].validate(ck, p)
	}
	r.validateUsers(key, p)
	r.validateSites(key, p)
	r.validateWorkflows(key, p)
}

func (m MailTemplates) validate(key string, p *problems) {
	texts := map[string]string{
		"magicLinkSubject": m.MagicLinkSubject, "magicLinkText": m.MagicLinkText,
		"appLinkSubject": m.AppLinkSubject, "appLinkText": m.AppLinkText,
	}
	htmls := map[string]string{"magicLinkHTML": m.MagicLinkHTML, "appLinkHTML": m.AppLinkHTML}
	for _, name := range []string{"magicLinkSubject", "magicLinkText", "magicLinkHTML", "appLinkSubject", "appLinkText", "appLinkHTML"} {
		var err error
		if src, ok := texts[name]; ok && src != "" {
			_, err = template.New(name).Parse(src)
		} else if src := htmls[name]; src != "" {
			_, err = htmltemplate.New(name).Parse(src)
		}
		if err != nil {
			p.add(key+"."+name, "%v", err)
		}
	}
}

// ReservedClientIDs are the authorized parties (azp) of tokens that are not
// issued to a configured client: the password APIs' and the application
// links'. A client with one of these ids would make the token gate take those
// tokens for its access tokens, so config refuses them.
var ReservedClientIDs = []string{"latchkey-api", "latchkey-link"}

var knownGrants = []string{GrantAuthorizationCode, GrantRefreshToken, GrantClientCredentials, GrantImplicit, GrantPassword, GrantDeviceCode}

func (c *Client) validate(key string, p *problems) {
	if strings.TrimSpace(c.ClientID) == "" {
		p.add(key+".clientId", "required")
	}
	if slices.Contains(ReservedClientIDs, c.ClientID) {
		p.add(key+".clientId", "%q is reserved for Latchkey's own tokens", c.ClientID)
	}
	switch {
	case c.Public && (c.Secret != "" || c.SecretHash != ""):
		p.add(key+".secret", "a public client must not have a secret or secretHash")
	case !c.Public && c.ClientAuthenticator == ClientAuthSecret && c.Secret == "" && c.SecretHash == "":
		p.add(key+".secret", "a confidential client needs a secret or secretHash (or set public: true)")
	case c.Secret != "" && c.SecretHash != "":
		p.add(key+".secret", "set secret or secretHash, not both")
	}
	if c.SecretHash != "" && !password.IsHash(c.SecretHash) {
		p.add(key+".secretHash", "must be an argon2id PHC string ($argon2id$v=19$m=...,t=...,p=...$salt$hash)")
	}
	c.validateAuthenticator(key, p)
	for i, g := range c.GrantTypes {
		gk := fmt.Sprintf("%s.grantTypes[%d]", key, i)
		if oneOf(g, gk, p, knownGrants...) && g == GrantClientCredentials && c.Public {
			p.add(gk, "client_credentials needs a confidential client (public clients cannot authenticate)")
		}
	}
	oneOf(c.PKCE, key+".pkce", p, PKCERequired, PKCEOptional)
	if c.BackchannelLogoutURI != "" {
		if err := checkBackendURL(c.BackchannelLogoutURI); err != nil {
			p.add(key+".backchannelLogoutUri", "%v", err)
		}
	}
	browser := slices.Contains(c.GrantTypes, GrantAuthorizationCode) || slices.Contains(c.GrantTypes, GrantImplicit)
	if browser && len(c.RedirectURIs) == 0 {
		p.add(key+".redirectUris", "required for the authorization_code and implicit grants")
	}
	for i, u := range c.RedirectURIs {
		if err := checkRedirectURI(u, c.WildcardRedirects); err != nil {
			p.add(fmt.Sprintf("%s.redirectUris[%d]", key, i), "%v", err)
		}
	}
	for i, u := range c.PostLogoutRedirectURIs {
		if err := checkRedirectURI(u, c.WildcardRedirects); err != nil {
			p.add(fmt.Sprintf("%s.postLogoutRedirectUris[%d]", key, i), "%v", err)
		}
	}
	for i, o := range c.WebOrigins {
		if err := checkOrigin(o); err != nil {
			p.add(fmt.Sprintf("%s.webOrigins[%d]", key, i), "%v", err)
		}
	}
	for i, role := range c.ServiceAccountRoles {
		if strings.TrimSpace(role) == "" {
			p.add(fmt.Sprintf("%s.serviceAccountRoles[%d]", key, i), "must not be empty")
		}
	}
}

func (r *Realm) validateUsers(key string, p *problems) {
	emails, usernames := map[string]int{}, map[string]int{}
	for i, u := range r.Users {
		uk := fmt.Sprintf("%s.users[%d]", key, i)
		if a, err := mail.ParseAddress(u.Email); err != nil || a.Address != u.Email {
			p.add(uk+".email", "%q is not a plain email address (e.g. user@example.com)", u.Email)
		} else if j, dup := emails[strings.ToLower(u.Email)]; dup {
			p.add(uk+".email", "duplicate email %q (also %s.users[%d]; emails are case-insensitive)", u.Email, key, j)
		} else {
			emails[strings.ToLower(u.Email)] = i
		}
		if u.Username != "" {
			if j, dup := usernames[strings.ToLower(u.Username)]; dup {
				p.add(uk+".username", "duplicate username %q (also %s.users[%d])", u.Username, key, j)
			} else {
				usernames[strings.ToLower(u.Username)] = i
			}
		}
		switch {
		case u.Password != "" && u.PasswordHash != "":
			p.add(uk+".password", "set password or passwordHash, not both")
		case u.PasswordHash != "" && !password.IsHash(u.PasswordHash):
			p.add(uk+".passwordHash", "must be an argon2id PHC string ($argon2id$v=19$m=...,t=...,p=...$salt$hash)")
		case u.Password != "" && len([]rune(u.Password)) < r.PasswordPolicy.MinLength:
			p.add(uk+".password", "shorter than passwordPolicy.minLength (%d)", r.PasswordPolicy.MinLength)
		}
		for j, role := range u.Roles {
			if strings.TrimSpace(role) == "" {
				p.add(fmt.Sprintf("%s.roles[%d]", uk, j), "must not be empty")
			}
		}
	}
}

// reservedSiteParams are the query parameters the link API always writes.
var reservedSiteParams = []string{"token", "username", "metadata"}

func (r *Realm) validateSites(key string, p *problems) {
	names := map[string]int{}
	for i, s := range r.Sites {
		sk := fmt.Sprintf("%s.sites[%d]", key, i)
		if strings.TrimSpace(s.Name) == "" {
			p.add(sk+".name", "required")
		} else if j, dup := names[s.Name]; dup {
			p.add(sk+".name", "duplicate site name %q (also %s.sites[%d])", s.Name, key, j)
		} else {
			names[s.Name] = i
		}
		if err := checkAppURL(s.AppURL); err != nil {
			p.add(sk+".appURL", "%v", err)
		}
		if strings.ContainsAny(s.UsernameSuffix, "@ \t") {
			p.add(sk+".usernameSuffix", "%q must not contain \"@\" or spaces (the \"@\" is added)", s.UsernameSuffix)
		}
		params := map[string]bool{}
		for j, name := range s.ExtraParams {
			pk := fmt.Sprintf("%s.extraParams[%d]", sk, j)
			switch {
			case strings.TrimSpace(name) == "":
				p.add(pk, "must not be empty")
			case slices.Contains(reservedSiteParams, name):
				p.add(pk, "%q is always set by the link API; it cannot be an extra param", name)
			case params[name]:
				p.add(pk, "duplicate param %q", name)
			}
			params[name] = true
		}
		positive(s.TokenLifespan, sk+".tokenLifespan", p)
	}
}

func (r *Realm) validateWorkflows(key string, p *problems) {
	names := map[string]int{}
	for i, w := range r.Workflows {
		wk := fmt.Sprintf("%s.workflows[%d]", key, i)
		switch {
		case strings.TrimSpace(w.Name) == "":
			p.add(wk+".name", "required")
		case w.Name == "email":
			p.add(wk+".name", "\"email\" is the built-in workflow; choose another name")
		case strings.ContainsAny(w.Name, ", \t"):
			p.add(wk+".name", "%q must not contain commas or spaces (workflows_list is comma-separated)", w.Name)
		default:
			if j, dup := names[w.Name]; dup {
				p.add(wk+".name", "duplicate workflow name %q (also %s.workflows[%d])", w.Name, key, j)
			}
			names[w.Name] = i
		}
		if err := checkBackendURL(w.Webhook); err != nil {
			p.add(wk+".webhook", "%v", err)
		}
		if w.Secret == "" {
			p.add(wk+".secret", "required: every delivery is signed with it (use ${VAR} to keep it out of the file)")
		}
		if w.MaxAttempts < 1 {
			p.add(wk+".maxAttempts", "must be at least 1, got %d", w.MaxAttempts)
		}
		positive(w.InitialBackoff, wk+".initialBackoff", p)
		positive(w.Timeout, wk+".timeout", p)
	}
}
