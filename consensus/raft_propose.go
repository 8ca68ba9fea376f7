package consensus

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/hashicorp/raft"
)

const (
	// retryWindow is how long Propose and ConsistentRead keep trying while
	// there is no leader or leadership moves.
	retryWindow = 5 * time.Second
	// applyTimeout bounds raft.Apply's enqueue when ctx has no deadline.
	applyTimeout = 10 * time.Second
	// maxIndexScan bounds the log scan of visibleIndex.
	maxIndexScan = 256
)

var errNoLeader = errors.New("no known leader")

// Propose applies cmd through raft and returns the resulting object once
// this node's store reflects it. On a follower the command is forwarded to
// the leader over the raft port. See Proposer for the error contract.
func (r *Raft) Propose(ctx context.Context, cmd *Command) (*Object, error) {
	if cmd == nil {
		return nil, fmt.Errorf("%w: nil command", ErrInvalid)
	}
	if err := knownToThisBinary(cmd); err != nil {
		return nil, fmt.Errorf("%w: encode command: %v", ErrInvalid, err)
	}
	var e entries
	var obj *Object
	err := r.withRetry(ctx, func() (bool, error) {
		var retry bool
		var err error
		obj, retry, err = r.proposeOnce(ctx, cmd, &e)
		return retry, err
	})
	return obj, err
}

// entries holds a command's encodings across Propose's attempts: each is
// made once, when an attempt first needs it.
type entries struct{ json, framed []byte }

func (e *entries) jsonEntry(cmd *Command) ([]byte, error) {
	return encodeOnce(&e.json, encodeCommand, cmd)
}

func (e *entries) framedEntry(cmd *Command) ([]byte, error) {
	return encodeOnce(&e.framed, encodeFramed, cmd)
}

func encodeOnce(dst *[]byte, encode func(*Command) ([]byte, error), cmd *Command) ([]byte, error) {
	if *dst == nil {
		b, err := encode(cmd)
		if err != nil {
			return nil, err
		}
		*dst = b
	}
	return *dst, nil
}

func (r *Raft) proposeOnce(ctx context.Context, cmd *Command, e *entries) (*Object, bool, error) {
	if r.IsLeader() {
		var data []byte
		var err error
		if r.FeatureEnabled(FeatureFramedCommands) {
			data, err = e.framedEntry(cmd)
		} else {
			data, err = e.jsonEntry(cmd)
		}
		if err != nil {
			return nil, false, err
		}
		res, _, retry, err := r.applyLocal(ctx, data)
		if err != nil {
			return nil, retry, err
		}
		return res.Object, false, res.Err
	}
	_, addr := r.Leader()
	if addr == "" || addr == r.advertise {
		return nil, true, errNoLeader
	}
	framed, err := e.framedEntry(cmd)
	if err != nil {
		return nil, false, err
	}
	callCtx, stop := r.whileLeaderIs(ctx, addr)
	resp, err := r.fwd.callStream(callCtx, addr, framed)
	if errors.Is(err, errNoStream) {
		resp, err = r.fwd.callFramed(callCtx, addr, framed)
	}
	if errors.Is(err, errFramedUnknown) {
		// A leader from before v0.3.0 (a rolling upgrade).
		resp, err = r.fwd.call(callCtx, addr, "/apply", cmd)
	}
	stop()
	if err != nil {
		if ctx.Err() != nil {
			return nil, false, ctx.Err()
		}
		if leaderReplaced(callCtx) {
			// The old leader may have committed it before it was cut off.
			return nil, false, fmt.Errorf("consensus: forward to %s: %w: %v; outcome unknown", addr, ErrNotLeader, errLeaderReplaced)
		}
		var de *dialError
		if errors.As(err, &de) {
			return nil, true, err
		}
		return nil, false, fmt.Errorf("consensus: forward to %s: %w: outcome unknown: %v", addr, ErrNotLeader, err)
	}
	if resp.Kind == kindRetry {
		return nil, true, resp.err()
	}
	// The leader has committed and applied the entry; this replica learns
	// of the commit only with the leader's next append (up to
	// CommitTimeout later). Rather than wait for it here, answer with the
	// leader's object and make this node's next local read wait instead
	// (ReadYourWrites), also after a logical error, so a re-read sees what
	// the leader saw.
	if resp.Index > 0 {
		r.noteAcked(resp.Index)
	}
	if err := resp.err(); err != nil {
		return nil, false, err
	}
	return resp.Object.object(), false, nil
}

// noteAcked records that a write at index was acknowledged here.
func (r *Raft) noteAcked(index uint64) {
	for {
		cur := r.acked.Load()
		if index <= cur || r.acked.CompareAndSwap(cur, index) {
			return
		}
	}
}

// ReadYourWrites returns once this node's store reflects every write this
// node acknowledged; a local read after it sees them. It costs nothing
// when the store has caught up, which is almost always.
func (r *Raft) ReadYourWrites(ctx context.Context) error {
	if idx := r.acked.Load(); idx > r.store.Index() {
		return r.store.WaitIndex(ctx, idx)
	}
	return nil
}

// applyLocal applies an encoded entry on the leader. retry is true when the
// entry was certainly not appended (not leader, transfer in progress,
// enqueue timeout).
func (r *Raft) applyLocal(ctx context.Context, data []byte) (res ApplyResult, index uint64, retry bool, err error) {
	if !r.IsLeader() {
		return res, 0, true, raft.ErrNotLeader
	}
	timeout := applyTimeout
	if dl, ok := ctx.Deadline(); ok {
		timeout = min(timeout, max(time.Until(dl), time.Millisecond))
	}
	if r.FeatureEnabled(FeatureCompressedEntries) {
		data = compressEntry(data)
	}
	f := r.raft.Apply(data, timeout)
	if err := f.Error(); err != nil {
		switch {
		case errors.Is(err, raft.ErrNotLeader),
			errors.Is(err, raft.ErrLeadershipTransferInProgress),
			errors.Is(err, raft.ErrEnqueueTimeout):
			return res, 0, true, err
		}
		return res, 0, false, fmt.Errorf("consensus: %w: %v (outcome unknown)", ErrNotLeader, err)
	}
	res, ok := f.Response().(ApplyResult)
	if !ok {
		return res, 0, false, fmt.Errorf("consensus: unexpected FSM response %T", f.Response())
	}
	return res, f.Index(), false, nil
}

// ConsistentRead returns once this node's store reflects every write
// committed before the call: the leader confirms its leadership and hands
// out its applied index (forwarded from a follower), then the local store
// waits for it.
func (r *Raft) ConsistentRead(ctx context.Context) error {
	var idx uint64
	err := r.withRetry(ctx, func() (bool, error) {
		if r.IsLeader() {
			i, retry, err := r.leaderReadIndex(ctx)
			idx = i
			return retry, err
		}
		_, addr := r.Leader()
		if addr == "" || addr == r.advertise {
			return true, errNoLeader
		}
		callCtx, stop := r.whileLeaderIs(ctx, addr)
		resp, err := r.fwd.call(callCtx, addr, "/readindex", struct{}{})
		stop()
		if err != nil {
			if ctx.Err() != nil {
				return false, ctx.Err()
			}
			return true, err // idempotent: always safe to retry
		}
		if resp.Kind == kindRetry {
			return true, resp.err()
		}
		idx = resp.Index
		return false, resp.err()
	})
	if err != nil {
		return err
	}
	return r.store.WaitIndex(ctx, idx)
}

// leaderReadIndex confirms leadership with a quorum and returns the index
// the store must reach to reflect every committed write.
func (r *Raft) leaderReadIndex(ctx context.Context) (idx uint64, retry bool, err error) {
	if err := r.raft.VerifyLeader().Error(); err != nil {
		if errors.Is(err, raft.ErrNotLeader) || errors.Is(err, raft.ErrLeadershipLost) {
			return 0, true, err
		}
		return 0, false, fmt.Errorf("consensus: verify leader: %w: %v", ErrNotLeader, err)
	}
	// A new leader may not yet have applied what earlier terms committed:
	// until an entry of its own term commits, its applied index can lag
	// behind writes the cluster already acknowledged (a restarted leader
	// would read an empty store). One barrier per term closes that gap.
	if term := r.raft.CurrentTerm(); r.readyTerm.Load() != term {
		// Reads arriving together share one barrier; the wait is bounded
		// by this caller's deadline.
		timeout := applyTimeout
		if dl, ok := ctx.Deadline(); ok {
			timeout = min(timeout, max(time.Until(dl), time.Millisecond))
		}
		ch := r.termBarrier.DoChan(strconv.FormatUint(term, 10), func() (any, error) {
			err := r.raft.Barrier(applyTimeout).Error()
			if err == nil {
				r.readyTerm.Store(term)
			}
			return nil, err
		})
		var err error
		select {
		case res := <-ch:
			err = res.Err
		case <-time.After(timeout):
			err = fmt.Errorf("barrier of term %d not applied within %s", term, timeout)
		case <-ctx.Done():
			return 0, false, ctx.Err()
		}
		if err != nil {
			if errors.Is(err, raft.ErrNotLeader) || errors.Is(err, raft.ErrLeadershipLost) {
				return 0, true, err
			}
			return 0, false, fmt.Errorf("consensus: barrier of a new term: %w: %v", ErrNotLeader, err)
		}
	}
	idx, err = r.visibleIndex(ctx, r.raft.AppliedIndex())
	return idx, false, err
}

// visibleIndex maps a raft index to the highest index at or below it that
// the store will see. Raft's applied index may point at a no-op or barrier
// entry, which never reaches the FSM; waiting for it would hang. The log
// between the store's index and target is scanned for the last command or
// configuration entry; when the log cannot tell (compacted, or too long a
// gap), a barrier makes the store catch up instead.
func (r *Raft) visibleIndex(ctx context.Context, target uint64) (uint64, error) {
	cur := r.store.Index()
	if target <= cur {
		return cur, nil
	}
	if target-cur <= maxIndexScan {
		for i := target; i > cur; i-- {
			var l raft.Log
			if err := r.logs.GetLog(i, &l); err != nil {
				break
			}
			if l.Type == raft.LogCommand || l.Type == raft.LogConfiguration {
				return i, nil
			}
			if i == cur+1 {
				return cur, nil
			}
		}
	}
	timeout := applyTimeout
	if dl, ok := ctx.Deadline(); ok {
		timeout = min(timeout, max(time.Until(dl), time.Millisecond))
	}
	if err := r.raft.Barrier(timeout).Error(); err != nil {
		return 0, fmt.Errorf("consensus: barrier: %w: %v", ErrNotLeader, err)
	}
	return r.store.Index(), nil
}

// withRetry runs op until it reports no retry, ctx ends, raft shuts down
// or retryWindow passes (then ErrNotLeader).
func (r *Raft) withRetry(ctx context.Context, op func() (retry bool, err error)) error {
	deadline := time.Now().Add(retryWindow)
	backoff := 20 * time.Millisecond
	for {
		retry, err := op()
		if !retry {
			return err
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("consensus: %w: %v", ErrNotLeader, err)
		}
		select {
		case <-time.After(backoff):
		case <-ctx.Done():
			return fmt.Errorf("%w (last error: %v)", ctx.Err(), err)
		case <-r.done:
			return fmt.Errorf("consensus: %w: raft is shut down", ErrNotLeader)
		}
		backoff = min(2*backoff, 250*time.Millisecond)
	}
}
