package replicaset

import (
	"context"
	"errors"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/utils/ptr"
)

// Event reasons of the replica controllers, as Kubernetes'.
const (
	reasonSuccessfulCreate = "SuccessfulCreate"
	reasonFailedCreate     = "FailedCreate"
	reasonSuccessfulDelete = "SuccessfulDelete"
	reasonFailedDelete     = "FailedDelete"
)

// manage creates or deletes pods until rs has spec.replicas active pods,
// at most m.burst in one call (Kubernetes' manageReplicas). active are the
// pods rs owns; related are those of rs and its siblings (for the choice
// of pods to delete).
func (m *replicaManager) manage(ctx context.Context, key string, rs *appsv1.ReplicaSet, orig runtime.Object, active, related []*corev1.Pod) error {
	diff := len(active) - int(ptr.Deref(rs.Spec.Replicas, 1))
	switch {
	case diff < 0:
		return m.createPods(ctx, key, rs, orig, min(-diff, m.burst))
	case diff > 0:
		return m.deletePods(ctx, key, orig, podsToDelete(active, related, min(diff, m.burst)))
	}
	return nil
}

// createPods creates n pods from rs's template in slow-start batches.
func (m *replicaManager) createPods(ctx context.Context, key string, rs *appsv1.ReplicaSet, orig runtime.Object, n int) error {
	now := m.deps.CurrentTime()
	m.expect.expect(key, n, now)
	var calls atomic.Int64
	_, err := replicaSlowStart(n, 1, func() error {
		calls.Add(1)
		created, err := m.deps.Client.CoreV1().Pods(rs.Namespace).Create(ctx, podFromTemplate(rs, m.kind.gvk), metav1.CreateOptions{})
		if err != nil {
			m.expect.created(key, 0, now)
			if namespaceTerminating(err) {
				return nil // the namespace controller is deleting everything
			}
			m.rec.Eventf(orig, corev1.EventTypeWarning, reasonFailedCreate, "Error creating: %v", err)
			return err
		}
		rv, _ := strconv.ParseUint(created.ResourceVersion, 10, 64)
		m.expect.created(key, rv, now)
		m.creates.Add(1)
		m.log.Debug("created pod", "controller", key, "pod", created.Name)
		m.rec.Eventf(orig, corev1.EventTypeNormal, reasonSuccessfulCreate, "Created pod: %v", created.Name)
		return nil
	})
	// The batches not started after a failure are not expected either.
	for range int64(n) - calls.Load() {
		m.expect.created(key, 0, now)
	}
	return err
}

// deletePods deletes pods in parallel, each with its own grace period.
func (m *replicaManager) deletePods(ctx context.Context, key string, orig runtime.Object, pods []*corev1.Pod) error {
	now := m.deps.CurrentTime()
	m.expect.expect(key, len(pods), now)
	var (
		wg   sync.WaitGroup
		mu   sync.Mutex
		errs []error
	)
	for _, p := range pods {
		wg.Go(func() {
			uid := p.UID
			err := m.deps.Client.CoreV1().Pods(p.Namespace).Delete(ctx, p.Name, metav1.DeleteOptions{Preconditions: &metav1.Preconditions{UID: &uid}})
			if err != nil && !apierrors.IsNotFound(err) {
				m.expect.deleted(key, p.Namespace+"/"+p.Name, uid, false, now)
				m.rec.Eventf(orig, corev1.EventTypeWarning, reasonFailedDelete, "Error deleting: %v", err)
				mu.Lock()
				errs = append(errs, err)
				mu.Unlock()
				return
			}
			m.expect.deleted(key, p.Namespace+"/"+p.Name, uid, true, now)
			if err == nil {
				m.deletes.Add(1)
				m.log.Debug("deleted pod", "controller", key, "pod", p.Name)
				m.rec.Eventf(orig, corev1.EventTypeNormal, reasonSuccessfulDelete, "Deleted pod: %v", p.Name)
			}
		})
	}
	wg.Wait()
	return errors.Join(errs...)
}

// namespaceTerminating reports whether a create failed because its
// namespace is being deleted.
func namespaceTerminating(err error) bool {
	if apierrors.HasStatusCause(err, corev1.NamespaceTerminatingCause) {
		return true
	}
	return apierrors.IsForbidden(err) && strings.Contains(err.Error(), "is being terminated")
}
