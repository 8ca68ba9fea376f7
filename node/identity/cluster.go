package identity

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/hex"
	"fmt"
	"math/big"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// File names under <dataDir>/identity/.
const (
	dirName      = "identity"
	caCertFile   = "ca.crt"
	caKeyFile    = "ca.key"
	secretFile   = "secret"
	nodeCertFile = "node.crt"
	nodeKeyFile  = "node.key"
)

// secretLen is the size of a new cluster secret in bytes. Parsed tokens
// accept anything from minSecretLen up, so a future longer secret still works.
const (
	secretLen    = 32
	minSecretLen = 16
)

// caValidity is how long a new cluster CA is valid.
const caValidity = 10 * 365 * 24 * time.Hour

// Cluster is the cluster-wide identity every node holds: the CA (certificate
// and key) and the shared secret. It is immutable after construction; its
// methods are safe for concurrent use.
type Cluster struct {
	// CACert is the parsed cluster CA certificate.
	CACert *x509.Certificate
	// CACertPEM is CACert in PEM form, as written to ca.crt.
	CACertPEM []byte
	// CAKey signs node certificates. It is an *ecdsa.PrivateKey (P-256).
	CAKey crypto.Signer
	// Secret is the cluster secret the join token carries; every derived key
	// comes from it.
	Secret []byte
}

// Dir returns the directory that holds the identity files of dataDir.
func Dir(dataDir string) string { return filepath.Join(dataDir, dirName) }

// NewCluster makes a new cluster identity: a self-signed ECDSA P-256 CA
// ("shoal-ca", valid 10 years) and a 32-byte random secret. It does no I/O
// besides reading randomness; Save writes it.
func NewCluster() (*Cluster, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("generate CA key: %w", err)
	}
	serial, err := randomSerial()
	if err != nil {
		return nil, err
	}
	now := time.Now()
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{CommonName: "shoal-ca", Organization: []string{"shoal"}},
		NotBefore:             now.Add(-time.Hour), // tolerate small clock skew between nodes
		NotAfter:              now.Add(caValidity),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign | x509.KeyUsageDigitalSignature,
		BasicConstraintsValid: true,
		IsCA:                  true,
		MaxPathLenZero:        true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return nil, fmt.Errorf("create CA certificate: %w", err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, fmt.Errorf("parse CA certificate: %w", err)
	}
	secret := make([]byte, secretLen)
	if _, err := rand.Read(secret); err != nil {
		return nil, fmt.Errorf("generate cluster secret: %w", err)
	}
	return &Cluster{CACert: cert, CACertPEM: encodeCertPEM(der), CAKey: key, Secret: secret}, nil
}

// LoadCluster reads the cluster identity from <dataDir>/identity/. When the
// node has no identity yet the error wraps os.ErrNotExist, so callers can tell
// "bootstrap or join" from "broken state" with errors.Is.
func LoadCluster(dataDir string) (*Cluster, error) {
	dir := Dir(dataDir)
	certPEM, err := os.ReadFile(filepath.Join(dir, caCertFile))
	if err != nil {
		return nil, fmt.Errorf("load cluster identity: %w", err)
	}
	keyPEM, err := os.ReadFile(filepath.Join(dir, caKeyFile))
	if err != nil {
		return nil, fmt.Errorf("load cluster identity: %w", err)
	}
	secretHex, err := os.ReadFile(filepath.Join(dir, secretFile))
	if err != nil {
		return nil, fmt.Errorf("load cluster identity: %w", err)
	}
	secret, err := hex.DecodeString(strings.TrimSpace(string(secretHex)))
	if err != nil || len(secret) < minSecretLen {
		return nil, fmt.Errorf("load cluster identity: %s: not a hex secret of at least %d bytes", filepath.Join(dir, secretFile), minSecretLen)
	}
	c, err := clusterFromPEM(certPEM, keyPEM, secret)
	if err != nil {
		return nil, fmt.Errorf("load cluster identity from %s: %w", dir, err)
	}
	return c, nil
}

// clusterFromPEM checks that the CA certificate is a CA and that the key is
// its key, and assembles a Cluster.
func clusterFromPEM(certPEM, keyPEM, secret []byte) (*Cluster, error) {
	cert, err := parseCertPEM(certPEM)
	if err != nil {
		return nil, fmt.Errorf("CA certificate: %w", err)
	}
	if !cert.IsCA {
		return nil, fmt.Errorf("CA certificate %q is not a CA", cert.Subject.CommonName)
	}
	key, err := parseKeyPEM(keyPEM)
	if err != nil {
		return nil, fmt.Errorf("CA key: %w", err)
	}
	if !publicKeysEqual(cert.PublicKey, key.Public()) {
		return nil, fmt.Errorf("CA key does not match the CA certificate")
	}
	return &Cluster{CACert: cert, CACertPEM: encodeCertPEM(cert.Raw), CAKey: key, Secret: append([]byte(nil), secret...)}, nil
}

// Save writes the CA certificate, CA key and secret under
// <dataDir>/identity/ (directory 0700, keys and secret 0600). Each file is
// written to a temporary file, synced and renamed, so a crash leaves either
// the old or the new file, never a torn one.
func (c *Cluster) Save(dataDir string) error {
	dir := Dir(dataDir)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("save cluster identity: %w", err)
	}
	keyPEM, err := encodeKeyPEM(c.CAKey)
	if err != nil {
		return fmt.Errorf("save cluster identity: %w", err)
	}
	files := []struct {
		name string
		data []byte
		perm os.FileMode
	}{
		{secretFile, []byte(hex.EncodeToString(c.Secret) + "\n"), 0o600},
		{caKeyFile, keyPEM, 0o600},
		{caCertFile, c.CACertPEM, 0o644}, // last: its presence means "identity complete"
	}
	for _, f := range files {
		if err := writeFileAtomic(filepath.Join(dir, f.name), f.data, f.perm); err != nil {
			return fmt.Errorf("save cluster identity: %w", err)
		}
	}
	return nil
}

// CAHash is the hex SHA-256 of the CA certificate's DER encoding: the pin a
// join token carries.
func (c *Cluster) CAHash() string { return certHash(c.CACert.Raw) }

// JoinToken is the token other nodes join with:
// SHOAL-1-<CAHash>-<hex secret>.
func (c *Cluster) JoinToken() string {
	return tokenPrefix + c.CAHash() + "-" + hex.EncodeToString(c.Secret)
}

// AdminToken is the API bearer token derived from the secret; every node
// computes the same one, so every node can verify it.
func (c *Cluster) AdminToken() string { return adminToken(c.Secret) }

// GossipKey is the 32-byte memberlist encryption key derived from the secret.
func (c *Cluster) GossipKey() []byte { return gossipKey(c.Secret) }

// certHash is the hex SHA-256 of a certificate's DER bytes.
func certHash(der []byte) string {
	sum := sha256.Sum256(der)
	return hex.EncodeToString(sum[:])
}

// randomSerial returns a random 128-bit certificate serial number.
func randomSerial() (*big.Int, error) {
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 128))
	if err != nil {
		return nil, fmt.Errorf("generate serial number: %w", err)
	}
	return serial, nil
}
