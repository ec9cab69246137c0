package applink

import (
	"net/url"
	"strings"

	"github.com/latchkey/latchkey/realm"
)

// BuildLink returns the site's application link: appURL, then the query
// parameters in the order existing apps expect — token, the site's extra
// parameters (empty values), username, metadata. The order is part of the
// contract (apps parse it positionally), so the query is written by hand
// rather than with url.Values, which sorts. Every name and value is escaped with Escape.
// email is the address stored for the link's user (the account the token
// signs in), not a request's spelling of it.
func BuildLink(site *realm.Site, token, email, metadata string) string {
	username := email
	if site.UsernameSuffix != "" {
		username += "@" + site.UsernameSuffix
	}
	var b strings.Builder
	b.Grow(len(site.AppURL) + len(token) + 3*len(username) + 3*len(metadata) + 64)
	b.WriteString(site.AppURL)
	b.WriteString("?token=")
	b.WriteString(Escape(token))
	for _, p := range site.ExtraParams {
		b.WriteByte('&')
		b.WriteString(Escape(p))
		b.WriteByte('=')
	}
	b.WriteString("&username=")
	b.WriteString(Escape(username))
	b.WriteString("&metadata=")
	b.WriteString(Escape(metadata))
	return b.String()
}

// Escape is url.QueryEscape with two changes that every decoder reads back
// unchanged: "@" stays literal (RFC 3986 allows it in a query, and the
// apps' API document shows usernames as "name@domain@suffix"), and a space is
// %20 rather than "+", because apps that decode with decodeURIComponent (not
// a form decoder) would keep a "+". Everything that would change the meaning
// of the query ("&", "=", "+", "#", "%", non-ASCII) is percent-encoded.
func Escape(s string) string {
	return escaper.Replace(url.QueryEscape(s))
}

// escaper rewrites QueryEscape's output; a "+" in it always stands for a
// space, since a literal "+" comes out as %2B.
var escaper = strings.NewReplacer("%40", "@", "+", "%20")
