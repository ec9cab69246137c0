package magiclink

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/latchkey/latchkey/oidc"
	"github.com/latchkey/latchkey/realm"
	"github.com/latchkey/latchkey/storage"
)

// Keycloak's required actions that an actions link performs.
const (
	ActionUpdatePassword = "UPDATE_PASSWORD"
	ActionVerifyEmail    = "VERIFY_EMAIL"
)

// ErrUnsupportedAction is an action SendActions does not perform.
var ErrUnsupportedAction = errors.New("unsupported required action")

// SendActions mails the user a magic link that performs required actions
// (Keycloak's execute-actions-email): using the link verifies the email
// (VERIFY_EMAIL), and UPDATE_PASSWORD asks for a new password first. With a
// client and redirect URI the link then signs the user in to that client
// (an authorization code to redirectURI); without, it ends on a page saying
// the account is updated. Errors: ErrUnsupportedAction, *Error (400 for a
// client or redirect URI the client does not allow, 429, 502), faults.
func (s *Service) SendActions(ctx context.Context, r *realm.Realm, u storage.User, clientID, redirectURI string, lifespan time.Duration, actions []string) error {
	for _, a := range actions {
		if a != ActionUpdatePassword && a != ActionVerifyEmail {
			return fmt.Errorf("%w: %q", ErrUnsupportedAction, a)
		}
	}
	if lifespan <= 0 || lifespan > r.MagicLink.MaxLifespan {
		lifespan = r.MagicLink.Lifespan
	}
	sp := spec{email: u.Email, lifespan: lifespan, resetPassword: slices.Contains(actions, ActionUpdatePassword)}
	if clientID != "" || redirectURI != "" {
		p, ok := s.provider(r.Name)
		if !ok {
			return &Error{Code: 404, Message: MsgRealmNotFound}
		}
		sp.params = oidc.AuthParams{ClientID: clientID, RedirectURI: redirectURI, Scopes: []string{"openid"},
			ResponseType: "code", ResponseMode: oidc.ModeQuery, AllowMissingPKCE: true}
		if err := p.ValidateParams(&sp.params); err != nil {
			return badRequest("client_id or redirect_uri not valid for this client: " + err.Error())
		}
	}
	return s.send(ctx, r, sp, "actions", true)
}
