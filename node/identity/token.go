package identity

import (
	"crypto/hkdf"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"strings"
)

// tokenPrefix starts every version-1 join token.
const tokenPrefix = "SHOAL-1-"

// Derivation labels. Changing one changes the derived key for every node, so
// they are part of the wire protocol.
const (
	labelGossip = "shoal-gossip"
	labelAdmin  = "shoal-admin"
	labelJoin   = "join:"
)

// Token is a parsed join token: the pin of the cluster CA and the cluster
// secret.
type Token struct {
	// CAHash is the lower-case hex SHA-256 of the CA certificate DER.
	CAHash string
	// Secret is the cluster secret.
	Secret []byte
}

// ParseToken parses SHOAL-1-<ca-sha256>-<secret>. Surrounding white space is
// ignored; hex is accepted in either case. Errors wrap ErrInvalidToken and
// say which part is wrong.
func ParseToken(s string) (*Token, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return nil, fmt.Errorf("%w: the token is empty", ErrInvalidToken)
	}
	parts := strings.Split(s, "-")
	if len(parts) != 4 || !strings.EqualFold(parts[0], "SHOAL") {
		return nil, ErrInvalidToken
	}
	if parts[1] != "1" {
		return nil, fmt.Errorf("%w: unsupported token version %q", ErrInvalidToken, parts[1])
	}
	caHash := strings.ToLower(parts[2])
	if b, err := hex.DecodeString(caHash); err != nil || len(b) != sha256.Size {
		return nil, fmt.Errorf("%w: the CA hash must be 64 hex digits", ErrInvalidToken)
	}
	secret, err := hex.DecodeString(parts[3])
	if err != nil || len(secret) < minSecretLen {
		return nil, fmt.Errorf("%w: the secret must be at least %d hex digits", ErrInvalidToken, 2*minSecretLen)
	}
	return &Token{CAHash: caHash, Secret: secret}, nil
}

// String formats the token back into its SHOAL-1-... form.
func (t *Token) String() string {
	return tokenPrefix + t.CAHash + "-" + hex.EncodeToString(t.Secret)
}

// GossipKey is the memberlist key derived from the token's secret; equal to
// Cluster.GossipKey for the token's cluster.
func (t *Token) GossipKey() []byte { return gossipKey(t.Secret) }

// AdminToken is the API bearer token derived from the token's secret; equal
// to Cluster.AdminToken for the token's cluster.
func (t *Token) AdminToken() string { return adminToken(t.Secret) }

// JoinProof is what a node named name sends to prove it knows the secret.
func (t *Token) JoinProof(name string) string { return joinProof(t.Secret, name) }

// gossipKey derives the 32-byte (AES-256) memberlist key with HKDF-SHA256.
func gossipKey(secret []byte) []byte {
	key, err := hkdf.Key(sha256.New, secret, nil, labelGossip, 32)
	if err != nil {
		// Only possible for an output longer than 255 hash blocks.
		panic(fmt.Sprintf("identity: derive gossip key: %v", err))
	}
	return key
}

// adminToken is hex HMAC-SHA256(secret, "shoal-admin"), first 32 hex digits
// (128 bits).
func adminToken(secret []byte) string {
	return hex.EncodeToString(mac(secret, labelAdmin))[:32]
}

// joinProof is hex HMAC-SHA256(secret, "join:"+name).
func joinProof(secret []byte, name string) string {
	return hex.EncodeToString(mac(secret, labelJoin+name))
}

// mac is HMAC-SHA256(key, msg).
func mac(key []byte, msg string) []byte {
	h := hmac.New(sha256.New, key)
	h.Write([]byte(msg))
	return h.Sum(nil)
}
