// Command ceilings measures the raw costs that bound Latchkey's throughput on
// this machine, on one goroutine (bench/run.sh pins it to the server's core):
// RS256, ES256 and EdDSA signatures, argon2id hashes at the server's
// configured parameters, and fsync'd bbolt commits. The benchmark table
// reports each scenario against these ceilings, so a number can be read as
// "how close to the physical limit" rather than in isolation.
//
// Usage:
//
//	ceilings -time 1s -dir bench/.run
//
// It prints one JSON object with operations per second for each cost.
package main

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/binary"
	"encoding/json"
	"flag"
	"fmt"
	"log"
	"os"
	"path/filepath"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/latchkey/latchkey/internal/crypto/password"
)

// report is the command's output.
type report struct {
	RS256PerS       float64 `json:"rs256_per_s"`
	ES256PerS       float64 `json:"es256_per_s"`
	EdDSAPerS       float64 `json:"eddsa_per_s"`
	Argon2idPerS    float64 `json:"argon2id_per_s"`
	Argon2idParams  string  `json:"argon2id_params"`
	BboltCommitPerS float64 `json:"bbolt_commits_per_s"`
}

func main() {
	d := flag.Duration("time", time.Second, "how long to measure each cost")
	dir := flag.String("dir", os.TempDir(), "directory for the temporary bbolt file")
	flag.Parse()
	r, err := measure(*d, *dir)
	if err != nil {
		log.Fatalf("ceilings: %v", err)
	}
	if err := json.NewEncoder(os.Stdout).Encode(r); err != nil {
		log.Fatalf("ceilings: %v", err)
	}
}

func measure(d time.Duration, dir string) (report, error) {
	// A token-sized signing input: what a JWS signature covers in practice.
	digest := sha256.Sum256(make([]byte, 700))
	rsaKey, err := rsa.GenerateKey(rand.Reader, 2048) // the realm key size (internal/crypto/keys)
	if err != nil {
		return report{}, fmt.Errorf("generate RSA key: %w", err)
	}
	ecKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return report{}, fmt.Errorf("generate EC key: %w", err)
	}
	_, edKey, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return report{}, fmt.Errorf("generate Ed25519 key: %w", err)
	}
	p := password.DefaultParams
	r := report{Argon2idParams: fmt.Sprintf("m=%d,t=%d,p=%d", p.Memory, p.Time, p.Threads)}
	steps := []struct {
		out *float64
		op  func() error
	}{
		{&r.RS256PerS, func() error {
			_, err := rsa.SignPKCS1v15(rand.Reader, rsaKey, crypto.SHA256, digest[:])
			return err
		}},
		{&r.ES256PerS, func() error {
			_, err := ecdsa.SignASN1(rand.Reader, ecKey, digest[:])
			return err
		}},
		{&r.EdDSAPerS, func() error {
			_ = ed25519.Sign(edKey, make([]byte, 700))
			return nil
		}},
		{&r.Argon2idPerS, func() error {
			_, err := password.Hash("a benchmark password")
			return err
		}},
	}
	for _, s := range steps {
		if *s.out, err = rate(d, s.op); err != nil {
			return report{}, err
		}
	}
	if r.BboltCommitPerS, err = boltCommits(d, dir); err != nil {
		return report{}, err
	}
	return r, nil
}

// rate runs op repeatedly for about d and returns operations per second.
func rate(d time.Duration, op func() error) (float64, error) {
	start := time.Now()
	n := 0
	for time.Since(start) < d || n == 0 {
		if err := op(); err != nil {
			return 0, err
		}
		n++
	}
	return float64(n) / time.Since(start).Seconds(), nil
}

// boltCommits measures single-writer, fsync'd bbolt transactions that each
// write one small record: the cost of one durable write without batching.
func boltCommits(d time.Duration, dir string) (float64, error) {
	tmp, err := os.MkdirTemp(dir, "ceilings-")
	if err != nil {
		return 0, fmt.Errorf("bbolt temp dir: %w", err)
	}
	defer os.RemoveAll(tmp)
	db, err := bolt.Open(filepath.Join(tmp, "c.db"), 0o600, &bolt.Options{Timeout: time.Second})
	if err != nil {
		return 0, fmt.Errorf("open bbolt: %w", err)
	}
	defer db.Close()
	var i uint64
	return rate(d, func() error {
		i++
		return db.Update(func(tx *bolt.Tx) error {
			b, err := tx.CreateBucketIfNotExists([]byte("b"))
			if err != nil {
				return err
			}
			return b.Put(binary.BigEndian.AppendUint64(nil, i), make([]byte, 200))
		})
	})
}
