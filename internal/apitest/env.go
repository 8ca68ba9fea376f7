package apitest

import (
	"context"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"

	"github.com/shoal-project/shoal/consensus"
	"github.com/shoal-project/shoal/node/apiserver"
	"github.com/shoal-project/shoal/node/follow"
)

// Token is the bearer token the API server takes and Env's client sends.
const Token = "secret"

// Env is one store behind the real API server (LocalProposer, no raft)
// served over loopback HTTP, a client-go client for it and the node's
// shared cache over the store, with namespace "default" created.
type Env struct {
	TB    testing.TB
	Store *consensus.Store
	// Server serves the API; Server.URL is its address.
	Server *httptest.Server
	// Rest is the configuration CS was made from.
	Rest *rest.Config
	CS   kubernetes.Interface
	// Cache is the node's shared cache over Store, running until the
	// test ends.
	Cache *follow.Shared
	// Ctx is cancelled when the test ends.
	Ctx   context.Context
	Clock *Clock
	// conns counts the connections the API server accepted.
	conns atomic.Int64
}

// config is what Options adjust.
type config struct {
	api apiserver.Config
	// idleConns overrides client-go's 25 idle connections per host.
	idleConns int
	// wrap, when set, wraps the API server's handler.
	wrap func(http.Handler) http.Handler
}

// Option adjusts New.
type Option func(*config)

// WithIdleConns keeps up to n idle connections to the API instead of
// client-go's 25, so that more than 25 concurrent writers do not open a
// new connection for most requests.
func WithIdleConns(n int) Option { return func(c *config) { c.idleConns = n } }

// WithAPI changes the API server's configuration (its Subresources, its
// Authenticate) before the server is made.
func WithAPI(fn func(*apiserver.Config)) Option { return func(c *config) { fn(&c.api) } }

// WithoutAuth serves the API to every request, with or without a token,
// as the CLI's tests need: the commands they run send none.
func WithoutAuth() Option { return func(c *config) { c.api.Authenticate = nil } }

// WithHandler serves wrap(the API server's handler) instead, to answer
// some requests in the test's own way.
func WithHandler(wrap func(http.Handler) http.Handler) Option {
	return func(c *config) { c.wrap = wrap }
}

// New starts an Env that stops when the test ends.
func New(tb testing.TB, opts ...Option) *Env {
	tb.Helper()
	st := consensus.NewStore()
	cfg := config{api: apiserver.Config{
		Store:    st,
		Proposer: consensus.NewLocalProposer(st),
		Authenticate: func(r *http.Request) bool {
			return r.Header.Get("Authorization") == "Bearer "+Token
		},
		Logger:        slog.New(slog.DiscardHandler),
		ServerAddress: "127.0.0.1:6443",
	}}
	for _, o := range opts {
		o(&cfg)
	}
	e := &Env{TB: tb, Store: st, Clock: &Clock{}}
	h := apiserver.New(cfg.api).Handler()
	if cfg.wrap != nil {
		h = cfg.wrap(h)
	}
	hs := httptest.NewUnstartedServer(h)
	hs.Config.ConnState = func(_ net.Conn, st http.ConnState) {
		if st == http.StateNew {
			e.conns.Add(1)
		}
	}
	hs.Start()
	tb.Cleanup(func() {
		hs.CloseClientConnections()
		hs.Close()
	})
	e.Server = hs
	e.Rest = &rest.Config{Host: hs.URL, BearerToken: Token, QPS: 1e6, Burst: 1e6}
	if cfg.idleConns > 0 {
		e.Rest.WrapTransport = func(rt http.RoundTripper) http.RoundTripper {
			if t, ok := rt.(*http.Transport); ok {
				t = t.Clone()
				t.MaxIdleConnsPerHost = cfg.idleConns
				return t
			}
			return rt
		}
	}
	cs, err := kubernetes.NewForConfig(e.Rest)
	if err != nil {
		tb.Fatal(err)
	}
	e.CS = cs
	ctx, cancel := context.WithCancel(context.Background())
	tb.Cleanup(cancel)
	e.Ctx = ctx
	if _, err := cs.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "default"}}, metav1.CreateOptions{}); err != nil {
		tb.Fatalf("create namespace: %v", err)
	}
	e.Cache = follow.NewShared(st, nil)
	cacheDone := make(chan struct{})
	go func() { _ = e.Cache.Run(ctx); close(cacheDone) }()
	tb.Cleanup(func() { cancel(); <-cacheDone })
	return e
}

// Conns is how many connections the API server has accepted so far.
func (e *Env) Conns() int64 { return e.conns.Load() }

// Logger writes warnings and errors to the test log.
func Logger(tb testing.TB) *slog.Logger {
	return slog.New(slog.NewTextHandler(tbWriter{tb}, &slog.HandlerOptions{Level: slog.LevelWarn}))
}

type tbWriter struct{ tb testing.TB }

func (w tbWriter) Write(p []byte) (int, error) {
	w.tb.Helper()
	w.tb.Log(strings.TrimSpace(string(p)))
	return len(p), nil
}

// RunLoop runs run until the test ends and waits for ready.
func (e *Env) RunLoop(name string, run func(context.Context) error, ready <-chan struct{}) {
	e.TB.Helper()
	ctx, cancel := context.WithCancel(e.Ctx)
	done := make(chan error, 1)
	go func() { done <- run(ctx) }()
	e.TB.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			e.TB.Errorf("%s: %v", name, err)
		}
	})
	select {
	case <-ready:
	case <-time.After(10 * time.Second):
		e.TB.Fatalf("%s not ready", name)
	}
}

// Eventually polls cond until it returns nil, failing the test with its
// last error after timeout. It re-checks on every write to the store, and
// at least every 50ms.
func (e *Env) Eventually(timeout time.Duration, cond func() error) {
	e.TB.Helper()
	deadline := time.Now().Add(timeout)
	for {
		err := cond()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			e.TB.Fatalf("condition not met after %v: %v", timeout, err)
		}
		ctx, cancel := context.WithTimeout(e.Ctx, 50*time.Millisecond)
		_ = e.Store.WaitIndex(ctx, e.Store.Index()+1)
		cancel()
	}
}
