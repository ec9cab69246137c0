package applink

import (
	"testing"
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
