package magiclink

import (
	"slices"
	"strings"
	"testing"

	"github.com/latchkey/latchkey/realm"
)

func TestParseScope(t *testing.T) {
	tests := []struct {
		in      string
		want    []string
		wantErr string
	}{
		{"open_id", []string{"openid"}, ""},
		{"openid email profile", []string{"openid", "email", "profile"}, ""},
		{"  email   open_id openid ", []string{"email", "openid"}, ""},
		{"email profile", nil, "Invalid scope: scope must include openid"},
		{"openid e\"vil", nil, "Invalid scope: unexpected character"},
		{"openid émail", nil, "Invalid scope: unexpected character"},
	}
	for _, tt := range tests {
		got, err := parseScope(tt.in)
		switch {
		case tt.wantErr != "" && (err == nil || err.Message != tt.wantErr):
			t.Errorf("parseScope(%q) error = %v, want %q", tt.in, err, tt.wantErr)
		case tt.wantErr == "" && (err != nil || !slices.Equal(got, tt.want)):
			t.Errorf("parseScope(%q) = %v, %v; want %v", tt.in, got, err, tt.want)
		}
	}
}

func TestKeys(t *testing.T) {
	k := newKey()
	if !validKey(k) || len(k) != keyLen {
		t.Fatalf("newKey() = %q, not a valid key", k)
	}
	if k == newKey() {
		t.Fatal("two keys are equal")
	}
	if h := hashKey(k); len(h) != 64 || strings.Contains(h, k) {
		t.Fatalf("hashKey = %q, want 64 hex digits", h)
	}
	for _, bad := range []string{"", "short", strings.Repeat("A", 42), strings.Repeat("A", 44), strings.Repeat("+", 43)} {
		if validKey(bad) {
			t.Errorf("validKey(%q) = true", bad)
		}
	}
}

func TestMailTemplates(t *testing.T) {
	r := &realm.Realm{Name: "acme", DisplayName: "Acme\r\nCorp", Issuer: "https://id.example.com/auth/realms/acme"}
	tpl, err := parseTemplates(r)
	if err != nil {
		t.Fatal(err)
	}
	d := mailData{RealmName: r.DisplayName, Link: "https://id.example.com/x?key=k&a=b", Email: "a@example.com", Lifetime: "15 minutes"}
	msg, err := tpl.Render("a@example.com", d)
	if err != nil {
		t.Fatal(err)
	}
	if msg.Subject != "Sign in to Acme Corp" {
		t.Errorf("subject = %q, want the display name folded onto one line", msg.Subject)
	}
	if !strings.Contains(msg.Text, d.Link) || !strings.Contains(msg.Text, "expires in 15 minutes") {
		t.Errorf("text body lacks the link or the lifetime:\n%s", msg.Text)
	}
	if !strings.Contains(msg.HTML, `href="https://id.example.com/x?key=k&amp;a=b"`) {
		t.Errorf("HTML body lacks the escaped link:\n%s", msg.HTML)
	}

	r.MailTemplates = realm.MailTemplates{MagicLinkSubject: "Login: {{.RealmName}} ({{.Lifetime}})",
		MagicLinkText: "Go: {{.Link}}", MagicLinkHTML: `<a href="{{.Link}}">{{.Email}}</a>`}
	if tpl, err = parseTemplates(r); err != nil {
		t.Fatal(err)
	}
	if msg, err = tpl.Render("a@example.com", d); err != nil {
		t.Fatal(err)
	}
	if msg.Subject != "Login: Acme Corp (15 minutes)" || msg.Text != "Go: "+d.Link || msg.HTML != `<a href="https://id.example.com/x?key=k&amp;a=b">a@example.com</a>` {
		t.Errorf("overrides rendered %q / %q / %q", msg.Subject, msg.Text, msg.HTML)
	}

	for name, mt := range map[string]realm.MailTemplates{
		"magicLinkSubject": {MagicLinkSubject: "{{.Nope"},
		"magicLinkText":    {MagicLinkText: "{{.Unknown}}"},
		"magicLinkHTML":    {MagicLinkHTML: "{{if}}"},
	} {
		r.MailTemplates = mt
		if _, err := parseTemplates(r); err == nil || !strings.Contains(err.Error(), `realm "acme"`) {
			t.Errorf("broken %s: error %v, want one naming the realm", name, err)
		}
	}
}

func TestStatusText(t *testing.T) {
	for code, want := range map[int]string{200: "Ok", 400: "BAD REQUEST", 401: "Unauthorized", 403: "Forbidden",
		404: "Not Found", 405: "Method Not Allowed", 413: "Payload Too Large", 429: "Too Many Requests",
		500: "Internal Server Error", 502: "Bad Gateway"} {
		if got := statusText(code); got != want {
			t.Errorf("statusText(%d) = %q, want %q", code, got, want)
		}
	}
}
