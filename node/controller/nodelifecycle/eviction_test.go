package nodelifecycle

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/utils/ptr"

	"github.com/shoal-project/shoal/internal/apitest"
	"github.com/shoal-project/shoal/node/controller"
	"github.com/shoal-project/shoal/node/controller/controllertest"
	"github.com/shoal-project/shoal/node/membership"
)

// evMembers is a gossip view the test sets.
type evMembers struct {
	mu      sync.Mutex
	members map[string]membership.State
}

func (m *evMembers) set(name string, s membership.State) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.members == nil {
		m.members = map[string]membership.State{}
	}
	m.members[name] = s
}

func (m *evMembers) Members() []membership.Member {
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []membership.Member
	for name, s := range m.members {
		out = append(out, membership.Member{Name: name, State: s, Meta: membership.Meta{Roles: []string{membership.RoleWorker}, CPU: 4000, MemoryBytes: 8 << 30, APIAddr: "127.0.0.1:6443"}})
	}
	slices.SortFunc(out, func(a, b membership.Member) int { return strings.Compare(a.Name, b.Name) })
	return out
}

func (m *evMembers) Subscribe() (<-chan struct{}, func()) { return make(chan struct{}), func() {} }

// taintKeys lists a node's taints as key:effect.
func taintKeys(n *corev1.Node) []string {
	var out []string
	for _, t := range n.Spec.Taints {
		out = append(out, t.Key+":"+string(t.Effect))
	}
	slices.Sort(out)
	return out
}

func TestEvictionAfterTimeout(t *testing.T) {
	e := newTestEnv(t)
	e.Clock.Set(apitest.T0)
	members := &evMembers{}
	members.set("n1", membership.Alive)
	members.set("n2", membership.Alive)
	nodeRec, stopNodeRec := controller.NewRecorder(e.Deps, "node-controller")
	t.Cleanup(stopNodeRec)
	nl := &Controller{Deps: e.Deps, Members: members, rec: nodeRec}
	e.Synced()
	if err := nl.Reconcile(e.Ctx); err != nil {
		t.Fatal(err)
	}
	ev := NewEviction(e.Deps, 10*time.Second)
	rec, stop := controller.NewRecorder(e.Deps, "taint-eviction-controller")
	t.Cleanup(stop)
	ev.rec, ev.evictRec = nodeRec, rec
	reconcile := func() time.Time {
		t.Helper()
		e.Synced()
		next, err := ev.Reconcile(e.Ctx)
		if err != nil {
			t.Fatal(err)
		}
		return next
	}

	e.BoundPod("p1", "n1")
	e.BoundPod("p2", "n2")
	e.BoundPod("tolerant", "n1", corev1.Toleration{Key: corev1.TaintNodeUnreachable, Operator: corev1.TolerationOpExists,
		Effect: corev1.TaintEffectNoExecute, TolerationSeconds: ptr.To[int64](30)})
	e.BoundPod("forever", "n1", corev1.Toleration{Operator: corev1.TolerationOpExists})
	if next := reconcile(); !next.IsZero() {
		t.Fatalf("all nodes ready, next deadline %v; want none", next)
	}
	if got := taintKeys(e.GetNode("n1")); len(got) != 0 {
		t.Fatalf("ready node taints %v, want none", got)
	}

	// n1 dies: Ready Unknown, tainted unreachable, its pods not ready.
	members.set("n1", membership.Dead)
	e.Synced()
	if err := nl.Reconcile(e.Ctx); err != nil {
		t.Fatal(err)
	}
	n1 := e.GetNode("n1")
	if c := readyCondition(&n1.Status); c == nil || c.Status != corev1.ConditionUnknown {
		t.Fatalf("n1 Ready %+v, want Unknown", c)
	}
	want := []string{"node.kubernetes.io/unreachable:NoExecute", "node.kubernetes.io/unreachable:NoSchedule"}
	if got := taintKeys(n1); !slices.Equal(got, want) {
		t.Fatalf("n1 taints %v, want %v", got, want)
	}
	for _, tn := range n1.Spec.Taints {
		if tn.Effect == corev1.TaintEffectNoExecute && (tn.TimeAdded == nil || !tn.TimeAdded.Time.Equal(apitest.T0)) {
			t.Errorf("NoExecute taint added at %v, want %v", tn.TimeAdded, apitest.T0)
		}
	}
	if next := reconcile(); !next.Equal(apitest.T0.Add(10 * time.Second)) {
		t.Errorf("next deadline %v, want %v", next, apitest.T0.Add(10*time.Second))
	}
	for _, name := range []string{"p1", "tolerant", "forever"} {
		p, _ := e.PodExists(name)
		if controller.PodReady(p) {
			t.Errorf("pod %s on the unreachable node still Ready", name)
		}
	}
	if p, _ := e.PodExists("p2"); !controller.PodReady(p) {
		t.Error("pod p2 on a healthy node marked not ready")
	}

	// Just before the timeout nothing is deleted; just after, p1 is.
	e.Clock.Advance(9 * time.Second)
	reconcile()
	if _, ok := e.PodExists("p1"); !ok {
		t.Fatal("p1 deleted before the eviction timeout")
	}
	e.Clock.Advance(2 * time.Second)
	if next := reconcile(); !next.Equal(apitest.T0.Add(30 * time.Second)) {
		t.Errorf("next deadline %v, want the toleration's %v", next, apitest.T0.Add(30*time.Second))
	}
	if _, ok := e.PodExists("p1"); ok {
		t.Error("p1 not deleted after the eviction timeout")
	}
	for _, name := range []string{"p2", "tolerant", "forever"} {
		if _, ok := e.PodExists(name); !ok {
			t.Errorf("pod %s deleted, want it kept", name)
		}
	}
	e.Clock.Advance(20 * time.Second)
	if next := reconcile(); !next.IsZero() {
		t.Errorf("next deadline %v, want none", next)
	}
	if _, ok := e.PodExists("tolerant"); ok {
		t.Error("tolerant not deleted after its tolerationSeconds")
	}
	if _, ok := e.PodExists("forever"); !ok {
		t.Error("forever deleted although it tolerates the taint for ever")
	}
	e.Eventually(10*time.Second, func() error {
		for _, name := range []string{"p1", "tolerant"} {
			evs := e.Events(name, "TaintManagerEviction")
			if len(evs) != 1 || evs[0].Message != "Marking for deletion Pod default/"+name {
				return fmt.Errorf("TaintManagerEviction events of %s: %+v", name, evs)
			}
		}
		if evs := e.Events("p1", "NodeNotReady"); len(evs) != 1 || evs[0].Message != "Node is not ready" || evs[0].Type != corev1.EventTypeWarning {
			return fmt.Errorf("NodeNotReady events of p1: %+v", evs)
		}
		return nil
	})

	// n1 comes back: Ready again, taints gone, nothing more evicted.
	members.set("n1", membership.Alive)
	e.Synced()
	if err := nl.Reconcile(e.Ctx); err != nil {
		t.Fatal(err)
	}
	n1 = e.GetNode("n1")
	if c := readyCondition(&n1.Status); c == nil || c.Status != corev1.ConditionTrue {
		t.Fatalf("n1 Ready %+v, want True", c)
	}
	if got := taintKeys(n1); len(got) != 0 {
		t.Errorf("n1 taints %v after it came back, want none", got)
	}
	reconcile()
	if _, ok := e.PodExists("forever"); !ok {
		t.Error("forever deleted after its node came back")
	}
	e.Eventually(10*time.Second, func() error {
		for _, status := range []string{"NodeNotReady", "NodeReady"} {
			evs := e.Events("n1", status)
			if len(evs) != 1 || evs[0].Message != "Node n1 status is now: "+status || evs[0].InvolvedObject.Kind != "Node" ||
				evs[0].Source.Component != "node-controller" {
				return fmt.Errorf("%s events of n1: %+v", status, evs)
			}
		}
		return nil
	})
}

func TestEvictionMarksDisruptionTarget(t *testing.T) {
	e := newTestEnv(t)
	e.Clock.Set(apitest.T0)
	members := &evMembers{}
	members.set("n1", membership.Alive)
	nl := &Controller{Deps: e.Deps, Members: members}
	e.Synced()
	if err := nl.Reconcile(e.Ctx); err != nil {
		t.Fatal(err)
	}
	e.BoundPod("p1", "n1")
	// Watch the pod's last state before it is removed.
	w, err := e.Store.Watch("pods", "default", 0)
	if err != nil {
		t.Fatal(err)
	}
	defer w.Stop()
	members.set("n1", membership.Left)
	e.Synced()
	if err := nl.Reconcile(e.Ctx); err != nil {
		t.Fatal(err)
	}
	ev := NewEviction(e.Deps, 0)
	e.Clock.Advance(DefaultEvictionTimeout)
	e.Synced()
	if _, err := ev.Reconcile(e.Ctx); err != nil {
		t.Fatal(err)
	}
	var last corev1.Pod
	for got := false; !got; {
		select {
		case x := <-w.Events():
			if err := json.Unmarshal(x.Object.Raw, &last); err != nil {
				t.Fatal(err)
			}
			got = x.Type == "DELETED"
		case <-time.After(5 * time.Second):
			t.Fatal("pod not deleted")
		}
	}
	var dt *corev1.PodCondition
	for i := range last.Status.Conditions {
		if last.Status.Conditions[i].Type == corev1.DisruptionTarget {
			dt = &last.Status.Conditions[i]
		}
	}
	if dt == nil || dt.Status != corev1.ConditionTrue || dt.Reason != "DeletionByTaintManager" {
		t.Errorf("DisruptionTarget %+v, want True/DeletionByTaintManager", dt)
	}
	if ev.evicted.Load() != 1 {
		t.Errorf("%d evicted, want 1", ev.evicted.Load())
	}
}

// TestEvictionReplacesPods runs the loops together on the real clock: the
// pods of a ReplicaSet on a node that dies are deleted after the timeout
// and created again.
func TestEvictionReplacesPods(t *testing.T) {
	e := newTestEnv(t)
	members := &evMembers{}
	members.set("n1", membership.Alive)
	members.set("n2", membership.Alive)
	nl := &Controller{Deps: e.Deps, Members: members}
	e.Synced()
	if err := nl.Reconcile(e.Ctx); err != nil {
		t.Fatal(err)
	}
	e.startRS()
	ev := NewEviction(e.Deps, 300*time.Millisecond)
	e.RunLoop("eviction", ev.Run, ev.Ready())
	e.CreateReplicaSet(controllertest.ReplicaSet("web", 3))
	pods := e.WantPods("web", 3)
	old := apitest.PodNames(pods)
	for i, p := range pods {
		e.Bind(p.Name, []string{"n1", "n1", "n2"}[i])
	}
	onN2 := pods[2].Name

	members.set("n1", membership.Dead)
	start := time.Now()
	e.Synced()
	if err := nl.Reconcile(e.Ctx); err != nil {
		t.Fatal(err)
	}
	e.Eventually(10*time.Second, func() error {
		pods := e.Pods("web")
		names := apitest.PodNames(pods)
		if len(pods) != 3 || !slices.Contains(names, onN2) {
			return fmt.Errorf("pods %v, want 3 with %s", names, onN2)
		}
		for _, p := range pods {
			if p.Spec.NodeName == "n1" {
				return fmt.Errorf("pod %s still on n1", p.Name)
			}
		}
		return nil
	})
	if d := time.Since(start); d < 300*time.Millisecond {
		t.Errorf("pods replaced after %v, before the eviction timeout", d)
	}
	if fresh := slices.DeleteFunc(apitest.PodNames(e.Pods("web")), func(n string) bool { return slices.Contains(old, n) }); len(fresh) != 2 {
		t.Errorf("new pods %v, want 2", fresh)
	}
}
