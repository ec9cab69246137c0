// Command seed fills a Latchkey bbolt store with many users for the
// benchmark's scale mode, fast: the password is hashed once (argon2id is
// deliberately slow, ~40 hashes/s per core) and that hash is shared by every
// user, and users are written in large transactions.
//
// The server must not be running on the file (bbolt holds a lock). Users are
// spread evenly over the realms; user i of realm R has the email
// fmt.Sprintf(-email, i, R), by default "u<i>@<realm>.test", and -password.
// Users that already exist are left alone, so seeding twice is harmless.
//
// Usage:
//
//	seed -db bench/.run/scale.db -realms bench,bench-eddsa,... -users 100000
//	seed -hash -password bench-password    # print the argon2id PHC string and exit
//
// It prints one JSON line: {"created":N,"existing":N,"realms":N,"seconds":F}.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"log"
	"os"
	"strings"
	"time"

	"github.com/latchkey/latchkey/internal/crypto/password"
	"github.com/latchkey/latchkey/realm"
	"github.com/latchkey/latchkey/storage"
	"github.com/latchkey/latchkey/storage/bboltstore"
)

// options are the command's flags.
type options struct {
	DB          string
	Realms      []string
	Users       int
	Password    string
	EmailFormat string
	Batch       int
}

// result is what seed reports.
type result struct {
	Created  int     `json:"created"`
	Existing int     `json:"existing"`
	Realms   int     `json:"realms"`
	Seconds  float64 `json:"seconds"`
}

func main() {
	var o options
	var realms string
	hashOnly := flag.Bool("hash", false, "print the argon2id hash of -password and exit")
	flag.StringVar(&o.DB, "db", "", "bbolt file to seed (created if missing)")
	flag.StringVar(&realms, "realms", "bench", "comma-separated realm names")
	flag.IntVar(&o.Users, "users", 100000, "total users, spread evenly over the realms")
	flag.StringVar(&o.Password, "password", "bench-password", "every user's password")
	flag.StringVar(&o.EmailFormat, "email", "u%d@%s.test", "email format, given the user index and the realm name")
	flag.IntVar(&o.Batch, "batch", 5000, "users per transaction")
	flag.Parse()

	if *hashOnly {
		h, err := password.Hash(o.Password)
		if err != nil {
			log.Fatalf("seed: %v", err)
		}
		fmt.Println(h)
		return
	}
	for _, r := range strings.Split(realms, ",") {
		if r = strings.TrimSpace(r); r != "" {
			o.Realms = append(o.Realms, r)
		}
	}
	res, err := seed(context.Background(), o)
	if err != nil {
		log.Fatalf("seed: %v", err)
	}
	if err := json.NewEncoder(os.Stdout).Encode(res); err != nil {
		log.Fatalf("seed: %v", err)
	}
}

// seed creates o.Users users across o.Realms in o.DB.
func seed(ctx context.Context, o options) (result, error) {
	start := time.Now()
	switch {
	case o.DB == "":
		return result{}, errors.New("-db is required")
	case len(o.Realms) == 0:
		return result{}, errors.New("-realms names no realm")
	case o.Users < 0:
		return result{}, errors.New("-users must not be negative")
	}
	o.Batch = max(o.Batch, 1)
	hash, err := password.Hash(o.Password)
	if err != nil {
		return result{}, fmt.Errorf("hash password: %w", err)
	}
	store, err := bboltstore.Open(o.DB, bboltstore.Options{Timeout: 5 * time.Second})
	if err != nil {
		return result{}, err
	}
	defer store.Close()

	res := result{Realms: len(o.Realms)}
	for ri, name := range o.Realms {
		r := &realm.Realm{Name: name, Now: time.Now}
		n := o.Users / len(o.Realms)
		if ri < o.Users%len(o.Realms) {
			n++
		}
		for from := 0; from < n; from += o.Batch {
			users := make([]storage.User, 0, min(o.Batch, n-from))
			for i := from; i < from+cap(users); i++ {
				u := r.NewUser(fmt.Sprintf(o.EmailFormat, i, name), nil)
				u.PasswordHash, u.EmailVerified = hash, true
				users = append(users, u)
			}
			created, existing, err := createAll(ctx, store, users)
			if err != nil {
				return result{}, fmt.Errorf("realm %q, users %d..%d: %w", name, from, from+len(users)-1, err)
			}
			res.Created += created
			res.Existing += existing
		}
	}
	res.Seconds = time.Since(start).Seconds()
	return res, nil
}

// createAll stores users in one transaction, skipping those whose email is
// taken. The transaction function may run more than once (bbolt batching),
// so it recounts from zero each time.
func createAll(ctx context.Context, store storage.Transactor, users []storage.User) (created, existing int, err error) {
	err = store.InTx(ctx, func(tx storage.Tx) error {
		created, existing = 0, 0
		for _, u := range users {
			switch err := tx.CreateUser(u); {
			case err == nil:
				created++
			case errors.Is(err, storage.ErrAlreadyExists):
				existing++
			default:
				return err
			}
		}
		return nil
	})
	return created, existing, err
}
