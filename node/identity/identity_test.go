package identity

import (
	"crypto/x509"
	"errors"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func newTestCluster(t *testing.T) *Cluster {
	t.Helper()
	c, err := NewCluster()
	if err != nil {
		t.Fatalf("NewCluster: %v", err)
	}
	return c
}

func TestTokenRoundTrip(t *testing.T) {
	c := newTestCluster(t)
	s := c.JoinToken()
	if !strings.HasPrefix(s, "SHOAL-1-"+c.CAHash()+"-") {
		t.Fatalf("token %q does not start with SHOAL-1-<ca hash>-", s)
	}
	tok, err := ParseToken("  " + s + "\n")
	if err != nil {
		t.Fatalf("ParseToken: %v", err)
	}
	if tok.CAHash != c.CAHash() || string(tok.Secret) != string(c.Secret) {
		t.Fatalf("parsed token %+v does not match cluster", tok)
	}
	if tok.String() != s {
		t.Fatalf("String() = %q, want %q", tok.String(), s)
	}
	if string(tok.GossipKey()) != string(c.GossipKey()) || len(c.GossipKey()) != 32 {
		t.Fatalf("gossip keys differ or wrong size (%d)", len(c.GossipKey()))
	}
	if tok.AdminToken() != c.AdminToken() || len(c.AdminToken()) != 32 {
		t.Fatalf("admin tokens differ or wrong size: %q %q", tok.AdminToken(), c.AdminToken())
	}
	if string(c.GossipKey()) == c.AdminToken() {
		t.Fatal("derived keys must differ")
	}
	other := newTestCluster(t)
	if other.AdminToken() == c.AdminToken() || string(other.GossipKey()) == string(c.GossipKey()) {
		t.Fatal("two clusters derived the same keys")
	}
}

func TestParseTokenErrors(t *testing.T) {
	hash := strings.Repeat("ab", 32)
	secret := strings.Repeat("cd", 32)
	cases := []struct {
		name, in, want string
	}{
		{"empty", "", "the token is empty"},
		{"garbage", "hello", ""},
		{"wrong prefix", "K10-1-" + hash + "-" + secret, ""},
		{"too many parts", "SHOAL-1-" + hash + "-" + secret + "-x", ""},
		{"version", "SHOAL-2-" + hash + "-" + secret, `unsupported token version "2"`},
		{"short hash", "SHOAL-1-abcd-" + secret, "CA hash must be 64 hex digits"},
		{"non-hex hash", "SHOAL-1-" + strings.Repeat("zz", 32) + "-" + secret, "CA hash must be 64 hex digits"},
		{"short secret", "SHOAL-1-" + hash + "-abcd", "secret must be at least 32 hex digits"},
		{"non-hex secret", "SHOAL-1-" + hash + "-" + strings.Repeat("q", 64), "secret must be at least"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ParseToken(tc.in)
			if !errors.Is(err, ErrInvalidToken) {
				t.Fatalf("ParseToken(%q) = %v, want ErrInvalidToken", tc.in, err)
			}
			if !strings.HasPrefix(err.Error(), "invalid join token: expected SHOAL-1-<ca-sha256>-<secret>") {
				t.Fatalf("message %q lacks the expected form", err)
			}
			if tc.want != "" && !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("message %q does not contain %q", err, tc.want)
			}
		})
	}
}

func TestSaveLoad(t *testing.T) {
	dir := t.TempDir()
	if _, err := LoadCluster(dir); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("LoadCluster on empty dir = %v, want os.ErrNotExist", err)
	}
	c := newTestCluster(t)
	if err := c.Save(dir); err != nil {
		t.Fatalf("Save: %v", err)
	}
	for _, f := range []string{caKeyFile, secretFile} {
		st, err := os.Stat(filepath.Join(Dir(dir), f))
		if err != nil {
			t.Fatal(err)
		}
		if st.Mode().Perm() != 0o600 {
			t.Errorf("%s mode %v, want 0600", f, st.Mode().Perm())
		}
	}
	got, err := LoadCluster(dir)
	if err != nil {
		t.Fatalf("LoadCluster: %v", err)
	}
	if got.CAHash() != c.CAHash() || got.JoinToken() != c.JoinToken() {
		t.Fatal("loaded cluster differs from saved one")
	}
	if got.CACert.Subject.CommonName != "shoal-ca" || !got.CACert.IsCA {
		t.Fatalf("CA subject %q IsCA=%v", got.CACert.Subject.CommonName, got.CACert.IsCA)
	}
}

func TestIssueNodeCert(t *testing.T) {
	c := newTestCluster(t)
	adv := net.ParseIP("192.0.2.7")
	certPEM, keyPEM, err := c.IssueNodeCert("node-a", []net.IP{adv, net.ParseIP("127.0.0.1")}, []string{"node-a.example", "localhost"})
	if err != nil {
		t.Fatalf("IssueNodeCert: %v", err)
	}
	if len(keyPEM) == 0 {
		t.Fatal("empty key")
	}
	cert, err := parseCertPEM(certPEM)
	if err != nil {
		t.Fatal(err)
	}
	roots := x509.NewCertPool()
	roots.AddCert(c.CACert)
	for _, usage := range []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth} {
		for _, host := range []string{"node-a", "localhost", "127.0.0.1", "192.0.2.7", "node-a.example"} {
			if _, err := cert.Verify(x509.VerifyOptions{Roots: roots, DNSName: host, KeyUsages: []x509.ExtKeyUsage{usage}}); err != nil {
				t.Errorf("verify for %s usage %v: %v", host, usage, err)
			}
		}
	}
	if len(cert.IPAddresses) != 2 || len(cert.DNSNames) != 3 {
		t.Errorf("SANs not de-duplicated: ips=%v dns=%v", cert.IPAddresses, cert.DNSNames)
	}
	other := newTestCluster(t)
	otherRoots := x509.NewCertPool()
	otherRoots.AddCert(other.CACert)
	if _, err := cert.Verify(x509.VerifyOptions{Roots: otherRoots}); err == nil {
		t.Error("certificate verified against another cluster's CA")
	}
}

func TestEnsureNodeCert(t *testing.T) {
	dir := t.TempDir()
	c := newTestCluster(t)
	ip1 := []net.IP{net.ParseIP("192.0.2.1")}
	if err := EnsureNodeCert(dir, "n1", ip1, c); err != nil {
		t.Fatal(err)
	}
	read := func() string {
		b, err := os.ReadFile(filepath.Join(Dir(dir), nodeCertFile))
		if err != nil {
			t.Fatal(err)
		}
		return string(b)
	}
	first := read()
	if err := EnsureNodeCert(dir, "n1", ip1, c); err != nil {
		t.Fatal(err)
	}
	if read() != first {
		t.Fatal("EnsureNodeCert reissued an up-to-date certificate")
	}
	if err := EnsureNodeCert(dir, "n1", []net.IP{net.ParseIP("192.0.2.2")}, c); err != nil {
		t.Fatal(err)
	}
	if read() == first {
		t.Fatal("EnsureNodeCert kept a certificate with stale SANs")
	}
	second := read()
	if err := EnsureNodeCert(dir, "n1", []net.IP{net.ParseIP("192.0.2.2")}, newTestCluster(t)); err != nil {
		t.Fatal(err)
	}
	if read() == second {
		t.Fatal("EnsureNodeCert kept a certificate signed by another CA")
	}
	st, err := os.Stat(filepath.Join(Dir(dir), nodeKeyFile))
	if err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("node.key: %v mode %v", err, st.Mode().Perm())
	}
}
