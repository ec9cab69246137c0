package magiclink

import (
	"errors"
	"net/http"
	"strings"

	"github.com/latchkey/latchkey/internal/platform/ui"
	"github.com/latchkey/latchkey/realm"
	"github.com/latchkey/latchkey/storage"
)

// askPassword follows a consumed link with resetPassword: the completion is
// parked in a short-lived reset token whose key rides in the form, and the
// SSO session starts only once the password is set, so abandoning the form
// leaves nobody signed in.
func (l *landing) askPassword(t storage.OneTimeToken, pl payload) {
	key, err := l.issueReset(l.r.Context(), t, pl)
	if err != nil {
		l.fault("ask for a new password", err)
		return
	}
	l.passwordForm(key, pl, http.StatusOK, "")
}

func (l *landing) passwordForm(key string, pl payload, status int, errMsg string) {
	rl := l.p.Realm()
	ui.Render(l.w, l.ok, status, "set_password.html", ui.Page{
		Title: "Set your password", Heading: "Set a new password", RealmName: rl.DisplayName,
		Message: "Choose a new password for " + pl.Email + ".", Error: errMsg, Email: pl.Email,
		Action: rl.Issuer + LandingPath, CSRF: l.h.CSRF.Token(l.w, l.r, csrfPurpose(kindReset, key)),
		Fields: map[string]string{"reset": key}, MinLength: rl.MinPasswordLen,
		FormTargets: []string{ui.FormTarget(pl.RedirectURI)},
	})
}

// setPassword is the POST of the set-password form. Mistakes (mismatch,
// policy) re-render the form with the same reset key; only a valid password
// consumes it — exactly once — then the password is stored and the
// authorization completed.
func (l *landing) setPassword(key string) {
	rl := l.p.Realm()
	ctx := l.r.Context()
	t, ok := l.lookup(kindReset, key)
	if !ok {
		return
	}
	pl, err := decodePayload(t.Payload)
	if err != nil {
		l.fault("decode pending password reset", err)
		return
	}
	if !l.h.CSRF.Valid(l.r, csrfPurpose(kindReset, key)) {
		l.passwordForm(key, pl, http.StatusForbidden, "This page had expired. Enter your new password again.")
		return
	}
	pw, confirm := l.r.PostFormValue("password-new"), l.r.PostFormValue("password-confirm")
	if pw != confirm {
		l.passwordForm(key, pl, http.StatusBadRequest, "The passwords do not match.")
		return
	}
	if err := rl.CheckPasswordPolicy(pw); err != nil {
		l.passwordForm(key, pl, http.StatusBadRequest, policyMessage(err))
		return
	}
	t, err = rl.Store.ConsumeOneTimeToken(ctx, rl.Name, kindReset, hashKey(key), rl.Now())
	if err != nil {
		l.unusable(kindReset, err, t)
		return
	}
	_, params, user, ok := l.redeemable(t)
	if !ok {
		return
	}
	if err := rl.SetPassword(ctx, user.ID, pw); err != nil {
		l.fault("set password", err)
		return
	}
	// A new password is a fresh start for the brute-force detector.
	if err := rl.ResetLoginFailures(ctx, user.ID); err != nil {
		l.h.Logger.WarnContext(ctx, "reset login failures after password change", "realm", rl.Name, "user_id", user.ID, "error", err)
	}
	l.h.Logger.InfoContext(ctx, "password set through magic link", "realm", rl.Name, "user_id", user.ID)
	l.finish(params, user)
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
