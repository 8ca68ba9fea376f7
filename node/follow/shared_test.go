package follow

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"

	"github.com/shoal-project/shoal/consensus"
)

// TestSharedOneFollowerPerResource: every part asking for a resource gets
// the same follower, started whether asked for before or after Run, and
// all of them stop with Run.
func TestSharedOneFollowerPerResource(t *testing.T) {
	st := consensus.NewStore()
	w := &writer{t: t, s: st}
	w.create("a", "n0")
	s := NewShared(st, nil)
	early := For[corev1.Pod](s, "pods")
	if For[corev1.Pod](s, "pods") != early {
		t.Fatal("a second For(pods) returned another follower")
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx) }()
	late := For[corev1.Namespace](s, "namespaces")
	wctx, wcancel := context.WithTimeout(ctx, 10*time.Second)
	defer wcancel()
	if !WaitReady(wctx, early, late) {
		t.Fatal("followers asked for before and after Run did not list within 10s")
	}
	if _, ok := early.Get("ns", "a"); !ok {
		t.Fatal("pod ns/a not in the shared pods cache")
	}
	if n := st.Watchers("pods") + st.Watchers("namespaces"); n != 2 {
		t.Fatalf("open watchers = %d, want 2 (one per resource)", n)
	}
	func() {
		defer func() {
			if recover() == nil {
				t.Error("For(pods) with another type did not panic")
			}
		}()
		For[corev1.Service](s, "pods")
	}()
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("Run = %v, want nil", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Run did not return within 10s of cancel")
	}
	if n := st.Watchers("pods") + st.Watchers("namespaces"); n != 0 {
		t.Fatalf("open watchers after Run = %d, want 0", n)
	}
}

// TestLateHandlerSeesEachChangeOnce: handlers added while the store
// changes fast (as a controller starting on a new leader does) are shown
// the cache, then every later change, each once and in order: the shadow
// each builds ends equal to the store.
func TestLateHandlerSeesEachChangeOnce(t *testing.T) {
	st := consensus.NewStore()
	w := &writer{t: t, s: st}
	f, _, _ := start(t, st, nil)
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			default:
			}
			name := fmt.Sprint("p", i%30)
			switch (i / 30) % 3 { // create all, update all, delete all
			case 0:
				w.create(name, "n0")
			case 1:
				w.update(name, "n1")
			default:
				w.delete(name)
			}
		}
	}()
	var shadows []*shadow
	var removes []func()
	for range 5 {
		time.Sleep(2 * time.Millisecond)
		sh := &shadow{objs: make(map[string]*corev1.Pod)}
		removes = append(removes, f.AddHandler(sh.handler()))
		shadows = append(shadows, sh)
	}
	removes[0]()
	removedEvents := shadows[0].count()
	close(stop)
	wg.Wait()
	for i, sh := range shadows[1:] {
		t.Run(fmt.Sprint("handler ", i+1), func(t *testing.T) { checkExact(t, f, sh, st) })
	}
	if n := shadows[0].count(); n != removedEvents {
		t.Fatalf("a removed handler was called %d more times", n-removedEvents)
	}
}

func (s *shadow) count() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.events
}

// TestLateIndexExact: an index added to a running follower is built from
// the cache and then kept exact.
func TestLateIndexExact(t *testing.T) {
	st := consensus.NewStore()
	w := &writer{t: t, s: st}
	w.create("a", "n0")
	w.create("b", "n1")
	f, _, _ := start(t, st, nil)
	caughtUp(t, f, st)
	f.AddIndex(IndexPodsByNode, PodsByNode)
	f.AddIndex(IndexPodsByNode, func(*corev1.Pod) []string { return []string{"other"} }) // kept: the first
	names := func(node string) string {
		var out []string
		for _, p := range f.ByIndex(IndexPodsByNode, node) {
			out = append(out, p.Name)
		}
		return fmt.Sprint(out)
	}
	if got := names("n0"); got != "[a]" {
		t.Fatalf("late index n0 = %s, want [a]", got)
	}
	w.update("b", "n0")
	w.create("c", "")
	caughtUp(t, f, st)
	if got := names("n0"); got != "[a b]" {
		t.Fatalf("after update: n0 = %s, want [a b]", got)
	}
	if got := names(""); got != "[c]" {
		t.Fatalf("unbound = %s, want [c]", got)
	}
	if got := names("other"); got != "[]" {
		t.Fatalf("a second AddIndex of the same name replaced the first: other = %s", got)
	}
}
