package main

import (
	"context"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/latchkey/latchkey/config"
	"github.com/latchkey/latchkey/internal/credentials"
	"github.com/latchkey/latchkey/realm"
)

func init() { extraUserCommands = append(extraUserCommands, newRotateAPIKeyCmd) }

// newRotateAPIKeyCmd builds `latchkey user rotate-api-key EMAIL`: the user's
// API key changes at once (the old one stops matching) and /user/login
// returns the new one. The key is not printed: it is derived from the API key
// secret, which admin commands need not read.
func newRotateAPIKeyCmd(load func() (*config.Config, error), realmName *string) *cobra.Command {
	return &cobra.Command{
		Use:   "rotate-api-key EMAIL",
		Short: "Replace a user's API key (the new one is returned by the next /user/login)",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return withRealm(load, *realmName, func(ctx context.Context, r *realm.Realm) error {
				u, err := findUser(ctx, r, args[0])
				if err != nil {
					return err
				}
				u, err = credentials.RotateAPIKey(ctx, r, u.ID)
				if err != nil {
					return err
				}
				fmt.Fprintf(cmd.OutOrStdout(), "API key of %s rotated (version %d); the old key no longer matches\n",
					u.Email, u.APIKeyVersion)
				return nil
			})
		},
	}
}
