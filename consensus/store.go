package consensus

import (
	"context"
	"sync"
	"sync/atomic"

	memdb "github.com/hashicorp/go-memdb"
)

// Store is the replicated object store: the state the raft FSM builds. It
// holds every object in a go-memdb database, stamps each write with the raft
// index, keeps a ring of recent events for watch replay and fans events out
// to watchers.
//
// Apply is the only write path and is meant to be called by one goroutine
// (the raft FSM, or LocalProposer in tests); it is nevertheless serialised
// by a lock. Reads (Get, List, Index) never block writers: they use an
// immutable memdb snapshot published after every write.
type Store struct {
	opts storeOptions

	// mu serialises writers and guards db, idxCh, ring and watchers.
	mu       sync.Mutex
	db       *memdb.MemDB
	idxCh    chan struct{} // closed and replaced whenever the index advances
	ring     *eventRing
	watchers map[string]map[*Watcher]struct{} // by resource

	// view is what readers see: a memdb snapshot and the index it reflects.
	view atomic.Pointer[storeView]
}

// storeView pairs an immutable database snapshot with the index it reflects,
// so that List's resourceVersion always matches its items.
type storeView struct {
	db    *memdb.MemDB
	index uint64
}

// StoreOption configures a Store.
type StoreOption func(*storeOptions)

type storeOptions struct {
	eventRing   int
	watchBuffer int
}

// WithEventRing sets how many recent events the store keeps for watch
// replay (default 10000). A watch from a resourceVersion older than the
// oldest kept event fails with ErrGone.
func WithEventRing(n int) StoreOption {
	return func(o *storeOptions) {
		if n > 0 {
			o.eventRing = n
		}
	}
}

// WithWatchBuffer sets how many events a watcher may have queued before the
// store closes it with ErrWatchOverflow (default 4096).
func WithWatchBuffer(n int) StoreOption {
	return func(o *storeOptions) {
		if n > 0 {
			o.watchBuffer = n
		}
	}
}

// NewStore returns an empty store at index 0.
func NewStore(opts ...StoreOption) *Store {
	o := storeOptions{eventRing: 10000, watchBuffer: 4096}
	for _, opt := range opts {
		opt(&o)
	}
	db, err := memdb.NewMemDB(storeSchema())
	if err != nil {
		panic("consensus: invalid memdb schema: " + err.Error()) // static schema
	}
	s := &Store{
		opts:     o,
		db:       db,
		idxCh:    make(chan struct{}),
		ring:     newEventRing(o.eventRing, 0),
		watchers: make(map[string]map[*Watcher]struct{}),
	}
	s.view.Store(&storeView{db: db.Snapshot(), index: 0})
	return s
}

// Index returns the raft index of the last applied command (or SetIndex).
func (s *Store) Index() uint64 { return s.view.Load().index }

// PublishedIndex is the index through which every event has been queued to
// the watches. Index can run ahead of it for a moment: an apply publishes
// its view before it queues its events, both under the store's lock.
func (s *Store) PublishedIndex() uint64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.view.Load().index
}

// SetIndex records that raft applied an entry the store did not see (a
// configuration change or an ignored command): Index advances to idx if idx
// is larger.
func (s *Store) SetIndex(idx uint64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.advanceLocked(idx)
}

// advanceLocked publishes the current database with index idx (if larger
// than the current one; the database is republished either way) and wakes
// WaitIndex callers. s.mu must be held.
func (s *Store) advanceLocked(idx uint64) {
	cur := s.view.Load().index
	if idx < cur {
		idx = cur
	}
	s.view.Store(&storeView{db: s.db.Snapshot(), index: idx})
	if idx > cur {
		close(s.idxCh)
		s.idxCh = make(chan struct{})
	}
}

// WaitIndex returns once Index() >= idx, or with ctx's error. Callers must
// only wait for indexes the store will see: those returned by Propose,
// ConsistentRead's read index, or an object's ResourceVersion.
func (s *Store) WaitIndex(ctx context.Context, idx uint64) error {
	for {
		if s.Index() >= idx {
			return nil
		}
		s.mu.Lock()
		ch := s.idxCh
		done := s.view.Load().index >= idx
		s.mu.Unlock()
		if done {
			return nil
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// Get returns the object resource/namespace/name, or ErrNotFound.
func (s *Store) Get(resource, namespace, name string) (*Object, error) {
	txn := s.view.Load().db.Txn(false)
	raw, err := txn.First(tableObjects, "id", dbKey(resource, namespace, name))
	if err != nil {
		return nil, err
	}
	if raw == nil {
		return nil, ErrNotFound
	}
	return raw.(*Object), nil
}

// List returns objects of resource (namespace "" = all namespaces) sorted by
// namespace then name, starting strictly after the key startAfter (an
// Object.Key(), "" = from the start), at most limit (0 = all); more is true
// when objects remain; rv is the store index the list reflects.
func (s *Store) List(resource, namespace, startAfter string, limit int) (items []*Object, rv uint64, more bool) {
	return s.view.Load().list(resource, namespace, startAfter, limit)
}

func (v *storeView) list(resource, namespace, startAfter string, limit int) (items []*Object, rv uint64, more bool) {
	txn := v.db.Txn(false)
	prefix := dbPrefix(resource, namespace)
	var (
		it   memdb.ResultIterator
		err  error
		skip string
	)
	if startAfter != "" {
		k, ok := dbKeyFromObjectKey(startAfter)
		if ok && k >= prefix {
			skip = k
			it, err = txn.LowerBound(tableObjects, "id", k)
		}
	}
	if it == nil && err == nil {
		it, err = txn.Get(tableObjects, "id_prefix", prefix)
	}
	if err != nil {
		return nil, v.index, false // only on a schema bug
	}
	for raw := it.Next(); raw != nil; raw = it.Next() {
		o := raw.(*Object)
		k := dbKey(o.Resource, o.Namespace, o.Name)
		if len(k) < len(prefix) || k[:len(prefix)] != prefix {
			break // LowerBound walked past the prefix
		}
		if skip != "" && k == skip {
			continue
		}
		if limit > 0 && len(items) == limit {
			return items, v.index, true
		}
		items = append(items, o)
	}
	return items, v.index, false
}
