package magiclink

import (
	"errors"
	"net/http"
	"strings"

	"github.com/latchkey/latchkey/internal/platform/ui"
	"github.com/latchkey/latchkey/realm"
)

// passwordForm renders the set-password form of a pending reset (a link with
// resetPassword): the SSO session starts only once the password is set, so
// abandoning the form leaves nobody signed in.
func (l *landing) passwordForm(key string, pending Pending, status int, errMsg string) {
	rl := l.p.Realm()
	ui.Render(l.w, l.ok, status, "set_password.html", ui.Page{
		Title: "Set your password", Heading: "Set a new password", RealmName: rl.DisplayName,
		Message: "Choose a new password for " + pending.Email + ".", Error: errMsg, Email: pending.Email,
		Action: rl.Issuer + LandingPath, CSRF: l.h.CSRF.Token(l.w, l.r, csrfPurpose(kindReset, key)),
		Fields: map[string]string{"reset": key}, MinLength: rl.MinPasswordLen,
		FormTargets: []string{ui.FormTarget(pending.RedirectURI)},
	})
}

// setPassword is the POST of the set-password form. Mistakes (mismatch,
// policy) re-render the form with the same reset key; only a valid password
// uses it — exactly once — and then the authorization is completed.
func (l *landing) setPassword(key string) {
	ctx := l.r.Context()
	rl := l.p.Realm()
	pending, err := l.h.Service.Peek(ctx, rl, kindReset, key)
	if err != nil {
		l.unusable(kindReset, err)
		return
	}
	if !l.h.CSRF.Valid(l.r, csrfPurpose(kindReset, key)) {
		l.passwordForm(key, pending, http.StatusForbidden, "This page had expired. Enter your new password again.")
		return
	}
	pw, confirm := l.r.PostFormValue("password-new"), l.r.PostFormValue("password-confirm")
	if pw != confirm {
		l.passwordForm(key, pending, http.StatusBadRequest, "The passwords do not match.")
		return
	}
	red, err := l.h.Service.RedeemReset(ctx, rl, key, pw)
	switch {
	case errors.Is(err, realm.ErrPasswordPolicy):
		l.passwordForm(key, pending, http.StatusBadRequest, policyMessage(err))
	case err != nil:
		l.unusable(kindReset, err)
	default:
		l.finish(red)
	}
}

// policyMessage turns the realm's policy error into a sentence for the form.
func policyMessage(err error) string {
	if !errors.Is(err, realm.ErrPasswordPolicy) {
		return "This password cannot be used. Choose another one."
	}
	detail := strings.TrimPrefix(err.Error(), realm.ErrPasswordPolicy.Error())
	detail = strings.TrimSpace(strings.TrimPrefix(detail, ":"))
	if detail == "" {
		return "This password does not meet the password policy."
	}
	return "The password must have " + detail + "."
}
