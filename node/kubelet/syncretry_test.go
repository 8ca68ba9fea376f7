package kubelet

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/shoal-project/shoal/runtime"
)

func TestSyncRetryDelays(t *testing.T) {
	r := syncRetry{policy: BackOffPolicy{Initial: time.Second, Max: 5 * time.Second}}
	now := time.Unix(1000, 0)
	errA, errB := errors.New("a"), errors.New("b")
	steps := []struct {
		err         error
		wantDelay   time.Duration
		wantChanged bool
	}{
		{errA, time.Second, true},
		{errA, 2 * time.Second, false},
		{errA, 4 * time.Second, false},
		{errB, 5 * time.Second, true},
		{errB, 5 * time.Second, false},
		{errA, 5 * time.Second, true},
	}
	for i, s := range steps {
		d, changed := r.fail(s.err, now.Add(time.Duration(i)*time.Second))
		if d != s.wantDelay || changed != s.wantChanged {
			t.Errorf("failure %d (%v): delay %v changed %v, want %v %v", i+1, s.err, d, changed, s.wantDelay, s.wantChanged)
		}
	}
	if !r.failing() {
		t.Error("failing() = false after failures")
	}
	fails, since := r.succeed()
	if fails != len(steps) || !since.Equal(now) {
		t.Errorf("succeed() = %d, %v; want %d, %v", fails, since, len(steps), now)
	}
	if r.failing() {
		t.Error("failing() = true after succeed")
	}
	if d, changed := r.fail(errA, now); d != time.Second || !changed {
		t.Errorf("first failure after a success: delay %v changed %v, want 1s true", d, changed)
	}
}

// failingRemoval is the fake runtime with a RemoveSandbox that fails while
// err is set, as containerd's did for a container with a task left over.
type failingRemoval struct {
	*fakeRuntime
	mu    sync.Mutex
	err   error
	calls int
}

func (f *failingRemoval) RemoveSandbox(ctx context.Context, id string) error {
	f.mu.Lock()
	err := f.err
	f.calls++
	f.mu.Unlock()
	if err != nil {
		return err
	}
	return f.fakeRuntime.RemoveSandbox(ctx, id)
}

func (f *failingRemoval) setErr(err error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.err = err
}

func (f *failingRemoval) count() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.calls
}

// lockedBuffer collects log output from several goroutines.
type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

// lines returns the lines that contain every one of subs.
func (b *lockedBuffer) lines(subs ...string) []string {
	b.mu.Lock()
	defer b.mu.Unlock()
	var out []string
	for _, l := range strings.Split(b.buf.String(), "\n") {
		all := l != ""
		for _, s := range subs {
			all = all && strings.Contains(l, s)
		}
		if all {
			out = append(out, l)
		}
	}
	return out
}

// TestLoopFailingRemovalBacksOff: an orphaned sandbox whose removal keeps
// failing, in a namespace whose configmaps change all the time (each change
// wakes the namespace's workers), is retried with a back-off, not at every
// wake, and its error is logged once, then again only when it changes; once
// removal works the orphan goes and the recovery is logged. The chaos suite
// saw a worker log the same removal error ~20 times a second for minutes.
func TestLoopFailingRemovalBacksOff(t *testing.T) {
	e := newLoopEnv(t)
	ctx := e.Ctx
	ghost, _ := e.rt.RunSandbox(ctx, runtime.SandboxConfig{UID: "ghost-uid", Namespace: "default", Name: "ghost"})
	gid, _ := e.rt.CreateContainer(ctx, ghost.ID, runtime.ContainerConfig{Name: "app", Image: "busybox:1.36"})
	_ = e.rt.StartContainer(ctx, gid)
	rt := &failingRemoval{fakeRuntime: e.rt, err: errors.New("remove container c1: cannot delete running task c1: failed precondition")}
	e.use = rt
	e.tune = func(tu *Tuning) {
		tu.SyncBackOff = BackOffPolicy{Initial: 100 * time.Millisecond, Max: 400 * time.Millisecond}
	}
	logs := &lockedBuffer{}
	e.logTo = logs

	// A configmap of the orphan's namespace rewritten non-stop.
	cms := e.CS.CoreV1().ConfigMaps("default")
	if _, err := cms.Create(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "busy"}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	hctx, stopHammer := context.WithCancel(ctx)
	var hammer sync.WaitGroup
	hammer.Go(func() {
		for i := 0; hctx.Err() == nil; i++ {
			cm := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "busy"}, Data: map[string]string{"n": fmt.Sprint(i)}}
			_, _ = cms.Update(hctx, cm, metav1.UpdateOptions{})
			time.Sleep(2 * time.Millisecond)
		}
	})
	defer hammer.Wait()
	defer stopHammer()

	e.start()
	e.eventually("a first removal attempt", func() (bool, string) { return rt.count() > 0, "no RemoveSandbox call" })
	time.Sleep(2 * time.Second)
	// 100ms doubling to 400ms: attempts at about 0, 0.1, 0.3, 0.7, 1.1,
	// 1.5, 1.9s. Retrying at every wake or PodSync tick makes hundreds.
	if n := rt.count(); n > 12 {
		t.Errorf("%d removal attempts in about 2s, want at most 12 (a back-off from 100ms to 400ms)", n)
	}
	warn := `level=WARN msg="pod sync"`
	if got := logs.lines(warn); len(got) != 1 {
		t.Errorf("%d warnings for one unchanging error, want 1; the first:\n%s", len(got), strings.Join(got[:min(len(got), 3)], "\n"))
	}
	if got := logs.lines(`msg="pod sync"`, "cannot delete running task"); len(got) < 3 {
		t.Errorf("%d log lines of the failing attempts, want one per attempt (the repeats at debug level)", len(got))
	}

	rt.setErr(errors.New("remove sandbox: something else"))
	e.eventually("the changed error logged", func() (bool, string) {
		got := logs.lines(warn)
		return len(got) == 2 && strings.Contains(got[1], "something else"), strings.Join(got, "\n")
	})

	rt.setErr(nil)
	e.eventually("the orphan removed and the recovery logged", func() (bool, string) {
		e.rt.mu.Lock()
		_, left := e.rt.sandboxes[ghost.ID]
		e.rt.mu.Unlock()
		rec := logs.lines(`msg="pod sync recovered"`, "ghost-uid")
		return !left && len(rec) == 1, fmt.Sprintf("sandbox left: %v, recovery lines: %q", left, rec)
	})
}
