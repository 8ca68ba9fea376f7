package identity

import (
	"context"
	"crypto/tls"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

// startAPI serves JoinHandler behind APIServerTLS on a loopback httptest
// server, as the API server does.
func startAPI(t *testing.T, c *Cluster) *httptest.Server {
	t.Helper()
	dir := t.TempDir()
	if err := c.Save(dir); err != nil {
		t.Fatal(err)
	}
	if err := EnsureNodeCert(dir, "server", []net.IP{net.ParseIP("127.0.0.1")}, c); err != nil {
		t.Fatal(err)
	}
	tlsCfg, err := c.APIServerTLS(dir)
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.Handle("POST "+JoinPath, JoinHandler(c))
	srv := httptest.NewUnstartedServer(mux)
	srv.TLS = tlsCfg
	srv.StartTLS()
	t.Cleanup(srv.Close)
	return srv
}

func TestJoin(t *testing.T) {
	c := newTestCluster(t)
	srv := startAPI(t, c)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()

	t.Run("right token", func(t *testing.T) {
		tok, err := ParseToken(c.JoinToken())
		if err != nil {
			t.Fatal(err)
		}
		got, err := RequestJoin(ctx, srv.URL, "node-b", tok)
		if err != nil {
			t.Fatalf("RequestJoin: %v", err)
		}
		if got.CAHash() != c.CAHash() || got.JoinToken() != c.JoinToken() {
			t.Fatal("joined cluster identity differs")
		}
		// The joiner can now issue its own certificate and talk mutual TLS
		// with the server's node certificate.
		dir := t.TempDir()
		if err := got.Save(dir); err != nil {
			t.Fatal(err)
		}
		if err := EnsureNodeCert(dir, "node-b", nil, got); err != nil {
			t.Fatal(err)
		}
		if _, _, err := got.NodeTLS(dir); err != nil {
			t.Fatal(err)
		}
	})

	t.Run("host:port without scheme", func(t *testing.T) {
		tok, _ := ParseToken(c.JoinToken())
		if _, err := RequestJoin(ctx, strings.TrimPrefix(srv.URL, "https://"), "node-c", tok); err != nil {
			t.Fatalf("RequestJoin: %v", err)
		}
	})

	t.Run("wrong secret", func(t *testing.T) {
		tok, _ := ParseToken(c.JoinToken())
		tok.Secret = newTestCluster(t).Secret
		_, err := RequestJoin(ctx, srv.URL, "node-b", tok)
		if !errors.Is(err, ErrWrongToken) || err.Error() != "join refused: wrong token" {
			t.Fatalf("RequestJoin = %v, want %q", err, ErrWrongToken)
		}
	})

	t.Run("wrong CA hash", func(t *testing.T) {
		other := newTestCluster(t)
		tok, _ := ParseToken(other.JoinToken())
		tok.Secret = c.Secret // right secret, wrong pin: must not even send the proof
		_, err := RequestJoin(ctx, srv.URL, "node-b", tok)
		if !errors.Is(err, ErrCAMismatch) {
			t.Fatalf("RequestJoin = %v, want ErrCAMismatch", err)
		}
		want := "join refused: cluster CA does not match the token (expected sha256 " + other.CAHash() + ", got " + c.CAHash() + ")"
		if err.Error() != want {
			t.Fatalf("message\n got %q\nwant %q", err, want)
		}
	})
}

func TestJoinHandlerRejects(t *testing.T) {
	c := newTestCluster(t)
	h := JoinHandler(c)
	cases := []struct {
		name, method, body string
		code               int
		msg                string
	}{
		{"get", http.MethodGet, "", http.StatusMethodNotAllowed, "use POST"},
		{"bad json", http.MethodPost, "{", http.StatusBadRequest, "malformed request"},
		{"no name", http.MethodPost, `{"proof":"00"}`, http.StatusBadRequest, "name is required"},
		{"bad proof", http.MethodPost, `{"name":"x","proof":"zz"}`, http.StatusForbidden, "join refused: wrong token"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, httptest.NewRequest(tc.method, JoinPath, strings.NewReader(tc.body)))
			if rec.Code != tc.code || !strings.Contains(rec.Body.String(), tc.msg) || !strings.Contains(rec.Body.String(), `"kind":"Status"`) {
				t.Fatalf("got %d %s, want %d containing %q", rec.Code, rec.Body, tc.code, tc.msg)
			}
		})
	}
}

// TestNodeTLS checks that two nodes' certificates authenticate each other
// through the raft configs, and that a foreign cluster's node is refused.
func TestNodeTLS(t *testing.T) {
	c := newTestCluster(t)
	mk := func(c *Cluster, name string) (*tls.Config, *tls.Config) {
		dir := t.TempDir()
		if err := EnsureNodeCert(dir, name, nil, c); err != nil {
			t.Fatal(err)
		}
		s, cl, err := c.NodeTLS(dir)
		if err != nil {
			t.Fatal(err)
		}
		return s, cl
	}
	serverCfg, _ := mk(c, "a")
	_, clientCfg := mk(c, "b")
	_, foreignClient := mk(newTestCluster(t), "evil")

	ln, err := tls.Listen("tcp", "127.0.0.1:0", serverCfg)
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		for {
			conn, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer conn.Close()
				_ = conn.(*tls.Conn).Handshake()
				_, _ = conn.Write([]byte("ok"))
			}()
		}
	}()
	dial := func(cfg *tls.Config) error {
		conn, err := tls.Dial("tcp", ln.Addr().String(), cfg)
		if err != nil {
			return err
		}
		defer conn.Close()
		buf := make([]byte, 2)
		_, err = conn.Read(buf) // TLS 1.3: a refused client cert surfaces on the first read
		return err
	}
	if err := dial(clientCfg); err != nil {
		t.Fatalf("member dial: %v", err)
	}
	if err := dial(foreignClient); err == nil {
		t.Fatal("foreign cluster's node was accepted")
	}
}
