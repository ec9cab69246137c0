package mail

import (
	"bytes"
	"fmt"
	htmltemplate "html/template"
	"strconv"
	"strings"
	texttemplate "text/template"
	"time"
)

// Template is one kind of mail: subject and text body as text/template, HTML
// body as html/template (so values are escaped). Unknown fields are errors.
type Template struct {
	name          string
	subject, text *texttemplate.Template
	html          *htmltemplate.Template
}

// ParseTemplate compiles a mail's three parts; name prefixes error messages.
func ParseTemplate(name, subject, text, html string) (*Template, error) {
	t := &Template{name: name}
	var err error
	if t.subject, err = texttemplate.New("subject").Option("missingkey=error").Parse(subject); err != nil {
		return nil, fmt.Errorf("%s subject: %w", name, err)
	}
	if t.text, err = texttemplate.New("text").Option("missingkey=error").Parse(text); err != nil {
		return nil, fmt.Errorf("%s text body: %w", name, err)
	}
	if t.html, err = htmltemplate.New("html").Option("missingkey=error").Parse(html); err != nil {
		return nil, fmt.Errorf("%s HTML body: %w", name, err)
	}
	return t, nil
}

// Render builds the message to `to`. Line breaks in the subject (from data
// or the template) are folded into spaces: a header must stay one line, so a
// template cannot add headers.
func (t *Template) Render(to string, data any) (Message, error) {
	var subj, text, html bytes.Buffer
	if err := t.subject.Execute(&subj, data); err != nil {
		return Message{}, fmt.Errorf("render %s subject: %w", t.name, err)
	}
	if err := t.text.Execute(&text, data); err != nil {
		return Message{}, fmt.Errorf("render %s text body: %w", t.name, err)
	}
	if err := t.html.Execute(&html, data); err != nil {
		return Message{}, fmt.Errorf("render %s HTML body: %w", t.name, err)
	}
	return Message{To: to, Subject: strings.Join(strings.Fields(subj.String()), " "), Text: text.String(), HTML: html.String()}, nil
}

// Or returns override unless it is blank, else def: a realm's template
// override or the built-in text.
func Or(override, def string) string {
	if strings.TrimSpace(override) != "" {
		return override
	}
	return def
}

// HumanDuration says how long something lasts the way people write it in a
// mail: "15 minutes", "1 hour 30 minutes", "1 day".
func HumanDuration(d time.Duration) string {
	d = d.Round(time.Second)
	unit := func(n int64, one string) string {
		if n == 1 {
			return "1 " + one
		}
		return strconv.FormatInt(n, 10) + " " + one + "s"
	}
	var parts []string
	for _, u := range []struct {
		d    time.Duration
		name string
	}{{24 * time.Hour, "day"}, {time.Hour, "hour"}, {time.Minute, "minute"}} {
		if n := int64(d / u.d); n > 0 {
			parts = append(parts, unit(n, u.name))
			d -= time.Duration(n) * u.d
		}
	}
	if s := int64(d / time.Second); s > 0 && len(parts) < 2 {
		parts = append(parts, unit(s, "second"))
	}
	if len(parts) == 0 {
		return "0 seconds"
	}
	return strings.Join(parts, " ")
}
