package controller

import (
	"context"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/shoal-project/shoal/node/follow"
)

// The node's cache applies a change a moment after the API answered the
// write that made it. A controller that reads its own writes (a pass that
// must not patch or record the same thing twice) waits for them first: the
// store the controllers read before the cache was always current.

// OwnWrites is the newest resourceVersion a controller wrote of one
// resource. It is safe for concurrent use (a controller's workers).
type OwnWrites struct{ rv atomic.Uint64 }

// Note records the resourceVersion of an object the API returned.
func (w *OwnWrites) Note(resourceVersion string) {
	rv, err := strconv.ParseUint(resourceVersion, 10, 64)
	if err != nil {
		return
	}
	for {
		cur := w.rv.Load()
		if rv <= cur || w.rv.CompareAndSwap(cur, rv) {
			return
		}
	}
}

// SeenBy reports whether a follower at resourceVersion rv holds every
// write noted.
func (w *OwnWrites) SeenBy(rv uint64) bool { return rv >= w.rv.Load() }

// cacheWait bounds AwaitCache: a cache that is further behind than this
// is re-listing, and the pass goes on with what it holds, as a pass on a
// lagging replica would.
const cacheWait = time.Second

// AwaitCache waits until caught reports true, ctx ends or cacheWait has
// passed.
func AwaitCache(ctx context.Context, caught func() bool) {
	follow.Await(ctx, cacheWait, caught)
}
