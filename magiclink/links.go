package magiclink

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/latchkey/latchkey/oidc"
)

// One-time token kinds owned by this package.
const (
	// kindLink is an emailed magic link.
	kindLink = "magiclink"
	// kindReset carries a consumed link's pending completion across the
	// set-password form (resetPassword), so the link itself stays single use.
	kindReset = "magiclink-reset"
)

// resetLifespan bounds how long the set-password form may stay open.
const resetLifespan = 10 * time.Minute

// keyLen is the length of an encoded key: 32 random bytes, base64url without padding.
const keyLen = 43

// newKey returns a fresh 256-bit key, base64url encoded.
func newKey() string {
	b := make([]byte, 32)
	_, _ = rand.Read(b) // crypto/rand.Read never fails on supported platforms
	return base64.RawURLEncoding.EncodeToString(b)
}

// validKey reports whether s has the shape of a key, so that junk never
// reaches storage.
func validKey(s string) bool {
	if len(s) != keyLen {
		return false
	}
	_, err := base64.RawURLEncoding.DecodeString(s)
	return err == nil
}

// hashKey is what storage keeps of a key: hex SHA-256.
func hashKey(key string) string {
	sum := sha256.Sum256([]byte(key))
	return hex.EncodeToString(sum[:])
}

// linkGroup makes a newer link for the same user and client supersede older
// ones. User ids are UUIDs, so "/" cannot be ambiguous (and storage forbids NUL).
func linkGroup(userID, clientID string) string { return userID + "/" + clientID }

// payload is what a link (and a pending password reset) remembers: the
// authorization to complete and for whom.
type payload struct {
	Email               string   `json:"email"`
	ClientID            string   `json:"clientId"`
	RedirectURI         string   `json:"redirectUri"`
	Scopes              []string `json:"scopes"`
	ResponseType        string   `json:"responseType"`
	ResponseMode        string   `json:"responseMode"`
	State               string   `json:"state,omitempty"`
	Nonce               string   `json:"nonce,omitempty"`
	CodeChallenge       string   `json:"codeChallenge,omitempty"`
	CodeChallengeMethod string   `json:"codeChallengeMethod,omitempty"`
	AllowMissingPKCE    bool     `json:"allowMissingPkce,omitempty"`
	ResetPassword       bool     `json:"resetPassword,omitempty"`
	// DeviceRequest is the device grant a link from that grant's login page
	// approves (oidc.AuthParams.DeviceRequestID).
	DeviceRequest string `json:"deviceRequest,omitempty"`
}

// newPayload is the payload of a link for s, whose user's stored address is
// email (shown on the landing and set-password pages).
func newPayload(s spec, email string) payload {
	p := s.params
	return payload{
		Email: email, ClientID: p.ClientID, RedirectURI: p.RedirectURI, Scopes: p.Scopes,
		ResponseType: p.ResponseType, ResponseMode: p.ResponseMode, State: p.State, Nonce: p.Nonce,
		CodeChallenge: p.CodeChallenge, CodeChallengeMethod: p.CodeChallengeMethod,
		AllowMissingPKCE: p.AllowMissingPKCE, ResetPassword: s.resetPassword, DeviceRequest: p.DeviceRequestID,
	}
}

// params returns the authorization request the link completes.
func (p payload) params() oidc.AuthParams {
	return oidc.AuthParams{
		ClientID: p.ClientID, RedirectURI: p.RedirectURI, Scopes: p.Scopes, ResponseType: p.ResponseType,
		ResponseMode: p.ResponseMode, State: p.State, Nonce: p.Nonce, CodeChallenge: p.CodeChallenge,
		CodeChallengeMethod: p.CodeChallengeMethod, AllowMissingPKCE: p.AllowMissingPKCE,
		DeviceRequestID: p.DeviceRequest,
	}
}

func decodePayload(b []byte) (payload, error) {
	var p payload
	if err := json.Unmarshal(b, &p); err != nil {
		return payload{}, fmt.Errorf("decode magic link payload: %w", err)
	}
	return p, nil
}

// resendKey is the key of a link's resend slot (realm.Slots): the
// normalized email and the client, so spelling variants share one slot.
func resendKey(email, clientID string) string {
	return foldEmail(email) + "\x00" + clientID
}

// foldEmail is the key of the per-email limits: the lower-casing storage's
// email index uses (bboltstore's fold), so that every spelling that finds one
// account — "KIM@example.com", or "\u212Aim@example.com" with a KELVIN SIGN —
// shares that account's limits.
func foldEmail(email string) string { return strings.ToLower(email) }
