package genlink

import (
	"fmt"
	htmltemplate "html/template"
	"strconv"
	"strings"
	texttemplate "text/template"
	"time"

	"github.com/latchkey/latchkey/internal/mail"
	"github.com/latchkey/latchkey/realm"
)

// Built-in application-link mail; realms override each part with
// mailTemplates.appLinkSubject / appLinkText / appLinkHTML.
const (
	defaultSubject = `Your link to {{.Site}}`
	defaultText    = `Hello,

open this link to continue to {{.Site}}:

{{.Link}}

The link is valid for {{.Lifetime}} and is meant for {{.Email}} only; do not forward it.
If you did not expect this mail, you can ignore it.

{{.RealmName}}
`
	defaultHTML = `<!doctype html>
<html><body style="font-family:sans-serif">
<p>Hello,</p>
<p>open this link to continue to {{.Site}}:</p>
<p><a href="{{.Link}}">Continue to {{.Site}}</a></p>
<p style="word-break:break-all;font-size:small">{{.Link}}</p>
<p>The link is valid for {{.Lifetime}} and is meant for {{.Email}} only; do not forward it.
If you did not expect this mail, you can ignore it.</p>
<p>{{.RealmName}}</p>
</body></html>
`
)

// mailData are the fields the templates see.
type mailData struct {
	RealmName string
	Email     string
	Link      string
	Site      string
	Lifetime  string
}

type mailTemplates struct {
	subject, text *texttemplate.Template
	html          *htmltemplate.Template
}

func orDefault(s, def string) string {
	if strings.TrimSpace(s) == "" {
		return def
	}
	return s
}

// parseMailTemplates compiles the realm's overrides (config validation has
// parsed them once already, so errors here mean a bug, not bad input).
func parseMailTemplates(t realm.MailTemplates) (*mailTemplates, error) {
	var (
		m   mailTemplates
		err error
	)
	if m.subject, err = texttemplate.New("appLinkSubject").Option("missingkey=error").Parse(orDefault(t.AppLinkSubject, defaultSubject)); err != nil {
		return nil, fmt.Errorf("parse appLinkSubject: %w", err)
	}
	if m.text, err = texttemplate.New("appLinkText").Option("missingkey=error").Parse(orDefault(t.AppLinkText, defaultText)); err != nil {
		return nil, fmt.Errorf("parse appLinkText: %w", err)
	}
	if m.html, err = htmltemplate.New("appLinkHTML").Option("missingkey=error").Parse(orDefault(t.AppLinkHTML, defaultHTML)); err != nil {
		return nil, fmt.Errorf("parse appLinkHTML: %w", err)
	}
	return &m, nil
}

// render builds the mail to one user.
func (m *mailTemplates) render(to string, d mailData) (mail.Message, error) {
	var subject, text, html strings.Builder
	if err := m.subject.Execute(&subject, d); err != nil {
		return mail.Message{}, fmt.Errorf("render appLinkSubject: %w", err)
	}
	if err := m.text.Execute(&text, d); err != nil {
		return mail.Message{}, fmt.Errorf("render appLinkText: %w", err)
	}
	if err := m.html.Execute(&html, d); err != nil {
		return mail.Message{}, fmt.Errorf("render appLinkHTML: %w", err)
	}
	// A subject is one header line: a template must not be able to add headers.
	subj := strings.Join(strings.Fields(subject.String()), " ")
	return mail.Message{To: to, Subject: subj, Text: text.String(), HTML: html.String()}, nil
}

// humanDuration writes a lifespan as people say it, in the largest unit that
// divides it exactly ("24 hours", "90 minutes", "3 days").
func humanDuration(d time.Duration) string {
	units := []struct {
		d    time.Duration
		name string
	}{{24 * time.Hour, "day"}, {time.Hour, "hour"}, {time.Minute, "minute"}, {time.Second, "second"}}
	if d <= 0 {
		return "a limited time"
	}
	for _, u := range units {
		if d%u.d == 0 {
			n := int64(d / u.d)
			if u.d == 24*time.Hour && n <= 2 {
				n, u.name = n*24, "hour" // "24 hours" reads better than "1 day" for links
			}
			if n == 1 {
				return "1 " + u.name
			}
			return strconv.FormatInt(n, 10) + " " + u.name + "s"
		}
	}
	return d.Round(time.Second).String()
}
