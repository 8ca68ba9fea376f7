package replicaset

import (
	"maps"
	"slices"
	"strconv"
	"sync"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apivalidation "k8s.io/apimachinery/pkg/api/validation"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/utils/ptr"

	"github.com/shoal-project/shoal/node/controller"
)

// podDeletionCostAnnotation is the annotation that orders scale-down by the user's
// preference (lower cost goes first), as in Kubernetes.
const podDeletionCostAnnotation = "controller.kubernetes.io/pod-deletion-cost"

// podReadyCondition returns the pod's Ready condition, or nil.
func podReadyCondition(p *corev1.Pod) *corev1.PodCondition {
	for i := range p.Status.Conditions {
		if p.Status.Conditions[i].Type == corev1.PodReady {
			return &p.Status.Conditions[i]
		}
	}
	return nil
}

// podAvailable is Kubernetes' IsPodAvailable: ready for at least
// minReadySeconds.
func podAvailable(p *corev1.Pod, minReadySeconds int32, now time.Time) bool {
	c := podReadyCondition(p)
	if c == nil || c.Status != corev1.ConditionTrue {
		return false
	}
	if minReadySeconds == 0 {
		return true
	}
	d := time.Duration(minReadySeconds) * time.Second
	return !c.LastTransitionTime.IsZero() && c.LastTransitionTime.Add(d).Before(now)
}

// controllerRef returns the owner reference with controller=true, or nil.
func controllerRef(m *metav1.ObjectMeta) *metav1.OwnerReference {
	for i := range m.OwnerReferences {
		if r := &m.OwnerReferences[i]; r.Controller != nil && *r.Controller {
			return r
		}
	}
	return nil
}

// newControllerRef is the owner reference a controller puts on what it
// creates or adopts.
func newControllerRef(owner *metav1.ObjectMeta, gvk schema.GroupVersionKind) metav1.OwnerReference {
	return metav1.OwnerReference{
		APIVersion:         gvk.GroupVersion().String(),
		Kind:               gvk.Kind,
		Name:               owner.Name,
		UID:                owner.UID,
		Controller:         ptr.To(true),
		BlockOwnerDeletion: ptr.To(true),
	}
}

// podFromTemplate is Kubernetes' GetPodFromTemplate: a pod to create for
// rs, named by the API server from generateName "<rs>-".
func podFromTemplate(rs *appsv1.ReplicaSet, gvk schema.GroupVersionKind) *corev1.Pod {
	t := &rs.Spec.Template
	prefix := rs.Name + "-"
	if len(apivalidation.NameIsDNSSubdomain(prefix, true)) != 0 {
		prefix = rs.Name
	}
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{
			GenerateName:    prefix,
			Namespace:       rs.Namespace,
			Labels:          maps.Clone(t.Labels),
			Annotations:     maps.Clone(t.Annotations),
			Finalizers:      slices.Clone(t.Finalizers),
			OwnerReferences: []metav1.OwnerReference{newControllerRef(&rs.ObjectMeta, gvk)},
		},
		Spec: *t.Spec.DeepCopy(),
	}
	return pod
}

// phaseOrdinal orders phases for scale-down: pending pods go first.
var phaseOrdinal = map[corev1.PodPhase]int{corev1.PodPending: 0, corev1.PodUnknown: 1, corev1.PodRunning: 2}

// rankedPod is a pod with the number of related pods on its node.
type rankedPod struct {
	pod  *corev1.Pod
	rank int
}

// deleteFirst is Kubernetes' ActivePodsWithRanks.Less (without the
// logarithmic scale-down buckets): whether a should be deleted before b.
//  1. unscheduled < scheduled
//  2. Pending < Unknown < Running
//  3. not ready < ready
//  4. lower pod-deletion-cost < higher
//  5. more related pods on the same node < fewer
//  6. ready for less time < more
//  7. more container restarts < fewer
//  8. newer < older
func deleteFirst(a, b rankedPod) bool {
	pa, pb := a.pod, b.pod
	if (pa.Spec.NodeName == "") != (pb.Spec.NodeName == "") {
		return pa.Spec.NodeName == ""
	}
	if oa, ob := phaseOrdinal[pa.Status.Phase], phaseOrdinal[pb.Status.Phase]; oa != ob {
		return oa < ob
	}
	ra, rb := controller.PodReady(pa), controller.PodReady(pb)
	if ra != rb {
		return !ra
	}
	if ca, cb := deletionCost(pa), deletionCost(pb); ca != cb {
		return ca < cb
	}
	if a.rank != b.rank {
		return a.rank > b.rank
	}
	if ra && rb {
		ta, tb := readySince(pa), readySince(pb)
		if !ta.Equal(tb) {
			return afterOrZero(ta, tb)
		}
	}
	if xa, xb := maxRestarts(pa), maxRestarts(pb); xa != xb {
		return xa > xb
	}
	ta, tb := pa.CreationTimestamp.Time, pb.CreationTimestamp.Time
	if !ta.Equal(tb) {
		return afterOrZero(ta, tb)
	}
	return pa.UID < pb.UID
}

// afterOrZero: a zero time sorts first, then the later time.
func afterOrZero(a, b time.Time) bool {
	if a.IsZero() || b.IsZero() {
		return a.IsZero()
	}
	return a.After(b)
}

func readySince(p *corev1.Pod) time.Time {
	if c := podReadyCondition(p); c != nil {
		return c.LastTransitionTime.Time
	}
	return time.Time{}
}

func deletionCost(p *corev1.Pod) int32 {
	v, ok := p.Annotations[podDeletionCostAnnotation]
	if !ok {
		return 0
	}
	n, err := strconv.ParseInt(v, 10, 32)
	if err != nil {
		return 0 // Kubernetes rejects such values at admission
	}
	return int32(n)
}

func maxRestarts(p *corev1.Pod) int32 {
	var n int32
	for _, s := range p.Status.ContainerStatuses {
		n = max(n, s.RestartCount)
	}
	for _, s := range p.Status.InitContainerStatuses {
		n = max(n, s.RestartCount)
	}
	return n
}

// podsToDelete picks the n pods of pods to delete first. related are the
// active pods of this controller and of its siblings (the ReplicaSets of
// the same Deployment): a pod whose node holds more of them is "doubled
// up" and goes before one that is alone on its node.
func podsToDelete(pods, related []*corev1.Pod, n int) []*corev1.Pod {
	n = min(n, len(pods))
	perNode := map[string]int{}
	for _, p := range related {
		if p.Spec.NodeName != "" && controller.PodActive(p) {
			perNode[p.Spec.NodeName]++
		}
	}
	ranked := make([]rankedPod, len(pods))
	for i, p := range pods {
		ranked[i] = rankedPod{pod: p, rank: perNode[p.Spec.NodeName]}
	}
	slices.SortStableFunc(ranked, func(a, b rankedPod) int {
		switch {
		case deleteFirst(a, b):
			return -1
		case deleteFirst(b, a):
			return 1
		}
		return 0
	})
	out := make([]*corev1.Pod, n)
	for i := range out {
		out[i] = ranked[i].pod
	}
	return out
}

// slowStartBatches splits count into batches of initial, 2*initial, 4*initial,
// ... items (the last one smaller), as Kubernetes' slowStartBatch does: a
// controller whose creates all fail (a quota, a bad template) fails once
// rather than hundreds of times.
func slowStartBatches(count, initial int) []int {
	var out []int
	for size := min(count, initial); size > 0; {
		out = append(out, size)
		count -= size
		size = min(2*size, count)
	}
	return out
}

// slowStart calls fn count times, in slow-start batches whose calls run in
// parallel, and stops after the first batch with a failure. It returns how
// many calls succeeded and the first error.
func replicaSlowStart(count, initial int, fn func() error) (int, error) {
	successes := 0
	for _, size := range slowStartBatches(count, initial) {
		errs := make(chan error, size)
		var wg sync.WaitGroup
		for range size {
			wg.Go(func() {
				if err := fn(); err != nil {
					errs <- err
				}
			})
		}
		wg.Wait()
		close(errs)
		successes += size - len(errs)
		if err, ok := <-errs; ok {
			return successes, err
		}
	}
	return successes, nil
}
