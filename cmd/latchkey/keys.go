package main

import (
	"context"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/latchkey/latchkey/realm"
)

func newKeysCmd(load configLoader) *cobra.Command {
	var realmName string
	c := &cobra.Command{Use: "keys", Short: "Manage realm signing keys (on the storage, or on a running server with --server)"}
	target.addFlags(c.PersistentFlags())
	rotate := &cobra.Command{
		Use:   "rotate",
		Short: "Generate a new active signing key; the old one keeps verifying for keyRotationOverlap",
		RunE: func(cmd *cobra.Command, _ []string) error {
			if target.set() {
				a, err := remoteRealm(cmd.Context(), load, realmName)
				if err != nil {
					return err
				}
				return remoteRotateKeys(cmd.Context(), a, cmd.OutOrStdout())
			}
			return withRealm(load, realmName, func(ctx context.Context, r *realm.Realm) error {
				old := r.Keys.Active().ID
				if err := r.Keys.Rotate(ctx); err != nil {
					return err
				}
				fmt.Fprintf(cmd.OutOrStdout(), "realm %s: new active key %s (previous %s still verifies)\n", r.Name, r.Keys.Active().ID, old)
				return nil
			})
		},
	}
	rotate.Flags().StringVarP(&realmName, "realm", "r", "", "realm (default: defaultRealm)")
	c.AddCommand(rotate)
	return c
}
