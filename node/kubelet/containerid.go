package kubelet

import (
	"context"
	"errors"
	"fmt"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/runtime/schema"

	"github.com/shoal-project/shoal/node/follow"
	"github.com/shoal-project/shoal/runtime"
)

// ErrNotFound is matched (errors.Is) by ContainerID's errors when the pod
// or the container does not exist on this node.
var ErrNotFound = runtime.ErrNotFound

// lookupError is an API status in the kubelet's words (400, or 404 for a
// missing pod) that also matches ErrNotFound, so a log or exec server can
// answer it as it is.
type lookupError struct{ *apierrors.StatusError }

func (e *lookupError) Unwrap() error { return ErrNotFound }

func notFoundf(format string, args ...any) error {
	return &lookupError{apierrors.NewBadRequest(fmt.Sprintf(format, args...))}
}

// ContainerID returns the runtime id of a container of a pod on this node,
// for serving logs and exec: the current attempt, or with previous the one
// before it (logs --previous). An empty container name picks the pod's
// only container. Its lookup errors match ErrNotFound and are
// apierrors.APIStatus values worded as the kubelet words them.
func (k *Kubelet) ContainerID(namespace, pod, container string, previous bool) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	// Right after the node starts, the pods cache may not hold its first
	// list yet: a pod of this node is not "not found" for that.
	follow.WaitReady(ctx, k.caches.pods)
	p, ok := k.caches.pods.Get(namespace, pod) // shared: read only
	if !ok {
		return "", &lookupError{apierrors.NewNotFound(schema.GroupResource{Resource: "pods"}, pod)}
	}
	if container == "" {
		if len(p.Spec.Containers) != 1 {
			return "", notFoundf("a container name must be specified for pod %s, choose one of: %v", pod, names(p.Spec.Containers))
		}
		container = p.Spec.Containers[0].Name
	}
	known := false
	for _, cs := range [][]string{names(p.Spec.InitContainers), names(p.Spec.Containers)} {
		for _, n := range cs {
			known = known || n == container
		}
	}
	if !known {
		return "", notFoundf("container %s is not valid for pod %s", container, pod)
	}
	sbs, err := k.rt.ListSandboxes(ctx)
	if err != nil {
		return "", err
	}
	var attempts []*runtime.ContainerStatus
	for _, sb := range sbs {
		if sb.UID != string(p.UID) {
			continue
		}
		list, err := k.rt.ListContainers(ctx, sb.ID)
		if err != nil && !errors.Is(err, runtime.ErrNotFound) {
			return "", err
		}
		for _, cs := range list {
			if cs.Name == container {
				attempts = append(attempts, cs)
			}
		}
	}
	sortAttempts(attempts)
	if previous {
		if len(attempts) < 2 {
			return "", notFoundf("previous terminated container %q in pod %q not found", container, pod)
		}
		return attempts[1].ID, nil
	}
	if len(attempts) == 0 {
		reason := waitContainerCreating
		for _, st := range append(p.Status.InitContainerStatuses, p.Status.ContainerStatuses...) {
			if st.Name == container && st.State.Waiting != nil && st.State.Waiting.Reason != "" {
				reason = st.State.Waiting.Reason
			}
		}
		return "", notFoundf("container %q in pod %q is waiting to start: %s", container, pod, reason)
	}
	return attempts[0].ID, nil
}

func names(cs []corev1.Container) []string {
	out := make([]string, len(cs))
	for i, c := range cs {
		out[i] = c.Name
	}
	return out
}
