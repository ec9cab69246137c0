package tokens_test

import (
	"encoding/json"
	"reflect"
	"slices"
	"testing"
	"time"

	"github.com/latchkey/latchkey/internal/crypto/tokens"
)

func TestAudienceMarshal(t *testing.T) {
	tests := []struct {
		aud  tokens.Audience
		want string
	}{
		{tokens.Audience{"web"}, `"web"`},
		{tokens.Audience{"web", "api"}, `["web","api"]`},
		{tokens.Audience{}, `[]`},
		{nil, `null`},
	}
	for _, tt := range tests {
		got, err := json.Marshal(tt.aud)
		if err != nil || string(got) != tt.want {
			t.Errorf("Marshal(%q) = %s, %v; want %s", tt.aud, got, err, tt.want)
		}
	}
	// In claims, an empty audience is left out.
	for _, aud := range []tokens.Audience{nil, {}} {
		b, _ := json.Marshal(tokens.Claims{Audience: aud})
		var m map[string]any
		_ = json.Unmarshal(b, &m)
		if _, ok := m["aud"]; ok {
			t.Errorf("claims with audience %#v encode aud: %s", aud, b)
		}
	}
}

func TestAudienceUnmarshal(t *testing.T) {
	tests := []struct {
		in      string
		want    tokens.Audience
		wantErr bool
	}{
		{`"web"`, tokens.Audience{"web"}, false},
		{`["web"]`, tokens.Audience{"web"}, false},
		{`["web","api"]`, tokens.Audience{"web", "api"}, false},
		{`[]`, tokens.Audience{}, false},
		{`null`, nil, false},
		{`""`, tokens.Audience{""}, false},
		{`5`, nil, true},
		{`[1]`, nil, true},
		{`{"a":"b"}`, nil, true},
		{`[["web"]]`, nil, true},
	}
	for _, tt := range tests {
		var got tokens.Audience
		err := json.Unmarshal([]byte(tt.in), &got)
		if (err != nil) != tt.wantErr {
			t.Errorf("Unmarshal(%s) error = %v, want error %v", tt.in, err, tt.wantErr)
			continue
		}
		if !tt.wantErr && !reflect.DeepEqual(got, tt.want) {
			t.Errorf("Unmarshal(%s) = %#v, want %#v", tt.in, got, tt.want)
		}
	}
	// Inside claims, as a relying party sends them back (introspection).
	for _, tt := range []struct {
		in   string
		want tokens.Audience
	}{
		{`{"aud":"web"}`, tokens.Audience{"web"}},
		{`{"aud":["web","api"]}`, tokens.Audience{"web", "api"}},
		{`{"aud":null}`, nil},
		{`{}`, nil},
	} {
		var c tokens.Claims
		if err := json.Unmarshal([]byte(tt.in), &c); err != nil || !reflect.DeepEqual(c.Audience, tt.want) {
			t.Errorf("Unmarshal(%s).Audience = %#v, %v; want %#v", tt.in, c.Audience, err, tt.want)
		}
	}
}

// Audience survives a round trip in both shapes.
func TestAudienceRoundTrip(t *testing.T) {
	for _, aud := range []tokens.Audience{{"one"}, {"one", "two"}, {"a", "b", "c"}} {
		b, err := json.Marshal(aud)
		if err != nil {
			t.Fatal(err)
		}
		var back tokens.Audience
		if err := json.Unmarshal(b, &back); err != nil || !slices.Equal(back, aud) {
			t.Errorf("round trip of %q via %s = %q, %v", aud, b, back, err)
		}
	}
}

func TestAudienceContains(t *testing.T) {
	aud := tokens.Audience{"web", "api"}
	for _, tt := range []struct {
		s    string
		want bool
	}{{"web", true}, {"api", true}, {"WEB", false}, {"", false}, {"we", false}} {
		if got := aud.Contains(tt.s); got != tt.want {
			t.Errorf("%q.Contains(%q) = %v, want %v", aud, tt.s, got, tt.want)
		}
	}
	if (tokens.Audience)(nil).Contains("") {
		t.Error(`nil audience Contains("") = true, want false`)
	}
}

func TestClaimsHelpers(t *testing.T) {
	withRoles := &tokens.Claims{RealmAccess: &tokens.RealmAccess{Roles: []string{"a", "link-generator"}}, Scope: "openid  email", Expiry: 1900000000}
	none := &tokens.Claims{}
	tests := []struct {
		name      string
		got, want any
	}{
		{"HasRole present", withRoles.HasRole("link-generator"), true},
		{"HasRole absent", withRoles.HasRole("admin"), false},
		{"HasRole without realm_access", none.HasRole("a"), false},
		{"Roles without realm_access", none.Roles() == nil, true},
		{"Scopes", slices.Equal(withRoles.Scopes(), []string{"openid", "email"}), true},
		{"Scopes empty", len(none.Scopes()), 0},
		{"ExpiresAt", withRoles.ExpiresAt().Equal(time.Unix(1900000000, 0)), true},
	}
	for _, tt := range tests {
		if tt.got != tt.want {
			t.Errorf("%s = %v, want %v", tt.name, tt.got, tt.want)
		}
	}
}

func TestNewID(t *testing.T) {
	seen := map[string]bool{}
	for range 1000 {
		id := tokens.NewID()
		if len(id) != 22 {
			t.Fatalf("NewID() = %q (%d chars), want 22 (128 bits, base64url)", id, len(id))
		}
		if seen[id] {
			t.Fatalf("NewID() repeated %q", id)
		}
		seen[id] = true
	}
}
