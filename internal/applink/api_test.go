package applink_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/latchkey/latchkey/internal/applink"
	"github.com/latchkey/latchkey/realm"
)

const apiPath = "/auth/realms/acme/generate-link-api/"

func TestErrorAnswers(t *testing.T) {
	env, _ := newEnv(t)
	c := env.Client()
	gen := env.ServiceToken(t, "acme", "gen", "gen-secret")
	nogen := env.ServiceToken(t, "acme", "nogen", "nogen-secret")
	foreign := env.ServiceToken(t, "other", "gen", "gen-secret")
	expired := mintToken(t, env, -time.Minute, realm.RoleLinkGenerator)
	tampered := gen[:len(gen)-4] + "AAAA"
	const ok = `{"metadata":"m","workflows_list":"","site":"testing","emails":["a@example.com"]}`
	tests := []struct {
		name, method, path, bearer, body string
		wantStatus                       int
		wantBody                         string
	}{
		{"missing emails", "POST", apiPath, gen, `{"metadata":"m","workflows_list":"","site":"testing"}`, 400, `{"error":"Missing required parameter: emails"}`},
		{"empty emails", "POST", apiPath, gen, `{"site":"testing","emails":[]}`, 400, `{"error":"Missing required parameter: emails"}`},
		{"null emails", "POST", apiPath, gen, `{"site":"testing","emails":null}`, 400, `{"error":"Missing required parameter: emails"}`},
		{"empty body", "POST", apiPath, gen, ``, 400, `{"error":"Missing required parameter: emails"}`},
		{"invalid email", "POST", apiPath, gen, `{"site":"testing","emails":["a@example.com"," not-an-email "]}`, 400, `{"error":"Invalid email address: not-an-email"}`},
		{"header injection", "POST", apiPath, gen, `{"site":"testing","emails":["a@example.com\r\nBcc: x@example.com"]}`, 400, `{"error":"Invalid email address: a@example.com\r\nBcc: x@example.com"}`},
		{"too many", "POST", apiPath, gen, `{"site":"testing","emails":["a@x.io","b@x.io","c@x.io","d@x.io","e@x.io","f@x.io"]}`, 400, `{"error":"Too many emails: at most 5 per request"}`},
		{"missing site", "POST", apiPath, gen, `{"emails":["a@example.com"]}`, 400, `{"error":"Missing required parameter: site"}`},
		{"unknown site", "POST", apiPath, gen, `{"site":"nope","emails":["a@example.com"]}`, 400, `{"error":"Unknown site: nope"}`},
		{"unknown workflow", "POST", apiPath, gen, `{"site":"testing","workflows_list":"email, nope","emails":["a@example.com"]}`, 400, `{"error":"Unknown workflow: nope"}`},
		{"disabled user", "POST", apiPath, gen, `{"site":"testing","emails":["gone@example.com"]}`, 400, `{"error":"User is disabled: gone@example.com"}`},
		{"malformed", "POST", apiPath, gen, `{"site":`, 400, `{"error":"Malformed JSON: invalid JSON"}`},
		{"wrong type", "POST", apiPath, gen, `{"site":"testing","emails":"a@example.com"}`, 400, `{"error":"Malformed JSON: field \"emails\" must be a []string"}`},
		{"trailing data", "POST", apiPath, gen, ok + `{}`, 400, `{"error":"Malformed JSON: unexpected data after the JSON value"}`},
		{"no credentials", "POST", apiPath, "", ok, 401, `{"error":"Authentication required: send a Bearer access token"}`},
		{"garbage token", "POST", apiPath, "not.a.token", ok, 401, `{"error":"Invalid or expired access token"}`},
		{"tampered token", "POST", apiPath, tampered, ok, 401, `{"error":"Invalid or expired access token"}`},
		{"expired token", "POST", apiPath, expired, ok, 401, `{"error":"Invalid or expired access token"}`},
		{"other realm's token", "POST", apiPath, foreign, ok, 401, `{"error":"Invalid or expired access token"}`},
		{"without role", "POST", apiPath, nogen, ok, 403, `{"error":"The caller lacks the realm role link-generator"}`},
		{"unknown realm", "POST", "/auth/realms/nope/generate-link-api/", gen, ok, 404, `{"error":"Realm does not exist"}`},
		{"GET", "GET", apiPath, gen, "", 405, `{"error":"Method not allowed: use POST"}`},
		{"PUT without slash", "PUT", "/realms/acme/generate-link-api", gen, ok, 405, `{"error":"Method not allowed: use POST"}`},
		{"too large", "POST", apiPath, gen, `{"metadata":"` + strings.Repeat("x", 70<<10) + `"}`, 413, `{"error":"Request body too large"}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			status, body := call(t, c, env, tt.method, tt.path, tt.bearer, tt.body)
			if status != tt.wantStatus || body != tt.wantBody {
				t.Fatalf("%s %s = %d %s, want %d %s", tt.method, tt.path, status, body, tt.wantStatus, tt.wantBody)
			}
		})
	}
	t.Run("basic auth", func(t *testing.T) {
		req, _ := http.NewRequest(http.MethodPost, env.URL+apiPath, strings.NewReader(ok))
		req.SetBasicAuth("gen", "gen-secret")
		resp, err := c.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var got map[string]string
		_ = json.NewDecoder(resp.Body).Decode(&got)
		want := "Unsupported authorization scheme: send a Bearer access token"
		if resp.StatusCode != 401 || got["error"] != want || resp.Header.Get("WWW-Authenticate") != "Bearer" {
			t.Fatalf("Basic auth = %d %v (WWW-Authenticate %q), want 401 %q", resp.StatusCode, got, resp.Header.Get("WWW-Authenticate"), want)
		}
	})
	if n, _ := env.Store.CountUsers(context.Background(), "acme"); n != 3 {
		t.Errorf("users after only failed requests = %d, want the 3 seed users", n)
	}
	if strings.Contains(env.Logs.String(), gen) {
		t.Error("a bearer token was logged")
	}
}

func TestSeedExampleAnswer(t *testing.T) {
	env, _ := newEnv(t)
	gen := env.ServiceToken(t, "acme", "gen", "gen-secret")
	status, body := call(t, env.Client(), env, "POST", "/generate-link-api/", gen,
		`{"metadata":"testing","workflows_list":"","site":"testing","emails":["pritam@focalx.ai"]}`)
	if status != 200 {
		t.Fatalf("status = %d %s, want 200", status, body)
	}
	got := links(t, body)
	if len(got) != 1 {
		t.Fatalf("answer has %d entries, want 1: %s", len(got), body)
	}
	tok := tokenOf(t, got[0]["GeneratedMessage"])
	want := `[{"user":"pritam@focalx.ai","GeneratedMessage":"https://store.app.example.com/app.html?token=` + tok +
		`&licencePlate=&vin=&username=pritam@focalx.ai@chamcha&metadata=testing"}]`
	if body != want {
		t.Fatalf("answer =\n%s\nwant\n%s", body, want)
	}
}

func TestLinkParameterOrderAndEncoding(t *testing.T) {
	env, _ := newEnv(t)
	gen := env.ServiceToken(t, "acme", "gen", "gen-secret")
	tests := []struct {
		name, site, email, metadata string
		wantQuery                   string // after the token
		wantUsername                string
	}{
		{"plus in email", "testing", "first+tag@example.com", "m",
			"&licencePlate=&vin=&username=first%2Btag@example.com@chamcha&metadata=m", "first+tag@example.com@chamcha"},
		{"metadata with & = and unicode", "testing", "x@example.com", "a&b=c ü/?#%+",
			"&licencePlate=&vin=&username=x@example.com@chamcha&metadata=a%26b%3Dc%20%C3%BC%2F%3F%23%25%2B", "x@example.com@chamcha"},
		{"no extra params, no suffix", "plain", "Mixed.Case@Example.com", "",
			"&username=Mixed.Case@Example.com&metadata=", "Mixed.Case@Example.com"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req, _ := json.Marshal(map[string]any{"metadata": tt.metadata, "site": tt.site, "emails": []string{"  " + tt.email + " "}})
			status, body := call(t, env.Client(), env, "POST", apiPath, gen, string(req))
			if status != 200 {
				t.Fatalf("status = %d %s, want 200", status, body)
			}
			got := links(t, body)[0]
			if got["user"] != tt.email {
				t.Errorf("user = %q, want %q (trimmed, as given)", got["user"], tt.email)
			}
			link := got["GeneratedMessage"]
			tok := tokenOf(t, link)
			site, _ := realmOf(t, env, "acme").Site(tt.site)
			want := site.AppURL + "?token=" + tok + tt.wantQuery
			if link != want {
				t.Fatalf("link =\n%s\nwant\n%s", link, want)
			}
			u, _ := url.Parse(link)
			q, err := url.ParseQuery(u.RawQuery)
			if err != nil {
				t.Fatalf("link query does not parse: %v", err)
			}
			if q.Get("username") != tt.wantUsername || q.Get("metadata") != tt.metadata {
				t.Errorf("decoded username, metadata = %q, %q; want %q, %q", q.Get("username"), q.Get("metadata"), tt.wantUsername, tt.metadata)
			}
			if pu, err := url.PathUnescape(strings.SplitN(u.RawQuery, "&metadata=", 2)[1]); err != nil || pu != tt.metadata {
				t.Errorf("metadata through a non-form decoder = %q (%v), want %q", pu, err, tt.metadata)
			}
		})
	}
}

func TestEscape(t *testing.T) {
	tests := []struct{ in, want string }{
		{"a@b.c", "a@b.c"},
		{"a+b@c.d", "a%2Bb@c.d"},
		{"a b", "a%20b"},
		{"&=?#%/", "%26%3D%3F%23%25%2F"},
		{"ü", "%C3%BC"},
		{"", ""},
	}
	for _, tt := range tests {
		if got := applink.Escape(tt.in); got != tt.want {
			t.Errorf("Escape(%q) = %q, want %q", tt.in, got, tt.want)
		}
		if back, err := url.QueryUnescape(applink.Escape(tt.in)); err != nil || back != tt.in {
			t.Errorf("QueryUnescape(Escape(%q)) = %q, %v", tt.in, back, err)
		}
	}
}

func TestTokensAndUsers(t *testing.T) {
	env, _ := newEnv(t)
	ctx := context.Background()
	gen := env.ServiceToken(t, "acme", "gen", "gen-secret")
	boss, err := env.Store.GetUserByEmail(ctx, "acme", "boss@example.com")
	if err != nil {
		t.Fatal(err)
	}
	// Mixed case and a repeat: deduplicated case-insensitively, request order kept.
	emails := []string{"New.User@Example.com", "BOSS@example.com", "new.user@example.COM", "second@example.com"}
	req, _ := json.Marshal(map[string]any{"site": "plain", "emails": emails, "metadata": "x"})
	status, body := call(t, env.Client(), env, "POST", apiPath, gen, string(req))
	if status != 200 {
		t.Fatalf("status = %d %s, want 200", status, body)
	}
	got := links(t, body)
	wantUsers := []string{"New.User@Example.com", "BOSS@example.com", "second@example.com"}
	if len(got) != len(wantUsers) {
		t.Fatalf("answer has %d entries, want %d: %s", len(got), len(wantUsers), body)
	}
	now := env.Clock.Now()
	for i, want := range wantUsers {
		if got[i]["user"] != want {
			t.Errorf("entry %d user = %q, want %q", i, got[i]["user"], want)
		}
		claims := env.VerifyJWT(t, "acme", tokenOf(t, got[i]["GeneratedMessage"]))
		u, err := env.Store.GetUserByEmail(ctx, "acme", want)
		if err != nil {
			t.Fatalf("user %s after the request: %v", want, err)
		}
		exp := time.Unix(int64(claims["exp"].(float64)), 0)
		checks := []struct {
			name      string
			got, want any
		}{
			{"iss", claims["iss"], env.Issuer("acme")},
			{"aud", claims["aud"], "plain"},
			{"sub", claims["sub"], u.ID},
			{"user_id", claims["user_id"], u.ID},
			{"token_type", claims["token_type"], "access"},
			{"jti present", claims["jti"] != "" && claims["jti"] != nil, true},
			{"exp ≈ now+1h", exp.Sub(now.Add(time.Hour)).Abs() < 5*time.Second, true},
		}
		for _, c := range checks {
			if c.got != c.want {
				t.Errorf("%s: claim %s = %v, want %v", want, c.name, c.got, c.want)
			}
		}
		if _, err := realmOf(t, env, "acme").Tokens.Verify(ctx, tokenOf(t, got[i]["GeneratedMessage"])); err != nil {
			t.Errorf("%s: the realm does not accept its own link token: %v", want, err)
		}
		isNew := i != 1
		if isNew && (!u.Enabled || u.EmailVerified || u.Email != want) {
			t.Errorf("new user %+v: want enabled, email %q not verified", u, want)
		}
		if !isNew && u.ID != boss.ID {
			t.Errorf("existing user got id %s, want the seed user's %s", u.ID, boss.ID)
		}
	}
	if n, _ := env.Store.CountUsers(ctx, "acme"); n != 5 {
		t.Errorf("users = %d, want 3 seed + 2 created", n)
	}
	// A second request reuses the users it created.
	status, body = call(t, env.Client(), env, "POST", apiPath, gen, string(req))
	if status != 200 {
		t.Fatalf("second request = %d %s", status, body)
	}
	if n, _ := env.Store.CountUsers(ctx, "acme"); n != 5 {
		t.Errorf("users after a repeat = %d, want still 5", n)
	}
	for _, l := range links(t, body) {
		if strings.Contains(env.Logs.String(), tokenOf(t, l["GeneratedMessage"])) {
			t.Fatal("a link token was logged")
		}
	}
}

func TestRoutes(t *testing.T) {
	env, _ := newEnv(t)
	gen := env.ServiceToken(t, "acme", "gen", "gen-secret")
	foreign := env.ServiceToken(t, "other", "gen", "gen-secret")
	body := `{"site":"testing","emails":["route@example.com"]}`
	tests := []struct {
		path, bearer string
		want         int
	}{
		{"/auth/realms/acme/generate-link-api/", gen, 200},
		{"/auth/realms/acme/generate-link-api", gen, 200},
		{"/realms/acme/generate-link-api/", gen, 200},
		{"/realms/acme/generate-link-api", gen, 200},
		{"/generate-link-api/", gen, 200}, // defaultRealm: acme
		{"/generate-link-api", gen, 200},
		{"/generate-link-api/", foreign, 401}, // the root is acme, not other
		{"/auth/realms/other/generate-link-api/", foreign, 400},
	}
	for _, tt := range tests {
		t.Run(tt.path, func(t *testing.T) {
			status, got := call(t, env.Client(), env, "POST", tt.path, tt.bearer, body)
			if status != tt.want {
				t.Fatalf("POST %s = %d %s, want %d", tt.path, status, got, tt.want)
			}
		})
	}
	// The metrics count links and tokens.
	_, metrics := call(t, env.Client(), env, "GET", "/metrics", "", "")
	for _, want := range []string{`latchkey_links_generated_total{realm="acme",site="testing"}`,
		`latchkey_tokens_issued_total{grant="generate_link",realm="acme"}`} {
		if !strings.Contains(metrics, want) {
			t.Errorf("metrics lack %s", want)
		}
	}
}

// TestCommitIsAllOrNothing makes every try of a request find one of its
// planned users created "concurrently" after the lookups: each try's
// transaction must roll back the users it had already created.
func TestCommitIsAllOrNothing(t *testing.T) {
	env, _ := newEnv(t)
	ctx := context.Background()
	r := realmOf(t, env, "acme")
	site, _ := r.Site("testing")
	emails := []string{"a@tx.example", "b@tx.example", "c@tx.example", "d@tx.example"}
	svc := &applink.Service{}
	var intruders []string
	applink.SetBeforeCommit(svc, func(fresh []string) {
		last := fresh[len(fresh)-1] // created after the others in the transaction
		intruders = append(intruders, last)
		if _, _, err := r.EnsureUser(ctx, last); err != nil {
			t.Errorf("create intruder: %v", err)
		}
	})
	_, err := svc.Generate(ctx, r, applink.Request{Site: site, Emails: emails, Workflows: []string{"hook"}})
	if err == nil {
		t.Fatal("Generate succeeded although every try raced, want an error")
	}
	if want := []string{"d@tx.example", "c@tx.example", "b@tx.example"}; fmt.Sprint(intruders) != fmt.Sprint(want) {
		t.Fatalf("intruders = %v, want %v", intruders, want)
	}
	if _, err := env.Store.GetUserByEmail(ctx, "acme", "a@tx.example"); err == nil {
		t.Error("a@tx.example exists: a failed transaction left a user behind")
	}
	if n := len(queued(t, env)); n != 0 {
		t.Errorf("outbox has %d entries after failed transactions, want 0", n)
	}

	// One race only: the retry reuses the intruder's user and succeeds.
	var once bool
	applink.SetBeforeCommit(svc, func(fresh []string) {
		if !once {
			once = true
			_, _, _ = r.EnsureUser(ctx, "f@tx.example")
		}
	})
	res, err := svc.Generate(ctx, r, applink.Request{Site: site, Emails: []string{"e@tx.example", "f@tx.example"}})
	if err != nil {
		t.Fatalf("Generate after one race: %v", err)
	}
	f, _ := env.Store.GetUserByEmail(ctx, "acme", "f@tx.example")
	claims, err := r.Tokens.Verify(ctx, tokenOf(t, res.Links[1].GeneratedMessage))
	if err != nil || claims.Subject != f.ID || res.Created != 1 {
		t.Fatalf("after one race: sub %v (err %v), created %d; want the intruder's id %s and 1 created", claims, err, res.Created, f.ID)
	}
}
