package kubelet

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/shoal-project/shoal/runtime"
)

// orphanGrace is the stop grace of containers whose pod is gone from the
// store (force-deleted, or found in the runtime after a restart): the
// kubelet's minimum grace period.
const orphanGrace = 2 * time.Second

// terminate handles a pod marked for deletion: its containers are stopped
// with the deletion's grace period, its sandbox and volumes removed, and
// then the pod object is deleted for good (grace 0, uid precondition).
func (w *podWorker) terminate(ctx context.Context, pod *corev1.Pod) error {
	if !w.terminated {
		if err := w.teardown(ctx, pod, deletionGrace(pod)); err != nil {
			return err
		}
		w.terminated = true
	}
	uid := pod.UID
	err := w.k.cfg.Client.CoreV1().Pods(pod.Namespace).Delete(ctx, pod.Name, metav1.DeleteOptions{
		GracePeriodSeconds: new(int64),
		Preconditions:      &metav1.Preconditions{UID: &uid},
	})
	if err != nil && !apierrors.IsNotFound(err) && !apierrors.IsConflict(err) {
		return fmt.Errorf("delete pod: %w", err)
	}
	return nil
}

// deletionGrace is how long containers get between SIGTERM and SIGKILL.
func deletionGrace(pod *corev1.Pod) time.Duration {
	switch {
	case pod.DeletionGracePeriodSeconds != nil:
		return time.Duration(*pod.DeletionGracePeriodSeconds) * time.Second
	case pod.Spec.TerminationGracePeriodSeconds != nil:
		return time.Duration(*pod.Spec.TerminationGracePeriodSeconds) * time.Second
	}
	return time.Duration(corev1.DefaultTerminationGracePeriodSeconds) * time.Second
}

// teardown stops every container of the worker's uid (SIGTERM, grace,
// SIGKILL; all at once, as the kubelet does), then stops and removes its
// sandboxes and its volumes. pod may be nil (an orphan). Idempotent.
func (w *podWorker) teardown(ctx context.Context, pod *corev1.Pod, grace time.Duration) error {
	k := w.k
	w.prober.stopAll()
	sbs, err := w.sandboxes(ctx)
	if err != nil {
		return err
	}
	var errs []error
	for _, sb := range sbs {
		if err := w.stopContainers(ctx, pod, sb.ID, grace); err != nil {
			errs = append(errs, err)
			continue
		}
		if err := k.rt.StopSandbox(ctx, sb.ID); err != nil && !errors.Is(err, runtime.ErrNotFound) {
			errs = append(errs, fmt.Errorf("stop sandbox %s: %w", sb.ID, err))
			continue
		}
		if err := k.rt.RemoveSandbox(ctx, sb.ID); err != nil && !errors.Is(err, runtime.ErrNotFound) {
			errs = append(errs, fmt.Errorf("remove sandbox %s: %w", sb.ID, err))
		}
	}
	if len(errs) > 0 {
		return errors.Join(errs...)
	}
	w.sandbox = nil
	if err := removePodDir(k.podDir(w.uid)); err != nil {
		return fmt.Errorf("remove volumes: %w", err)
	}
	if len(sbs) > 0 && pod == nil {
		k.log.Info("removed orphaned pod", "uid", w.uid, "pod", w.namespace+"/"+w.name)
	}
	return nil
}

// sandboxes lists the runtime's sandboxes of the worker's pod.
func (w *podWorker) sandboxes(ctx context.Context) ([]*runtime.Sandbox, error) {
	all, err := w.k.rt.ListSandboxes(ctx)
	if err != nil {
		return nil, fmt.Errorf("list sandboxes: %w", err)
	}
	var out []*runtime.Sandbox
	for _, sb := range all {
		if sb.UID == string(w.uid) || (sb.UID == "" && sb.Labels[labelPodUID] == string(w.uid)) {
			out = append(out, sb)
		}
	}
	return out, nil
}

// stopContainers stops the running containers of a sandbox in parallel,
// recording Killing events when the pod is known.
func (w *podWorker) stopContainers(ctx context.Context, pod *corev1.Pod, sandboxID string, grace time.Duration) error {
	k := w.k
	list, err := k.rt.ListContainers(ctx, sandboxID)
	if err != nil {
		if errors.Is(err, runtime.ErrNotFound) {
			return nil
		}
		return fmt.Errorf("list containers: %w", err)
	}
	var (
		wg   sync.WaitGroup
		mu   sync.Mutex
		errs []error
	)
	for _, cs := range list {
		if cs.State != runtime.StateRunning {
			continue
		}
		if pod != nil {
			k.events.record(pod, containerField(pod, cs.Name), corev1.EventTypeNormal, reasonKilling, "Stopping container "+cs.Name)
		}
		wg.Go(func() {
			if err := k.rt.StopContainer(ctx, cs.ID, grace); err != nil && !errors.Is(err, runtime.ErrNotFound) {
				mu.Lock()
				errs = append(errs, fmt.Errorf("stop container %s: %w", cs.ID, err))
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	return errors.Join(errs...)
}

// finish stops the sandbox of a pod that reached Succeeded or Failed: its
// containers are done (any left are killed), its address is released; the
// containers stay for their logs until the pod is deleted.
func (w *podWorker) finish(ctx context.Context) error {
	if w.terminalStopped {
		return nil
	}
	w.prober.stopAll()
	sbs, err := w.sandboxes(ctx)
	if err != nil {
		return err
	}
	for _, sb := range sbs {
		if err := w.k.rt.StopSandbox(ctx, sb.ID); err != nil && !errors.Is(err, runtime.ErrNotFound) {
			return fmt.Errorf("stop sandbox %s: %w", sb.ID, err)
		}
	}
	w.terminalStopped = true
	return nil
}

// killForProbe stops a container whose liveness (or startup) probe failed;
// the restart policy then applies to it as to any exit.
func (w *podWorker) killForProbe(ctx context.Context, pod *corev1.Pod, c *corev1.Container, cs *runtime.ContainerStatus) {
	k := w.k
	kind := w.prober.failedKind(cs.ID)
	k.events.record(pod, containerField(pod, c.Name), corev1.EventTypeNormal, reasonKilling,
		fmt.Sprintf("Container %s failed %s probe, will be restarted", c.Name, kind))
	grace := deletionGrace(pod)
	if p := probeOf(c, kind); p != nil && p.TerminationGracePeriodSeconds != nil {
		grace = time.Duration(*p.TerminationGracePeriodSeconds) * time.Second
	}
	w.killedForProbe[cs.ID] = true
	w.prober.stop(cs.ID)
	if err := k.rt.StopContainer(ctx, cs.ID, grace); err != nil && !errors.Is(err, runtime.ErrNotFound) {
		k.log.Warn("stop unhealthy container", "container_id", cs.ID, "error", err)
		delete(w.killedForProbe, cs.ID)
	}
}
