package main

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"sort"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
)

// adminTarget is a running server the admin commands act on through its
// Admin REST API (like Keycloak's kcadm.sh), instead of on the storage:
// --server with a confidential client's credentials whose service account
// holds realm-admin (or LATCHKEY_ADMIN_SERVER, _CLIENT_ID, _CLIENT_SECRET).
type adminTarget struct {
	server, clientID, clientSecret, caCert string
}

// addFlags registers the target's flags, defaulting to the environment.
func (t *adminTarget) addFlags(fs *pflag.FlagSet) {
	fs.StringVar(&t.server, "server", os.Getenv("LATCHKEY_ADMIN_SERVER"), "act on a running server at this URL through its Admin REST API (env LATCHKEY_ADMIN_SERVER)")
	fs.StringVar(&t.clientID, "client-id", os.Getenv("LATCHKEY_ADMIN_CLIENT_ID"), "with --server: the admin client's id (env LATCHKEY_ADMIN_CLIENT_ID)")
	fs.StringVar(&t.clientSecret, "client-secret", os.Getenv("LATCHKEY_ADMIN_CLIENT_SECRET"), "with --server: its secret (env LATCHKEY_ADMIN_CLIENT_SECRET)")
	fs.StringVar(&t.caCert, "cacert", os.Getenv("LATCHKEY_ADMIN_CACERT"), "with --server: a PEM CA to trust (e.g. the self-signed data/tls.crt)")
}

// set reports whether the commands go through a running server.
func (t *adminTarget) set() bool { return t.server != "" }

// adminClient calls one realm's Admin REST API with a service token.
type adminClient struct {
	hc    *http.Client
	base  string // {server}/admin/realms/{realm}
	realm string
	token string
}

// connect gets a client_credentials token of the realm and returns a client.
func (t *adminTarget) connect(ctx context.Context, realmName string) (*adminClient, error) {
	if t.clientID == "" || t.clientSecret == "" {
		return nil, errors.New("--server needs --client-id and --client-secret (or LATCHKEY_ADMIN_CLIENT_ID and LATCHKEY_ADMIN_CLIENT_SECRET)")
	}
	hc := &http.Client{Timeout: 30 * time.Second}
	if t.caCert != "" {
		pem, err := os.ReadFile(t.caCert)
		if err != nil {
			return nil, fmt.Errorf("read --cacert: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("--cacert %s holds no PEM certificate", t.caCert)
		}
		hc.Transport = &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}}
	}
	server := strings.TrimRight(t.server, "/")
	form := url.Values{"grant_type": {"client_credentials"}}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, server+"/realms/"+url.PathEscape(realmName)+"/protocol/openid-connect/token",
		strings.NewReader(form.Encode()))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.SetBasicAuth(url.QueryEscape(t.clientID), url.QueryEscape(t.clientSecret))
	resp, err := hc.Do(req)
	if err != nil {
		return nil, fmt.Errorf("get an admin token from %s: %w", server, err)
	}
	defer resp.Body.Close()
	var tr struct {
		AccessToken string `json:"access_token"`
		Error       string `json:"error"`
	}
	_ = json.NewDecoder(io.LimitReader(resp.Body, 1<<20)).Decode(&tr)
	if resp.StatusCode != http.StatusOK || tr.AccessToken == "" {
		return nil, fmt.Errorf("get an admin token for client %q in realm %q: %d %s", t.clientID, realmName, resp.StatusCode, tr.Error)
	}
	return &adminClient{hc: hc, base: server + "/admin/realms/" + url.PathEscape(realmName), realm: realmName, token: tr.AccessToken}, nil
}

// apiError is an answer of the Admin REST API other than 2xx.
type apiError struct {
	status int
	msg    string
}

func (e *apiError) Error() string { return fmt.Sprintf("%d %s", e.status, e.msg) }

// call sends one request; a 2xx answer is decoded into out (when not nil).
func (a *adminClient) call(ctx context.Context, method, path string, in, out any) (http.Header, error) {
	var body io.Reader
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return nil, err
		}
		body = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, a.base+path, body)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Authorization", "Bearer "+a.token)
	if in != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := a.hc.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(io.LimitReader(resp.Body, 8<<20))
	if resp.StatusCode/100 != 2 {
		var e struct {
			Error       string `json:"error"`
			Description string `json:"error_description"`
			Message     string `json:"errorMessage"`
		}
		_ = json.Unmarshal(raw, &e)
		msg := strings.TrimSpace(e.Description + " " + e.Message)
		if msg == "" {
			msg = e.Error
		}
		return nil, &apiError{status: resp.StatusCode, msg: msg}
	}
	if out != nil {
		if err := json.Unmarshal(raw, out); err != nil {
			return nil, fmt.Errorf("decode %s %s: %w", method, path, err)
		}
	}
	return resp.Header, nil
}

// apiUser is the part of Keycloak's UserRepresentation the commands use.
type apiUser struct {
	ID            string `json:"id"`
	Username      string `json:"username"`
	Email         string `json:"email"`
	Enabled       bool   `json:"enabled"`
	EmailVerified bool   `json:"emailVerified"`
}

// find looks login up as an exact email, then as an exact username.
func (a *adminClient) find(ctx context.Context, login string) (apiUser, error) {
	login = strings.TrimSpace(login)
	for _, field := range []string{"email", "username"} {
		var users []apiUser
		if _, err := a.call(ctx, http.MethodGet, "/users?exact=true&"+field+"="+url.QueryEscape(login), nil, &users); err != nil {
			return apiUser{}, fmt.Errorf("find user %q in realm %q: %w", login, a.realm, err)
		}
		if len(users) == 1 {
			return users[0], nil
		}
	}
	return apiUser{}, fmt.Errorf("no user %q in realm %q", login, a.realm)
}

// remoteAddUser is `user add` through the Admin REST API: an enabled user,
// email verified, with the roles and (when given) the password.
func remoteAddUser(cmd *cobra.Command, load configLoader, realmName, email string, roles []string, pwFlag string) error {
	ctx := cmd.Context()
	a, err := remoteRealm(ctx, load, realmName)
	if err != nil {
		return err
	}
	rep := map[string]any{"username": strings.TrimSpace(email), "email": strings.TrimSpace(email), "enabled": true, "emailVerified": true}
	pw, hasPassword := givenPassword(pwFlag)
	if hasPassword {
		rep["credentials"] = []map[string]any{{"type": "password", "value": pw, "temporary": false}}
	}
	hdr, err := a.call(ctx, http.MethodPost, "/users", rep, nil)
	if err != nil {
		return fmt.Errorf("add user %q: %w", email, err)
	}
	loc := hdr.Get("Location")
	id := loc[strings.LastIndex(loc, "/")+1:]
	if len(roles) > 0 {
		var reps []map[string]string
		for _, r := range roles {
			reps = append(reps, map[string]string{"id": r, "name": r})
		}
		if _, err := a.call(ctx, http.MethodPost, "/users/"+id+"/role-mappings/realm", reps, nil); err != nil {
			return fmt.Errorf("add user %q: user %s created, but without its roles: %w", email, id, err)
		}
	}
	if !hasPassword {
		fmt.Fprintf(cmd.OutOrStdout(), "created user %s (id %s) in realm %s\n", strings.TrimSpace(email), id, a.realm)
	}
	return nil
}

// remoteListUsers writes the realm's users as `user list` does on the storage.
func remoteListUsers(ctx context.Context, a *adminClient, w io.Writer) error {
	var all []apiUser
	for first := 0; ; first += listPageSize {
		var page []apiUser
		if _, err := a.call(ctx, http.MethodGet, fmt.Sprintf("/users?first=%d&max=%d", first, listPageSize), nil, &page); err != nil {
			return err
		}
		all = append(all, page...)
		if len(page) < listPageSize {
			break
		}
	}
	sort.Slice(all, func(i, j int) bool { return all[i].ID < all[j].ID })
	tw := tabwriter.NewWriter(w, 2, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tEMAIL\tENABLED\tVERIFIED\tROLES")
	for _, u := range all {
		var roles []struct {
			Name string `json:"name"`
		}
		if _, err := a.call(ctx, http.MethodGet, "/users/"+u.ID+"/role-mappings/realm", nil, &roles); err != nil {
			return err
		}
		names := make([]string, 0, len(roles))
		for _, r := range roles {
			names = append(names, r.Name)
		}
		sort.Strings(names)
		fmt.Fprintf(tw, "%s\t%s\t%t\t%t\t%s\n", u.ID, u.Email, u.Enabled, u.EmailVerified, strings.Join(names, ","))
	}
	return tw.Flush()
}

// remoteRotateKeys is `keys rotate` through the Admin REST API.
func remoteRotateKeys(ctx context.Context, a *adminClient, w io.Writer) error {
	var keys struct {
		Active map[string]string `json:"active"`
	}
	if _, err := a.call(ctx, http.MethodGet, "/keys", nil, &keys); err != nil {
		return fmt.Errorf("read the keys of realm %s: %w", a.realm, err)
	}
	old := ""
	for _, kid := range keys.Active {
		old = kid
	}
	var rotated struct {
		KID string `json:"kid"`
	}
	if _, err := a.call(ctx, http.MethodPost, "/keys/rotate", nil, &rotated); err != nil {
		return fmt.Errorf("rotate the key of realm %s: %w", a.realm, err)
	}
	fmt.Fprintf(w, "realm %s: new active key %s (previous %s still verifies)\n", a.realm, rotated.KID, old)
	return nil
}
