package replicaset

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/types"
)

// replicaClaim is what a controller does with one active pod of its
// namespace (Kubernetes' ControllerRefManager.ClaimPods).
type replicaClaim int

const (
	replicaIgnore  replicaClaim = iota // another controller's, or not a match
	replicaKeep                        // ours and matching
	replicaAdopt                       // a matching orphan: take it
	replicaRelease                     // ours but no longer matching: let go
)

// claimFor decides what rs does with pod.
func claimFor(rs *appsv1.ReplicaSet, selector labels.Selector, pod *corev1.Pod) replicaClaim {
	match := selector.Matches(labels.Set(pod.Labels))
	if ref := controllerRef(&pod.ObjectMeta); ref != nil {
		switch {
		case ref.UID != rs.UID:
			return replicaIgnore
		case match:
			return replicaKeep
		case rs.DeletionTimestamp != nil:
			return replicaIgnore // an owner being deleted releases nothing
		}
		return replicaRelease
	}
	if !match || rs.DeletionTimestamp != nil || pod.DeletionTimestamp != nil {
		return replicaIgnore
	}
	return replicaAdopt
}

// claim returns the pods rs owns among active, adopting matching orphans
// and releasing owned pods that no longer match.
func (m *replicaManager) claim(ctx context.Context, rs *appsv1.ReplicaSet, selector labels.Selector, active []*corev1.Pod) ([]*corev1.Pod, error) {
	var claimed []*corev1.Pod
	var errs []error
	for _, p := range active {
		switch claimFor(rs, selector, p) {
		case replicaKeep:
			claimed = append(claimed, p)
		case replicaAdopt:
			ref := newControllerRef(&rs.ObjectMeta, m.kind.gvk)
			err := m.patchOwners(ctx, p, map[string]any{"ownerReferences": []metav1.OwnerReference{ref}, "uid": p.UID})
			if err == nil {
				m.log.Info("adopted pod", "controller", rs.Namespace+"/"+rs.Name, "pod", p.Name)
				claimed = append(claimed, p)
			} else if !apierrors.IsNotFound(err) {
				errs = append(errs, fmt.Errorf("adopt pod %s: %w", p.Name, err))
			}
		case replicaRelease:
			del := map[string]any{"$patch": "delete", "uid": rs.UID}
			err := m.patchOwners(ctx, p, map[string]any{"ownerReferences": []any{del}, "uid": p.UID})
			if err == nil {
				m.log.Info("released pod", "controller", rs.Namespace+"/"+rs.Name, "pod", p.Name)
			} else if !apierrors.IsNotFound(err) {
				errs = append(errs, fmt.Errorf("release pod %s: %w", p.Name, err))
			}
		}
	}
	return claimed, errors.Join(errs...)
}

// patchOwners writes a strategic merge patch of the pod's metadata. The
// pod's uid in the patch makes it fail on a pod re-created under the same
// name.
func (m *replicaManager) patchOwners(ctx context.Context, p *corev1.Pod, meta map[string]any) error {
	body, err := json.Marshal(map[string]any{"metadata": meta})
	if err != nil {
		return err
	}
	_, err = m.deps.Client.CoreV1().Pods(p.Namespace).Patch(ctx, p.Name, types.StrategicMergePatchType, body, metav1.PatchOptions{})
	return err
}

// replicaOwner is what the pod handlers need of one controller.
type replicaOwner struct {
	rv       string // resourceVersion
	name     string
	uid      types.UID
	parent   types.UID // uid of its own controller (a Deployment), if any
	selector labels.Selector
}

// ownerCache parses each controller's selector once per
// resourceVersion.
type ownerCache struct {
	mu sync.Mutex
	m  map[string]replicaOwner // by namespace/name
}

func (c *ownerCache) forget(key string) {
	c.mu.Lock()
	delete(c.m, key)
	c.mu.Unlock()
}

// ownersIn returns the controllers of the namespace with a valid selector.
func (m *replicaManager) ownersIn(ns string) []replicaOwner {
	return m.source().ownersIn(ns, m.owners)
}
