package config

import (
	"fmt"
	"net"
	"net/mail"
	"net/netip"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// Problem is one thing wrong with a config: Key is the path of the offending
// key as an admin writes it ("realms[0].clients[1].redirectUris[2]"), Message
// says what is wrong.
type Problem struct {
	Key     string
	Message string
}

// String formats the problem as "key: message".
func (p Problem) String() string {
	if p.Key == "" {
		return p.Message
	}
	return p.Key + ": " + p.Message
}

// ValidationError lists every problem found in a config, in file order.
type ValidationError struct {
	Problems []Problem
}

// Error returns one "key: message" line per problem.
func (e *ValidationError) Error() string {
	lines := make([]string, len(e.Problems))
	for i, p := range e.Problems {
		lines[i] = p.String()
	}
	return strings.Join(lines, "\n")
}

// problems accumulates Problems; err returns nil when there are none.
type problems []Problem

func (p *problems) add(key, format string, args ...any) {
	*p = append(*p, Problem{Key: key, Message: fmt.Sprintf(format, args...)})
}

func (p problems) err() error {
	if len(p) == 0 {
		return nil
	}
	return &ValidationError{Problems: append([]Problem(nil), p...)}
}

// Validate checks the whole config and returns a *ValidationError listing
// every problem, or nil. It expects defaults to be applied (Load does that):
// a zero value where a default exists is reported as invalid.
func (c *Config) Validate() error {
	var p problems
	c.validateServer(&p)
	switch c.Storage.Driver {
	case DriverBBolt:
		if strings.TrimSpace(c.Storage.Path) == "" {
			p.add("storage.path", "required")
		}
	case DriverPostgres:
		if strings.TrimSpace(c.Storage.Postgres.DSN) == "" {
			p.add("storage.postgres.dsn", "required with driver postgres (e.g. ${LATCHKEY_PG_DSN})")
		}
		if c.Storage.Postgres.MaxConns < 1 {
			p.add("storage.postgres.maxConns", "must be at least 1")
		}
	default:
		p.add("storage.driver", "must be %s or %s", DriverBBolt, DriverPostgres)
	}
	validateSMTP(c.SMTP, "smtp", false, &p)
	oneOf(c.Log.Level, "log.level", &p, "debug", "info", "warn", "error")
	oneOf(c.Log.Format, "log.format", &p, "text", "json")

	if len(c.Realms) == 0 {
		p.add("realms", "at least one realm is required")
	}
	names := map[string]int{}
	for i := range c.Realms {
		r := &c.Realms[i]
		key := fmt.Sprintf("realms[%d]", i)
		if j, dup := names[strings.ToLower(r.Name)]; dup && r.Name != "" {
			p.add(key+".name", "duplicate realm name %q (also realms[%d])", r.Name, j)
		} else {
			names[strings.ToLower(r.Name)] = i
		}
		r.validate(key, &p)
	}
	if len(c.Realms) > 0 && c.Realm(c.DefaultRealm) == nil {
		p.add("defaultRealm", "no realm is named %q", c.DefaultRealm)
	}
	return p.err()
}

func (c *Config) validateServer(p *problems) {
	s := c.Server
	listenErr := checkHostPort(s.Listen)
	if listenErr != nil {
		p.add("server.listen", "%v", listenErr)
	}
	if s.PublicURL != "" || listenErr == nil { // else it could not be derived: one problem is enough
		checkPublicURL(s.PublicURL, p)
	}
	if oneOf(s.TLS.Mode, "server.tls.mode", p, TLSSelfSigned, TLSFiles, TLSOff) && s.TLS.Mode == TLSFiles {
		if s.TLS.CertFile == "" {
			p.add("server.tls.certFile", "required when server.tls.mode is %q", TLSFiles)
		}
		if s.TLS.KeyFile == "" {
			p.add("server.tls.keyFile", "required when server.tls.mode is %q", TLSFiles)
		}
	}
	for i, cidr := range s.TrustedProxies {
		if _, err := netip.ParsePrefix(cidr); err != nil {
			p.add(fmt.Sprintf("server.trustedProxies[%d]", i),
				"%q is not a CIDR (write e.g. 10.0.0.0/8, or 203.0.113.7/32 for one address)", cidr)
		}
	}
	if s.MaxBodyBytes <= 0 {
		p.add("server.maxBodyBytes", "must be positive, got %d", s.MaxBodyBytes)
	}
}

func checkHostPort(listen string) error {
	_, port, err := net.SplitHostPort(listen)
	if err != nil {
		return fmt.Errorf("%q is not host:port (e.g. 127.0.0.1:8443 or :8443)", listen)
	}
	if n, err := strconv.Atoi(port); err != nil || n < 0 || n > 65535 {
		return fmt.Errorf("port %q is not a number between 0 and 65535", port)
	}
	return nil
}

func checkPublicURL(raw string, p *problems) {
	const key = "server.publicURL"
	u, err := url.Parse(raw)
	switch {
	case raw == "":
		p.add(key, "required (it is derived from server.listen when that is valid)")
	case err != nil:
		p.add(key, "not a valid URL: %v", err)
	case u.Scheme != "http" && u.Scheme != "https":
		p.add(key, "%q must be an absolute http or https URL", raw)
	case u.Host == "":
		p.add(key, "%q has no host", raw)
	case u.User != nil:
		p.add(key, "must not contain user info")
	case u.RawQuery != "" || u.ForceQuery || u.Fragment != "" || strings.Contains(raw, "#"):
		p.add(key, "must not contain a query or fragment")
	case strings.HasSuffix(raw, "/"):
		p.add(key, "must not end with \"/\"")
	}
}

// validateSMTP checks a global block, or a realm override (where every field
// may be empty, inheriting the global one).
func validateSMTP(s SMTP, key string, override bool, p *problems) {
	if !override || s.Port != 0 {
		if s.Port < 1 || s.Port > 65535 {
			p.add(key+".port", "must be between 1 and 65535, got %d", s.Port)
		}
	}
	if !override || s.Security != "" {
		oneOf(s.Security, key+".security", p, SMTPStartTLS, SMTPTLS, SMTPNone)
	}
	if !override || s.From != "" {
		if _, err := mail.ParseAddress(s.From); err != nil {
			p.add(key+".from", "%q is not a mail address (e.g. \"Latchkey <no-reply@example.com>\"): %v", s.From, err)
		}
	}
	if s.Timeout < 0 || (!override && s.Timeout == 0) {
		p.add(key+".timeout", "must be positive, got %s", s.Timeout)
	}
	if (s.Username == "") != (s.Password == "") && (!override || s.Host != "") {
		p.add(key+".username", "username and password must be set together")
	}
}

// oneOf reports whether v is one of allowed, adding a problem when it is not.
func oneOf(v, key string, p *problems, allowed ...string) bool {
	for _, a := range allowed {
		if v == a {
			return true
		}
	}
	p.add(key, "%q is not one of %s", v, strings.Join(allowed, ", "))
	return false
}

func positive(d time.Duration, key string, p *problems) {
	if d <= 0 {
		p.add(key, "must be positive, got %s", d)
	}
}

// ParseRate parses a rate limit "N/unit" (unit s, m or h; e.g. "20/s",
// "5/m") into N events per period. "" and "off" mean no limit and return
// n == 0, per == 0 and no error. N must be at least 1.
func ParseRate(s string) (n int, per time.Duration, err error) {
	s = strings.TrimSpace(s)
	if s == "" || strings.EqualFold(s, "off") {
		return 0, 0, nil
	}
	count, unit, ok := strings.Cut(s, "/")
	if !ok {
		return 0, 0, fmt.Errorf("rate %q is not N/unit (e.g. \"20/s\", \"5/m\", \"100/h\", or \"off\")", s)
	}
	n, err = strconv.Atoi(strings.TrimSpace(count))
	if err != nil || n < 1 {
		return 0, 0, fmt.Errorf("rate %q: count must be a whole number of at least 1", s)
	}
	switch strings.TrimSpace(unit) {
	case "s":
		per = time.Second
	case "m":
		per = time.Minute
	case "h":
		per = time.Hour
	default:
		return 0, 0, fmt.Errorf("rate %q: unit must be s, m or h", s)
	}
	return n, per, nil
}
