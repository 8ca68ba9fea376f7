package identity

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"os"
	"path/filepath"
)

// NodeTLS builds the mutual-TLS configurations node-to-node traffic (raft,
// leader forwarding) uses, from <dataDir>/identity/node.crt and node.key
// (see EnsureNodeCert) and the cluster CA.
//
// server requires and verifies a client certificate signed by the CA. client
// presents the node certificate and accepts any server whose certificate the
// CA signed, whatever address it was dialled by: node addresses move, the CA
// key is the trust boundary, and every member holds a CA-signed certificate,
// so a host-name check would add failure modes and no protection. Both
// present the CA certificate after the node certificate.
func (c *Cluster) NodeTLS(dataDir string) (server, client *tls.Config, err error) {
	cert, err := c.loadNodeKeyPair(dataDir)
	if err != nil {
		return nil, nil, err
	}
	pool := c.pool()
	server = &tls.Config{
		Certificates: []tls.Certificate{cert},
		ClientAuth:   tls.RequireAndVerifyClientCert,
		ClientCAs:    pool,
		MinVersion:   tls.VersionTLS13,
	}
	client = &tls.Config{
		Certificates: []tls.Certificate{cert},
		RootCAs:      pool,
		MinVersion:   tls.VersionTLS13,
		// The chain is still verified, against the CA only, by
		// VerifyConnection; only the host-name check is skipped (see above).
		InsecureSkipVerify: true,
		VerifyConnection: func(cs tls.ConnectionState) error {
			return verifyChain(cs.PeerCertificates, pool, x509.ExtKeyUsageServerAuth)
		},
	}
	return server, client, nil
}

// APIServerTLS builds the HTTPS API server's configuration: it serves the
// node certificate followed by the CA certificate (joiners pin the CA from
// that chain, see RequestJoin), and verifies a client certificate against the
// CA when one is given. Clients without a certificate are let through the
// handshake; the API then requires a bearer token (AdminToken) instead.
func (c *Cluster) APIServerTLS(dataDir string) (*tls.Config, error) {
	cert, err := c.loadNodeKeyPair(dataDir)
	if err != nil {
		return nil, err
	}
	return &tls.Config{
		Certificates: []tls.Certificate{cert},
		ClientAuth:   tls.VerifyClientCertIfGiven,
		ClientCAs:    c.pool(),
		MinVersion:   tls.VersionTLS12,
	}, nil
}

// loadNodeKeyPair reads node.crt/node.key and appends the CA certificate to
// the chain the node presents.
func (c *Cluster) loadNodeKeyPair(dataDir string) (tls.Certificate, error) {
	dir := Dir(dataDir)
	certPEM, err := os.ReadFile(filepath.Join(dir, nodeCertFile))
	if err != nil {
		return tls.Certificate{}, fmt.Errorf("load node certificate: %w", err)
	}
	keyPEM, err := os.ReadFile(filepath.Join(dir, nodeKeyFile))
	if err != nil {
		return tls.Certificate{}, fmt.Errorf("load node key: %w", err)
	}
	cert, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		return tls.Certificate{}, fmt.Errorf("load node certificate from %s: %w", dir, err)
	}
	leaf, err := x509.ParseCertificate(cert.Certificate[0])
	if err != nil {
		return tls.Certificate{}, fmt.Errorf("parse node certificate: %w", err)
	}
	if err := leaf.CheckSignatureFrom(c.CACert); err != nil {
		return tls.Certificate{}, fmt.Errorf("node certificate %s is not signed by the cluster CA: %w", filepath.Join(dir, nodeCertFile), err)
	}
	cert.Leaf = leaf
	cert.Certificate = [][]byte{cert.Certificate[0], c.CACert.Raw}
	return cert, nil
}

// pool is a cert pool holding only the cluster CA.
func (c *Cluster) pool() *x509.CertPool {
	p := x509.NewCertPool()
	p.AddCert(c.CACert)
	return p
}

// verifyChain verifies a peer's presented chain against roots, with no
// host-name check.
func verifyChain(certs []*x509.Certificate, roots *x509.CertPool, usage x509.ExtKeyUsage) error {
	if len(certs) == 0 {
		return errors.New("peer presented no certificate")
	}
	inter := x509.NewCertPool()
	for _, c := range certs[1:] {
		inter.AddCert(c)
	}
	_, err := certs[0].Verify(x509.VerifyOptions{
		Roots:         roots,
		Intermediates: inter,
		KeyUsages:     []x509.ExtKeyUsage{usage},
	})
	if err != nil {
		return fmt.Errorf("peer certificate not signed by the cluster CA: %w", err)
	}
	return nil
}
