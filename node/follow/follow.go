// Package follow keeps a typed, indexed copy of one resource of the local
// store up to date: it lists, watches from the list's resourceVersion,
// decodes each change once into the resource's Go type, and re-lists when
// the watch ends (ErrGone, a slow reader's overflow, a snapshot restore).
// Controllers, the scheduler and the kubelet read the copy instead of
// listing and decoding the store themselves.
//
// Models: client-go's shared informer (list-then-watch, indexers, handlers)
// and swarmkit's ViewAndWatch (a consistent view, then the changes after it).
package follow

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/shoal-project/shoal/consensus"
)

// IndexFunc returns the index values of an object, e.g. a pod's node name.
// An object may have several values or none.
type IndexFunc[T any] func(obj *T) []string

// Handler is called for the changes of the followed objects, in the order
// the store made them, from the follower's Run goroutine: a handler must
// not block for long. Nil fields are skipped. Objects are shared with the
// cache and must not be modified (DeepCopy first). When a handler runs the
// cache already holds the change, and possibly later ones of a re-list.
// A handler must not add or remove handlers of its own follower.
type Handler[T any] struct {
	Add    func(obj *T)
	Update func(old, obj *T)
	Delete func(obj *T) // the last state the follower saw
}

// OnAny returns a Handler that calls fn for every add, update and delete:
// for a controller that re-reads the cache on any change.
func OnAny[T any](fn func()) Handler[T] {
	return Handler[T]{
		Add:    func(*T) { fn() },
		Update: func(_, _ *T) { fn() },
		Delete: func(*T) { fn() },
	}
}

// Key is the cache key of an object: "namespace/name", or "name" for a
// cluster-scoped object (client-go's MetaNamespaceKeyFunc).
func Key(namespace, name string) string {
	if namespace == "" {
		return name
	}
	return namespace + "/" + name
}

// entry is one cached object.
type entry[T any] struct {
	obj  *T
	rv   uint64
	vals map[string][]string // index name -> the object's values
}

// Follower follows one resource of a store (in one namespace, or all).
// Configure it with AddIndex and AddHandler, then call Run once.
type Follower[T any] struct {
	store     *consensus.Store
	resource  string
	namespace string
	log       *slog.Logger

	indexers map[string]IndexFunc[T]

	// hmu orders handler calls: it is held while a change is applied to
	// the cache and handed to the handlers, and while a handler added
	// late is shown the cache, so every handler sees each change once.
	hmu      sync.Mutex
	handlers map[int]Handler[T]
	nextID   int

	ready     chan struct{}
	readyOnce sync.Once
	relists   atomic.Int64 // lists after the first

	// testHookAfterList, if set, runs between a list and its watch.
	testHookAfterList func()

	mu      sync.RWMutex
	started bool
	items   map[string]*entry[T]
	index   map[string]map[string]map[string]*T // index -> value -> key -> obj
	rv      uint64
	watch   *consensus.Watcher // the open watch, nil while (re-)listing
}

// New returns a follower of resource (a group-resource string such as
// "pods" or "deployments.apps") in namespace ("" = all namespaces). log may
// be nil.
func New[T any](store *consensus.Store, resource, namespace string, log *slog.Logger) *Follower[T] {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Follower[T]{
		store:     store,
		resource:  resource,
		namespace: namespace,
		log:       log.With("follow", resource),
		indexers:  make(map[string]IndexFunc[T]),
		handlers:  make(map[int]Handler[T]),
		ready:     make(chan struct{}),
		items:     make(map[string]*entry[T]),
		index:     make(map[string]map[string]map[string]*T),
	}
}

// AddIndex adds an index; ByIndex(name, v) then returns the objects for
// which fn returns v. It may be called before or after Run: a late index
// is built from the cache at once. A name already added keeps its first
// function (a name means one function: see the indexes of this package).
func (f *Follower[T]) AddIndex(name string, fn IndexFunc[T]) {
	// Parts ask for their indexes each time they start: the common case,
	// an index already there, must not stop the cache's readers.
	f.mu.RLock()
	_, dup := f.indexers[name]
	f.mu.RUnlock()
	if dup {
		return
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if _, dup := f.indexers[name]; dup {
		return
	}
	f.indexers[name] = fn
	idx := make(map[string]map[string]*T)
	f.index[name] = idx
	for key, e := range f.items {
		vals := fn(e.obj)
		if e.vals == nil {
			e.vals = make(map[string][]string, 1)
		}
		e.vals[name] = vals
		addToIndex(idx, vals, key, e.obj)
	}
}

// AddHandler adds a handler and returns a function that removes it. A
// handler added after the first list is first called with Add for every
// cached object, then with the changes after them, as client-go's shared
// informer does for a late handler.
func (f *Follower[T]) AddHandler(h Handler[T]) (remove func()) {
	f.hmu.Lock()
	defer f.hmu.Unlock()
	id := f.nextID
	f.nextID++
	f.handlers[id] = h
	if f.HasSynced() && h.Add != nil {
		for _, obj := range f.List() {
			h.Add(obj)
		}
	}
	return func() {
		f.hmu.Lock()
		defer f.hmu.Unlock()
		delete(f.handlers, id)
	}
}

// Ready is closed once the first list is in the cache.
func (f *Follower[T]) Ready() <-chan struct{} { return f.ready }

// HasSynced reports whether the first list is in the cache.
func (f *Follower[T]) HasSynced() bool {
	select {
	case <-f.ready:
		return true
	default:
		return false
	}
}

// ResourceVersion is the store index the cache reflects: the last list's,
// or the last change applied since.
func (f *Follower[T]) ResourceVersion() uint64 {
	f.mu.RLock()
	defer f.mu.RUnlock()
	return f.rv
}

// HoldsBefore reports whether the cache holds every change of its resource
// the store made before index rv. A controller that read an object at
// resourceVersion rv in another follower of the same store asks it before
// acting on this one: all resources share the store's index, so the pods
// created before a ReplicaSet are in the pod cache when this is true,
// though the two caches are fed by separate watches.
func (f *Follower[T]) HoldsBefore(rv uint64) bool {
	f.mu.RLock()
	cur, w := f.rv, f.watch
	f.mu.RUnlock()
	if cur+1 >= rv {
		return true // changes come in index order
	}
	if w == nil || f.store.PublishedIndex()+1 < rv {
		return false
	}
	// Every change before rv has been queued to the watch; the cache holds
	// them once it has taken all the watch had queued.
	queued, open := w.LastQueued()
	if !open {
		return false // a re-list follows
	}
	f.mu.RLock()
	defer f.mu.RUnlock()
	return f.watch == w && f.rv >= queued
}

// Get returns the cached object namespace/name.
func (f *Follower[T]) Get(namespace, name string) (*T, bool) {
	f.mu.RLock()
	defer f.mu.RUnlock()
	e, ok := f.items[Key(namespace, name)]
	if !ok {
		return nil, false
	}
	return e.obj, true
}

// List returns every cached object, sorted by key.
func (f *Follower[T]) List() []*T {
	f.mu.RLock()
	defer f.mu.RUnlock()
	return sortedValues(f.items, func(e *entry[T]) *T { return e.obj })
}

// ByIndex returns the cached objects whose index name has value, sorted by
// key. It panics on an unknown index.
func (f *Follower[T]) ByIndex(name, value string) []*T {
	f.mu.RLock()
	defer f.mu.RUnlock()
	idx, ok := f.index[name]
	if !ok {
		panic("follow: no index " + name)
	}
	return sortedValues(idx[value], func(o *T) *T { return o })
}

func sortedValues[V any, T any](m map[string]V, get func(V) *T) []*T {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	out := make([]*T, len(keys))
	for i, k := range keys {
		out[i] = get(m[k])
	}
	return out
}

// Run lists and watches until ctx ends; it then stops its watcher and
// returns nil. It may be called once.
func (f *Follower[T]) Run(ctx context.Context) error {
	f.mu.Lock()
	if f.started {
		f.mu.Unlock()
		return errors.New("follow: Run called twice")
	}
	f.started = true
	f.mu.Unlock()

	backoff := time.Duration(0)
	for ctx.Err() == nil {
		err := f.follow(ctx)
		if ctx.Err() != nil {
			return nil
		}
		// A watch that ends is normal (overflow, restore); one that cannot
		// even start right after a list is not: back off then.
		if errors.Is(err, errWatchStart) {
			backoff = min(max(2*backoff, 10*time.Millisecond), time.Second)
		} else {
			backoff = 0
		}
		f.relists.Add(1)
		f.log.Info("re-list", "reason", err, "backoff", backoff)
		select {
		case <-ctx.Done():
		case <-time.After(backoff):
		}
	}
	return nil
}

var errWatchStart = errors.New("watch did not start")

// follow lists, then applies the watch's events until the watch ends
// (returning why) or ctx ends.
func (f *Follower[T]) follow(ctx context.Context) error {
	w, err := f.listAndWatch()
	if err != nil {
		return err
	}
	defer w.Stop()
	f.mu.Lock()
	f.watch = w
	f.mu.Unlock()
	defer func() {
		f.mu.Lock()
		f.watch = nil
		f.mu.Unlock()
	}()
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case ev, ok := <-w.Events():
			if !ok {
				if err := w.Err(); err != nil {
					return fmt.Errorf("watch %s closed: %w", f.resource, err)
				}
				return fmt.Errorf("watch %s closed", f.resource)
			}
			f.applyEvent(ev)
		}
	}
}

// listAndWatch lists the resource into the cache and returns a watcher of
// the changes after the list.
func (f *Follower[T]) listAndWatch() (*consensus.Watcher, error) {
	objs, rv, _ := f.store.List(f.resource, f.namespace, "", 0)
	if rv == 0 {
		// Watch's fromRV 0 means "from now", not "after index 0": watch
		// first, then list, and skip the events the list already holds.
		w, err := f.store.Watch(f.resource, f.namespace, 0)
		if err != nil {
			return nil, fmt.Errorf("%w: %s: %w", errWatchStart, f.resource, err)
		}
		objs, rv, _ = f.store.List(f.resource, f.namespace, "", 0)
		f.replace(objs, rv)
		return w, nil
	}
	if f.testHookAfterList != nil {
		f.testHookAfterList()
	}
	w, err := f.store.Watch(f.resource, f.namespace, rv)
	if err != nil {
		return nil, fmt.Errorf("%w: %s from %d: %w", errWatchStart, f.resource, rv, err)
	}
	f.replace(objs, rv)
	return w, nil
}

// change is one cache change to hand to the handlers.
type change[T any] struct {
	typ      consensus.EventType
	old, obj *T
}

// replace makes the cache hold exactly objs (a list at rv) and tells the
// handlers what changed. Objects whose resourceVersion did not change keep
// their decoded copy.
func (f *Follower[T]) replace(objs []*consensus.Object, rv uint64) {
	f.hmu.Lock()
	defer f.hmu.Unlock()
	var changes []change[T]
	f.mu.Lock()
	seen := make(map[string]bool, len(objs))
	for _, o := range objs {
		key := Key(o.Namespace, o.Name)
		old := f.items[key]
		if old != nil && old.rv == o.ResourceVersion {
			seen[key] = true
			continue
		}
		obj, err := f.decode(o)
		if err != nil {
			f.log.Error("decode", "key", key, "rv", o.ResourceVersion, "error", err)
			continue // an old copy, if any, goes below: never keep a stale one
		}
		seen[key] = true
		if old == nil {
			changes = append(changes, change[T]{typ: consensus.Added, obj: obj})
		} else {
			changes = append(changes, change[T]{typ: consensus.Modified, old: old.obj, obj: obj})
		}
		f.putLocked(key, obj, o.ResourceVersion)
	}
	for key, e := range f.items {
		if !seen[key] {
			changes = append(changes, change[T]{typ: consensus.Deleted, obj: e.obj})
			f.removeLocked(key)
		}
	}
	f.rv = rv
	f.mu.Unlock()
	f.notify(changes)
	f.readyOnce.Do(func() { close(f.ready) })
}

// applyEvent applies one watch event to the cache and tells the handlers.
func (f *Follower[T]) applyEvent(ev consensus.Event) {
	o := ev.Object
	key := Key(o.Namespace, o.Name)
	f.hmu.Lock()
	defer f.hmu.Unlock()
	f.mu.Lock()
	if o.ResourceVersion <= f.rv {
		f.mu.Unlock() // the list already holds it (watch opened before list)
		return
	}
	f.rv = o.ResourceVersion
	old := f.items[key]
	var ch change[T]
	if ev.Type == consensus.Deleted {
		if old == nil {
			f.mu.Unlock()
			return
		}
		f.removeLocked(key)
		ch = change[T]{typ: consensus.Deleted, obj: old.obj}
	} else {
		obj, err := f.decode(o)
		if err != nil {
			f.log.Error("decode", "key", key, "rv", o.ResourceVersion, "error", err)
			if old != nil { // do not keep a stale copy
				f.removeLocked(key)
				ch = change[T]{typ: consensus.Deleted, obj: old.obj}
			}
		} else {
			f.putLocked(key, obj, o.ResourceVersion)
			if old == nil {
				ch = change[T]{typ: consensus.Added, obj: obj}
			} else {
				ch = change[T]{typ: consensus.Modified, old: old.obj, obj: obj}
			}
		}
	}
	f.mu.Unlock()
	if ch.obj != nil {
		f.notify([]change[T]{ch})
	}
}

func (f *Follower[T]) decode(o *consensus.Object) (*T, error) {
	obj := new(T)
	if err := json.Unmarshal(o.Raw, obj); err != nil {
		return nil, fmt.Errorf("decode %s: %w", o.Key(), err)
	}
	return obj, nil
}

// putLocked stores obj under key and indexes it. f.mu is held.
func (f *Follower[T]) putLocked(key string, obj *T, rv uint64) {
	f.removeLocked(key)
	e := &entry[T]{obj: obj, rv: rv}
	if len(f.indexers) > 0 {
		e.vals = make(map[string][]string, len(f.indexers))
	}
	for name, fn := range f.indexers {
		vals := fn(obj)
		e.vals[name] = vals
		addToIndex(f.index[name], vals, key, obj)
	}
	f.items[key] = e
}

func addToIndex[T any](idx map[string]map[string]*T, vals []string, key string, obj *T) {
	for _, v := range vals {
		set := idx[v]
		if set == nil {
			set = make(map[string]*T)
			idx[v] = set
		}
		set[key] = obj
	}
}

// removeLocked drops key from the cache and its indexes. f.mu is held.
func (f *Follower[T]) removeLocked(key string) {
	e, ok := f.items[key]
	if !ok {
		return
	}
	for name, vals := range e.vals {
		idx := f.index[name]
		for _, v := range vals {
			delete(idx[v], key)
			if len(idx[v]) == 0 {
				delete(idx, v)
			}
		}
	}
	delete(f.items, key)
}

// notify hands changes to the handlers, in order. f.hmu is held.
func (f *Follower[T]) notify(changes []change[T]) {
	if len(f.handlers) == 0 {
		return
	}
	ids := make([]int, 0, len(f.handlers))
	for id := range f.handlers {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	for _, ch := range changes {
		for _, id := range ids {
			h := f.handlers[id]
			switch {
			case ch.typ == consensus.Added && h.Add != nil:
				h.Add(ch.obj)
			case ch.typ == consensus.Modified && h.Update != nil:
				h.Update(ch.old, ch.obj)
			case ch.typ == consensus.Deleted && h.Delete != nil:
				h.Delete(ch.obj)
			}
		}
	}
}
