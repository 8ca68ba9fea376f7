// Package controllertest is the environment the controllers' tests run
// in: one store behind the real API server (no raft), a client-go client
// for it, the node's shared cache over the store, and a settable clock.
package controllertest

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"

	"github.com/shoal-project/shoal/consensus"
	"github.com/shoal-project/shoal/node/apiserver"
	"github.com/shoal-project/shoal/node/controller"
	"github.com/shoal-project/shoal/node/follow"
)

// T0 is a fixed time tests set their clock to.
var T0 = time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)

const testToken = "secret"

// Clock is a settable clock; the zero value reads the real time.
type Clock struct {
	mu  sync.Mutex
	t   time.Time
	set bool
}

// Now reads the clock.
func (c *Clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.set {
		return time.Now()
	}
	return c.t
}

// Set stops the clock at t.
func (c *Clock) Set(t time.Time) {
	c.mu.Lock()
	c.t, c.set = t, true
	c.mu.Unlock()
}

// Advance moves a set clock on by d.
func (c *Clock) Advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// Env is one store behind the real API server (LocalProposer, no raft)
// served over loopback HTTP, a client-go client for it and the node's
// shared cache over the store: what the controllers run against. No
// scheduler and no kubelet run; tests bind pods and write their status.
type Env struct {
	TB    testing.TB
	Store *consensus.Store
	CS    kubernetes.Interface
	Ctx   context.Context
	Clock *Clock
	// Deps are the controllers' (Cache included).
	Deps controller.Deps
}

// New starts an Env that stops when the test ends.
func New(tb testing.TB) *Env {
	tb.Helper()
	st := consensus.NewStore()
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	hs := httptest.NewServer(apiserver.New(apiserver.Config{
		Store:    st,
		Proposer: consensus.NewLocalProposer(st),
		Authenticate: func(r *http.Request) bool {
			return r.Header.Get("Authorization") == "Bearer "+testToken
		},
		Logger:        quiet,
		ServerAddress: "127.0.0.1:6443",
	}).Handler())
	tb.Cleanup(func() {
		hs.CloseClientConnections()
		hs.Close()
	})
	rc := &rest.Config{Host: hs.URL, BearerToken: testToken, QPS: 1e6, Burst: 1e6}
	rc.WrapTransport = func(rt http.RoundTripper) http.RoundTripper {
		if t, ok := rt.(*http.Transport); ok {
			t = t.Clone()
			t.MaxIdleConnsPerHost = 256
			return t
		}
		return rt
	}
	cs, err := kubernetes.NewForConfig(rc)
	if err != nil {
		tb.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	tb.Cleanup(cancel)
	if _, err := cs.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "default"}}, metav1.CreateOptions{}); err != nil {
		tb.Fatalf("create namespace: %v", err)
	}
	clock := &Clock{}
	e := &Env{TB: tb, Store: st, CS: cs, Ctx: ctx, Clock: clock}
	cache := follow.NewShared(st, nil)
	cacheDone := make(chan struct{})
	go func() { _ = cache.Run(ctx); close(cacheDone) }()
	tb.Cleanup(func() { cancel(); <-cacheDone })
	e.Deps = controller.Deps{Store: st, Cache: cache, Client: cs, Logger: Logger(tb), Now: clock.Now}
	return e
}

// Synced waits until the node's cache holds what the store holds, for
// every resource followed so far: a test that calls a Reconcile right
// after a write reads that write, as a controller woken by the write's
// event does.
func (e *Env) Synced() {
	e.TB.Helper()
	WaitCacheSynced(e.TB, e.Deps)
}

// Logger writes warnings and errors to the test log.
func Logger(tb testing.TB) *slog.Logger {
	return slog.New(slog.NewTextHandler(tbWriter{tb}, &slog.HandlerOptions{Level: slog.LevelWarn}))
}

type tbWriter struct{ tb testing.TB }

func (w tbWriter) Write(p []byte) (int, error) {
	w.tb.Log(string(p))
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
// last error after timeout.
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
