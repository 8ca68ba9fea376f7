package identity

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"
)

// fakeGossip is a Gossip whose peers advertise fixed API addresses.
type fakeGossip struct {
	key     []byte
	apis    []string
	joinErr error

	mu       sync.Mutex
	joined   []string
	shutdown bool
}

func (g *fakeGossip) Join(ctx context.Context, addrs []string) error {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.joined = addrs
	return g.joinErr
}
func (g *fakeGossip) NumMembers() int        { return len(g.apis) + 1 }
func (g *fakeGossip) PeerAPIAddrs() []string { return g.apis }
func (g *fakeGossip) Shutdown() error {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.shutdown = true
	return nil
}

// obtainWith runs Obtain with g as the gossip it starts, and returns what
// it printed.
func obtainWith(t *testing.T, cfg ObtainConfig, g *fakeGossip) (Obtained, string, error) {
	t.Helper()
	var out bytes.Buffer
	cfg.Progress = func(format string, args ...any) { fmt.Fprintf(&out, format+"\n", args...) }
	cfg.StartGossip = func(key []byte) (Gossip, error) {
		if g.key != nil {
			t.Fatal("gossip started twice")
		}
		g.key = key
		return g, nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	got, err := Obtain(ctx, cfg)
	return got, out.String(), err
}

func TestObtainCreatesThenLoads(t *testing.T) {
	dir := t.TempDir()
	g := &fakeGossip{}
	created, _, err := obtainWith(t, ObtainConfig{DataDir: dir, Name: "a"}, g)
	if err != nil {
		t.Fatal(err)
	}
	if !created.Created || created.Joined || !bytes.Equal(g.key, created.Cluster.GossipKey()) {
		t.Fatalf("first start: %+v, gossip key set %v", created, g.key != nil)
	}
	// A restart loads what the first start saved, even with the token of
	// its own cluster given again.
	g = &fakeGossip{}
	again, _, err := obtainWith(t, ObtainConfig{DataDir: dir, Name: "a", Token: created.Cluster.JoinToken()}, g)
	if err != nil {
		t.Fatal(err)
	}
	if again.Created || again.Joined || again.Cluster.CAHash() != created.Cluster.CAHash() || !bytes.Equal(g.key, created.Cluster.GossipKey()) {
		t.Fatalf("restart: %+v", again)
	}
}

func TestObtainRefusesAnotherClustersToken(t *testing.T) {
	dir := t.TempDir()
	if err := newTestCluster(t).Save(dir); err != nil {
		t.Fatal(err)
	}
	g := &fakeGossip{}
	_, _, err := obtainWith(t, ObtainConfig{DataDir: dir, Name: "a", Token: newTestCluster(t).JoinToken(), Join: []string{"127.0.0.1:1"}}, g)
	if err == nil || !strings.Contains(err.Error(), "belongs to another cluster") {
		t.Fatalf("err = %v, want a refusal", err)
	}
	if g.key != nil {
		t.Error("gossip started for a refused data dir")
	}
}

func TestObtainJoins(t *testing.T) {
	c := newTestCluster(t)
	srv := startAPI(t, c)
	dir := t.TempDir()
	// The first peer advertises an API that does not answer yet; the join
	// moves on to the next.
	g := &fakeGossip{apis: []string{"127.0.0.1:1", strings.TrimPrefix(srv.URL, "https://")}}
	got, out, err := obtainWith(t, ObtainConfig{DataDir: dir, Name: "b", Join: []string{"127.0.0.1:7946"}, Token: c.JoinToken()}, g)
	if err != nil {
		t.Fatal(err)
	}
	if !got.Joined || got.Created || got.Cluster.CAHash() != c.CAHash() {
		t.Fatalf("obtained %+v", got)
	}
	if !bytes.Equal(g.key, c.GossipKey()) || len(g.joined) != 1 || g.shutdown {
		t.Errorf("gossip: key from the token %v, joined %v, shut down %v", bytes.Equal(g.key, c.GossipKey()), g.joined, g.shutdown)
	}
	for _, step := range []string{"contacting 127.0.0.1:7946", "joined gossip: 3 members", "got the cluster certificate from " + g.apis[1]} {
		if !strings.Contains(out, step) {
			t.Errorf("progress %q lacks %q", out, step)
		}
	}
	if saved, err := LoadCluster(dir); err != nil || saved.CAHash() != c.CAHash() {
		t.Errorf("saved identity: %v", err)
	}
}

func TestObtainJoinFailures(t *testing.T) {
	c := newTestCluster(t)
	srv := startAPI(t, c)
	api := strings.TrimPrefix(srv.URL, "https://")
	other := newTestCluster(t)
	for _, tc := range []struct {
		name  string
		token string
		g     *fakeGossip
		want  error
		msg   string
	}{
		{"wrong secret", wrongSecretToken(t, c, other), &fakeGossip{apis: []string{api}}, ErrWrongToken, ""},
		{"another CA", other.JoinToken(), &fakeGossip{apis: []string{api}}, ErrCAMismatch, ""},
		{"gossip join fails", c.JoinToken(), &fakeGossip{joinErr: errors.New("no member answered")}, nil, "no member answered"},
		{"nobody advertises an API", c.JoinToken(), &fakeGossip{}, nil, "no peer advertised an API address"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			_, _, err := obtainWith(t, ObtainConfig{DataDir: dir, Name: "b", Join: []string{"127.0.0.1:7946"}, Token: tc.token, JoinTimeout: time.Second}, tc.g)
			if tc.want != nil && !errors.Is(err, tc.want) || tc.msg != "" && (err == nil || !strings.Contains(err.Error(), tc.msg)) {
				t.Fatalf("err = %v, want %v %q", err, tc.want, tc.msg)
			}
			if !tc.g.shutdown {
				t.Error("gossip left running after a failed join")
			}
			if _, err := LoadCluster(dir); err == nil {
				t.Error("a failed join saved an identity")
			}
		})
	}
}

// wrongSecretToken is c's token with other's secret.
func wrongSecretToken(t *testing.T, c, other *Cluster) string {
	t.Helper()
	tok, err := ParseToken(c.JoinToken())
	if err != nil {
		t.Fatal(err)
	}
	tok.Secret = other.Secret
	return tok.String()
}

func TestAuthenticator(t *testing.T) {
	c := newTestCluster(t)
	auth := c.Authenticator()
	req := func(header string, verified bool) bool {
		r := httptest.NewRequest("GET", "/api", nil)
		if header != "" {
			r.Header.Set("Authorization", header)
		}
		if verified {
			r.TLS = &tls.ConnectionState{VerifiedChains: [][]*x509.Certificate{{c.CACert}}}
		}
		return auth(r)
	}
	for _, tc := range []struct {
		name     string
		header   string
		verified bool
		want     bool
	}{
		{"admin token", "Bearer " + c.AdminToken(), false, true},
		{"admin token, trailing space", "Bearer " + c.AdminToken() + " ", false, true},
		{"client certificate", "", true, true},
		{"nothing", "", false, false},
		{"wrong token", "Bearer " + newTestCluster(t).AdminToken(), false, false},
		{"not a bearer", "Basic " + c.AdminToken(), false, false},
	} {
		if got := req(tc.header, tc.verified); got != tc.want {
			t.Errorf("%s: authenticated = %v, want %v", tc.name, got, tc.want)
		}
	}
}
