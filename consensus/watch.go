package consensus

import (
	"fmt"
	"sync"
)

// Watcher delivers the events of one watch in index order.
//
//	running --Stop()--------------------> stopped   (Err() == nil)
//	running --queue full (slow reader)--> closed    (Err() == ErrWatchOverflow)
//	running --snapshot restore----------> closed    (Err() == ErrStoreReset)
//
// In every case Events() is closed; queued events are discarded.
// The store never blocks on a watcher: events are queued (bounded by
// WithWatchBuffer) and a goroutine per watcher hands them to Events().
type Watcher struct {
	store     *Store
	resource  string
	namespace string
	minRV     uint64 // live events at or below minRV are skipped

	out  chan Event
	wake chan struct{} // cap 1: the queue grew
	done chan struct{} // closed when the watch ends

	mu         sync.Mutex
	queue      []Event
	limit      int
	closed     bool
	err        error
	lastQueued uint64 // ResourceVersion of the newest event queued
}

// Watch returns a watcher for the events of resource (namespace "" = all
// namespaces) with ResourceVersion > fromRV. fromRV 0 means from now. When
// events after fromRV have already left the event ring, Watch fails with
// ErrGone and the caller must re-list. A fromRV ahead of Index() is fine: the
// watcher waits for those events.
//
// Replay and subscription happen under the store's write lock, so the
// watcher sees every event exactly once, in order, with no gap. The caller
// must Stop the watcher when done with it (unless it was closed by the
// store), or its goroutine lingers.
func (s *Store) Watch(resource, namespace string, fromRV uint64) (*Watcher, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	cur := s.view.Load().index
	w := &Watcher{
		store:     s,
		resource:  resource,
		namespace: namespace,
		minRV:     max(fromRV, cur),
		out:       make(chan Event),
		wake:      make(chan struct{}, 1),
		done:      make(chan struct{}),
		limit:     s.opts.watchBuffer,
	}
	if fromRV != 0 && fromRV < cur {
		replay, ok := s.ring.since(resource, namespace, fromRV)
		if !ok {
			return nil, fmt.Errorf("watch %s from %d: %w", resource, fromRV, ErrGone)
		}
		w.queue = replay
		w.limit += len(replay)
		if len(replay) > 0 {
			w.lastQueued = replay[len(replay)-1].Object.ResourceVersion
		}
	}
	set := s.watchers[resource]
	if set == nil {
		set = make(map[*Watcher]struct{})
		s.watchers[resource] = set
	}
	set[w] = struct{}{}
	go w.run()
	return w, nil
}

// Events returns the event channel. It is closed when the watch ends; then
// Err says why.
func (w *Watcher) Events() <-chan Event { return w.out }

// Err returns why the watch ended: nil after Stop, ErrWatchOverflow or
// ErrStoreReset. It is meaningful once Events() is closed.
func (w *Watcher) Err() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.err
}

// Pending returns how many events are queued behind the one Events() is
// handing over: a reader that finds it non-zero knows more events follow at
// once, so it can batch (e.g. flush a stream once per burst). It does not
// count an event already taken off the queue, so 0 does not mean none is
// coming.
func (w *Watcher) Pending() int {
	w.mu.Lock()
	defer w.mu.Unlock()
	return len(w.queue)
}

// LastQueued returns the ResourceVersion of the newest event the store has
// queued to this watch (0 if none), and whether the watch is still open. A
// reader that has taken every event up to it from an open watch holds all
// the store has published for the watch so far.
func (w *Watcher) LastQueued() (rv uint64, open bool) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.lastQueued, !w.closed
}

// Stop ends the watch. It is idempotent and safe to call concurrently with
// event delivery.
func (w *Watcher) Stop() {
	w.mu.Lock()
	w.closeLocked(nil)
	w.mu.Unlock()
	w.store.removeWatcher(w)
}

// push queues ev unless the watch ended; it returns false when the watcher
// is (now) closed and should be forgotten. The store's lock is held.
func (w *Watcher) push(ev Event) bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.closed {
		return false
	}
	if len(w.queue) >= w.limit {
		w.closeLocked(ErrWatchOverflow)
		return false
	}
	w.queue = append(w.queue, ev)
	w.lastQueued = ev.Object.ResourceVersion
	select {
	case w.wake <- struct{}{}:
	default:
	}
	return true
}

// closeLocked ends the watch with err; w.mu is held.
func (w *Watcher) closeLocked(err error) {
	if w.closed {
		return
	}
	w.closed = true
	w.err = err
	w.queue = nil
	close(w.done)
}

// run hands queued events to out until the watch ends, then closes out.
func (w *Watcher) run() {
	defer close(w.out)
	for {
		w.mu.Lock()
		if w.closed {
			w.mu.Unlock()
			return
		}
		if len(w.queue) == 0 {
			w.mu.Unlock()
			select {
			case <-w.wake:
			case <-w.done:
				return
			}
			continue
		}
		ev := w.queue[0]
		w.queue[0] = Event{}
		w.queue = w.queue[1:]
		w.mu.Unlock()
		select {
		case w.out <- ev:
		case <-w.done:
			return
		}
	}
}

// publishLocked records ev in the ring and queues it to matching watchers,
// closing the ones that overflow. s.mu is held.
func (s *Store) publishLocked(ev *Event) {
	s.ring.add(*ev)
	for w := range s.watchers[ev.Object.Resource] {
		if w.namespace != "" && w.namespace != ev.Object.Namespace {
			continue
		}
		if ev.Object.ResourceVersion <= w.minRV {
			continue
		}
		if !w.push(*ev) {
			delete(s.watchers[ev.Object.Resource], w)
		}
	}
}

// Watchers returns how many watches of resource are open: started and
// neither stopped nor closed by the store.
func (s *Store) Watchers(resource string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.watchers[resource])
}

func (s *Store) removeWatcher(w *Watcher) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if set := s.watchers[w.resource]; set != nil {
		delete(set, w)
		if len(set) == 0 {
			delete(s.watchers, w.resource)
		}
	}
}

// closeWatchersLocked ends every watch with err. s.mu is held.
func (s *Store) closeWatchersLocked(err error) {
	for _, set := range s.watchers {
		for w := range set {
			w.mu.Lock()
			w.closeLocked(err)
			w.mu.Unlock()
		}
	}
	s.watchers = make(map[string]map[*Watcher]struct{})
}
