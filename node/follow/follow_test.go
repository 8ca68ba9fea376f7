package follow

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/shoal-project/shoal/consensus"
)

// writer applies commands to a store at increasing indexes, as the FSM does.
type writer struct {
	t   testing.TB
	s   *consensus.Store
	mu  sync.Mutex
	idx uint64
}

func (w *writer) apply(cmd *consensus.Command) {
	w.t.Helper()
	w.mu.Lock()
	defer w.mu.Unlock()
	w.idx++
	if _, err := w.s.Apply(w.idx, cmd); err != nil {
		w.t.Errorf("apply %v %s: %v", cmd.Op, cmd.Name, err)
	}
}

func podRaw(t testing.TB, name, node string) []byte {
	raw, err := json.Marshal(&corev1.Pod{
		TypeMeta:   metav1.TypeMeta{APIVersion: "v1", Kind: "Pod"},
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "ns"},
		Spec:       corev1.PodSpec{NodeName: node},
	})
	if err != nil {
		t.Fatal(err)
	}
	return raw
}

func (w *writer) create(name, node string) {
	w.apply(&consensus.Command{Op: consensus.OpCreate, Resource: "pods", Namespace: "ns", Name: name,
		Object: podRaw(w.t, name, node), UID: "uid-" + name, Time: "2026-01-01T00:00:00Z"})
}

func (w *writer) update(name, node string) {
	w.apply(&consensus.Command{Op: consensus.OpUpdate, Resource: "pods", Namespace: "ns", Name: name,
		Object: podRaw(w.t, name, node)})
}

func (w *writer) delete(name string) {
	w.apply(&consensus.Command{Op: consensus.OpDelete, Resource: "pods", Namespace: "ns", Name: name,
		Time: "2026-01-01T00:00:00Z"})
}

func byNode(p *corev1.Pod) []string {
	if p.Spec.NodeName == "" {
		return nil
	}
	return []string{p.Spec.NodeName}
}

// shadow is a copy of the cache built only from the handler calls; it
// checks that each call is consistent with the calls before it.
type shadow struct {
	mu     sync.Mutex
	objs   map[string]*corev1.Pod
	errs   []string
	events int
}

func (s *shadow) handler() Handler[corev1.Pod] {
	key := func(p *corev1.Pod) string { return Key(p.Namespace, p.Name) }
	rv := func(p *corev1.Pod) uint64 { n, _ := strconv.ParseUint(p.ResourceVersion, 10, 64); return n }
	return Handler[corev1.Pod]{
		Add: func(p *corev1.Pod) {
			s.mu.Lock()
			defer s.mu.Unlock()
			s.events++
			if old, ok := s.objs[key(p)]; ok {
				s.errs = append(s.errs, fmt.Sprintf("Add %s at rv %s: already held at rv %s", key(p), p.ResourceVersion, old.ResourceVersion))
			}
			s.objs[key(p)] = p
		},
		Update: func(old, p *corev1.Pod) {
			s.mu.Lock()
			defer s.mu.Unlock()
			s.events++
			if held := s.objs[key(p)]; held != old {
				s.errs = append(s.errs, fmt.Sprintf("Update %s: old is not the object last handed over", key(p)))
			}
			if rv(p) <= rv(old) {
				s.errs = append(s.errs, fmt.Sprintf("Update %s: stale: rv %d after rv %d", key(p), rv(p), rv(old)))
			}
			s.objs[key(p)] = p
		},
		Delete: func(p *corev1.Pod) {
			s.mu.Lock()
			defer s.mu.Unlock()
			s.events++
			if held := s.objs[key(p)]; held != p {
				s.errs = append(s.errs, fmt.Sprintf("Delete %s: not the object last handed over", key(p)))
			}
			delete(s.objs, key(p))
		},
	}
}

// start runs a pods follower with a node index and a shadow handler.
// stop ends the follower and returns what Run returned.
func start(t *testing.T, st *consensus.Store, setup func(*Follower[corev1.Pod])) (f *Follower[corev1.Pod], sh *shadow, stop func() error) {
	f = New[corev1.Pod](st, "pods", "", nil)
	f.AddIndex("node", byNode)
	sh = &shadow{objs: make(map[string]*corev1.Pod)}
	f.AddHandler(sh.handler())
	if setup != nil {
		setup(f)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	var runErr error
	go func() { runErr = f.Run(ctx); close(done) }()
	stop = func() error {
		cancel()
		select {
		case <-done:
			return runErr
		case <-time.After(10 * time.Second):
			return fmt.Errorf("Run did not return 10s after its context ended")
		}
	}
	t.Cleanup(func() { _ = stop() })
	select {
	case <-f.Ready():
	case <-time.After(10 * time.Second):
		t.Fatal("follower not ready after 10s")
	}
	return f, sh, stop
}

// caughtUp waits until the follower has applied the store's last change.
func caughtUp(t *testing.T, f *Follower[corev1.Pod], st *consensus.Store) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for f.ResourceVersion() < st.Index() {
		if time.Now().After(deadline) {
			t.Fatalf("follower at rv %d, store at %d after 10s", f.ResourceVersion(), st.Index())
		}
		time.Sleep(time.Millisecond)
	}
}

// checkExact compares the cache, its node index and the handlers' shadow
// with the store: same objects, same versions, same contents.
func checkExact(t *testing.T, f *Follower[corev1.Pod], sh *shadow, st *consensus.Store) {
	t.Helper()
	caughtUp(t, f, st)
	objs, _, _ := st.List("pods", "", "", 0)
	want := map[string]string{}    // key -> rv
	nodes := map[string][]string{} // node -> names
	for _, o := range objs {
		var p corev1.Pod
		if err := json.Unmarshal(o.Raw, &p); err != nil {
			t.Fatal(err)
		}
		want[Key(p.Namespace, p.Name)] = p.ResourceVersion
		if p.Spec.NodeName != "" {
			nodes[p.Spec.NodeName] = append(nodes[p.Spec.NodeName], p.Name)
		}
	}
	got := map[string]string{}
	for _, p := range f.List() {
		got[Key(p.Namespace, p.Name)] = p.ResourceVersion
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("cache (key:rv) = %v\nstore            = %v", got, want)
	}
	for _, node := range []string{"n0", "n1", "n2", "n3", "gone"} {
		var names []string
		for _, p := range f.ByIndex("node", node) {
			names = append(names, p.Name)
		}
		slices.Sort(names)
		w := nodes[node]
		slices.Sort(w)
		if !slices.Equal(names, w) {
			t.Fatalf("ByIndex(node, %s) = %v, want %v", node, names, w)
		}
	}
	// The handlers run after the cache changed: give them time to finish.
	deadline := time.Now().Add(10 * time.Second)
	for {
		sh.mu.Lock()
		errs := sh.errs
		seen := map[string]string{}
		for k, p := range sh.objs {
			seen[k] = p.ResourceVersion
		}
		sh.mu.Unlock()
		if len(errs) > 0 {
			t.Fatalf("handler calls inconsistent:\n%s", errs)
		}
		if fmt.Sprint(seen) == fmt.Sprint(want) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("handlers' view (key:rv) = %v\nstore                    = %v", seen, want)
		}
		time.Sleep(time.Millisecond)
	}
}

// TestFollowAcrossGone: the follower holds a list; its watch is closed
// (a snapshot restore); the changes made between its re-list and re-watch
// fall out of the event ring, so the watch fails with ErrGone (410). The
// follower lists again: no object is missed, none is left stale, and the
// handlers see each change against what they saw before.
func TestFollowAcrossGone(t *testing.T) {
	st := consensus.NewStore(consensus.WithEventRing(4))
	w := &writer{t: t, s: st}
	for i := range 6 {
		w.create(fmt.Sprint("p", i), fmt.Sprint("n", i%3))
	}
	var lists, hooked atomic.Int32
	f, sh, _ := start(t, st, func(f *Follower[corev1.Pod]) {
		f.testHookAfterList = func() {
			if lists.Add(1) != 2 {
				return
			}
			w.delete("p0")       // listed, now gone
			w.update("p1", "n3") // listed, now elsewhere
			w.update("p2", "")   // listed, now unbound
			w.create("p6", "n2") // new
			for range 4 {        // push the above out of the ring
				w.update("p3", "n0")
			}
			hooked.Store(1)
		}
	})
	checkExact(t, f, sh, st)
	var snap bytes.Buffer // restore the store's own state: closes the watch
	if _, err := st.Snapshot().WriteTo(&snap); err != nil {
		t.Fatal(err)
	}
	if err := st.Restore(&snap); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for hooked.Load() == 0 {
		if time.Now().After(deadline) {
			t.Fatal("the follower did not re-list after the restore")
		}
		time.Sleep(time.Millisecond)
	}
	checkExact(t, f, sh, st)
	if n := lists.Load(); n < 3 {
		t.Fatalf("%d lists: the watch after the second did not fail with ErrGone", n)
	}
	if _, ok := f.Get("ns", "p0"); ok {
		t.Fatal("Get(p0) found a deleted pod")
	}
	if p, _ := f.Get("ns", "p1"); p == nil || p.Spec.NodeName != "n3" {
		t.Fatalf("Get(p1) = %v, want the pod on n3", p)
	}
	w.create("p7", "n1") // and the watch that followed works
	checkExact(t, f, sh, st)
}

// TestFollowIndexesExact checks the cache and its index after each create,
// move between nodes, unbinding and delete.
func TestFollowIndexesExact(t *testing.T) {
	st := consensus.NewStore()
	w := &writer{t: t, s: st}
	w.create("a", "n0")
	f, sh, _ := start(t, st, nil)
	checkExact(t, f, sh, st)
	steps := []func(){
		func() { w.create("b", "n0") },
		func() { w.create("c", "") },
		func() { w.update("c", "n1") },
		func() { w.update("a", "n1") },
		func() { w.update("a", "n1") }, // same node, new version
		func() { w.update("b", "") },
		func() { w.delete("a") },
		func() { w.delete("c") },
		func() { w.create("a", "n2") },
	}
	for i, step := range steps {
		step()
		t.Run(fmt.Sprint("step ", i), func(t *testing.T) { checkExact(t, f, sh, st) })
	}
}

// TestFollowSlowHandler: a handler slow enough that the store closes the
// watch (overflow) while a small ring drops events; random changes; the
// cache and the handlers end exactly equal to the store.
func TestFollowSlowHandler(t *testing.T) {
	st := consensus.NewStore(consensus.WithEventRing(8), consensus.WithWatchBuffer(4))
	w := &writer{t: t, s: st}
	var calls int
	f, sh, _ := start(t, st, func(f *Follower[corev1.Pod]) {
		f.AddHandler(Handler[corev1.Pod]{Update: func(_, _ *corev1.Pod) {
			if calls++; calls%25 == 0 {
				time.Sleep(20 * time.Millisecond)
			}
		}})
	})
	rng := rand.New(rand.NewPCG(1, 2))
	live := map[string]bool{}
	for i := range 2000 {
		name := fmt.Sprint("p", rng.IntN(40))
		node := fmt.Sprint("n", rng.IntN(4))
		switch {
		case !live[name]:
			w.create(name, node)
			live[name] = true
		case rng.IntN(5) == 0:
			w.delete(name)
			live[name] = false
		default:
			w.update(name, node)
		}
		if i%200 == 0 {
			time.Sleep(5 * time.Millisecond)
		}
	}
	checkExact(t, f, sh, st)
	if f.relists.Load() == 0 {
		t.Fatal("the watch never overflowed: the test did not exercise a re-list")
	}
	sh.mu.Lock()
	t.Logf("%d re-lists, %d handler calls", f.relists.Load(), sh.events)
	sh.mu.Unlock()
}

// TestFollowStopReleasesWatcher: a follower whose watch was closed by a
// snapshot restore (a replica that fell behind gets the leader's snapshot)
// re-lists and re-watches; once stopped, it holds no watcher of the store.
func TestFollowStopReleasesWatcher(t *testing.T) {
	st := consensus.NewStore()
	w := &writer{t: t, s: st}
	f, sh, stop := start(t, st, nil) // an empty store at index 0
	ahead := &writer{t: t, s: consensus.NewStore()}
	for _, w := range []*writer{w, ahead} {
		w.create("a", "n0")
		w.create("x", "n1")
	}
	checkExact(t, f, sh, st)
	if n := st.Watchers("pods"); n != 1 {
		t.Fatalf("open pods watchers = %d, want 1", n)
	}
	ahead.create("b", "n1")
	ahead.update("a", "n2")
	ahead.delete("x")
	var snap bytes.Buffer
	if _, err := ahead.s.Snapshot().WriteTo(&snap); err != nil {
		t.Fatal(err)
	}
	relists := f.relists.Load()
	if err := st.Restore(&snap); err != nil {
		t.Fatal(err)
	}
	w.idx = ahead.idx
	w.create("c", "n1") // after the restore
	checkExact(t, f, sh, st)
	if f.relists.Load() == relists {
		t.Fatal("the follower did not re-list after the restore")
	}
	if n := st.Watchers("pods"); n != 1 {
		t.Fatalf("open pods watchers after the re-watch = %d, want 1", n)
	}
	if err := stop(); err != nil {
		t.Fatalf("Run = %v, want nil", err)
	}
	if n := st.Watchers("pods"); n != 0 {
		t.Fatalf("open pods watchers after stop = %d, want 0", n)
	}
}
