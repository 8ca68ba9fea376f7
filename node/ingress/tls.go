package ingress

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"fmt"
	"math/big"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	"k8s.io/apimachinery/pkg/types"
)

// certificates maps SNI names to the certificates of spec.tls entries.
type certificates struct {
	exact    map[string]*tls.Certificate // "app.example.test"
	wildcard map[string]*tls.Certificate // "example.test" for "*.example.test"
}

func newCertificates() certificates {
	return certificates{exact: map[string]*tls.Certificate{}, wildcard: map[string]*tls.Certificate{}}
}

// add loads the Secret of one spec.tls entry for its hosts (when it lists
// none: the hosts of the Ingress's rules). A host already served by an
// older Ingress keeps that certificate. An entry without secretName is the
// fake certificate's, as in ingress-nginx.
func (c certificates) add(ing *networkingv1.Ingress, t networkingv1.IngressTLS, lookup Lookup, parser *certParser) error {
	if t.SecretName == "" {
		return nil
	}
	sec := lookup.Secret(ing.Namespace, t.SecretName)
	if sec == nil {
		return fmt.Errorf("secret %s/%s not found", ing.Namespace, t.SecretName)
	}
	cert, err := parser.parse(sec)
	if err != nil {
		return fmt.Errorf("secret %s/%s: %w", ing.Namespace, t.SecretName, err)
	}
	hosts := t.Hosts
	if len(hosts) == 0 {
		for _, r := range ing.Spec.Rules {
			if r.Host != "" {
				hosts = append(hosts, r.Host)
			}
		}
	}
	for _, h := range hosts {
		h = strings.ToLower(h)
		m, key := c.exact, h
		if strings.HasPrefix(h, "*.") {
			m, key = c.wildcard, h[2:]
		}
		if _, taken := m[key]; !taken {
			m[key] = cert
		}
	}
	return nil
}

// lookup finds the certificate of an SNI name: exact first, then a
// wildcard for its parent domain.
func (c certificates) lookup(name string) *tls.Certificate {
	if cert := c.exact[name]; cert != nil {
		return cert
	}
	if i := strings.IndexByte(name, '.'); i > 0 {
		return c.wildcard[name[i+1:]]
	}
	return nil
}

// certKey names one version of a Secret.
type certKey struct {
	namespace, name string
	uid             types.UID
	resourceVersion string
}

// parsedCert is what parsing one Secret version gave.
type parsedCert struct {
	cert *tls.Certificate
	err  error
}

// certParser parses the Secrets of one Build, reusing the previous Build's
// results (known) for the same Secret versions; used holds those of this
// Build, the next one's known.
type certParser struct {
	known, used map[certKey]parsedCert
}

func newCertParser(known map[certKey]parsedCert) *certParser {
	return &certParser{known: known, used: map[certKey]parsedCert{}}
}

// parse returns the key pair of s, parsing it only if this version was
// not parsed before. A Secret without UID or resourceVersion (never one
// from the store) is parsed every time.
func (p *certParser) parse(s *corev1.Secret) (*tls.Certificate, error) {
	if s.UID == "" || s.ResourceVersion == "" {
		return certificateOf(s)
	}
	k := certKey{s.Namespace, s.Name, s.UID, s.ResourceVersion}
	r, ok := p.used[k]
	if !ok {
		if r, ok = p.known[k]; !ok {
			r.cert, r.err = certificateOf(s)
		}
		p.used[k] = r
	}
	return r.cert, r.err
}

// certificateOf reads a kubernetes.io/tls Secret's tls.crt and tls.key.
func certificateOf(s *corev1.Secret) (*tls.Certificate, error) {
	crt, key := s.Data[corev1.TLSCertKey], s.Data[corev1.TLSPrivateKeyKey]
	if len(crt) == 0 || len(key) == 0 {
		return nil, fmt.Errorf("no %s and %s (type %s)", corev1.TLSCertKey, corev1.TLSPrivateKeyKey, s.Type)
	}
	cert, err := tls.X509KeyPair(crt, key)
	if err != nil {
		return nil, err
	}
	return &cert, nil
}

// fakeCertificate is the self-signed certificate served to names no
// Secret covers, named as ingress-nginx names its own.
func fakeCertificate(now time.Time) (*tls.Certificate, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	if err != nil {
		return nil, err
	}
	tmpl := &x509.Certificate{
		SerialNumber: serial,
		Subject:      pkix.Name{CommonName: "Kubernetes Ingress Controller Fake Certificate", Organization: []string{"Acme Co"}},
		DNSNames:     []string{"ingress.local"},
		NotBefore:    now.Add(-time.Hour),
		NotAfter:     now.Add(365 * 24 * time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return nil, err
	}
	leaf, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, err
	}
	return &tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key, Leaf: leaf}, nil
}
