package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"sort"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/latchkey/latchkey/realm"
	"github.com/latchkey/latchkey/storage"
)

// withRealm opens the store and builds the named realm for an admin command.
func withRealm(load configLoader, name string, fn func(ctx context.Context, r *realm.Realm) error) error {
	cfg, err := load()
	if err != nil {
		return err // config.Load names the file and the problem
	}
	if name == "" {
		name = cfg.DefaultRealm
	}
	ctx := context.Background()
	store, err := openStore(ctx, cfg)
	if err != nil {
		return err
	}
	defer store.Close()
	reg, err := realm.Build(ctx, cfg, store, nil)
	if err != nil {
		return fmt.Errorf("build realms: %w", err)
	}
	r, ok := reg.Get(name)
	if !ok {
		return fmt.Errorf("realm %q does not exist or is disabled", name)
	}
	return fn(ctx, r)
}

// findUser looks login up as an email or a username, and says in which realm
// it found nothing.
func findUser(ctx context.Context, r *realm.Realm, login string) (storage.User, error) {
	u, err := r.FindUser(ctx, login)
	switch {
	case errors.Is(err, storage.ErrNotFound):
		return storage.User{}, fmt.Errorf("no user %q in realm %q", login, r.Name)
	case err != nil:
		return storage.User{}, fmt.Errorf("find user %q in realm %q: %w", login, r.Name, err)
	}
	return u, nil
}

// givenPassword returns the password given by flag or else by
// LATCHKEY_PASSWORD; ok is false when neither gives one.
func givenPassword(flag string) (pw string, ok bool) {
	if flag != "" {
		return flag, true
	}
	if pw := os.Getenv("LATCHKEY_PASSWORD"); pw != "" {
		return pw, true
	}
	return "", false
}

// readPassword is givenPassword, falling back to a line of standard input.
func readPassword(cmd *cobra.Command, flag string) (string, error) {
	if pw, ok := givenPassword(flag); ok {
		return pw, nil
	}
	fmt.Fprint(cmd.ErrOrStderr(), "Password (input is read from stdin): ")
	var pw string
	if _, err := fmt.Fscanln(cmd.InOrStdin(), &pw); err != nil {
		return "", fmt.Errorf("read password: %w", err)
	}
	return pw, nil
}

// userSubcommand builds a `user` subcommand; realmName points at the --realm
// flag's value, which is parsed after the command is built.
type userSubcommand func(load configLoader, realmName *string) *cobra.Command

// target is where the admin commands act: the storage (the default) or a
// running server's Admin REST API (--server). Its flags are persistent
// flags of `user` and `keys`, parsed before any command runs.
var target adminTarget

// remoteRealm connects to the --server for the realm named by --realm, or
// else by the config's defaultRealm.
func remoteRealm(ctx context.Context, load configLoader, realmName string) (*adminClient, error) {
	if realmName == "" {
		cfg, err := load()
		if err != nil {
			return nil, fmt.Errorf("--realm is required with --server when the config cannot be read: %w", err)
		}
		realmName = cfg.DefaultRealm
	}
	return target.connect(ctx, realmName)
}

// extraUserCommands build further `user` subcommands. Other files of this
// package append to it from init, so a feature adds its admin command without
// editing newUserCmd.
var extraUserCommands []userSubcommand

func newUserCmd(load configLoader) *cobra.Command {
	var realmName string
	c := &cobra.Command{Use: "user", Short: "Manage users (on the storage, or on a running server with --server)"}
	c.PersistentFlags().StringVarP(&realmName, "realm", "r", "", "realm (default: defaultRealm)")
	target.addFlags(c.PersistentFlags())
	subcommands := []userSubcommand{
		newUserAddCmd, newSetPasswordCmd,
		setEnabledCmd("disable", "Disable a user", false), setEnabledCmd("enable", "Enable a user", true),
		newUnlockCmd, newListUsersCmd,
	}
	for _, sub := range append(subcommands, extraUserCommands...) {
		c.AddCommand(sub(load, &realmName))
	}
	return c
}

// userAction builds `user USE EMAIL`: it finds the user by email or username
// and runs do on them, which returns the line to print. do's error is
// prefixed with the command and the user, so that the message says what
// failed for whom.
func userAction(load configLoader, realmName *string, use, short string,
	do func(ctx context.Context, cmd *cobra.Command, r *realm.Realm, u storage.User) (string, error),
	remote func(ctx context.Context, cmd *cobra.Command, a *adminClient, u apiUser) (string, error)) *cobra.Command {
	return &cobra.Command{
		Use: use + " EMAIL", Short: short, Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if target.set() {
				if remote == nil {
					return fmt.Errorf("%s works on the storage only (the Admin REST API has no such action): run it without --server", use)
				}
				ctx := cmd.Context()
				a, err := remoteRealm(ctx, load, *realmName)
				if err != nil {
					return err
				}
				u, err := a.find(ctx, args[0])
				if err != nil {
					return err
				}
				report, err := remote(ctx, cmd, a, u)
				if err != nil {
					return fmt.Errorf("%s %s: %w", use, u.Email, err)
				}
				fmt.Fprintln(cmd.OutOrStdout(), report)
				return nil
			}
			return withRealm(load, *realmName, func(ctx context.Context, r *realm.Realm) error {
				u, err := findUser(ctx, r, args[0])
				if err != nil {
					return err
				}
				report, err := do(ctx, cmd, r, u)
				if err != nil {
					return fmt.Errorf("%s %s: %w", use, u.Email, err)
				}
				fmt.Fprintln(cmd.OutOrStdout(), report)
				return nil
			})
		},
	}
}

func newUserAddCmd(load configLoader, realmName *string) *cobra.Command {
	var pwFlag string
	var roles []string
	c := &cobra.Command{
		Use: "add EMAIL", Short: "Create a user", Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if target.set() {
				return remoteAddUser(cmd, load, *realmName, args[0], roles, pwFlag)
			}
			return withRealm(load, *realmName, func(ctx context.Context, r *realm.Realm) error {
				pw, hasPassword := givenPassword(pwFlag)
				u, err := addUser(ctx, r, args[0], roles, pw, hasPassword)
				if err != nil {
					return fmt.Errorf("add user %q: %w", args[0], err)
				}
				// With a password the command prints nothing: that is its
				// released output, which this cleanup keeps.
				if !hasPassword {
					fmt.Fprintf(cmd.OutOrStdout(), "created user %s (id %s) in realm %s\n", u.Email, u.ID, r.Name)
				}
				return nil
			})
		},
	}
	c.Flags().StringVar(&pwFlag, "password", "", "initial password (or env LATCHKEY_PASSWORD)")
	c.Flags().StringSliceVar(&roles, "role", nil, "realm role (repeatable)")
	return c
}

// addUser creates an enabled user whose email counts as verified (an
// administrator vouches for it), with the password pw when hasPassword. The
// password is checked against the realm's policy before the user is created,
// so that a refused password leaves no user behind.
func addUser(ctx context.Context, r *realm.Realm, email string, roles []string, pw string, hasPassword bool) (storage.User, error) {
	email, err := realm.NormalizeEmail(email)
	if err != nil {
		return storage.User{}, err
	}
	if hasPassword {
		if err := r.CheckPasswordPolicy(pw); err != nil {
			return storage.User{}, err
		}
	}
	u := r.NewUser(email, roles)
	u.EmailVerified = true
	if err := r.Store.CreateUser(ctx, u); err != nil {
		return storage.User{}, err
	}
	if hasPassword {
		if err := r.SetPassword(ctx, u.ID, pw); err != nil {
			return storage.User{}, fmt.Errorf("user %s created, but without a password: %w", u.ID, err)
		}
	}
	return u, nil
}

func newSetPasswordCmd(load configLoader, realmName *string) *cobra.Command {
	var pwFlag string
	c := userAction(load, realmName, "set-password", "Set a user's password",
		func(ctx context.Context, cmd *cobra.Command, r *realm.Realm, u storage.User) (string, error) {
			pw, err := readPassword(cmd, pwFlag)
			if err != nil {
				return "", err
			}
			if err := r.SetPassword(ctx, u.ID, pw); err != nil {
				return "", err
			}
			return fmt.Sprintf("password of %s set", u.Email), nil
		},
		func(ctx context.Context, cmd *cobra.Command, a *adminClient, u apiUser) (string, error) {
			pw, err := readPassword(cmd, pwFlag)
			if err != nil {
				return "", err
			}
			if _, err := a.call(ctx, http.MethodPut, "/users/"+u.ID+"/reset-password",
				map[string]any{"type": "password", "value": pw, "temporary": false}, nil); err != nil {
				return "", err
			}
			return fmt.Sprintf("password of %s set", u.Email), nil
		})
	c.Flags().StringVar(&pwFlag, "password", "", "new password (or env LATCHKEY_PASSWORD, or stdin)")
	return c
}

// setEnabledCmd builds `user enable` or `user disable`; use is the verb.
func setEnabledCmd(use, short string, enabled bool) userSubcommand {
	return func(load configLoader, realmName *string) *cobra.Command {
		return userAction(load, realmName, use, short,
			func(ctx context.Context, _ *cobra.Command, r *realm.Realm, u storage.User) (string, error) {
				if err := r.SetEnabled(ctx, u.ID, enabled); err != nil {
					return "", err
				}
				return fmt.Sprintf("user %s %sd", u.Email, use), nil
			},
			func(ctx context.Context, _ *cobra.Command, a *adminClient, u apiUser) (string, error) {
				if _, err := a.call(ctx, http.MethodPut, "/users/"+u.ID, map[string]any{"enabled": enabled}, nil); err != nil {
					return "", err
				}
				return fmt.Sprintf("user %s %sd", u.Email, use), nil
			})
	}
}

func newUnlockCmd(load configLoader, realmName *string) *cobra.Command {
	return userAction(load, realmName, "unlock", "Clear a user's brute-force lockout",
		func(ctx context.Context, _ *cobra.Command, r *realm.Realm, u storage.User) (string, error) {
			if err := r.ResetLoginFailures(ctx, u.ID); err != nil {
				return "", err
			}
			return fmt.Sprintf("user %s unlocked", u.Email), nil
		},
		func(ctx context.Context, _ *cobra.Command, a *adminClient, u apiUser) (string, error) {
			if _, err := a.call(ctx, http.MethodDelete, "/attack-detection/brute-force/users/"+u.ID, nil, nil); err != nil {
				return "", err
			}
			return fmt.Sprintf("user %s unlocked", u.Email), nil
		})
}

func newListUsersCmd(load configLoader, realmName *string) *cobra.Command {
	return &cobra.Command{
		Use: "list", Short: "List users",
		RunE: func(cmd *cobra.Command, _ []string) error {
			if target.set() {
				a, err := remoteRealm(cmd.Context(), load, *realmName)
				if err != nil {
					return err
				}
				if err := remoteListUsers(cmd.Context(), a, cmd.OutOrStdout()); err != nil {
					return fmt.Errorf("list users of realm %s: %w", a.realm, err)
				}
				return nil
			}
			return withRealm(load, *realmName, func(ctx context.Context, r *realm.Realm) error {
				if err := listUsers(ctx, r, cmd.OutOrStdout()); err != nil {
					return fmt.Errorf("list users of realm %s: %w", r.Name, err)
				}
				return nil
			})
		},
	}
}

// listPageSize bounds the users read per store call, so that listing a large
// realm never holds them all in memory at once.
const listPageSize = 500

// listUsers writes the realm's users as a table, in ID order.
func listUsers(ctx context.Context, r *realm.Realm, w io.Writer) error {
	tw := tabwriter.NewWriter(w, 2, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tEMAIL\tENABLED\tVERIFIED\tROLES")
	for after := ""; ; {
		page, err := r.Store.ListUsers(ctx, r.Name, after, listPageSize)
		if err != nil {
			return err
		}
		for _, u := range page {
			roles := append([]string(nil), u.Roles...)
			sort.Strings(roles)
			fmt.Fprintf(tw, "%s\t%s\t%t\t%t\t%s\n", u.ID, u.Email, u.Enabled, u.EmailVerified, strings.Join(roles, ","))
		}
		if len(page) < listPageSize {
			break
		}
		after = page[len(page)-1].ID
	}
	return tw.Flush()
}
