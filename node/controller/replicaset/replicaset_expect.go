package replicaset

import (
	"sync"
	"time"

	"k8s.io/apimachinery/pkg/types"
)

// expectTTL bounds how long a controller waits for its own writes
// to show in the node's cache before it acts again anyway (Kubernetes'
// ExpectationsTimeout).
const expectTTL = 5 * time.Minute

// replicaExpectations are Kubernetes' ControllerExpectations, adapted to a
// store whose every object carries the raft index of its last change: a
// controller records the writes it has in flight and the index of those
// that returned, and does not count pods again until the node's cache of
// pods has caught up with all of them (its resourceVersion is the store
// index it reflects). Without this, a pass that ran between a create and
// its appearance in the cache would create the pod a second time.
//
// The cache follows the leader's own replica, which the API writes before
// it answers, so expectations are met a moment after the writes return;
// they also cover a write forwarded through another peer or a lagging
// replica, and cost nothing otherwise.
type replicaExpectations struct {
	mu sync.Mutex
	m  map[string]*replicaExpectation // by controller key
}

type replicaExpectation struct {
	pending int                  // writes issued that have not returned
	index   uint64               // the cache must reach this index
	deletes map[string]types.UID // pods (namespace/name) deleted, until the cache shows them gone or terminating
	at      time.Time            // when the expectation was last raised
}

func newReplicaExpectations() *replicaExpectations {
	return &replicaExpectations{m: map[string]*replicaExpectation{}}
}

func (e *replicaExpectations) get(key string, now time.Time) *replicaExpectation {
	x := e.m[key]
	if x == nil {
		x = &replicaExpectation{deletes: map[string]types.UID{}}
		e.m[key] = x
	}
	x.at = now
	return x
}

// expect records that n writes for key are about to be issued.
func (e *replicaExpectations) expect(key string, n int, now time.Time) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.get(key, now).pending += n
}

// created records that one write returned; index is the resourceVersion
// of what it wrote (0 when it failed).
func (e *replicaExpectations) created(key string, index uint64, now time.Time) {
	e.mu.Lock()
	defer e.mu.Unlock()
	x := e.get(key, now)
	x.pending--
	x.index = max(x.index, index)
}

// deleted records that the delete of pod (namespace/name) returned; ok is
// false when it failed.
func (e *replicaExpectations) deleted(key, pod string, uid types.UID, ok bool, now time.Time) {
	e.mu.Lock()
	defer e.mu.Unlock()
	x := e.get(key, now)
	x.pending--
	if ok {
		x.deletes[pod] = uid
	}
}

// satisfied reports whether key may count its pods: nothing is in flight,
// the cache has reached every index written, and every pod deleted is
// gone or terminating (gone reports that). An expectation older than
// expectTTL is dropped.
func (e *replicaExpectations) satisfied(key string, cacheRV uint64, gone func(pod string, uid types.UID) bool, now time.Time) bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	x := e.m[key]
	if x == nil {
		return true
	}
	if now.Sub(x.at) > expectTTL {
		delete(e.m, key)
		return true
	}
	if x.pending > 0 || cacheRV < x.index {
		return false
	}
	for pod, uid := range x.deletes {
		if !gone(pod, uid) {
			return false
		}
		delete(x.deletes, pod)
	}
	delete(e.m, key)
	return true
}

// forget drops key's expectations (its controller is gone).
func (e *replicaExpectations) forget(key string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	delete(e.m, key)
}
