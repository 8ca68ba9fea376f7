package kubelet

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/shoal-project/shoal/runtime"
)

// stallingRuntime blocks ListSandboxes while stalled, as a hung
// containerd would.
type stallingRuntime struct {
	*fakeRuntime
	stalled atomic.Bool
}

func (s *stallingRuntime) ListSandboxes(ctx context.Context) ([]*runtime.Sandbox, error) {
	for s.stalled.Load() {
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(10 * time.Millisecond):
		}
	}
	return s.fakeRuntime.ListSandboxes(ctx)
}

// The kubelet keeps its node's lease in kube-node-lease fresh while its
// sync loop works, and lets it go stale when the runtime hangs.
func TestNodeLease(t *testing.T) {
	e := newLoopEnv(t)
	if _, err := e.CS.CoreV1().Namespaces().Create(e.Ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: NodeLeaseNamespace}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	rt := &stallingRuntime{fakeRuntime: e.rt}
	e.use = rt
	e.tune = func(tu *Tuning) { tu.LeaseRenew, tu.LeaseDuration = 50*time.Millisecond, time.Second }
	e.start()

	renewTime := func() time.Time {
		l, err := e.CS.CoordinationV1().Leases(NodeLeaseNamespace).Get(e.Ctx, testNode, metav1.GetOptions{})
		if err != nil || l.Spec.RenewTime == nil {
			return time.Time{}
		}
		return l.Spec.RenewTime.Time
	}
	e.eventually("the node lease", func() (bool, string) { return !renewTime().IsZero(), "no lease" })
	l, _ := e.CS.CoordinationV1().Leases(NodeLeaseNamespace).Get(e.Ctx, testNode, metav1.GetOptions{})
	node, _ := e.CS.CoreV1().Nodes().Get(e.Ctx, testNode, metav1.GetOptions{})
	if *l.Spec.HolderIdentity != testNode || *l.Spec.LeaseDurationSeconds != 1 ||
		len(l.OwnerReferences) != 1 || l.OwnerReferences[0].Kind != "Node" || l.OwnerReferences[0].UID != node.UID {
		t.Errorf("lease holder %q duration %d owners %+v; want the node as holder and owner, 1s", *l.Spec.HolderIdentity, *l.Spec.LeaseDurationSeconds, l.OwnerReferences)
	}
	first := renewTime()
	e.eventually("the lease renewed", func() (bool, string) { return renewTime().After(first), "not renewed" })

	rt.stalled.Store(true)
	time.Sleep(1500 * time.Millisecond) // past LeaseDuration since the last pass
	stale := renewTime()
	time.Sleep(300 * time.Millisecond)
	if got := renewTime(); !got.Equal(stale) {
		t.Fatalf("lease renewed (%s -> %s) while the runtime hangs", stale, got)
	}
	rt.stalled.Store(false)
	e.eventually("the lease renewed after the runtime answers again", func() (bool, string) { return renewTime().After(stale), "not renewed" })
}

// A runtime that hangs from the start (no full pass ever) stops the lease
// once LeaseDuration has passed since the kubelet started.
func TestNodeLeaseRuntimeHungFromStart(t *testing.T) {
	e := newLoopEnv(t)
	if _, err := e.CS.CoreV1().Namespaces().Create(e.Ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: NodeLeaseNamespace}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	rt := &stallingRuntime{fakeRuntime: e.rt}
	rt.stalled.Store(true)
	e.use = rt
	e.tune = func(tu *Tuning) { tu.LeaseRenew, tu.LeaseDuration = 50*time.Millisecond, time.Second }
	k := New(Config{NodeName: testNode, Cache: e.Cache, Client: e.CS, Runtime: rt, RootDir: e.root, Tuning: func() Tuning {
		tu := testTuning
		e.tune(&tu)
		return tu
	}()})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- k.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		rt.stalled.Store(false)
		<-done
	})
	renewTime := func() time.Time {
		l, err := e.CS.CoordinationV1().Leases(NodeLeaseNamespace).Get(e.Ctx, testNode, metav1.GetOptions{})
		if err != nil || l.Spec.RenewTime == nil {
			return time.Time{}
		}
		return l.Spec.RenewTime.Time
	}
	time.Sleep(1500 * time.Millisecond)
	stale := renewTime()
	if stale.IsZero() {
		t.Fatal("no lease: the kubelet should hold one while it is starting")
	}
	time.Sleep(300 * time.Millisecond)
	if got := renewTime(); !got.Equal(stale) {
		t.Fatalf("lease renewed (%s -> %s) though the runtime never answered a full pass", stale, got)
	}
}
