package controller

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/util/retry"
	"k8s.io/utils/ptr"

	"github.com/shoal-project/shoal/consensus"
	"github.com/shoal-project/shoal/node/apiserver"
	"github.com/shoal-project/shoal/node/follow"
)

const rsTestToken = "secret"

// rsClock is a settable clock; the zero value reads the real time.
type rsClock struct {
	mu  sync.Mutex
	t   time.Time
	set bool
}

func (c *rsClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.set {
		return time.Now()
	}
	return c.t
}

func (c *rsClock) Set(t time.Time) {
	c.mu.Lock()
	c.t, c.set = t, true
	c.mu.Unlock()
}

func (c *rsClock) Advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// rsEnv is one store behind the real API server (LocalProposer, no raft)
// served over loopback HTTP, and a client-go client for it: what the
// replica controllers and the eviction controller run against. No
// scheduler and no kubelet run; tests bind pods and write their status.
type rsEnv struct {
	tb    testing.TB
	store *consensus.Store
	cs    kubernetes.Interface
	ctx   context.Context
	clock *rsClock
	deps  Deps
}

func newRSEnv(tb testing.TB) *rsEnv {
	tb.Helper()
	st := consensus.NewStore()
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	hs := httptest.NewServer(apiserver.New(apiserver.Config{
		Store:    st,
		Proposer: consensus.NewLocalProposer(st),
		Authenticate: func(r *http.Request) bool {
			return r.Header.Get("Authorization") == "Bearer "+rsTestToken
		},
		Logger:        quiet,
		ServerAddress: "127.0.0.1:6443",
	}).Handler())
	tb.Cleanup(func() {
		hs.CloseClientConnections()
		hs.Close()
	})
	rc := &rest.Config{Host: hs.URL, BearerToken: rsTestToken, QPS: 1e6, Burst: 1e6}
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
	clock := &rsClock{}
	e := &rsEnv{tb: tb, store: st, cs: cs, ctx: ctx, clock: clock}
	cache := follow.NewShared(st, nil)
	cacheDone := make(chan struct{})
	go func() { _ = cache.Run(ctx); close(cacheDone) }()
	tb.Cleanup(func() { cancel(); <-cacheDone })
	e.deps = Deps{Store: st, Cache: cache, Client: cs, Logger: rsTestLogger(tb), Now: clock.Now}
	return e
}

// synced waits until the node's cache holds what the store holds, for
// every resource followed so far: a test that calls a Reconcile right
// after a write reads that write, as a controller woken by the write's
// event does.
func (e *rsEnv) synced() {
	e.tb.Helper()
	waitCacheSynced(e.tb, e.deps)
}

// rsTestLogger writes warnings and errors to the test log.
func rsTestLogger(tb testing.TB) *slog.Logger {
	return slog.New(slog.NewTextHandler(rsTBWriter{tb}, &slog.HandlerOptions{Level: slog.LevelWarn}))
}

type rsTBWriter struct{ tb testing.TB }

func (w rsTBWriter) Write(p []byte) (int, error) {
	w.tb.Log(string(p))
	return len(p), nil
}

// runLoop runs run until the test ends and waits for ready.
func (e *rsEnv) runLoop(name string, run func(context.Context) error, ready <-chan struct{}) {
	e.tb.Helper()
	ctx, cancel := context.WithCancel(e.ctx)
	done := make(chan error, 1)
	go func() { done <- run(ctx) }()
	e.tb.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			e.tb.Errorf("%s: %v", name, err)
		}
	})
	select {
	case <-ready:
	case <-time.After(10 * time.Second):
		e.tb.Fatalf("%s not ready", name)
	}
}

// startRS runs a ReplicaSet controller with the given resync period.
func (e *rsEnv) startRS(resync time.Duration) *ReplicaSetController {
	e.tb.Helper()
	c := NewReplicaSetController(e.deps)
	if resync > 0 {
		c.resync = resync
	}
	e.runLoop("replicaset controller", c.Run, c.Ready())
	return c
}

// startRC runs a ReplicationController controller.
func (e *rsEnv) startRC() *ReplicationManager {
	e.tb.Helper()
	c := NewReplicationController(e.deps)
	e.runLoop("replication controller", c.Run, c.Ready())
	return c
}

// eventually polls cond until it returns nil, failing the test with its
// last error after timeout.
func (e *rsEnv) eventually(timeout time.Duration, cond func() error) {
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
		ctx, cancel := context.WithTimeout(e.ctx, 50*time.Millisecond)
		_ = e.store.WaitIndex(ctx, e.store.Index()+1)
		cancel()
	}
}

// rsTemplate is a pod template labelled app=app.
func rsTemplate(app string) corev1.PodTemplateSpec {
	return corev1.PodTemplateSpec{
		ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"app": app}},
		Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "web", Image: "registry.test/web:v1"}}},
	}
}

func rsTestReplicaSet(name string, replicas int32) *appsv1.ReplicaSet {
	return &appsv1.ReplicaSet{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "default"},
		Spec: appsv1.ReplicaSetSpec{
			Replicas: ptr.To(replicas),
			Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": name}},
			Template: rsTemplate(name),
		},
	}
}

func (e *rsEnv) createRS(rs *appsv1.ReplicaSet) *appsv1.ReplicaSet {
	e.tb.Helper()
	got, err := e.cs.AppsV1().ReplicaSets(rs.Namespace).Create(e.ctx, rs, metav1.CreateOptions{})
	if err != nil {
		e.tb.Fatalf("create replicaset %s: %v", rs.Name, err)
	}
	return got
}

func (e *rsEnv) getRS(name string) *appsv1.ReplicaSet {
	e.tb.Helper()
	rs, err := e.cs.AppsV1().ReplicaSets("default").Get(e.ctx, name, metav1.GetOptions{})
	if err != nil {
		e.tb.Fatalf("get replicaset %s: %v", name, err)
	}
	return rs
}

// scaleRS sets spec.replicas through the scale subresource, as kubectl
// scale does.
func (e *rsEnv) scaleRS(name string, replicas int32) {
	e.tb.Helper()
	err := retry.RetryOnConflict(retry.DefaultRetry, func() error {
		sc, err := e.cs.AppsV1().ReplicaSets("default").GetScale(e.ctx, name, metav1.GetOptions{})
		if err != nil {
			return err
		}
		sc.Spec.Replicas = replicas
		_, err = e.cs.AppsV1().ReplicaSets("default").UpdateScale(e.ctx, name, sc, metav1.UpdateOptions{})
		return err
	})
	if err != nil {
		e.tb.Fatalf("scale %s: %v", name, err)
	}
}

// pods lists the pods labelled app=app that are not being deleted.
func (e *rsEnv) pods(app string) []corev1.Pod {
	e.tb.Helper()
	l, err := e.cs.CoreV1().Pods("default").List(e.ctx, metav1.ListOptions{LabelSelector: labels.Set{"app": app}.String()})
	if err != nil {
		e.tb.Fatalf("list pods: %v", err)
	}
	var out []corev1.Pod
	for _, p := range l.Items {
		if p.DeletionTimestamp == nil {
			out = append(out, p)
		}
	}
	return out
}

// ownedPods lists the live pods whose controller has uid.
func (e *rsEnv) ownedPods(uid string) []corev1.Pod {
	e.tb.Helper()
	l, err := e.cs.CoreV1().Pods("default").List(e.ctx, metav1.ListOptions{})
	if err != nil {
		e.tb.Fatalf("list pods: %v", err)
	}
	var out []corev1.Pod
	for _, p := range l.Items {
		if r := replicaControllerRef(&p.ObjectMeta); r != nil && string(r.UID) == uid && p.DeletionTimestamp == nil {
			out = append(out, p)
		}
	}
	return out
}

// wantPods waits until exactly n live pods are labelled app=app.
func (e *rsEnv) wantPods(app string, n int) []corev1.Pod {
	e.tb.Helper()
	var pods []corev1.Pod
	e.eventually(10*time.Second, func() error {
		pods = e.pods(app)
		if len(pods) != n {
			return fmt.Errorf("%d pods labelled app=%s, want %d", len(pods), app, n)
		}
		return nil
	})
	return pods
}

// setReady writes the pod's status as its kubelet would: Running, and
// Ready True (with lastTransitionTime at) or False.
func (e *rsEnv) setReady(name string, ready bool, at time.Time) {
	e.tb.Helper()
	p, err := e.cs.CoreV1().Pods("default").Get(e.ctx, name, metav1.GetOptions{})
	if err != nil {
		e.tb.Fatalf("get pod %s: %v", name, err)
	}
	status := corev1.ConditionFalse
	if ready {
		status = corev1.ConditionTrue
	}
	p.Status.Phase = corev1.PodRunning
	p.Status.Conditions = []corev1.PodCondition{{Type: corev1.PodReady, Status: status, LastTransitionTime: metav1.NewTime(at)}}
	if _, err := e.cs.CoreV1().Pods("default").UpdateStatus(e.ctx, p, metav1.UpdateOptions{}); err != nil {
		e.tb.Fatalf("update status of pod %s: %v", name, err)
	}
}

// bind binds the pod to node through the binding subresource.
func (e *rsEnv) bind(name, node string) {
	e.tb.Helper()
	err := e.cs.CoreV1().Pods("default").Bind(e.ctx, &corev1.Binding{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "default"},
		Target:     corev1.ObjectReference{Kind: "Node", Name: node},
	}, metav1.CreateOptions{})
	if err != nil {
		e.tb.Fatalf("bind %s to %s: %v", name, node, err)
	}
}

// events lists the events about the object name with reason.
func (e *rsEnv) events(name, reason string) []corev1.Event {
	e.tb.Helper()
	sel := fields.Set{"involvedObject.name": name, "reason": reason}.AsSelector().String()
	l, err := e.cs.CoreV1().Events("").List(e.ctx, metav1.ListOptions{FieldSelector: sel})
	if err != nil {
		e.tb.Fatalf("list events: %v", err)
	}
	return l.Items
}
