package applink

import (
	"github.com/latchkey/latchkey/internal/platform/mail"
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

// parseMailTemplates compiles the realm's overrides (config validation has
// parsed them once already, so errors here mean a bug, not bad input).
func parseMailTemplates(t realm.MailTemplates) (*mail.Template, error) {
	return mail.ParseTemplate("application-link mail",
		mail.Or(t.AppLinkSubject, defaultSubject), mail.Or(t.AppLinkText, defaultText), mail.Or(t.AppLinkHTML, defaultHTML))
}
