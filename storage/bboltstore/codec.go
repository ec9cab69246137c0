package bboltstore

import (
	"encoding/json"
	"errors"
	"fmt"
	"time"
)

// codecJSON marks a value encoded as one version byte followed by the
// encoding/json form of the entity. A future codec gets a new byte, and
// decode keeps reading the old ones.
const codecJSON byte = 0x01

// errCodec reports a stored value this version cannot read.
var errCodec = errors.New("undecodable record")

// encode returns the stored form of v.
func encode(v any) ([]byte, error) {
	b, err := json.Marshal(v)
	if err != nil {
		return nil, fmt.Errorf("encode %T: %w", v, err)
	}
	out := make([]byte, 1+len(b))
	out[0] = codecJSON
	copy(out[1:], b)
	return out, nil
}

// decode reads a stored value into v. Everything v ends up holding is copied
// out of data (json.Unmarshal never aliases its input), so v outlives the
// transaction data belongs to.
func decode(data []byte, v any) error {
	if len(data) == 0 || data[0] != codecJSON {
		return fmt.Errorf("decode %T: unknown codec version: %w", v, errCodec)
	}
	if err := json.Unmarshal(data[1:], v); err != nil {
		return fmt.Errorf("decode %T: %v: %w", v, err, errCodec)
	}
	return nil
}

// secretValue is the stored form of a realm secret: the codec byte and the raw
// bytes, which encoding/json would only inflate.
func secretValue(secret []byte) []byte {
	return append([]byte{codecJSON}, secret...)
}

// decodeSecret returns a copy of the secret stored in data.
func decodeSecret(data []byte) ([]byte, error) {
	if len(data) < 2 || data[0] != codecJSON {
		return nil, fmt.Errorf("decode realm secret: %w", errCodec)
	}
	return append([]byte(nil), data[1:]...), nil
}

// revocation is the stored form of a revoked access token ID.
type revocation struct {
	ExpiresAt time.Time
}
