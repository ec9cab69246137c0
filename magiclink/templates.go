package magiclink

import (
	"bytes"
	"fmt"
	htmltemplate "html/template"
	"strconv"
	"strings"
	texttemplate "text/template"
	"time"

	"github.com/latchkey/latchkey/internal/mail"
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

// mailTemplates are a realm's parsed templates.
type mailTemplates struct {
	subject, text *texttemplate.Template
	html          *htmltemplate.Template
}

// parseTemplates parses the realm's overrides (or the defaults), so that a
// broken template stops the server at start rather than failing a send.
func parseTemplates(r *realm.Realm) (*mailTemplates, error) {
	pick := func(override, def string) string {
		if strings.TrimSpace(override) != "" {
			return override
		}
		return def
	}
	var t mailTemplates
	var err error
	if t.subject, err = texttemplate.New("subject").Option("missingkey=error").Parse(pick(r.MailTemplates.MagicLinkSubject, defaultSubject)); err != nil {
		return nil, fmt.Errorf("realm %q: mailTemplates.magicLinkSubject: %w", r.Name, err)
	}
	if t.text, err = texttemplate.New("text").Option("missingkey=error").Parse(pick(r.MailTemplates.MagicLinkText, defaultText)); err != nil {
		return nil, fmt.Errorf("realm %q: mailTemplates.magicLinkText: %w", r.Name, err)
	}
	if t.html, err = htmltemplate.New("html").Option("missingkey=error").Parse(pick(r.MailTemplates.MagicLinkHTML, defaultHTML)); err != nil {
		return nil, fmt.Errorf("realm %q: mailTemplates.magicLinkHTML: %w", r.Name, err)
	}
	// Render once with sample data: a template that references an unknown
	// field fails here, at start, instead of on every send.
	if _, err := t.render("user@example.com", mailData{RealmName: r.DisplayName, Link: r.Issuer, Email: "user@example.com", Lifetime: "15 minutes"}); err != nil {
		return nil, fmt.Errorf("realm %q: mailTemplates: %w", r.Name, err)
	}
	return &t, nil
}

// render builds the mail. Line breaks in the subject (from a display name or
// a template) are folded into spaces: a header must stay one line.
func (t *mailTemplates) render(to string, d mailData) (mail.Message, error) {
	var subj, text, html bytes.Buffer
	if err := t.subject.Execute(&subj, d); err != nil {
		return mail.Message{}, fmt.Errorf("render subject: %w", err)
	}
	if err := t.text.Execute(&text, d); err != nil {
		return mail.Message{}, fmt.Errorf("render text body: %w", err)
	}
	if err := t.html.Execute(&html, d); err != nil {
		return mail.Message{}, fmt.Errorf("render HTML body: %w", err)
	}
	return mail.Message{To: to, Subject: strings.Join(strings.Fields(subj.String()), " "), Text: text.String(), HTML: html.String()}, nil
}

// humanLifetime says how long a link lives, e.g. "15 minutes", "1 hour 30 minutes".
func humanLifetime(d time.Duration) string {
	d = d.Round(time.Second)
	unit := func(n int64, one string) string {
		if n == 1 {
			return "1 " + one
		}
		return strconv.FormatInt(n, 10) + " " + one + "s"
	}
	var parts []string
	if days := int64(d / (24 * time.Hour)); days > 0 {
		parts = append(parts, unit(days, "day"))
		d -= time.Duration(days) * 24 * time.Hour
	}
	if h := int64(d / time.Hour); h > 0 {
		parts = append(parts, unit(h, "hour"))
		d -= time.Duration(h) * time.Hour
	}
	if m := int64(d / time.Minute); m > 0 {
		parts = append(parts, unit(m, "minute"))
		d -= time.Duration(m) * time.Minute
	}
	if s := int64(d / time.Second); s > 0 && len(parts) < 2 {
		parts = append(parts, unit(s, "second"))
	}
	if len(parts) == 0 {
		return "0 seconds"
	}
	return strings.Join(parts, " ")
}
