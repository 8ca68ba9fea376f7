package e2e

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/pem"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/http"
	"os/exec"
	"strings"
	"testing"
	"time"
)

// ingressHost is the Ingress's host; it is never resolved: clients dial a
// node's address and send it as Host header and SNI.
const ingressHost = "app.example.test"

// TestIngress runs two versions of the bootcamp app behind one Ingress on
// two real nodes: every node's address answers for app.example.test, "/"
// from v1 and "/v2" from v2, over HTTP and over HTTPS with the certificate
// of the test's own kubernetes.io/tls Secret (by SNI); the Ingress gets
// the default class shoal and the nodes' addresses, as get ing shows.
// Clients run in the lab's namespaces, never the machine's.
func TestIngress(t *testing.T) {
	if testing.Short() {
		t.Skip("e2e: skipped in -short")
	}
	pc := startPodCluster(t, 2)
	kc := []string{"--kubeconfig", pc.kubeconfig}
	for _, v := range []string{"v1", "v2"} {
		pc.mustShoal(append([]string{"create", "deployment", "web-" + v, "--image=gcr.io/google-samples/kubernetes-bootcamp:" + v, "--port=8080"}, kc...)...)
		pc.mustShoal(append([]string{"expose", "deployment/web-" + v, "--port", "80", "--target-port", "8080"}, kc...)...)
	}
	// The leader makes the default class soon after it is elected; an
	// Ingress created before then stays without a class, as in Kubernetes.
	waitFor(t, 30*time.Second, "the default IngressClass shoal", func() error {
		_, err := pc.get("ingressclass", "shoal")
		return err
	})
	certPEM, keyPEM := selfSigned(t, ingressHost)
	pc.podFromYAML(t, fmt.Sprintf(`apiVersion: v1
kind: Secret
metadata:
  name: app-tls
type: kubernetes.io/tls
data:
  tls.crt: %s
  tls.key: %s
---
apiVersion: networking.k8s.io/v1
kind: Ingress
metadata:
  name: app
spec:
  tls:
  - hosts: [%s]
    secretName: app-tls
  rules:
  - host: %s
    http:
      paths:
      - path: /
        pathType: Prefix
        backend:
          service:
            name: web-v1
            port:
              number: 80
      - path: /v2
        pathType: Prefix
        backend:
          service:
            name: web-v2
            port:
              number: 80
`, base64.StdEncoding.EncodeToString(certPEM), base64.StdEncoding.EncodeToString(keyPEM), ingressHost, ingressHost))
	for _, v := range []string{"v1", "v2"} {
		pc.mustShoal(append([]string{"rollout", "status", "deployments/web-" + v, "--timeout", "120s"}, kc...)...)
	}

	roots := x509.NewCertPool()
	roots.AppendCertsFromPEM(certPEM)
	for i := range pc.agents {
		from := pc.lab.nodes[(i+1)%len(pc.agents)]
		node := pc.lab.NodeIP(i)
		for _, c := range []struct{ scheme, path, want string }{
			{"http", "/", "v=v1"},
			{"http", "/v2", "v=v2"},
			{"http", "/v2/deeper", "v=v2"},
			{"http", "/v2x", "v=v1"},
			{"https", "/", "v=v1"},
			{"https", "/v2", "v=v2"},
		} {
			waitFor(t, 60*time.Second, fmt.Sprintf("%s://%s%s on node %s", c.scheme, ingressHost, c.path, node), func() error {
				body, err := ingressGet(from, c.scheme, node, c.path, roots)
				if err != nil {
					return err
				}
				if !strings.Contains(body, c.want) {
					return fmt.Errorf("answer %q, want %s", body, c.want)
				}
				return nil
			})
		}
		// Another host has no route: ingress-nginx's 404.
		body, err := ingressGetHost(from, "http", node, "other.example.test", "/", nil)
		if err == nil || !strings.Contains(err.Error(), "404") {
			t.Errorf("unknown host on %s: %q %v, want 404", node, body, err)
		}
	}

	waitFor(t, 30*time.Second, "get ing showing the class, host, both nodes and both ports", func() error {
		out, err := pc.get("ing")
		if err != nil {
			return err
		}
		lines := strings.Split(strings.TrimSpace(out), "\n")
		want := fmt.Sprintf("app shoal %s %s,%s 80, 443 ", ingressHost, pc.lab.NodeIP(0), pc.lab.NodeIP(1))
		if len(lines) != 2 || strings.Join(strings.Fields(lines[0]), " ") != "NAME CLASS HOSTS ADDRESS PORTS AGE" ||
			!strings.HasPrefix(strings.Join(strings.Fields(lines[1]), " "), want) {
			return fmt.Errorf("want a row starting %q:\n%s", want, out)
		}
		return nil
	})
	out := pc.mustShoal(append([]string{"describe", "ingress", "app"}, kc...)...)
	contains(t, "describe ingress", out, "Ingress Class:    shoal", "app-tls terminates "+ingressHost, "/v2", "web-v2:80 (")

	if _, err := exec.LookPath(kubectlBin()); err != nil {
		t.Log("kubectl is not installed on this machine; skipping the kubectl steps")
		return
	}
	out = pc.mustKubectl("api-resources", "--api-group=networking.k8s.io")
	contains(t, "kubectl api-resources", out, "ingressclasses", "ingresses", "ing ", "IngressClass", "Ingress")
	out = pc.mustKubectl("get", "ing")
	contains(t, "kubectl get ing", out, "CLASS", "shoal", ingressHost, pc.lab.NodeIP(0), "80, 443")
	out = pc.mustKubectl("get", "ingressclass")
	contains(t, "kubectl get ingressclass", out, "CONTROLLER", "shoal.io/ingress")
}

// ingressGet asks node's ingress for ingressHost+path from namespace ns.
func ingressGet(ns, scheme, node, path string, roots *x509.CertPool) (string, error) {
	return ingressGetHost(ns, scheme, node, ingressHost, path, roots)
}

// ingressGetHost sends GET scheme://host/path to node's address, from
// inside namespace ns. Over https it verifies the certificate against
// roots for host (the SNI).
func ingressGetHost(ns, scheme, node, host, path string, roots *x509.CertPool) (string, error) {
	tr := &http.Transport{
		Proxy: nil,
		DialContext: func(ctx context.Context, network, _ string) (net.Conn, error) {
			port := "80"
			if scheme == "https" {
				port = "443"
			}
			return dialIn(ns)(ctx, network, net.JoinHostPort(node, port))
		},
		TLSClientConfig:   &tls.Config{ServerName: host, RootCAs: roots},
		DisableKeepAlives: true,
	}
	client := &http.Client{Transport: tr, Timeout: 5 * time.Second}
	resp, err := client.Get(scheme + "://" + host + path)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		return string(b), fmt.Errorf("%s", resp.Status)
	}
	return string(b), nil
}

// selfSigned makes a certificate for host and its key, in PEM.
func selfSigned(t *testing.T, host string) (certPEM, keyPEM []byte) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: host}, DNSNames: []string{host},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	kder, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kder})
}
