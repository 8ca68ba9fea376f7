package scheduler

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
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

const testToken = "secret"

// env is one store behind the real API server (LocalProposer, no raft),
// served over loopback HTTP by httptest, a client-go client for it, and
// the store's shared cache, running as on a node.
type env struct {
	tb    testing.TB
	store *consensus.Store
	cs    kubernetes.Interface
	cache *follow.Shared
	deps  Deps
	ctx   context.Context
	// conns counts the connections the API server accepted.
	conns atomic.Int64
}

// envConfig is what envOptions adjust.
type envConfig struct {
	api apiserver.Config
	// idleConns overrides client-go's 25 idle connections per host.
	idleConns int
}

type envOption func(*envConfig)

// withIdleConns keeps up to n idle connections to the API instead of
// client-go's 25, so that more than 25 concurrent writers do not open a
// new connection for most requests.
func withIdleConns(n int) envOption { return func(c *envConfig) { c.idleConns = n } }

func newEnv(tb testing.TB, opts ...envOption) *env {
	tb.Helper()
	st := consensus.NewStore()
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	cfg := envConfig{api: apiserver.Config{
		Store:    st,
		Proposer: consensus.NewLocalProposer(st),
		Authenticate: func(r *http.Request) bool {
			return r.Header.Get("Authorization") == "Bearer "+testToken
		},
		Logger:        quiet,
		ServerAddress: "127.0.0.1:6443",
	}}
	for _, o := range opts {
		o(&cfg)
	}
	e := &env{tb: tb, store: st}
	hs := httptest.NewUnstartedServer(apiserver.New(cfg.api).Handler())
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
	rc := &rest.Config{Host: hs.URL, BearerToken: testToken, QPS: 1e6, Burst: 1e6}
	if cfg.idleConns > 0 {
		rc.WrapTransport = func(rt http.RoundTripper) http.RoundTripper {
			if t, ok := rt.(*http.Transport); ok {
				t = t.Clone()
				t.MaxIdleConnsPerHost = cfg.idleConns
				return t
			}
			return rt
		}
	}
	cs, err := kubernetes.NewForConfig(rc)
	if err != nil {
		tb.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	tb.Cleanup(cancel)
	e.cs, e.ctx = cs, ctx
	e.cache = follow.NewShared(st, quiet)
	cacheDone := make(chan struct{})
	go func() {
		defer close(cacheDone)
		_ = e.cache.Run(ctx)
	}()
	tb.Cleanup(func() {
		cancel()
		<-cacheDone
	})
	e.deps = Deps{Cache: e.cache, Client: cs, Logger: testLogger(tb)}
	if _, err := cs.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "default"}}, metav1.CreateOptions{}); err != nil {
		tb.Fatalf("create namespace: %v", err)
	}
	return e
}

// testLogger writes warnings and errors to the test log.
func testLogger(tb testing.TB) *slog.Logger {
	return slog.New(slog.NewTextHandler(tbWriter{tb}, &slog.HandlerOptions{Level: slog.LevelWarn}))
}

type tbWriter struct{ tb testing.TB }

func (w tbWriter) Write(p []byte) (int, error) {
	w.tb.Helper()
	w.tb.Log(string(p))
	return len(p), nil
}

// start runs a scheduler until the test ends.
func (e *env) start(opts ...Option) *Scheduler {
	e.tb.Helper()
	s := New(e.deps, opts...)
	ctx, cancel := context.WithCancel(e.ctx)
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx) }()
	e.tb.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			e.tb.Errorf("scheduler: %v", err)
		}
	})
	select {
	case <-s.Ready():
	case <-time.After(10 * time.Second):
		e.tb.Fatal("scheduler not ready")
	}
	return s
}

// readyNode creates a Ready node with the given allocatable cpu and memory.
func (e *env) readyNode(name, cpu, mem string) {
	e.tb.Helper()
	n := testNode(name, cpu, mem, 110)
	if _, err := e.cs.CoreV1().Nodes().Create(e.ctx, n, metav1.CreateOptions{}); err != nil {
		e.tb.Fatalf("create node %s: %v", name, err)
	}
}

// pod creates a pending pod in "default".
func (e *env) pod(name, cpu, mem string, opts ...func(*corev1.Pod)) *corev1.Pod {
	e.tb.Helper()
	p := testPod(name, cpu, mem, opts...)
	p.UID = ""
	got, err := e.cs.CoreV1().Pods("default").Create(e.ctx, p, metav1.CreateOptions{})
	if err != nil {
		e.tb.Fatalf("create pod %s: %v", name, err)
	}
	return got
}

// eventually polls cond until it returns nil, failing the test with its
// last error after timeout.
func (e *env) eventually(timeout time.Duration, cond func() error) {
	e.tb.Helper()
	deadline := time.Now().Add(timeout)
	for {
		err := cond()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			e.tb.Fatalf("condition not met after %v: %v", timeout, err)
		}
		// Wake on the next write, or re-check soon (events are written
		// asynchronously but also through the store, so this is rare).
		ctx, cancel := context.WithTimeout(e.ctx, 50*time.Millisecond)
		e.store.WaitIndex(ctx, e.store.Index()+1)
		cancel()
	}
}

// getPod reads a pod back through the API.
func (e *env) getPod(name string) *corev1.Pod {
	e.tb.Helper()
	p, err := e.cs.CoreV1().Pods("default").Get(e.ctx, name, metav1.GetOptions{})
	if err != nil {
		e.tb.Fatalf("get pod %s: %v", name, err)
	}
	return p
}

func podScheduled(p *corev1.Pod) *corev1.PodCondition {
	for i := range p.Status.Conditions {
		if p.Status.Conditions[i].Type == corev1.PodScheduled {
			return &p.Status.Conditions[i]
		}
	}
	return nil
}

// bound returns an error until pod name is bound with PodScheduled=True.
func (e *env) bound(name string) error {
	p := e.getPod(name)
	if p.Spec.NodeName == "" {
		return fmt.Errorf("pod %s not bound", name)
	}
	if c := podScheduled(p); c == nil || c.Status != corev1.ConditionTrue {
		return fmt.Errorf("pod %s bound to %s without PodScheduled=True: %+v", name, p.Spec.NodeName, c)
	}
	return nil
}
