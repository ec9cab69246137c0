package main

import (
	"context"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/latchkey/latchkey/internal/credentials"
	"github.com/latchkey/latchkey/realm"
	"github.com/latchkey/latchkey/storage"
)

func init() { extraUserCommands = append(extraUserCommands, newRotateAPIKeyCmd) }

// newRotateAPIKeyCmd builds `latchkey user rotate-api-key EMAIL`: the user's
// API key changes at once (the old one stops matching) and /user/login
// returns the new one. The key is not printed: it is derived from the API key
// secret, which admin commands need not read.
func newRotateAPIKeyCmd(load configLoader, realmName *string) *cobra.Command {
	return userAction(load, realmName, "rotate-api-key", "Replace a user's API key (the new one is returned by the next /user/login)",
		func(ctx context.Context, _ *cobra.Command, r *realm.Realm, u storage.User) (string, error) {
			u, err := credentials.RotateAPIKey(ctx, r, u.ID)
			if err != nil {
				return "", err
			}
			return fmt.Sprintf("API key of %s rotated (version %d); the old key no longer matches", u.Email, u.APIKeyVersion), nil
		}, nil)
}
