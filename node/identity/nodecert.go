package identity

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"slices"
	"time"
)

const (
	// nodeCertValidity is how long a node certificate is valid (capped at the
	// CA's own expiry).
	nodeCertValidity = 5 * 365 * 24 * time.Hour
	// renewBefore: EnsureNodeCert reissues a certificate this close to expiry.
	renewBefore = 30 * 24 * time.Hour
)

// IssueNodeCert issues a certificate for node name, signed by the cluster CA,
// usable for both server and client authentication. Its SANs are name (as an
// IP SAN when it parses as an IP), "localhost", 127.0.0.1, ips and dns, with
// duplicates removed. It returns the certificate and a new ECDSA P-256 key,
// both PEM.
func (c *Cluster) IssueNodeCert(name string, ips []net.IP, dns []string) (certPEM, keyPEM []byte, err error) {
	if name == "" {
		return nil, nil, errors.New("issue node certificate: empty node name")
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, nil, fmt.Errorf("issue node certificate: generate key: %w", err)
	}
	serial, err := randomSerial()
	if err != nil {
		return nil, nil, fmt.Errorf("issue node certificate: %w", err)
	}
	sanIPs, sanDNS := nodeSANs(name, ips, dns)
	now := time.Now()
	notAfter := now.Add(nodeCertValidity)
	if notAfter.After(c.CACert.NotAfter) {
		notAfter = c.CACert.NotAfter
	}
	tmpl := &x509.Certificate{
		SerialNumber: serial,
		Subject:      pkix.Name{CommonName: name, Organization: []string{"shoal:nodes"}},
		NotBefore:    now.Add(-time.Hour), // tolerate small clock skew between nodes
		NotAfter:     notAfter,
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth},
		DNSNames:     sanDNS,
		IPAddresses:  sanIPs,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, c.CACert, &key.PublicKey, c.CAKey)
	if err != nil {
		return nil, nil, fmt.Errorf("issue node certificate for %q: %w", name, err)
	}
	keyPEM, err = encodeKeyPEM(key)
	if err != nil {
		return nil, nil, fmt.Errorf("issue node certificate: %w", err)
	}
	return encodeCertPEM(der), keyPEM, nil
}

// nodeSANs computes the de-duplicated SAN lists of a node certificate.
func nodeSANs(name string, ips []net.IP, dns []string) ([]net.IP, []string) {
	var outIPs []net.IP
	var outDNS []string
	addIP := func(ip net.IP) {
		if ip == nil || ip.IsUnspecified() {
			return
		}
		if v4 := ip.To4(); v4 != nil {
			ip = v4
		}
		for _, have := range outIPs {
			if have.Equal(ip) {
				return
			}
		}
		outIPs = append(outIPs, ip)
	}
	addDNS := func(n string) {
		if n == "" {
			return
		}
		if ip := net.ParseIP(n); ip != nil {
			addIP(ip)
			return
		}
		if !slices.Contains(outDNS, n) {
			outDNS = append(outDNS, n)
		}
	}
	addDNS(name)
	addDNS("localhost")
	addIP(net.IPv4(127, 0, 0, 1))
	for _, ip := range ips {
		addIP(ip)
	}
	for _, n := range dns {
		addDNS(n)
	}
	return outIPs, outDNS
}

// EnsureNodeCert makes sure <dataDir>/identity/node.crt and node.key exist,
// belong together, are signed by c's CA, are not about to expire and carry
// exactly the SANs IssueNodeCert would give name and ips. Otherwise it issues
// a new pair and writes it (key 0600) atomically. Call it on every start, so
// a changed advertise address gets a matching certificate.
func EnsureNodeCert(dataDir, name string, ips []net.IP, c *Cluster) error {
	dir := Dir(dataDir)
	certPath, keyPath := filepath.Join(dir, nodeCertFile), filepath.Join(dir, nodeKeyFile)
	ok, err := nodeCertCurrent(certPath, keyPath, name, ips, c)
	if err != nil {
		return fmt.Errorf("check node certificate: %w", err)
	}
	if ok {
		return nil
	}
	certPEM, keyPEM, err := c.IssueNodeCert(name, ips, nil)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("write node certificate: %w", err)
	}
	// Key first: a crash in between leaves a key without a matching cert,
	// which the next EnsureNodeCert detects and repairs.
	if err := writeFileAtomic(keyPath, keyPEM, 0o600); err != nil {
		return fmt.Errorf("write node key: %w", err)
	}
	if err := writeFileAtomic(certPath, certPEM, 0o644); err != nil {
		return fmt.Errorf("write node certificate: %w", err)
	}
	return nil
}

// nodeCertCurrent reports whether the stored node certificate can be kept.
// Missing or unparsable files mean "no" (reissue), not an error; only
// unexpected I/O errors are returned.
func nodeCertCurrent(certPath, keyPath, name string, ips []net.IP, c *Cluster) (bool, error) {
	certPEM, err := os.ReadFile(certPath)
	if errors.Is(err, fs.ErrNotExist) {
		return false, nil
	} else if err != nil {
		return false, err
	}
	keyPEM, err := os.ReadFile(keyPath)
	if errors.Is(err, fs.ErrNotExist) {
		return false, nil
	} else if err != nil {
		return false, err
	}
	if _, err := tls.X509KeyPair(certPEM, keyPEM); err != nil {
		return false, nil
	}
	cert, err := parseCertPEM(certPEM)
	if err != nil {
		return false, nil
	}
	if cert.CheckSignatureFrom(c.CACert) != nil || time.Until(cert.NotAfter) < renewBefore {
		return false, nil
	}
	wantIPs, wantDNS := nodeSANs(name, ips, nil)
	return cert.Subject.CommonName == name && sameIPs(cert.IPAddresses, wantIPs) && sameStrings(cert.DNSNames, wantDNS), nil
}

// sameIPs reports whether a and b hold the same set of addresses.
func sameIPs(a, b []net.IP) bool {
	if len(a) != len(b) {
		return false
	}
	for _, x := range a {
		if !slices.ContainsFunc(b, x.Equal) {
			return false
		}
	}
	return true
}

// sameStrings reports whether a and b hold the same set of strings.
func sameStrings(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for _, x := range a {
		if !slices.Contains(b, x) {
			return false
		}
	}
	return true
}
