package config

import (
	"errors"
	"fmt"
	"net/netip"
	"net/url"
	"strings"
)

// Schemes a redirect URI may never use: they run code or read local data
// in the browser instead of navigating.
var forbiddenRedirectSchemes = []string{"javascript", "data", "vbscript", "file", "blob"}

// checkRedirectURI accepts absolute URLs (https://app.example.com/cb) and
// custom-scheme URIs of native apps (com.example.app:/cb) without a fragment
// (RFC 6749 §3.1.2). A trailing "*" (Keycloak's prefix match) is allowed only
// with wildcard, and only after a path, so that it cannot match other hosts.
func checkRedirectURI(raw string, wildcard bool) error {
	if raw == "" {
		return errors.New("must not be empty")
	}
	base := raw
	if strings.Contains(raw, "*") {
		if !wildcard {
			return fmt.Errorf("%q contains \"*\" but the client does not set wildcardRedirects", raw)
		}
		if strings.Index(raw, "*") != len(raw)-1 {
			return fmt.Errorf("%q: \"*\" is allowed only as the last character", raw)
		}
		base = strings.TrimSuffix(raw, "*")
	}
	if strings.Contains(base, "#") {
		return fmt.Errorf("%q must not contain a fragment", raw)
	}
	u, err := url.Parse(base)
	if err != nil {
		return fmt.Errorf("%q is not a valid URI: %v", raw, err)
	}
	scheme := strings.ToLower(u.Scheme)
	switch {
	case scheme == "":
		return fmt.Errorf("%q must be absolute (e.g. https://app.example.com/callback or com.example.app:/callback)", raw)
	case containsFold(forbiddenRedirectSchemes, scheme):
		return fmt.Errorf("%q: scheme %q is not allowed", raw, u.Scheme)
	case scheme == "http" || scheme == "https":
		if u.Host == "" {
			return fmt.Errorf("%q has no host", raw)
		}
		if u.User != nil {
			return fmt.Errorf("%q must not contain user info", raw)
		}
		if base != raw && u.Path == "" {
			return fmt.Errorf("%q: a wildcard must follow a path (e.g. %s/*), or it matches other hosts", raw, base)
		}
	}
	return nil
}

// checkOrigin accepts a web origin (scheme://host[:port]) for CORS, or
// Keycloak's "+" (the origins of the redirect URIs) and "*" (any).
func checkOrigin(raw string) error {
	if raw == "+" || raw == "*" {
		return nil
	}
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" ||
		u.Path != "" || u.RawQuery != "" || u.Fragment != "" || u.User != nil {
		return fmt.Errorf("%q is not an origin (write scheme://host[:port] with no path, e.g. https://app.example.com, or \"+\" or \"*\")", raw)
	}
	return nil
}

// checkAppURL accepts an absolute http(s) URL without query or fragment: the
// link API appends "?token=..." to it.
func checkAppURL(raw string) error {
	u, err := url.Parse(raw)
	switch {
	case raw == "":
		return errors.New("required")
	case err != nil:
		return fmt.Errorf("%q is not a valid URL: %v", raw, err)
	case (u.Scheme != "http" && u.Scheme != "https") || u.Host == "":
		return fmt.Errorf("%q must be an absolute http or https URL", raw)
	case u.RawQuery != "" || u.ForceQuery || u.Fragment != "" || strings.Contains(raw, "#"):
		return fmt.Errorf("%q must not contain a query or fragment (the link API appends its own query)", raw)
	}
	return nil
}

// checkBackendURL checks a URL Latchkey posts to (workflow webhooks,
// back-channel logout): https, and http only for loopback hosts, because
// links and tokens travel in those bodies and must not cross a network in
// clear text.
func checkBackendURL(raw string) error {
	u, err := url.Parse(raw)
	switch {
	case raw == "":
		return errors.New("required")
	case err != nil:
		return fmt.Errorf("%q is not a valid URL: %v", raw, err)
	case u.Host == "" || (u.Scheme != "http" && u.Scheme != "https"):
		return fmt.Errorf("%q must be an absolute https URL", raw)
	case u.Fragment != "" || strings.Contains(raw, "#"):
		return fmt.Errorf("%q must not contain a fragment", raw)
	case u.Scheme == "http" && !isLoopbackHost(u.Hostname()):
		return fmt.Errorf("%q: http is allowed only for loopback hosts (127.0.0.0/8, ::1, localhost); use https", raw)
	}
	return nil
}

func isLoopbackHost(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip, err := netip.ParseAddr(host)
	return err == nil && ip.Unmap().IsLoopback()
}

func containsFold(list []string, s string) bool {
	for _, x := range list {
		if strings.EqualFold(x, s) {
			return true
		}
	}
	return false
}
