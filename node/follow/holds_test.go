package follow

import (
	"context"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"

	"github.com/shoal-project/shoal/consensus"
)

// TestHoldsBefore: a follower holds the changes before an index once it
// has taken every change of its resource the store queued to it, though
// the changes of other resources since then never reach it.
func TestHoldsBefore(t *testing.T) {
	st := consensus.NewStore()
	w := &writer{t: t, s: st}
	gate := make(chan struct{})
	blocked := make(chan struct{})
	f, _, _ := start(t, st, func(f *Follower[corev1.Pod]) {
		f.AddHandler(Handler[corev1.Pod]{Add: func(p *corev1.Pod) {
			if p.Name == "a" {
				close(blocked)
				<-gate // the follower takes nothing more until released
			}
		}})
	})
	w.create("a", "n1") // index 1: taken, its handler blocks
	<-blocked
	w.create("b", "n1")                         // index 2: queued behind the blocked handler
	for _, name := range []string{"c1", "c2"} { // indexes 3 and 4
		w.apply(&consensus.Command{Op: consensus.OpCreate, Resource: "configmaps", Namespace: "ns", Name: name,
			Object: []byte(`{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"` + name + `","namespace":"ns"}}`),
			UID:    "uid-" + name, Time: "2026-01-01T00:00:00Z"})
	}
	if !f.HoldsBefore(2) {
		t.Error("HoldsBefore(2) = false with index 1 applied, want true")
	}
	if f.HoldsBefore(5) {
		t.Error("HoldsBefore(5) = true while pod b (index 2) waits in the watch, want false")
	}
	if f.HoldsBefore(50) {
		t.Error("HoldsBefore(50) = true with the store at index 4, want false")
	}
	if WaitHolds(context.Background(), 5, 20*time.Millisecond, f) {
		t.Error("WaitHolds(5) = true while pod b waits in the watch, want false after its 20ms")
	}
	time.AfterFunc(50*time.Millisecond, func() { close(gate) })
	if !WaitHolds(context.Background(), 5, 10*time.Second, f) {
		t.Fatalf("WaitHolds(5) still false 10s after pod b was released (cache at %d, store at %d)", f.ResourceVersion(), st.Index())
	}
	if _, ok := f.Get("ns", "b"); !ok {
		t.Error("HoldsBefore(5) = true but pod b is not in the cache")
	}
	if f.ResourceVersion() != 2 {
		t.Errorf("cache at resourceVersion %d, want 2 (pods only)", f.ResourceVersion())
	}
}
