package ingress

import (
	"bufio"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// tlsSecret makes a kubernetes.io/tls Secret with a self-signed
// certificate for hosts, its common name cn.
func tlsSecret(t *testing.T, ns, name, cn string, hosts ...string) *corev1.Secret {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(7), Subject: pkix.Name{CommonName: cn}, DNSNames: hosts,
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour)}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	kder, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	return &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name}, Type: corev1.SecretTypeTLS,
		Data: map[string][]byte{
			corev1.TLSCertKey:       pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}),
			corev1.TLSPrivateKeyKey: pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kder}),
		}}
}

// freePort finds a loopback port nobody listens on (for Run, which
// binds fixed ports).
func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// TestRunTLSBySNI runs the server on loopback: the HTTP port is taken by
// someone else (logged, skipped: the server still serves HTTPS), each TLS
// host gets its Secret's certificate by SNI (exact and wildcard), other
// names the fake certificate, and requests over TLS reach the backend
// with X-Forwarded-Proto https. Cancelling the context stops Run.
func TestRunTLSBySNI(t *testing.T) {
	web := newEchoBackend(t, "web")
	lookup := newFakeLookup()
	lookup.addService("default", "web", 80, "", web.addr())
	sec := tlsSecret(t, "default", "app-tls", "app.example.test", "app.example.test")
	lookup.secrets["default/app-tls"] = sec
	lookup.secrets["default/wild-tls"] = tlsSecret(t, "default", "wild-tls", "*.wild.test", "*.wild.test")
	ing := ingressOf("default", "app", time.Minute,
		rule("app.example.test", pathSpec{"/", prefix, "web", 80}), rule("*.wild.test", pathSpec{"/", prefix, "web", 80}))
	ing.Spec.TLS = []networkingv1.IngressTLS{{Hosts: []string{"app.example.test"}, SecretName: "app-tls"}, {SecretName: "wild-tls"}}
	tbl, errs := build([]networkingv1.IngressClass{shoalClass(true)}, []networkingv1.Ingress{ing}, lookup)
	if len(errs) != 0 {
		t.Fatal(errs)
	}

	busy, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	httpsPort := freePort(t)
	srv, err := NewServer(Config{Addr: "127.0.0.1", HTTPPort: busy.Addr().(*net.TCPAddr).Port, HTTPSPort: httpsPort})
	if err != nil {
		t.Fatal(err)
	}
	srv.Update(tbl)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Run(ctx) }()
	defer func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("Run: %v", err)
			}
		case <-time.After(10 * time.Second):
			t.Error("Run did not return after cancel")
		}
	}()
	select {
	case <-srv.Ready():
	case <-time.After(5 * time.Second):
		t.Fatal("not ready")
	}
	if !srv.Serving() {
		t.Error("Serving() is false with the HTTPS port open")
	}
	addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(httpsPort))

	for sni, wantCN := range map[string]string{
		"app.example.test":   "app.example.test",
		"a.wild.test":        "*.wild.test",
		"other.example.test": "Kubernetes Ingress Controller Fake Certificate",
		"a.b.wild.test":      "Kubernetes Ingress Controller Fake Certificate",
	} {
		conn, err := tls.Dial("tcp", addr, &tls.Config{ServerName: sni, InsecureSkipVerify: true})
		if err != nil {
			t.Fatalf("TLS to %s: %v", sni, err)
		}
		if cn := conn.ConnectionState().PeerCertificates[0].Subject.CommonName; cn != wantCN {
			t.Errorf("SNI %s: certificate %q, want %q", sni, cn, wantCN)
		}
		conn.Close()
	}

	// A client that trusts only the Secret's certificate gets through.
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(sec.Data[corev1.TLSCertKey])
	client := &http.Client{Transport: &http.Transport{
		Proxy:           nil,
		TLSClientConfig: &tls.Config{RootCAs: pool, ServerName: "app.example.test"},
	}}
	defer client.CloseIdleConnections()
	req, _ := http.NewRequest("GET", "https://"+addr+"/secure", nil)
	req.Host = "app.example.test" // as curl --resolve app.example.test:443:NODE sends it
	resp, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || string(body) != "web /secure" {
		t.Errorf("https: %d %q", resp.StatusCode, body)
	}
	var h http.Header
	select {
	case h = <-web.last:
	case <-time.After(5 * time.Second):
		t.Fatal("the backend saw no request")
	}
	if h.Get("X-Forwarded-Proto") != "https" || !strings.HasPrefix(h.Get("Host"), "app.example.test") {
		t.Errorf("backend headers over TLS: proto %q host %q", h.Get("X-Forwarded-Proto"), h.Get("Host"))
	}
}

// TestNotServingWithoutPorts: a server whose only port is taken is Ready
// but not Serving, so its node does not announce the ingress role.
func TestNotServingWithoutPorts(t *testing.T) {
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	srv, err := NewServer(Config{Addr: "127.0.0.1", HTTPPort: busy.Addr().(*net.TCPAddr).Port})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Run(ctx) }()
	select {
	case <-srv.Ready():
	case <-time.After(5 * time.Second):
		t.Fatal("not ready")
	}
	if srv.Serving() {
		t.Error("Serving() is true with no port open")
	}
	cancel()
	if err := <-done; err != nil {
		t.Error(err)
	}
}

// TestDotSegments sends raw request lines: a path is matched and forwarded
// as nginx normalises it, so "/v2/../admin" never reaches v2's backend.
func TestDotSegments(t *testing.T) {
	lookup := newFakeLookup()
	for _, n := range []string{"root", "v2"} {
		lookup.addService("default", n, 80, "", newEchoBackend(t, n).addr())
	}
	ing := ingressOf("default", "app", time.Minute, rule("app.example.test", pathSpec{"/", prefix, "root", 80}, pathSpec{"/v2", prefix, "v2", 80}))
	tbl, errs := build([]networkingv1.IngressClass{shoalClass(true)}, []networkingv1.Ingress{ing}, lookup)
	if len(errs) != 0 {
		t.Fatal(errs)
	}
	srv := newTestServer(t)
	srv.Update(tbl)
	hs := httptest.NewServer(srv)
	defer hs.Close()
	for _, c := range []struct{ target, want string }{
		{"/v2/../admin", "root /admin"},
		{"/v2/%2e%2e/admin", "root /admin"},
		{"/v2/./x", "v2 /v2/x"},
		{"//v2//x/", "v2 /v2/x/"},
		{"/a/b/../../v2", "v2 /v2"},
		{"/../../etc/passwd", "root /etc/passwd"},
		{"/v2/", "v2 /v2/"},
	} {
		conn, err := net.Dial("tcp", hs.Listener.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		fmt.Fprintf(conn, "GET %s HTTP/1.1\r\nHost: app.example.test\r\nConnection: close\r\n\r\n", c.target)
		resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
		if err != nil {
			conn.Close()
			t.Fatalf("%s: %v", c.target, err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		conn.Close()
		if resp.StatusCode != 200 || string(body) != c.want {
			t.Errorf("GET %s: %d %q, want 200 %q", c.target, resp.StatusCode, body, c.want)
		}
	}
}

func TestCleanPath(t *testing.T) {
	for in, want := range map[string]string{
		"": "/", "/": "/", "/a": "/a", "/a/": "/a/", "/a/../b": "/b", "/a/./b/": "/a/b/", "//a//b": "/a/b",
		"/..": "/", "/a/..": "/", "/a/../": "/", "*": "*",
	} {
		if got := cleanPath(in); got != want {
			t.Errorf("cleanPath(%q) = %q, want %q", in, got, want)
		}
	}
}

// startRun runs srv until the test ends (or stop is called) and waits for
// Ready; stop cancels Run and fails the test if it does not return.
func startRun(t *testing.T, srv *Server) (stop func()) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Run(ctx) }()
	stopped := false
	stop = func() {
		t.Helper()
		if stopped {
			return
		}
		stopped = true
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("Run: %v", err)
			}
		case <-time.After(10 * time.Second):
			t.Error("Run did not return after cancel")
		}
	}
	t.Cleanup(stop)
	select {
	case <-srv.Ready():
	case <-time.After(5 * time.Second):
		t.Fatal("not ready")
	}
	return stop
}

// TestBackendTimeout: a backend that never answers gets a 504 after the
// response header timeout (ingress-nginx's proxy-read-timeout) instead of
// holding the request forever.
func TestBackendTimeout(t *testing.T) {
	release := make(chan struct{})
	hung := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-release:
		case <-r.Context().Done():
		}
	}))
	defer hung.Close()
	defer close(release)
	lookup := newFakeLookup()
	lookup.addService("default", "slow", 80, "", hung.Listener.Addr().String())
	tbl, errs := build([]networkingv1.IngressClass{shoalClass(true)},
		[]networkingv1.Ingress{ingressOf("default", "slow", time.Minute, rule("slow.example.test", pathSpec{"/", prefix, "slow", 80}))}, lookup)
	if len(errs) != 0 {
		t.Fatal(errs)
	}
	srv, err := NewServer(Config{ResponseHeaderTimeout: 200 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	srv.Update(tbl)
	type answer struct {
		code int
		body string
	}
	got := make(chan answer, 1)
	go func() {
		code, body := get(t, srv, "slow.example.test", "/")
		got <- answer{code, body}
	}()
	select {
	case a := <-got:
		if a.code != http.StatusGatewayTimeout || a.body != "504 Gateway Time-out\n" {
			t.Errorf("hung backend: %d %q, want 504", a.code, a.body)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the request to a hung backend is still waiting after 5s")
	}
	if d := DefaultResponseHeaderTimeout; d != 60*time.Second {
		t.Errorf("default response header timeout %v, want ingress-nginx's 60s", d)
	}
}

// TestUpgradedConnectionEndsWithRun: an upgraded (WebSocket-like)
// connection through the proxy is cut once Run's grace period is over, and
// Run returns only after its handler has.
func TestUpgradedConnectionEndsWithRun(t *testing.T) {
	backendDone := make(chan struct{}, 1)
	upgrader := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		conn, rw, err := http.NewResponseController(w).Hijack()
		if err != nil {
			t.Error(err)
			return
		}
		defer conn.Close()
		rw.WriteString("HTTP/1.1 101 Switching Protocols\r\nUpgrade: test\r\nConnection: Upgrade\r\n\r\n")
		rw.Flush()
		io.Copy(io.Discard, rw) // until the proxy closes its side
		backendDone <- struct{}{}
	}))
	defer upgrader.Close()
	lookup := newFakeLookup()
	lookup.addService("default", "ws", 80, "", upgrader.Listener.Addr().String())
	tbl, errs := build([]networkingv1.IngressClass{shoalClass(true)},
		[]networkingv1.Ingress{ingressOf("default", "ws", time.Minute, rule("ws.example.test", pathSpec{"/", prefix, "ws", 80}))}, lookup)
	if len(errs) != 0 {
		t.Fatal(errs)
	}
	port := freePort(t)
	srv, err := NewServer(Config{Addr: "127.0.0.1", HTTPPort: port, ShutdownTimeout: 300 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	srv.Update(tbl)
	stop := startRun(t, srv)

	conn, err := net.Dial("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(port)))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	fmt.Fprint(conn, "GET /socket HTTP/1.1\r\nHost: ws.example.test\r\nConnection: Upgrade\r\nUpgrade: test\r\n\r\n")
	br := bufio.NewReader(conn)
	resp, err := http.ReadResponse(br, nil)
	if err != nil || resp.StatusCode != http.StatusSwitchingProtocols {
		t.Fatalf("upgrade: %v %v", resp, err)
	}
	start := time.Now()
	stop()
	if d := time.Since(start); d < 250*time.Millisecond {
		t.Errorf("Run returned after %v, before the 300ms grace period", d)
	}
	conn.SetReadDeadline(time.Now().Add(3 * time.Second))
	if _, err := br.ReadByte(); err == nil || errors.Is(err, os.ErrDeadlineExceeded) {
		t.Errorf("client side of the upgraded connection after Run: %v, want it closed", err)
	}
	select {
	case <-backendDone:
	case <-time.After(3 * time.Second):
		t.Error("the backend side of the upgraded connection is still open after Run")
	}
}
