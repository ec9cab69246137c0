package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"sort"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/latchkey/latchkey/config"
	"github.com/latchkey/latchkey/realm"
	"github.com/latchkey/latchkey/storage"
)

// withRealm opens the store and builds the named realm for an admin command.
func withRealm(load func() (*config.Config, error), name string, fn func(ctx context.Context, r *realm.Realm) error) error {
	cfg, err := load()
	if err != nil {
		return err
	}
	if name == "" {
		name = cfg.DefaultRealm
	}
	store, err := openStore(cfg)
	if err != nil {
		return err
	}
	defer store.Close()
	ctx := context.Background()
	reg, err := realm.Build(ctx, cfg, store, nil)
	if err != nil {
		return err
	}
	r, ok := reg.Get(name)
	if !ok {
		return fmt.Errorf("realm %q does not exist or is disabled", name)
	}
	return fn(ctx, r)
}

func findUser(ctx context.Context, r *realm.Realm, email string) (storage.User, error) {
	u, err := r.FindUser(ctx, email)
	if errors.Is(err, storage.ErrNotFound) {
		return storage.User{}, fmt.Errorf("no user %q in realm %q", email, r.Name)
	}
	return u, err
}

func readPassword(cmd *cobra.Command, flag string) (string, error) {
	if flag != "" {
		return flag, nil
	}
	if pw := os.Getenv("LATCHKEY_PASSWORD"); pw != "" {
		return pw, nil
	}
	fmt.Fprint(cmd.ErrOrStderr(), "Password (input is read from stdin): ")
	var pw string
	if _, err := fmt.Fscanln(cmd.InOrStdin(), &pw); err != nil {
		return "", fmt.Errorf("read password: %w", err)
	}
	return pw, nil
}

// extraUserCommands build further `user` subcommands. Other files of this
// package append to it from init, so a feature adds its admin command without
// editing newUserCmd. realmName points at the --realm flag's value.
var extraUserCommands []func(load func() (*config.Config, error), realmName *string) *cobra.Command

func newUserCmd(load func() (*config.Config, error)) *cobra.Command {
	var realmName string
	c := &cobra.Command{Use: "user", Short: "Manage users (the server must be stopped)"}
	c.PersistentFlags().StringVarP(&realmName, "realm", "r", "", "realm (default: defaultRealm)")

	var pwFlag string
	var roles []string
	add := &cobra.Command{
		Use: "add EMAIL", Short: "Create a user", Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return withRealm(load, realmName, func(ctx context.Context, r *realm.Realm) error {
				email, err := realm.NormalizeEmail(args[0])
				if err != nil {
					return err
				}
				u := r.NewUser(email, roles)
				u.EmailVerified = true
				if pwFlag != "" || os.Getenv("LATCHKEY_PASSWORD") != "" {
					pw, _ := readPassword(cmd, pwFlag)
					if err := r.CheckPasswordPolicy(pw); err != nil {
						return err
					}
					if err := r.Store.CreateUser(ctx, u); err != nil {
						return fmt.Errorf("create user: %w", err)
					}
					return r.SetPassword(ctx, u.ID, pw)
				}
				if err := r.Store.CreateUser(ctx, u); err != nil {
					return fmt.Errorf("create user: %w", err)
				}
				fmt.Fprintf(cmd.OutOrStdout(), "created user %s (id %s) in realm %s\n", email, u.ID, r.Name)
				return nil
			})
		},
	}
	add.Flags().StringVar(&pwFlag, "password", "", "initial password (or env LATCHKEY_PASSWORD)")
	add.Flags().StringSliceVar(&roles, "role", nil, "realm role (repeatable)")

	setPw := &cobra.Command{
		Use: "set-password EMAIL", Short: "Set a user's password", Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return withRealm(load, realmName, func(ctx context.Context, r *realm.Realm) error {
				u, err := findUser(ctx, r, args[0])
				if err != nil {
					return err
				}
				pw, err := readPassword(cmd, pwFlag)
				if err != nil {
					return err
				}
				if err := r.SetPassword(ctx, u.ID, pw); err != nil {
					return err
				}
				fmt.Fprintf(cmd.OutOrStdout(), "password of %s set\n", u.Email)
				return nil
			})
		},
	}
	setPw.Flags().StringVar(&pwFlag, "password", "", "new password (or env LATCHKEY_PASSWORD, or stdin)")

	enable := func(use string, on bool) *cobra.Command {
		return &cobra.Command{
			Use: use + " EMAIL", Short: strings.ToUpper(use[:1]) + use[1:] + " a user", Args: cobra.ExactArgs(1),
			RunE: func(cmd *cobra.Command, args []string) error {
				return withRealm(load, realmName, func(ctx context.Context, r *realm.Realm) error {
					u, err := findUser(ctx, r, args[0])
					if err != nil {
						return err
					}
					if err := r.SetEnabled(ctx, u.ID, on); err != nil {
						return err
					}
					fmt.Fprintf(cmd.OutOrStdout(), "user %s %sd\n", u.Email, use)
					return nil
				})
			},
		}
	}
	unlock := &cobra.Command{
		Use: "unlock EMAIL", Short: "Clear a user's brute-force lockout", Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return withRealm(load, realmName, func(ctx context.Context, r *realm.Realm) error {
				u, err := findUser(ctx, r, args[0])
				if err != nil {
					return err
				}
				if err := r.ResetLoginFailures(ctx, u.ID); err != nil {
					return err
				}
				fmt.Fprintf(cmd.OutOrStdout(), "user %s unlocked\n", u.Email)
				return nil
			})
		},
	}
	list := &cobra.Command{
		Use: "list", Short: "List users",
		RunE: func(cmd *cobra.Command, _ []string) error {
			return withRealm(load, realmName, func(ctx context.Context, r *realm.Realm) error {
				tw := tabwriter.NewWriter(cmd.OutOrStdout(), 2, 4, 2, ' ', 0)
				fmt.Fprintln(tw, "ID\tEMAIL\tENABLED\tVERIFIED\tROLES")
				after := ""
				for {
					page, err := r.Store.ListUsers(ctx, r.Name, after, 500)
					if err != nil {
						return err
					}
					for _, u := range page {
						roles := append([]string(nil), u.Roles...)
						sort.Strings(roles)
						fmt.Fprintf(tw, "%s\t%s\t%t\t%t\t%s\n", u.ID, u.Email, u.Enabled, u.EmailVerified, strings.Join(roles, ","))
					}
					if len(page) < 500 {
						break
					}
					after = page[len(page)-1].ID
				}
				return tw.Flush()
			})
		},
	}
	c.AddCommand(add, setPw, enable("disable", false), enable("enable", true), unlock, list)
	for _, extra := range extraUserCommands {
		c.AddCommand(extra(load, &realmName))
	}
	return c
}
