package servicesync

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes/fake"

	"github.com/shoal-project/shoal/consensus"
	"github.com/shoal-project/shoal/node/network"
)

// failingNet fails its first failures syncs.
type failingNet struct {
	fakeNet
	mu       sync.Mutex
	failures int
	calls    []time.Time
}

func (f *failingNet) Sync(st network.ProxyState) error {
	f.mu.Lock()
	f.calls = append(f.calls, time.Now())
	fail := len(f.calls) <= f.failures
	f.mu.Unlock()
	if fail {
		return errors.New("netlink: message too long")
	}
	return f.fakeNet.Sync(st)
}

func (f *failingNet) attempts() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.calls)
}

// A failing sync is retried with a growing wait, not in a loop, and the
// outage is reported once on the Node: a Warning event and the
// ServiceProxyReady condition False; the recovery once: a Normal event and
// the condition True.
func TestProxyFailureBacksOffAndIsReported(t *testing.T) {
	st := consensus.NewStore()
	w := &storeWriter{tb: t, st: st}
	nodeObj := &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "n1"}}
	w.create("nodes", "", "n1", nodeObj)
	w.create("services", "default", "web", clusterIPService("default", "web", "10.43.0.7"))
	client := fake.NewSimpleClientset(nodeObj.DeepCopy())

	fn := &failingNet{failures: 4}
	p := &Proxy{Cache: runCache(t, st), NodeName: "n1", NodeIP: "192.0.2.1", Proxy: fn, Routes: fn,
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil)), Debounce: time.Millisecond, Resync: time.Hour,
		RetryMin: 40 * time.Millisecond, RetryMax: 160 * time.Millisecond, Client: client}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- p.Run(ctx) }()
	defer func() {
		cancel()
		<-done
	}()

	condition := func() *corev1.NodeCondition {
		n, err := client.CoreV1().Nodes().Get(ctx, "n1", metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		for i := range n.Status.Conditions {
			if n.Status.Conditions[i].Type == ConditionServiceProxyReady {
				return &n.Status.Conditions[i]
			}
		}
		return nil
	}
	waitFor := func(what string, ok func() bool) {
		t.Helper()
		deadline := time.Now().Add(10 * time.Second)
		for !ok() {
			if time.Now().After(deadline) {
				t.Fatalf("timed out waiting for %s", what)
			}
			time.Sleep(5 * time.Millisecond)
		}
	}
	waitFor("the condition False", func() bool {
		c := condition()
		return c != nil && c.Status == corev1.ConditionFalse && c.Reason == ReasonProxySyncFailed &&
			c.Message == "proxy: netlink: message too long"
	})
	waitFor("the recovery", func() bool {
		c := condition()
		return c != nil && c.Status == corev1.ConditionTrue && c.Reason == ReasonProxySynced
	})
	if n := fn.attempts(); n != 5 {
		t.Errorf("%d sync attempts, want 5 (4 failures, then success)", n)
	}
	// The waits between attempts grow: 40, 80, 160, 160 ms at least.
	fn.mu.Lock()
	for i := 1; i < len(fn.calls); i++ {
		want := min(40*time.Millisecond<<(i-1), 160*time.Millisecond)
		if gap := fn.calls[i].Sub(fn.calls[i-1]); gap < want {
			t.Errorf("attempt %d came %v after the one before, want at least %v", i+1, gap, want)
		}
	}
	fn.mu.Unlock()

	var reasons []string
	waitFor("two events", func() bool {
		evs, err := client.CoreV1().Events("").List(ctx, metav1.ListOptions{})
		if err != nil {
			t.Fatal(err)
		}
		reasons = reasons[:0]
		for _, e := range evs.Items {
			reasons = append(reasons, e.Type+" "+e.Reason)
		}
		return len(reasons) >= 2
	})
	time.Sleep(100 * time.Millisecond) // a third event would come now
	evs, _ := client.CoreV1().Events("").List(ctx, metav1.ListOptions{})
	if len(evs.Items) != 2 {
		t.Errorf("%d events (%v), want one Warning ServiceProxySyncFailed and one Normal ServiceProxySynced", len(evs.Items), reasons)
	}
	for _, e := range evs.Items {
		if e.InvolvedObject.Kind != "Node" || e.InvolvedObject.Name != "n1" || e.Source.Component != "kube-proxy" || e.Count != 1 {
			t.Errorf("event %s %s: on %s/%s from %q count %d, want on Node n1 from kube-proxy, once",
				e.Type, e.Reason, e.InvolvedObject.Kind, e.InvolvedObject.Name, e.Source.Component, e.Count)
		}
	}
}
