package bboltstore

import (
	"strings"
	"testing"

	bolt "go.etcd.io/bbolt"

	"github.com/latchkey/latchkey/storage"
)

// TestCheckFindsIndexDamage damages the layout scenario's file one way at a
// time, each kind of index included, and expects Check to name the damage.
func TestCheckFindsIndexDamage(t *testing.T) {
	put := func(bucket []byte, k, v string) func(tx *bolt.Tx) error {
		return func(tx *bolt.Tx) error { return tx.Bucket(bucket).Put([]byte(k), []byte(v)) }
	}
	del := func(bucket []byte, k string) func(tx *bolt.Tx) error {
		return func(tx *bolt.Tx) error { return tx.Bucket(bucket).Delete([]byte(k)) }
	}
	// putToken writes a token record without its index entries.
	putToken := func(tx *bolt.Tx, tok storage.OneTimeToken) error {
		v, err := encode(tok)
		if err != nil {
			return err
		}
		return tx.Bucket(bucketOTT).Put(key(tok.Realm, tok.Kind, tok.Hash), v)
	}
	// revive marks the superseded token r1/link/oh2 live again.
	revive := func(tx *bolt.Tx) error {
		tok, err := getOneTimeToken(tx, "r1", "link", "oh2")
		if err != nil {
			return err
		}
		tok.Superseded = false
		return putToken(tx, tok)
	}
	tests := []struct {
		name   string
		damage []func(tx *bolt.Tx) error
		want   []string // substrings of Check's error
	}{
		{"missing email entry", []func(*bolt.Tx) error{del(bucketUsersByEmail, "r1\x00ann@example.com")},
			[]string{`users_by_email: missing entry "r1\x00ann@example.com"`}},
		{"stale username entry", []func(*bolt.Tx) error{put(bucketUsersByName, "r1\x00ann", "u1")},
			[]string{`users_by_username: stale entry "r1\x00ann"`}},
		{"wrong session token entry", []func(*bolt.Tx) error{put(bucketSessionsByHash, "r1\x00th1b", "s4")},
			[]string{`sessions_by_token: entry "r1\x00th1b" = "s4", want "s1"`}},
		{"missing session user entry", []func(*bolt.Tx) error{del(bucketSessionsByUser, "r1\x00u1\x00s4")},
			[]string{`sessions_by_user: missing entry "r1\x00u1\x00s4"`}},
		{"refresh indexes", []func(*bolt.Tx) error{
			put(bucketRefreshByID, "r1\x00rt1", "rh6"),
			del(bucketRefreshByUser, "r1\x00u1\x00rt6"),
			put(bucketRefreshBySess, "r1\x00s9\x00rt1", "rh1"),
		}, []string{
			`refresh_tokens_by_id: entry "r1\x00rt1" = "rh6", want "rh1"`,
			`refresh_tokens_by_user: missing entry "r1\x00u1\x00rt6"`,
			`refresh_tokens_by_session: stale entry "r1\x00s9\x00rt1"`,
		}},
		{"missing subject entry", []func(*bolt.Tx) error{del(bucketOTTBySubject, "r1\x00u2\x00code\x00oh5")},
			[]string{`one_time_tokens_by_subject: missing entry "r1\x00u2\x00code\x00oh5"`}},
		{"group entry points at nothing", []func(*bolt.Tx) error{put(bucketOTTByGroup, "r1\x00link\x00g9", "oh0")},
			[]string{`one_time_tokens_by_group: entry "r1\x00link\x00g9" points at no`}},
		{"group entry misses the live token", []func(*bolt.Tx) error{del(bucketOTTByGroup, "r1\x00link\x00g2"), put(bucketOTTByGroup, "r1\x00link\x00g3", "oh7"), revive},
			[]string{`one_time_tokens_by_group: missing entry "r1\x00link\x00g1"`}},
		{"group entry names a superseded token", []func(*bolt.Tx) error{func(tx *bolt.Tx) error {
			return putToken(tx, storage.OneTimeToken{Realm: "r1", Kind: "link", Hash: "ohy", Group: "g3"})
		}, put(bucketOTTByGroup, "r1\x00link\x00g3", "oh7")},
			[]string{`one_time_tokens_by_group: entry "r1\x00link\x00g3" = "oh7"`, `"ohy"`}},
		{"two live tokens in a group", []func(*bolt.Tx) error{revive, func(tx *bolt.Tx) error {
			return putToken(tx, storage.OneTimeToken{Realm: "r1", Kind: "link", Hash: "ohx", Group: "g1"})
		}}, []string{`two live`, `"oh2"`, `"ohx"`}},
		{"undecodable user", []func(*bolt.Tx) error{put(bucketUsers, "r1\x00u9", "junk")},
			[]string{`users "r1\x00u9": decode`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := openTestStore(t)
			writeLayoutScenario(t, s)
			for _, damage := range tt.damage {
				if err := s.db.Update(damage); err != nil {
					t.Fatalf("damage: %v", err)
				}
			}
			err := s.Check()
			if err == nil {
				t.Fatal("Check found nothing")
			}
			for _, want := range tt.want {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("Check = %q, want it to contain %q", err, want)
				}
			}
		})
	}
}

// TestEveryBucketIsDeclared: each bucket the store creates is either a
// table's (primary or index, which Check covers) or one of the buckets whose
// records have no indexes; an index bucket ("…_by_…") must belong to a table.
// A new bucket fails here until it is declared as one or the other.
func TestEveryBucketIsDeclared(t *testing.T) {
	withoutIndexes := [][]byte{bucketMeta, bucketSigningKeys, bucketSecrets, bucketAuthRequests,
		bucketRevocations, bucketLoginFailures, bucketOutbox, bucketLimits}
	declared := map[string]string{}
	declare := func(bucket []byte, as string) {
		if prev, dup := declared[string(bucket)]; dup {
			t.Errorf("bucket %s declared as %s and as %s", bucket, prev, as)
		}
		declared[string(bucket)] = as
	}
	for _, b := range withoutIndexes {
		declare(b, "a bucket without indexes")
	}
	for _, tb := range indexedTables {
		primary, indexes := tb.buckets()
		declare(primary, "a table")
		for _, ix := range indexes {
			declare(ix, "an index")
		}
	}
	created := map[string]bool{}
	for _, b := range allBuckets {
		created[string(b)] = true
		as, ok := declared[string(b)]
		switch {
		case !ok:
			t.Errorf("bucket %s is neither a table's nor declared to have no indexes", b)
		case strings.Contains(string(b), "_by_") && as != "an index":
			t.Errorf("bucket %s is named as an index but declared as %s", b, as)
		}
	}
	for b, as := range declared {
		if !created[b] {
			t.Errorf("bucket %s is declared as %s but not in allBuckets, so Open does not create it", b, as)
		}
	}
}
