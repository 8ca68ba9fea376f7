package deployment

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apiequality "k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/record"
	"k8s.io/utils/ptr"

	"github.com/shoal-project/shoal/consensus"
	"github.com/shoal-project/shoal/node/apiserver"
	"github.com/shoal-project/shoal/node/controller"
	"github.com/shoal-project/shoal/node/controller/controllertest"
	"github.com/shoal-project/shoal/node/follow"
)

const testToken = "secret"

// testClock is a settable clock.
type testClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *testClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *testClock) Advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// testEnv is one store behind the real API server (LocalProposer, no
// raft) served over loopback HTTP, a client-go client for it, and a
// deployment controller over both whose clock is fake and whose events
// are recorded in memory. Tests drive the controller one sync at a time
// and play the ReplicaSet controller themselves.
type testEnv struct {
	t     *testing.T
	store *consensus.Store
	cs    kubernetes.Interface
	ctx   context.Context
	clock *testClock
	deps  controller.Deps
	c     *Controller
	rec   *record.FakeRecorder
	// events is every event recorded so far.
	events []string
}

func newDepEnv(t *testing.T) *testEnv {
	t.Helper()
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
	t.Cleanup(func() {
		hs.CloseClientConnections()
		hs.Close()
	})
	cs, err := kubernetes.NewForConfig(&rest.Config{Host: hs.URL, BearerToken: testToken, QPS: 1e6, Burst: 1e6})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	if _, err := cs.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "default"}}, metav1.CreateOptions{}); err != nil {
		t.Fatalf("create namespace: %v", err)
	}
	clock := &testClock{t: time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)}
	e := &testEnv{t: t, store: st, cs: cs, ctx: ctx, clock: clock}
	cache := follow.NewShared(st, nil)
	cacheDone := make(chan struct{})
	go func() { _ = cache.Run(ctx); close(cacheDone) }()
	t.Cleanup(func() { cancel(); <-cacheDone })
	e.deps = controller.Deps{Store: st, Cache: cache, Client: cs, Logger: testLogger(t), Now: clock.Now}
	e.c = New(e.deps)
	e.rec = record.NewFakeRecorder(10000)
	e.c.rec = e.rec
	return e
}

func testLogger(t *testing.T) *slog.Logger {
	return slog.New(slog.NewTextHandler(tbWriter{t}, &slog.HandlerOptions{Level: slog.LevelWarn}))
}

type tbWriter struct{ t *testing.T }

func (w tbWriter) Write(p []byte) (int, error) {
	w.t.Helper()
	w.t.Log(strings.TrimSpace(string(p)))
	return len(p), nil
}

// testDeployment is a deployment of app=name running image.
func testDeployment(name string, replicas int32, image string) *appsv1.Deployment {
	labels := map[string]string{"app": name}
	return &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "default"},
		Spec: appsv1.DeploymentSpec{
			Replicas: ptr.To(replicas),
			Selector: &metav1.LabelSelector{MatchLabels: labels},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: labels},
				Spec: corev1.PodSpec{Containers: []corev1.Container{{
					Name: "app", Image: image,
					Ports: []corev1.ContainerPort{{ContainerPort: 8080}},
				}}},
			},
		},
	}
}

func withStrategy(surge, unavailable intstr.IntOrString) func(*appsv1.Deployment) {
	return func(d *appsv1.Deployment) {
		d.Spec.Strategy = appsv1.DeploymentStrategy{
			Type:          appsv1.RollingUpdateDeploymentStrategyType,
			RollingUpdate: &appsv1.RollingUpdateDeployment{MaxSurge: &surge, MaxUnavailable: &unavailable},
		}
	}
}

func (e *testEnv) create(d *appsv1.Deployment, opts ...func(*appsv1.Deployment)) *appsv1.Deployment {
	e.t.Helper()
	for _, o := range opts {
		o(d)
	}
	out, err := e.cs.AppsV1().Deployments(d.Namespace).Create(e.ctx, d, metav1.CreateOptions{})
	if err != nil {
		e.t.Fatalf("create deployment %s: %v", d.Name, err)
	}
	return out
}

func (e *testEnv) get(name string) *appsv1.Deployment {
	e.t.Helper()
	d, err := e.cs.AppsV1().Deployments("default").Get(e.ctx, name, metav1.GetOptions{})
	if err != nil {
		e.t.Fatalf("get deployment %s: %v", name, err)
	}
	return d
}

// update changes the deployment as a user would, retrying on conflicts.
func (e *testEnv) update(name string, fn func(*appsv1.Deployment)) {
	e.t.Helper()
	for range 10 {
		d := e.get(name)
		fn(d)
		_, err := e.cs.AppsV1().Deployments("default").Update(e.ctx, d, metav1.UpdateOptions{})
		if err == nil {
			return
		}
		if !apierrors.IsConflict(err) {
			e.t.Fatalf("update deployment %s: %v", name, err)
		}
	}
	e.t.Fatalf("update deployment %s: too many conflicts", name)
}

func (e *testEnv) setImage(name, image string) {
	e.t.Helper()
	e.update(name, func(d *appsv1.Deployment) { d.Spec.Template.Spec.Containers[0].Image = image })
}

// sync runs one controller pass over the deployment and collects the
// events it recorded.
func (e *testEnv) sync(name string) {
	e.t.Helper()
	controllertest.WaitCacheSynced(e.t, e.deps) // as a sync woken by the last write's event
	var err error
	for range 5 {
		if err = e.c.syncKey(e.ctx, "default/"+name); err == nil || !apierrors.IsConflict(err) {
			break
		}
	}
	if err != nil {
		e.t.Fatalf("sync %s: %v", name, err)
	}
	e.drainEvents()
}

func (e *testEnv) drainEvents() {
	for {
		select {
		case ev := <-e.rec.Events:
			e.events = append(e.events, ev)
		default:
			return
		}
	}
}

// replicaSets lists the ReplicaSets controlled by the deployment, by
// revision.
func (e *testEnv) replicaSets(name string) []*appsv1.ReplicaSet {
	e.t.Helper()
	d := e.get(name)
	list, err := e.cs.AppsV1().ReplicaSets("default").List(e.ctx, metav1.ListOptions{})
	if err != nil {
		e.t.Fatalf("list replicasets: %v", err)
	}
	var out []*appsv1.ReplicaSet
	for i := range list.Items {
		rs := &list.Items[i]
		if ref := metav1.GetControllerOf(rs); ref != nil && ref.UID == d.UID {
			out = append(out, rs)
		}
	}
	slices.SortFunc(out, byRevision)
	return out
}

// newReplicaSet is the ReplicaSet whose template is the deployment's.
func (e *testEnv) newReplicaSet(name string) *appsv1.ReplicaSet {
	e.t.Helper()
	d := e.get(name)
	for _, rs := range e.replicaSets(name) {
		if EqualIgnoreHash(&rs.Spec.Template, &d.Spec.Template) {
			return rs
		}
	}
	return nil
}

// podsCreated plays the ReplicaSet controller after a pass: each
// ReplicaSet now has spec.replicas pods; removed pods were available ones
// (the worst case), new ones are not available yet.
func (e *testEnv) podsCreated(name string) {
	e.t.Helper()
	e.setStatus(name, func(rs *appsv1.ReplicaSet) {
		n := ptr.Deref(rs.Spec.Replicas, 0)
		rs.Status.Replicas = n
		rs.Status.AvailableReplicas = min(rs.Status.AvailableReplicas, n)
		rs.Status.ReadyReplicas = rs.Status.AvailableReplicas
	})
}

// podsAvailable: every pod of every ReplicaSet is ready and available.
func (e *testEnv) podsAvailable(name string) {
	e.t.Helper()
	e.setStatus(name, func(rs *appsv1.ReplicaSet) {
		n := ptr.Deref(rs.Spec.Replicas, 0)
		rs.Status.Replicas, rs.Status.ReadyReplicas, rs.Status.AvailableReplicas = n, n, n
	})
}

func (e *testEnv) setStatus(name string, fn func(*appsv1.ReplicaSet)) {
	e.t.Helper()
	for _, rs := range e.replicaSets(name) {
		before := *rs.Status.DeepCopy()
		fn(rs)
		rs.Status.ObservedGeneration = rs.Generation
		rs.Status.FullyLabeledReplicas = rs.Status.Replicas
		if apiequality.Semantic.DeepEqual(before, rs.Status) {
			continue
		}
		if _, err := e.cs.AppsV1().ReplicaSets("default").UpdateStatus(e.ctx, rs, metav1.UpdateOptions{}); err != nil {
			e.t.Fatalf("update status of replicaset %s: %v", rs.Name, err)
		}
	}
}

// complete says whether the deployment is done the way kubectl rollout
// status judges it, with the Progressing condition to match and no old
// replica left.
func (e *testEnv) complete(name string) bool {
	e.t.Helper()
	d := e.get(name)
	n := ptr.Deref(d.Spec.Replicas, 1)
	s := d.Status
	if s.ObservedGeneration < d.Generation || s.UpdatedReplicas != n || s.Replicas != n || s.AvailableReplicas != n {
		return false
	}
	if c := getDeploymentCondition(s, appsv1.DeploymentProgressing); c == nil || c.Reason != reasonNewRSAvailable {
		return false
	}
	for _, rs := range e.replicaSets(name) {
		if !EqualIgnoreHash(&rs.Spec.Template, &d.Spec.Template) && ptr.Deref(rs.Spec.Replicas, 0) != 0 {
			return false
		}
	}
	return true
}

// rollOut drives the deployment to completion with the simulated
// ReplicaSet controller, calling check after every change.
func (e *testEnv) rollOut(name string, check func(step string)) {
	e.t.Helper()
	for i := range 200 {
		e.sync(name)
		check(fmt.Sprintf("pass %d", i))
		if e.complete(name) {
			return
		}
		e.podsCreated(name)
		check(fmt.Sprintf("pass %d, pods created", i))
		e.podsAvailable(name)
		check(fmt.Sprintf("pass %d, pods available", i))
	}
	e.t.Fatalf("deployment %s not complete after 200 passes: %s", name, e.describe(name))
}

// describe summarises the deployment and its ReplicaSets for failures.
func (e *testEnv) describe(name string) string {
	d := e.get(name)
	var b strings.Builder
	st, _ := json.Marshal(d.Status)
	fmt.Fprintf(&b, "deployment gen=%d status=%s\n", d.Generation, st)
	for _, rs := range e.replicaSets(name) {
		fmt.Fprintf(&b, "  rs %s rev=%s spec=%d status=%d/%d/%d\n", rs.Name, rs.Annotations[RevisionAnnotation],
			ptr.Deref(rs.Spec.Replicas, 0), rs.Status.Replicas, rs.Status.ReadyReplicas, rs.Status.AvailableReplicas)
	}
	return b.String()
}

// totals are the sums over the deployment's ReplicaSets.
func (e *testEnv) totals(name string) (spec, pods, available int32) {
	for _, rs := range e.replicaSets(name) {
		spec += ptr.Deref(rs.Spec.Replicas, 0)
		pods += rs.Status.Replicas
		available += rs.Status.AvailableReplicas
	}
	return spec, pods, available
}

func (e *testEnv) hasEvent(substr string) bool {
	e.drainEvents()
	for _, ev := range e.events {
		if strings.Contains(ev, substr) {
			return true
		}
	}
	return false
}
