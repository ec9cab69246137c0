package oidc

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"net/http"

	"github.com/latchkey/latchkey/internal/platform/ui"
	"github.com/latchkey/latchkey/storage"
)

// A device grant approved through the login page is bound to the browser
// that entered its user code and pressed Yes: that press sets a cookie
// whose value only the server can derive from the grant, and the grant's
// login page and its emailed sign-in link work only in a browser that
// holds it. Without the binding, the login URL (or a sign-in link the
// attacker's login page mails to a victim) would be an approval that
// anyone could be talked into completing, without ever seeing the device's
// code or the client's name.

// deviceCookieName is per realm, like the session cookie.
func deviceCookieName(realmName string) string { return "LATCHKEY_DEVICE_" + realmName }

// deviceBinding is the cookie value that binds a browser to device grant id:
// an HMAC under the realm's device key, so it cannot be made up from the
// id (which the login URL shows).
func (p *Provider) deviceBinding(id string) string {
	mac := hmac.New(sha256.New, p.userCodeKey)
	mac.Write([]byte("device-browser\x00" + id))
	return hex.EncodeToString(mac.Sum(nil))
}

// bindDevice sets the binding cookie of grant a in the browser of r.
func (p *Provider) bindDevice(w http.ResponseWriter, r *http.Request, a storage.AuthRequest) {
	maxAge := int(a.ExpiresAt.Sub(p.realm.Now()).Seconds())
	http.SetCookie(w, &http.Cookie{
		Name: deviceCookieName(p.realm.Name), Value: p.deviceBinding(a.ID), Path: "/",
		MaxAge: max(maxAge, 1), HttpOnly: true, Secure: p.opts.Proxies.IsHTTPS(r), SameSite: http.SameSiteLaxMode,
	})
}

// deviceBound reports whether the browser of r is the one bound to grant id.
func (p *Provider) deviceBound(r *http.Request, id string) bool {
	c, err := r.Cookie(deviceCookieName(p.realm.Name))
	return err == nil && hmac.Equal([]byte(c.Value), []byte(p.deviceBinding(id)))
}

// renderDeviceUnbound answers a device grant's login page or sign-in link
// opened in a browser other than the one that entered the code.
func (p *Provider) renderDeviceUnbound(w http.ResponseWriter, r *http.Request) {
	ui.Render(w, p.opts.Proxies.IsHTTPS(r), http.StatusForbidden, "info.html", ui.Page{
		Title: "Wrong browser", Heading: "Continue in the browser where you entered the code", RealmName: p.realm.DisplayName,
		Message: "This device sign-in was started in another browser. Open it there, or enter the code " +
			"shown on your device again on this browser's device page."})
}

// clientDisplayName is how pages name a client: its name, else its id.
func (p *Provider) clientDisplayName(id string) string {
	if c, ok := p.realm.Client(id); ok && c.Name != "" {
		return c.Name
	}
	return id
}
