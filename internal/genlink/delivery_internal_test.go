package genlink

import (
	"testing"
	"time"
)

func TestCheckWebhookURL(t *testing.T) {
	tests := []struct {
		url    string
		wantOK bool
	}{
		{"https://hooks.example.com/x", true},
		{"http://127.0.0.1:8080/x", true},
		{"http://[::1]/x", true},
		{"http://localhost/x", true},
		{"http://LOCALHOST/x", true},
		{"http://hooks.example.com/x", false},
		{"http://10.0.0.1/x", false},
		{"http://127.0.0.1.nip.io/x", false},
		{"ftp://127.0.0.1/x", false},
		{"/relative", false},
		{"", false},
	}
	for _, tt := range tests {
		if err := checkWebhookURL(tt.url); (err == nil) != tt.wantOK {
			t.Errorf("checkWebhookURL(%q) = %v, want ok %v", tt.url, err, tt.wantOK)
		}
	}
}

func TestHumanDuration(t *testing.T) {
	tests := []struct {
		d    time.Duration
		want string
	}{
		{24 * time.Hour, "24 hours"},
		{48 * time.Hour, "48 hours"},
		{72 * time.Hour, "3 days"},
		{time.Hour, "1 hour"},
		{90 * time.Minute, "90 minutes"},
		{1500 * time.Millisecond, "2s"},
		{0, "a limited time"},
	}
	for _, tt := range tests {
		if got := humanDuration(tt.d); got != tt.want {
			t.Errorf("humanDuration(%s) = %q, want %q", tt.d, got, tt.want)
		}
	}
}
