package magiclink

import (
	"fmt"

	"github.com/latchkey/latchkey/internal/platform/mail"
	"github.com/latchkey/latchkey/realm"
)

// Built-in mail texts; a realm's mailTemplates override each of them.
const (
	defaultSubject = `Sign in to {{.RealmName}}`
	defaultText    = `Hello,

use the link below to sign in to {{.RealmName}} as {{.Email}}:

{{.Link}}

The link works once and expires in {{.Lifetime}}.
If you did not ask to sign in, you can ignore this mail.
`
	defaultHTML = `<!doctype html>
<html><body style="font-family:system-ui,sans-serif;color:#1d2330">
<p>Hello,</p>
<p>use the button below to sign in to <strong>{{.RealmName}}</strong> as {{.Email}}.</p>
<p><a href="{{.Link}}" style="display:inline-block;padding:.6rem 1.2rem;background:#2f5bd3;color:#fff;border-radius:4px;text-decoration:none">Sign in to {{.RealmName}}</a></p>
<p style="color:#5a6272;font-size:.9rem">The link works once and expires in {{.Lifetime}}.
If you did not ask to sign in, you can ignore this mail.</p>
<p style="color:#5a6272;font-size:.8rem">If the button does not work, copy this address into your browser:<br>{{.Link}}</p>
</body></html>
`
)

// mailData is what the templates see.
type mailData struct {
	RealmName string
	Link      string
	Email     string
	Lifetime  string
}

// parseTemplates parses the realm's overrides (or the defaults), so that a
// broken template stops the server at start rather than failing a send.
func parseTemplates(r *realm.Realm) (*mail.Template, error) {
	t, err := mail.ParseTemplate("magic-link mail",
		mail.Or(r.MailTemplates.MagicLinkSubject, defaultSubject),
		mail.Or(r.MailTemplates.MagicLinkText, defaultText),
		mail.Or(r.MailTemplates.MagicLinkHTML, defaultHTML))
	if err != nil {
		return nil, fmt.Errorf("realm %q: mailTemplates: %w", r.Name, err)
	}
	// Render once with sample data: a template that references an unknown
	// field fails here, at start, instead of on every send.
	if _, err := t.Render("user@example.com", mailData{RealmName: r.DisplayName, Link: r.Issuer, Email: "user@example.com", Lifetime: "15 minutes"}); err != nil {
		return nil, fmt.Errorf("realm %q: mailTemplates: %w", r.Name, err)
	}
	return t, nil
}
