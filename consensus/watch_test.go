package consensus

import (
	"bytes"
	"errors"
	"fmt"
	"sync/atomic"
	"testing"
	"time"
)

func recv(t testing.TB, w *Watcher) Event {
	t.Helper()
	select {
	case ev, ok := <-w.Events():
		if !ok {
			t.Fatalf("watch closed: %v", w.Err())
		}
		return ev
	case <-time.After(5 * time.Second):
		t.Fatal("no event")
	}
	return Event{}
}

func expectNoEvent(t testing.TB, w *Watcher) {
	t.Helper()
	select {
	case ev, ok := <-w.Events():
		if ok {
			t.Fatalf("unexpected event %s %s@%d", ev.Type, ev.Object.Key(), ev.Object.ResourceVersion)
		}
	case <-time.After(20 * time.Millisecond):
	}
}

func expectClosed(t testing.TB, w *Watcher, want error) {
	t.Helper()
	deadline := time.After(5 * time.Second)
	for {
		select {
		case _, ok := <-w.Events():
			if !ok {
				if !errors.Is(w.Err(), want) || (want == nil && w.Err() != nil) {
					t.Fatalf("Err = %v, want %v", w.Err(), want)
				}
				return
			}
		case <-deadline:
			t.Fatal("watch not closed")
		}
	}
}

func TestWatchReplayThenLive(t *testing.T) {
	// setup: pods 0..4 at rv 1..5 alternating namespaces a/b, then a service.
	setup := func(t *testing.T) *applier {
		a := newApplier(t)
		for i := range 5 {
			ns := "a"
			if i%2 == 1 {
				ns = "b"
			}
			a.create(ns, fmt.Sprint(i), podJSON(t, nil, nil, nil, nil))
		}
		a.must(&Command{Op: OpCreate, Resource: "services", Namespace: "a", Name: "s", Object: []byte(`{}`)})
		return a
	}
	cases := []struct {
		name   string
		ns     string
		fromRV uint64
		replay []string // then the live events of the namespace
	}{
		{"all from 0 is from now", "", 0, nil},
		{"all from rv 2", "", 2, []string{"a/2", "b/3", "a/4"}},
		{"namespace from rv 1", "a", 1, []string{"a/2", "a/4"}},
		{"namespace from the start", "b", 1, []string{"b/1", "b/3"}},
		{"from current", "", 6, nil},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			a := setup(t)
			w, err := a.s.Watch("pods", tc.ns, tc.fromRV)
			if err != nil {
				t.Fatal(err)
			}
			defer w.Stop()
			// Live writes race with the replay delivery: no gap, no duplicate.
			a.create("a", "live", podJSON(t, nil, nil, nil, nil))
			a.create("b", "live", podJSON(t, nil, nil, nil, nil))
			want := append([]string(nil), tc.replay...)
			for _, ns := range []string{"a", "b"} {
				if tc.ns == "" || tc.ns == ns {
					want = append(want, ns+"/live")
				}
			}
			var got []string
			var last uint64
			for len(got) < len(want) {
				ev := recv(t, w)
				if ev.Object.ResourceVersion <= last {
					t.Fatalf("out of order: %d after %d", ev.Object.ResourceVersion, last)
				}
				last = ev.Object.ResourceVersion
				got = append(got, ev.Object.Namespace+"/"+ev.Object.Name)
			}
			if fmt.Sprint(got) != fmt.Sprint(want) {
				t.Fatalf("got %v, want %v", got, want)
			}
			expectNoEvent(t, w)
		})
	}
}

func TestWatchFutureRV(t *testing.T) {
	a := newApplier(t)
	a.create("ns", "x", podJSON(t, nil, nil, nil, nil)) // rv 1
	w, err := a.s.Watch("pods", "", 3)
	if err != nil {
		t.Fatal(err)
	}
	defer w.Stop()
	a.create("ns", "y", podJSON(t, nil, nil, nil, nil)) // rv 2, skipped
	a.create("ns", "z", podJSON(t, nil, nil, nil, nil)) // rv 3, skipped
	a.create("ns", "w", podJSON(t, nil, nil, nil, nil)) // rv 4
	if ev := recv(t, w); ev.Object.ResourceVersion != 4 || ev.Type != Added {
		t.Fatalf("event = %s@%d", ev.Type, ev.Object.ResourceVersion)
	}
}

func TestWatchGone(t *testing.T) {
	a := newApplier(t, WithEventRing(3))
	for i := range 5 {
		a.create("ns", fmt.Sprint(i), podJSON(t, nil, nil, nil, nil)) // rv 1..5; ring keeps 3..5
	}
	a.must(&Command{Op: OpCreate, Resource: "nodes", Name: "n", Object: []byte(`{}`)}) // rv 6; ring keeps 4..6
	for _, tc := range []struct {
		res    string
		fromRV uint64
		want   error
		n      int
	}{
		{"pods", 1, ErrGone, 0},
		{"pods", 2, ErrGone, 0},
		{"pods", 3, nil, 2},
		{"pods", 5, nil, 0},
		{"nodes", 1, nil, 1}, // no nodes event was dropped
		{"services", 1, nil, 0},
	} {
		t.Run(fmt.Sprintf("%s from %d", tc.res, tc.fromRV), func(t *testing.T) {
			w, err := a.s.Watch(tc.res, "", tc.fromRV)
			if !errors.Is(err, tc.want) {
				t.Fatalf("err = %v, want %v", err, tc.want)
			}
			if err != nil {
				return
			}
			defer w.Stop()
			for range tc.n {
				recv(t, w)
			}
			expectNoEvent(t, w)
		})
	}
}

func TestWatchOverflowClosesSlowWatcher(t *testing.T) {
	a := newApplier(t, WithWatchBuffer(4))
	slow, err := a.s.Watch("pods", "", 0)
	if err != nil {
		t.Fatal(err)
	}
	fast, err := a.s.Watch("pods", "", 0)
	if err != nil {
		t.Fatal(err)
	}
	defer fast.Stop()
	var received atomic.Int64
	go func() {
		for range fast.Events() {
			received.Add(1)
		}
	}()
	// wait lets the fast consumer catch up with the first n events (it is
	// never more than a buffer behind), however slowly it is scheduled.
	wait := func(n int64) {
		t.Helper()
		deadline := time.Now().Add(5 * time.Second)
		for received.Load() < n {
			if time.Now().After(deadline) {
				t.Fatalf("fast watcher got %d of %d events: %v", received.Load(), n, fast.Err())
			}
			time.Sleep(100 * time.Microsecond)
		}
	}
	for i := range 50 {
		a.create("ns", fmt.Sprint(i), podJSON(t, nil, nil, nil, nil)) // never blocks
		if i%4 == 3 {
			wait(int64(i + 1))
		}
	}
	wait(50)
	expectClosed(t, slow, ErrWatchOverflow)
	slow.Stop() // after close: harmless
}

func TestWatchStop(t *testing.T) {
	a := newApplier(t)
	w, err := a.s.Watch("pods", "", 0)
	if err != nil {
		t.Fatal(err)
	}
	a.create("ns", "a", podJSON(t, nil, nil, nil, nil))
	w.Stop()
	w.Stop()
	expectClosed(t, w, nil)
	if w.Err() != nil {
		t.Fatalf("Err after Stop = %v", w.Err())
	}
	a.create("ns", "b", podJSON(t, nil, nil, nil, nil)) // no panic on a stopped watcher
}

func TestSnapshotRestore(t *testing.T) {
	a := newApplier(t)
	for i := range 10 {
		a.create(fmt.Sprint("ns", i%3), fmt.Sprint(i), podJSON(t, map[string]string{"i": fmt.Sprint(i)}, nil, map[string]any{"n": i}, nil))
	}
	a.must(&Command{Op: OpCreate, Resource: "nodes", Name: "n1", Object: []byte(`{"spec":{}}`)})
	a.must(&Command{Op: OpDelete, Resource: "pods", Namespace: "ns0", Name: "0"})
	snap := a.s.Snapshot()
	// Writes after the snapshot are not in it.
	a.create("ns0", "late", podJSON(t, nil, nil, nil, nil))

	var buf bytes.Buffer
	if _, err := snap.WriteTo(&buf); err != nil {
		t.Fatal(err)
	}

	dst := NewStore()
	dst.SetIndex(1000) // restore may move the index backwards: it is the snapshot's
	w, err := dst.Watch("pods", "", 0)
	if err != nil {
		t.Fatal(err)
	}
	if err := dst.Restore(bytes.NewReader(buf.Bytes())); err != nil {
		t.Fatal(err)
	}
	expectClosed(t, w, ErrStoreReset)

	if dst.Index() != snap.Index() || snap.Index() != 12 {
		t.Fatalf("index = %d, snapshot %d", dst.Index(), snap.Index())
	}
	srcItems, _, _ := a.s.List("pods", "", "", 0)
	dstItems, rv, _ := dst.List("pods", "", "", 0)
	if rv != 12 || len(dstItems) != len(srcItems)-1 {
		t.Fatalf("restored %d pods at rv %d", len(dstItems), rv)
	}
	for _, o := range dstItems {
		src, err := a.s.Get(o.Resource, o.Namespace, o.Name)
		if err != nil || !bytes.Equal(src.Raw, o.Raw) || src.ResourceVersion != o.ResourceVersion || src.UID != o.UID || fmt.Sprint(src.Labels) != fmt.Sprint(o.Labels) {
			t.Fatalf("object %s differs: %+v vs %+v", o.Key(), src, o)
		}
	}
	if _, err := dst.Get("nodes", "", "n1"); err != nil {
		t.Fatal(err)
	}
	// Watches from before the restored index are gone; from it, fine.
	if _, err := dst.Watch("pods", "", 11); !errors.Is(err, ErrGone) {
		t.Fatalf("watch from 11: %v", err)
	}
	w2, err := dst.Watch("pods", "", 12)
	if err != nil {
		t.Fatal(err)
	}
	defer w2.Stop()
	if _, err := dst.Apply(13, &Command{Op: OpCreate, Resource: "pods", Namespace: "x", Name: "y", Object: []byte(`{}`)}); err != nil {
		t.Fatal(err)
	}
	if ev := recv(t, w2); ev.Object.ResourceVersion != 13 {
		t.Fatalf("event at %d", ev.Object.ResourceVersion)
	}

	if err := dst.Restore(bytes.NewReader([]byte("garbage"))); err == nil {
		t.Fatal("restore of garbage succeeded")
	}
}

// TestWatchConcurrentSubscribe subscribes from many points while a writer
// runs: every watcher must see each later index exactly once, in order.
func TestWatchConcurrentSubscribe(t *testing.T) {
	const total = 400
	s := NewStore()
	p := NewLocalProposer(s)
	done := make(chan struct{})
	go func() {
		defer close(done)
		for i := range total {
			if _, err := p.Propose(t.Context(), &Command{Op: OpCreate, Resource: "pods", Namespace: "ns", Name: fmt.Sprint(i), Object: []byte(`{}`)}); err != nil {
				t.Error(err)
				return
			}
		}
	}()
	type sub struct {
		w    *Watcher
		from uint64
	}
	var subs []sub
	for i := range 20 {
		_, rv, _ := s.List("pods", "", "", 0)
		from := rv
		if i%2 == 0 && rv > 5 {
			from = rv - 5 // replay a little, then live
		}
		w, err := s.Watch("pods", "", from)
		if err != nil {
			t.Fatal(err)
		}
		subs = append(subs, sub{w, from})
		time.Sleep(200 * time.Microsecond)
	}
	<-done
	for _, sb := range subs {
		want := sb.from + 1
		if sb.from == 0 {
			sb.w.Stop() // "from now": start unknown
			continue
		}
		for want <= total {
			ev := recv(t, sb.w)
			if ev.Object.ResourceVersion != want {
				t.Fatalf("watch from %d: got rv %d, want %d", sb.from, ev.Object.ResourceVersion, want)
			}
			want++
		}
		expectNoEvent(t, sb.w)
		sb.w.Stop()
	}
}

// TestWatchersAndPending: Watchers counts the open watches of a resource,
// Pending the events queued behind the one being handed over.
func TestWatchersAndPending(t *testing.T) {
	a := newApplier(t)
	w, err := a.s.Watch("pods", "", 0)
	if err != nil {
		t.Fatal(err)
	}
	if n := a.s.Watchers("pods"); n != 1 {
		t.Fatalf("Watchers(pods) = %d, want 1", n)
	}
	if n := a.s.Watchers("nodes"); n != 0 {
		t.Fatalf("Watchers(nodes) = %d, want 0", n)
	}
	for i := range 5 {
		a.create("ns", fmt.Sprint(i), podJSON(t, nil, nil, nil, nil))
	}
	// One event leaves the queue to be handed over; four stay queued.
	deadline := time.Now().Add(5 * time.Second)
	for w.Pending() != 4 {
		if time.Now().After(deadline) {
			t.Fatalf("Pending = %d with 5 unread events, want 4", w.Pending())
		}
		time.Sleep(time.Millisecond)
	}
	for range 5 {
		recv(t, w)
	}
	if n := w.Pending(); n != 0 {
		t.Fatalf("Pending = %d after every event was read, want 0", n)
	}
	w.Stop()
	if n := a.s.Watchers("pods"); n != 0 {
		t.Fatalf("Watchers(pods) after Stop = %d, want 0", n)
	}
}

// TestWatchLastQueued: LastQueued is the newest event of the watch's
// resource the store queued to it (replayed or live), not the store's
// index, and says when the watch has ended.
func TestWatchLastQueued(t *testing.T) {
	a := newApplier(t)
	a.create("ns", "p1", podJSON(t, nil, nil, nil, nil)) // index 1
	a.must(createCmd("ns", "c1", nil))                   // index 2, a ConfigMap
	w, err := a.s.Watch("pods", "", 0)
	if err != nil {
		t.Fatal(err)
	}
	if rv, open := w.LastQueued(); rv != 0 || !open {
		t.Errorf("new live watch: LastQueued = %d, %v, want 0, true", rv, open)
	}
	a.create("ns", "p2", podJSON(t, nil, nil, nil, nil)) // index 3
	a.must(createCmd("ns", "c2", nil))                   // index 4
	if rv, open := w.LastQueued(); rv != 3 || !open {
		t.Errorf("after a pod at 3 and a ConfigMap at 4: LastQueued = %d, %v, want 3, true", rv, open)
	}
	w.Stop()
	if _, open := w.LastQueued(); open {
		t.Error("stopped watch: LastQueued says open")
	}
	replay, err := a.s.Watch("pods", "", 1)
	if err != nil {
		t.Fatal(err)
	}
	defer replay.Stop()
	if rv, _ := replay.LastQueued(); rv != 3 {
		t.Errorf("watch replayed from 1: LastQueued = %d, want 3", rv)
	}
}
