package kubelet

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/shoal-project/shoal/internal/apitest"
	"github.com/shoal-project/shoal/runtime"
)

const testNode = "node-a"

// loopEnv is a kubelet over a fake runtime, in apitest's environment (a
// real store with a LocalProposer, the API served in-process, the node's
// shared cache running until the test ends).
type loopEnv struct {
	*apitest.Env
	t  *testing.T
	rt *fakeRuntime
	// use, when set, replaces rt as the kubelet's runtime.
	use runtime.Runtime
	// tune, when set, changes the kubelet's Tuning before start.
	tune func(*Tuning)
	// metrics, when set, is the kubelet's Config.Metrics.
	metrics prometheus.Registerer
	// now, when set, is the kubelet's clock.
	now func() time.Time
	// logTo, when set, also receives the kubelet's log (debug level).
	logTo io.Writer
	root  string
	k     *Kubelet
	// stop ends the running kubelet and waits for its Run to return.
	stop func()
}

// testTuning makes every period and back-off short.
var testTuning = Tuning{
	Resync: 200 * time.Millisecond, PodSync: 30 * time.Millisecond,
	CrashBackOff:     BackOffPolicy{Initial: 150 * time.Millisecond, Max: 600 * time.Millisecond},
	ImagePullBackOff: BackOffPolicy{Initial: 300 * time.Millisecond, Max: time.Second},
	SyncBackOff:      BackOffPolicy{Initial: 30 * time.Millisecond, Max: 300 * time.Millisecond},
}

type testWriter struct {
	mu sync.Mutex
	t  *testing.T
	on bool
}

func (w *testWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.on {
		w.t.Log(strings.TrimSpace(string(p)))
	}
	return len(p), nil
}

// newLoopEnv serves the API and prepares the kubelet; start runs it.
func newLoopEnv(t *testing.T) *loopEnv {
	t.Helper()
	e := &loopEnv{Env: apitest.New(t), t: t, rt: newFakeRuntime(), root: t.TempDir()}
	n, err := e.CS.CoreV1().Nodes().Create(e.Ctx, &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: testNode}}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	n.Status.Addresses = []corev1.NodeAddress{{Type: corev1.NodeInternalIP, Address: "192.0.2.10"}}
	if _, err := e.CS.CoreV1().Nodes().UpdateStatus(e.Ctx, n, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	return e
}

// start runs the kubelet until the test ends.
func (e *loopEnv) start() {
	e.t.Helper()
	lw := &testWriter{t: e.t, on: testing.Verbose()}
	var out io.Writer = lw
	if e.logTo != nil {
		out = io.MultiWriter(lw, e.logTo)
	}
	var rt runtime.Runtime = e.rt
	if e.use != nil {
		rt = e.use
	}
	tuning := testTuning
	if e.tune != nil {
		e.tune(&tuning)
	}
	e.k = New(Config{
		NodeName: testNode, Cache: e.Cache, Client: e.CS, Runtime: rt, RootDir: e.root,
		ClusterDNS: []string{"10.43.0.10"},
		Logger:     slog.New(slog.NewTextHandler(out, &slog.HandlerOptions{Level: slog.LevelDebug})),
		Tuning:     tuning,
		Metrics:    e.metrics,
		Now:        e.now,
	})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- e.k.Run(ctx) }()
	e.stop = sync.OnceFunc(func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				e.t.Errorf("Run: %v", err)
			}
		case <-time.After(10 * time.Second):
			e.t.Error("Run did not return after cancel")
		}
		lw.mu.Lock()
		lw.on = false
		lw.mu.Unlock()
	})
	e.t.Cleanup(e.stop)
	select {
	case <-e.k.Ready():
	case <-time.After(5 * time.Second):
		e.t.Fatal("kubelet not ready")
	}
}

func (e *loopEnv) createPod(pod *corev1.Pod) *corev1.Pod {
	e.t.Helper()
	if pod.Spec.NodeName == "" {
		pod.Spec.NodeName = testNode
	}
	created, err := e.CS.CoreV1().Pods("default").Create(e.Ctx, pod, metav1.CreateOptions{})
	if err != nil {
		e.t.Fatal(err)
	}
	return created
}

func testPod(name, image string) *corev1.Pod {
	return &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: name, Labels: map[string]string{"app": name}},
		Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "app", Image: image}}},
	}
}

// eventually polls cond until it holds, failing the test after 10s with
// cond's last explanation.
func (e *loopEnv) eventually(what string, cond func() (bool, string)) {
	e.t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	var why string
	for time.Now().Before(deadline) {
		var ok bool
		if ok, why = cond(); ok {
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
	e.t.Fatalf("timed out waiting for %s: %s", what, why)
}

// events lists the events about a pod as "Type Reason fieldPath: message".
func (e *loopEnv) events(name string) []corev1.Event {
	e.t.Helper()
	l, err := e.CS.CoreV1().Events("default").List(e.Ctx, metav1.ListOptions{})
	if err != nil {
		e.t.Fatal(err)
	}
	var out []corev1.Event
	for _, ev := range l.Items {
		if ev.InvolvedObject.Name == name {
			out = append(out, ev)
		}
	}
	return out
}

// hasEvent waits for an event with reason whose message starts with
// prefix, and returns it.
func (e *loopEnv) hasEvent(pod, reason, prefix string) corev1.Event {
	e.t.Helper()
	var found corev1.Event
	e.eventually(fmt.Sprintf("event %s %q", reason, prefix), func() (bool, string) {
		evs := e.events(pod)
		var seen []string
		for _, ev := range evs {
			if ev.Reason == reason && strings.HasPrefix(ev.Message, prefix) {
				found = ev
				return true, ""
			}
			seen = append(seen, ev.Reason+": "+ev.Message)
		}
		return false, strings.Join(seen, "\n")
	})
	return found
}

// watchReasons records every waiting reason the pod's app container
// reports, from the store's watch.
func (e *loopEnv) watchReasons(name string) func() []string {
	w, err := e.Store.Watch("pods", "default", 0)
	if err != nil {
		e.t.Fatal(err)
	}
	var (
		mu      sync.Mutex
		reasons []string
	)
	go func() {
		for ev := range w.Events() {
			if ev.Object.Name != name {
				continue
			}
			var p corev1.Pod
			if json.Unmarshal(ev.Object.Raw, &p) != nil {
				continue
			}
			for _, cs := range p.Status.ContainerStatuses {
				if cs.State.Waiting != nil {
					mu.Lock()
					if len(reasons) == 0 || reasons[len(reasons)-1] != cs.State.Waiting.Reason {
						reasons = append(reasons, cs.State.Waiting.Reason)
					}
					mu.Unlock()
				}
			}
		}
	}()
	e.t.Cleanup(w.Stop)
	return func() []string {
		mu.Lock()
		defer mu.Unlock()
		return slices.Clone(reasons)
	}
}
