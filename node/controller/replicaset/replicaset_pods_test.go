package replicaset

import (
	"errors"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/ptr"

	"github.com/shoal-project/shoal/internal/apitest"
	"github.com/shoal-project/shoal/node/controller/controllertest"
)

// rsPod builds a pod for the ordering tests.
type rsPod struct {
	name      string
	node      string
	phase     corev1.PodPhase
	ready     bool
	readyAt   time.Duration // after apitest.T0
	restarts  int32
	created   time.Duration // after apitest.T0
	cost      string
	ownerUID  types.UID
	podLabels map[string]string
}

func (b rsPod) pod() *corev1.Pod {
	p := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{
			Name: b.name, Namespace: "default", UID: types.UID("uid-" + b.name),
			CreationTimestamp: metav1.NewTime(apitest.T0.Add(b.created)),
			Labels:            b.podLabels,
		},
		Spec:   corev1.PodSpec{NodeName: b.node},
		Status: corev1.PodStatus{Phase: b.phase},
	}
	if b.ready {
		p.Status.Conditions = []corev1.PodCondition{{Type: corev1.PodReady, Status: corev1.ConditionTrue, LastTransitionTime: metav1.NewTime(apitest.T0.Add(b.readyAt))}}
	}
	if b.restarts > 0 {
		p.Status.ContainerStatuses = []corev1.ContainerStatus{{Name: "c", RestartCount: b.restarts}}
	}
	if b.cost != "" {
		p.Annotations = map[string]string{podDeletionCostAnnotation: b.cost}
	}
	if b.ownerUID != "" {
		p.OwnerReferences = []metav1.OwnerReference{{APIVersion: "apps/v1", Kind: "ReplicaSet", Name: "web", UID: b.ownerUID, Controller: ptr.To(true)}}
	}
	return p
}

func TestReplicaDeleteOrder(t *testing.T) {
	running := corev1.PodRunning
	cases := []struct {
		name    string
		pods    []rsPod
		related []rsPod // besides pods
		n       int
		want    []string
	}{
		{
			name: "unscheduled before scheduled",
			pods: []rsPod{{name: "a", node: "n1", phase: running, ready: true}, {name: "b"}},
			n:    1, want: []string{"b"},
		},
		{
			name: "pending before unknown before running",
			pods: []rsPod{
				{name: "run", node: "n1", phase: running}, {name: "unk", node: "n1", phase: corev1.PodUnknown},
				{name: "pend", node: "n1", phase: corev1.PodPending},
			},
			n: 3, want: []string{"pend", "unk", "run"},
		},
		{
			name: "not ready before ready",
			pods: []rsPod{{name: "ready", node: "n1", phase: running, ready: true}, {name: "notready", node: "n1", phase: running}},
			n:    1, want: []string{"notready"},
		},
		{
			name: "lower deletion cost first",
			pods: []rsPod{{name: "dear", node: "n1", phase: running, cost: "100"}, {name: "cheap", node: "n1", phase: running, cost: "-5"}, {name: "plain", node: "n1", phase: running}},
			n:    3, want: []string{"cheap", "plain", "dear"},
		},
		{
			name:    "doubled up on a node first",
			pods:    []rsPod{{name: "alone", node: "n1", phase: running, created: 0}, {name: "crowded", node: "n2", phase: running, created: -time.Hour}},
			related: []rsPod{{name: "sibling", node: "n2", phase: running}},
			n:       1, want: []string{"crowded"},
		},
		{
			name: "ready for less time first",
			pods: []rsPod{{name: "old", node: "n1", phase: running, ready: true, readyAt: time.Minute}, {name: "new", node: "n1", phase: running, ready: true, readyAt: time.Hour}},
			n:    1, want: []string{"new"},
		},
		{
			name: "more restarts first",
			pods: []rsPod{{name: "stable", node: "n1", phase: running}, {name: "flaky", node: "n1", phase: running, restarts: 7}},
			n:    1, want: []string{"flaky"},
		},
		{
			name: "newer first",
			pods: []rsPod{{name: "p1", created: 1 * time.Second}, {name: "p3", created: 3 * time.Second}, {name: "p2", created: 2 * time.Second}},
			n:    2, want: []string{"p3", "p2"},
		},
		{
			name: "all when n covers them",
			pods: []rsPod{{name: "x"}, {name: "y"}},
			n:    5, want: []string{"x", "y"},
		},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var pods, related []*corev1.Pod
			for _, b := range c.pods {
				pods = append(pods, b.pod())
			}
			related = append(related, pods...)
			for _, b := range c.related {
				related = append(related, b.pod())
			}
			var got []string
			for _, p := range podsToDelete(pods, related, c.n) {
				got = append(got, p.Name)
			}
			if !slices.Equal(got, c.want) {
				t.Errorf("deleted %v, want %v", got, c.want)
			}
		})
	}
}

func TestReplicaSlowStartBatches(t *testing.T) {
	cases := []struct {
		count int
		want  []int
	}{
		{0, nil},
		{1, []int{1}},
		{3, []int{1, 2}},
		{10, []int{1, 2, 4, 3}},
		{500, []int{1, 2, 4, 8, 16, 32, 64, 128, 245}},
	}
	for _, c := range cases {
		if got := slowStartBatches(c.count, 1); !slices.Equal(got, c.want) {
			t.Errorf("batches(%d) = %v, want %v", c.count, got, c.want)
		}
	}
}

func TestReplicaSlowStartStopsAfterFailingBatch(t *testing.T) {
	// The 4th call fails: it is in the third batch (calls 4..7), so the
	// batches of 8 and more are never started.
	var calls atomic.Int64
	ok, err := replicaSlowStart(100, 1, func() error {
		if calls.Add(1) == 4 {
			return errors.New("quota exceeded")
		}
		return nil
	})
	if err == nil || ok != 6 || calls.Load() != 7 {
		t.Errorf("successes %d, calls %d, error %v; want 6 successes of 7 calls and the error", ok, calls.Load(), err)
	}
}

func TestReplicaClaimFor(t *testing.T) {
	rs := &appsv1.ReplicaSet{ObjectMeta: metav1.ObjectMeta{Name: "web", UID: "rs-uid"}}
	deleting := rs.DeepCopy()
	deleting.DeletionTimestamp = ptr.To(metav1.NewTime(apitest.T0))
	selector := labels.SelectorFromSet(labels.Set{"app": "web"})
	web := map[string]string{"app": "web"}
	other := map[string]string{"app": "db"}
	terminating := rsPod{name: "t", podLabels: web}.pod()
	terminating.DeletionTimestamp = ptr.To(metav1.NewTime(apitest.T0))
	cases := []struct {
		name string
		rs   *appsv1.ReplicaSet
		pod  *corev1.Pod
		want replicaClaim
	}{
		{"ours and matching: keep", rs, rsPod{name: "p", podLabels: web, ownerUID: "rs-uid"}.pod(), replicaKeep},
		{"ours, labels changed: release", rs, rsPod{name: "p", podLabels: other, ownerUID: "rs-uid"}.pod(), replicaRelease},
		{"ours, labels changed, owner deleting: ignore", deleting, rsPod{name: "p", podLabels: other, ownerUID: "rs-uid"}.pod(), replicaIgnore},
		{"another controller's: ignore", rs, rsPod{name: "p", podLabels: web, ownerUID: "other-uid"}.pod(), replicaIgnore},
		{"matching orphan: adopt", rs, rsPod{name: "p", podLabels: web}.pod(), replicaAdopt},
		{"non-matching orphan: ignore", rs, rsPod{name: "p", podLabels: other}.pod(), replicaIgnore},
		{"orphan, owner deleting: ignore", deleting, rsPod{name: "p", podLabels: web}.pod(), replicaIgnore},
		{"terminating orphan: ignore", rs, terminating, replicaIgnore},
	}
	for _, c := range cases {
		if got := claimFor(c.rs, selector, c.pod); got != c.want {
			t.Errorf("%s: got %d, want %d", c.name, got, c.want)
		}
	}
}

func TestReplicaExpectations(t *testing.T) {
	e := newReplicaExpectations()
	never := func(string, types.UID) bool { return false }
	always := func(string, types.UID) bool { return true }
	if !e.satisfied("ns/web", 10, never, apitest.T0) {
		t.Fatal("no expectations: want satisfied")
	}
	// Two creates in flight: not satisfied until both return and the store
	// reaches the later one's index.
	e.expect("ns/web", 2, apitest.T0)
	e.created("ns/web", 12, apitest.T0)
	if e.satisfied("ns/web", 20, always, apitest.T0) {
		t.Fatal("a create in flight: want unsatisfied")
	}
	e.created("ns/web", 15, apitest.T0)
	if e.satisfied("ns/web", 14, always, apitest.T0) {
		t.Fatal("store at 14, create at 15: want unsatisfied")
	}
	if !e.satisfied("ns/web", 15, always, apitest.T0) {
		t.Fatal("store caught up: want satisfied")
	}
	// A delete is expected until the store shows the pod gone.
	e.expect("ns/web", 1, apitest.T0)
	e.deleted("ns/web", "ns/web-abcde", "uid", true, apitest.T0)
	if e.satisfied("ns/web", 20, never, apitest.T0) {
		t.Fatal("deleted pod still in the store: want unsatisfied")
	}
	if !e.satisfied("ns/web", 20, always, apitest.T0) {
		t.Fatal("deleted pod gone: want satisfied")
	}
	// Expectations that are never met expire.
	e.expect("ns/web", 1, apitest.T0)
	if e.satisfied("ns/web", 20, always, apitest.T0.Add(time.Minute)) {
		t.Fatal("in flight: want unsatisfied")
	}
	if !e.satisfied("ns/web", 20, always, apitest.T0.Add(time.Minute+expectTTL+time.Second)) {
		t.Fatal("expired: want satisfied")
	}
}

func TestReplicaStatusFor(t *testing.T) {
	rs := controllertest.ReplicaSet("web", 3)
	rs.Generation = 4
	rs.Spec.MinReadySeconds = 10
	now := apitest.T0.Add(time.Minute)
	pods := []*corev1.Pod{
		rsPod{name: "a", podLabels: map[string]string{"app": "web"}, phase: corev1.PodRunning, ready: true}.pod(),                            // available
		rsPod{name: "b", podLabels: map[string]string{"app": "web"}, phase: corev1.PodRunning, ready: true, readyAt: 55 * time.Second}.pod(), // ready 5s
		rsPod{name: "c", podLabels: map[string]string{"app": "other"}}.pod(),
	}
	st := statusFor(rs, pods, nil, now)
	want := appsv1.ReplicaSetStatus{Replicas: 3, FullyLabeledReplicas: 2, ReadyReplicas: 2, AvailableReplicas: 1, ObservedGeneration: 4}
	if !equalStatus(st, want) {
		t.Errorf("status %+v, want %+v", st, want)
	}
	if d, ok := nextAvailable(rs, pods, now); !ok || d != 6*time.Second {
		t.Errorf("next available in %v (%v), want 6s", d, ok)
	}
	// A failed create adds ReplicaFailure; a clean sync removes it.
	st = statusFor(rs, pods[:1], errors.New(`pods "web-" is forbidden: quota`), now)
	if len(st.Conditions) != 1 || st.Conditions[0].Type != appsv1.ReplicaSetReplicaFailure || st.Conditions[0].Reason != "FailedCreate" ||
		st.Conditions[0].Status != corev1.ConditionTrue {
		t.Fatalf("conditions %+v, want ReplicaFailure True FailedCreate", st.Conditions)
	}
	rs.Status = st
	if st = statusFor(rs, pods, nil, now); len(st.Conditions) != 0 {
		t.Errorf("conditions %+v after a clean sync, want none", st.Conditions)
	}
}

func equalStatus(a, b appsv1.ReplicaSetStatus) bool {
	return a.Replicas == b.Replicas && a.FullyLabeledReplicas == b.FullyLabeledReplicas && a.ReadyReplicas == b.ReadyReplicas &&
		a.AvailableReplicas == b.AvailableReplicas && a.ObservedGeneration == b.ObservedGeneration && len(a.Conditions) == len(b.Conditions)
}

func TestReplicaPodFromTemplate(t *testing.T) {
	rs := controllertest.ReplicaSet("web-5d8c6f7b9", 1)
	rs.UID = "rs-uid"
	rs.Spec.Template.Annotations = map[string]string{"a": "b"}
	p := podFromTemplate(rs, replicaSetKind.gvk)
	ref := controllerRef(&p.ObjectMeta)
	if p.GenerateName != "web-5d8c6f7b9-" || p.Namespace != "default" || p.Labels["app"] != "web-5d8c6f7b9" || p.Annotations["a"] != "b" ||
		ref == nil || ref.UID != "rs-uid" || ref.Kind != "ReplicaSet" || ref.APIVersion != "apps/v1" || !*ref.BlockOwnerDeletion {
		t.Errorf("pod %+v, owner %+v", p.ObjectMeta, ref)
	}
	// The template is copied, not shared.
	p.Labels["app"] = "x"
	if rs.Spec.Template.Labels["app"] != "web-5d8c6f7b9" {
		t.Error("pod shares the template's labels")
	}
}
