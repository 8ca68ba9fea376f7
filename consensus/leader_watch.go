package consensus

import (
	"context"
	"errors"
	"sync"

	"github.com/hashicorp/raft"
)

// errLeaderReplaced cancels a forwarded call whose leader was replaced.
var errLeaderReplaced = errors.New("the leader was replaced while the request was in flight")

// leaderWatch wakes forwarded calls when raft's view of the leader changes.
// A call forwarded to a leader that is then cut off would otherwise wait on
// its TCP connection until the link returns, long after the cluster elected
// another leader (a chaos run saw 6 s of such waits).
type leaderWatch struct {
	mu sync.Mutex
	ch chan struct{} // closed and replaced on every change
}

func newLeaderWatch() *leaderWatch { return &leaderWatch{ch: make(chan struct{})} }

// changed returns a channel closed at the next leader change.
func (w *leaderWatch) changed() <-chan struct{} {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.ch
}

func (w *leaderWatch) notify() {
	w.mu.Lock()
	defer w.mu.Unlock()
	close(w.ch)
	w.ch = make(chan struct{})
}

// observeLeaders feeds r.leaders from raft's leader observations until
// r.done is closed.
func (r *Raft) observeLeaders(obs chan raft.Observation) {
	defer r.wg.Done()
	for {
		select {
		case <-obs:
			r.leaders.notify()
		case <-r.done:
			return
		}
	}
}

// whileLeaderIs returns a context derived from ctx that is cancelled with
// errLeaderReplaced once this node knows of a leader other than addr. A
// leader that is merely unknown (an election under way) does not cancel:
// addr may still answer. stop releases the watch.
func (r *Raft) whileLeaderIs(ctx context.Context, addr string) (_ context.Context, stop func()) {
	ctx, cancel := context.WithCancelCause(ctx)
	changed := r.leaders.changed()
	if _, cur := r.Leader(); cur != "" && cur != addr {
		cancel(errLeaderReplaced)
		return ctx, func() {}
	}
	done := make(chan struct{})
	go func() {
		for {
			select {
			case <-changed:
				changed = r.leaders.changed()
				if _, cur := r.Leader(); cur != "" && cur != addr {
					cancel(errLeaderReplaced)
					return
				}
			case <-ctx.Done():
				return
			case <-done:
				return
			}
		}
	}()
	return ctx, func() { close(done); cancel(nil) }
}

// leaderReplaced reports whether ctx (from whileLeaderIs) ended because
// the leader was replaced.
func leaderReplaced(ctx context.Context) bool {
	return errors.Is(context.Cause(ctx), errLeaderReplaced)
}
