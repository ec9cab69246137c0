package mail

import (
	"strings"
	"testing"
	"time"
)

func TestHumanDuration(t *testing.T) {
	tests := []struct {
		d    time.Duration
		want string
	}{
		{15 * time.Minute, "15 minutes"},
		{time.Minute, "1 minute"},
		{90 * time.Minute, "1 hour 30 minutes"},
		{24 * time.Hour, "1 day"},
		{72 * time.Hour, "3 days"},
		{45 * time.Second, "45 seconds"},
		{61 * time.Second, "1 minute 1 second"},
		{1500 * time.Millisecond, "2 seconds"},
		{0, "0 seconds"},
	}
	for _, tt := range tests {
		if got := HumanDuration(tt.d); got != tt.want {
			t.Errorf("HumanDuration(%s) = %q, want %q", tt.d, got, tt.want)
		}
	}
}

func TestTemplateRender(t *testing.T) {
	tpl, err := ParseTemplate("test mail", "Hi {{.Name}}", "Text {{.Name}}", "<p>{{.Name}}</p>")
	if err != nil {
		t.Fatal(err)
	}
	msg, err := tpl.Render("a@example.com", map[string]string{"Name": "<Bob>\r\nBcc: x@evil.com"})
	if err != nil {
		t.Fatal(err)
	}
	if strings.ContainsAny(msg.Subject, "\r\n") {
		t.Errorf("subject %q keeps a line break", msg.Subject)
	}
	if want := "<p>&lt;Bob&gt;"; !strings.HasPrefix(msg.HTML, want) {
		t.Errorf("HTML = %q, want it to start with %q (escaped)", msg.HTML, want)
	}
	if _, err := ParseTemplate("bad", "{{.Name", "", ""); err == nil || !strings.Contains(err.Error(), "bad subject") {
		t.Errorf("ParseTemplate(broken) = %v, want an error naming the part", err)
	}
	if _, err := tpl.Render("a@example.com", map[string]string{}); err == nil {
		t.Errorf("Render with a missing field succeeded, want an error")
	}
}
