package kubelet

import (
	"context"
	goruntime "runtime"

	"golang.org/x/sync/semaphore"
)

// startGate bounds how many pods make their first start (sandbox, network,
// container create and start) at once. Each of those steps starts
// processes (CNI plugins, a shim, runc) that compete for the same few
// cores; a burst of pods all started together shares the CPU evenly and
// every pod finishes last, so a burst of 30 would all turn Running at the
// end. Taking pods in arrival order, a few at a time, keeps the cores just
// as busy while the first pods are Running early: the median start falls
// and the burst's total does not grow. The semaphore is FIFO, so no pod
// waits behind pods that came after it.
//
// A pod waiting on a registry does not hold a slot (see holdStart and
// yieldStart): a slow or failing pull never delays other pods' starts.
type startGate struct {
	sem *semaphore.Weighted
}

// defaultStartConcurrency is two starts per core: enough that a start
// waiting on containerd or the disk leaves no core idle.
func defaultStartConcurrency() int { return max(2, 2*goruntime.NumCPU()) }

func newStartGate(n int) *startGate {
	return &startGate{sem: semaphore.NewWeighted(int64(n))}
}

// holdStart takes a start slot for the worker until releaseStart; it
// returns ctx's error if the worker is stopped while waiting.
func (w *podWorker) holdStart(ctx context.Context) error {
	if w.startHeld {
		return nil
	}
	if err := w.k.starts.sem.Acquire(ctx, 1); err != nil {
		return err
	}
	w.startHeld = true
	return nil
}

// releaseStart gives the worker's slot back, if it holds one.
func (w *podWorker) releaseStart() {
	if w.startHeld {
		w.startHeld = false
		w.k.starts.sem.Release(1)
	}
}

// yieldStart gives the slot up while fn waits (a pull) and takes a new one
// afterwards, behind the pods that queued meanwhile.
func (w *podWorker) yieldStart(ctx context.Context, fn func()) {
	held := w.startHeld
	w.releaseStart()
	fn()
	if held {
		// A cancelled ctx leaves the slot free; the caller sees ctx.Err().
		_ = w.holdStart(ctx)
	}
}
