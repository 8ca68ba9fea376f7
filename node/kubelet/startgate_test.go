package kubelet

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	"github.com/shoal-project/shoal/runtime"
)

// gatedRuntime holds every RunSandbox until released and can hold the
// pulls of one image, counting how many sandboxes are being made at once.
type gatedRuntime struct {
	*fakeRuntime
	mu              sync.Mutex
	inFlight, peak  int
	made            []string // pods RunSandbox was called for
	sandboxRelease  chan struct{}
	holdPullOf      string
	pullRelease     chan struct{}
	pullStarted     chan struct{}
	pullStartedOnce sync.Once
}

func (g *gatedRuntime) RunSandbox(ctx context.Context, cfg runtime.SandboxConfig) (*runtime.Sandbox, error) {
	g.mu.Lock()
	g.inFlight++
	g.peak = max(g.peak, g.inFlight)
	g.made = append(g.made, cfg.Name)
	g.mu.Unlock()
	defer func() {
		g.mu.Lock()
		g.inFlight--
		g.mu.Unlock()
	}()
	if g.sandboxRelease != nil {
		select {
		case <-g.sandboxRelease:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
	return g.fakeRuntime.RunSandbox(ctx, cfg)
}

func (g *gatedRuntime) PullImage(ctx context.Context, ref string, auth *runtime.RegistryAuth) (*runtime.Image, error) {
	if ref == g.holdPullOf {
		g.pullStartedOnce.Do(func() { close(g.pullStarted) })
		select {
		case <-g.pullRelease:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
	return g.fakeRuntime.PullImage(ctx, ref, auth)
}

func (g *gatedRuntime) peakInFlight() int {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.peak
}

func running(e *loopEnv, name string) func() (bool, string) {
	return func() (bool, string) {
		p := e.GetPod(name)
		return p.Status.Phase == corev1.PodRunning, fmt.Sprintf("phase %q", p.Status.Phase)
	}
}

// A burst of pods makes its first starts at most StartConcurrency at a
// time, and every pod of the burst still ends Running.
func TestStartGateBoundsConcurrentStarts(t *testing.T) {
	for _, limit := range []int{1, 2, 3} {
		t.Run(fmt.Sprintf("limit=%d", limit), func(t *testing.T) {
			e := newLoopEnv(t)
			release := make(chan struct{})
			g := &gatedRuntime{fakeRuntime: e.rt, sandboxRelease: release}
			e.use = g
			e.tune = func(tu *Tuning) { tu.StartConcurrency = limit }
			e.start()
			const n = 8
			for i := range n {
				e.createPod(testPod(fmt.Sprintf("burst-%d", i), "busybox:1.36"))
			}
			e.eventually("the first sandboxes being made", func() (bool, string) {
				g.mu.Lock()
				defer g.mu.Unlock()
				return g.inFlight == limit, fmt.Sprintf("%d in flight", g.inFlight)
			})
			close(release)
			for i := range n {
				e.eventually(fmt.Sprintf("burst-%d Running", i), running(e, fmt.Sprintf("burst-%d", i)))
			}
			if got := g.peakInFlight(); got != limit {
				t.Errorf("at most %d sandboxes should be made at once; saw %d", limit, got)
			}
		})
	}
}

// A pod waiting on a slow registry gives its slot up: with one slot, a pod
// whose image is present starts while another pod's pull hangs.
func TestStartGateSlowPullDoesNotBlockOthers(t *testing.T) {
	e := newLoopEnv(t)
	g := &gatedRuntime{fakeRuntime: e.rt, holdPullOf: "slow:1", pullRelease: make(chan struct{}), pullStarted: make(chan struct{})}
	e.use = g
	e.tune = func(tu *Tuning) { tu.StartConcurrency = 1 }
	e.rt.images["busybox:1.36"] = &runtime.Image{Ref: "docker.io/library/busybox:1.36", ID: "sha256:bb"}
	e.start()
	e.createPod(testPod("slow", "slow:1"))
	select {
	case <-g.pullStarted:
	case <-time.After(10 * time.Second):
		t.Fatal("the slow pull never started")
	}
	e.createPod(testPod("quick", "busybox:1.36"))
	e.eventually("quick Running while slow's pull hangs", running(e, "quick"))
	if p := e.GetPod("slow"); p.Status.Phase == corev1.PodRunning {
		t.Fatalf("slow is Running before its pull finished")
	}
	close(g.pullRelease)
	e.eventually("slow Running after its pull", running(e, "slow"))
}

// A pod deleted while it queued at the gate gets no sandbox.
func TestStartGateSkipsPodDeletedWhileQueued(t *testing.T) {
	e := newLoopEnv(t)
	release := make(chan struct{})
	g := &gatedRuntime{fakeRuntime: e.rt, sandboxRelease: release}
	e.use = g
	e.tune = func(tu *Tuning) { tu.StartConcurrency = 1 }
	e.start()
	e.createPod(testPod("first", "busybox:1.36"))
	e.eventually("first in RunSandbox", func() (bool, string) {
		g.mu.Lock()
		defer g.mu.Unlock()
		return g.inFlight == 1, fmt.Sprintf("%d in flight", g.inFlight)
	})
	e.createPod(testPod("queued", "busybox:1.36"))
	time.Sleep(100 * time.Millisecond) // its worker is waiting at the gate
	if err := e.CS.CoreV1().Pods("default").Delete(e.Ctx, "queued", metav1.DeleteOptions{GracePeriodSeconds: ptr.To[int64](0)}); err != nil {
		t.Fatal(err)
	}
	time.Sleep(100 * time.Millisecond)
	close(release)
	e.eventually("first Running", running(e, "first"))
	e.eventually("queued gone", func() (bool, string) {
		_, err := e.CS.CoreV1().Pods("default").Get(e.Ctx, "queued", metav1.GetOptions{})
		return apierrors.IsNotFound(err), fmt.Sprintf("%v", err)
	})
	g.mu.Lock()
	defer g.mu.Unlock()
	if fmt.Sprint(g.made) != "[first]" {
		t.Errorf("sandboxes made for %v; want only [first]", g.made)
	}
}
