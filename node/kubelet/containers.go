package kubelet

import (
	"context"
	"fmt"
	"strconv"
	"strings"

	corev1 "k8s.io/api/core/v1"

	"github.com/shoal-project/shoal/runtime"
)

// Waiting reasons of container creation, as the kubelet reports them.
const (
	waitContainerCreating = "ContainerCreating"
	waitPodInitializing   = "PodInitializing"
	waitConfigError       = "CreateContainerConfigError"
	waitCreateError       = "CreateContainerError"
	waitRunError          = "RunContainerError"
	waitCrashLoopBackOff  = "CrashLoopBackOff"
)

// CPU conversion constants of the kubelet (cm.MilliCPUToQuota/Shares).
const (
	cpuPeriod     = 100000 // microseconds
	minQuota      = 1000
	minShares     = 2
	maxShares     = 262144
	sharesPerCPU  = 1024
	milliCPUToCPU = 1000
)

// resources turns a container's resources into cgroup limits: limits.memory
// to the memory limit, limits.cpu to a CFS quota over a 100ms period,
// requests.cpu to shares (milli*1024/1000, at least 2).
func resources(c *corev1.Container) runtime.Resources {
	var r runtime.Resources
	if q, ok := c.Resources.Limits[corev1.ResourceMemory]; ok {
		r.MemoryLimitBytes = q.Value()
	}
	if q, ok := c.Resources.Limits[corev1.ResourceCPU]; ok && q.MilliValue() > 0 {
		quota := q.MilliValue() * cpuPeriod / milliCPUToCPU
		r.CPUQuota, r.CPUPeriod = max(quota, minQuota), cpuPeriod
	}
	milli := int64(0)
	if q, ok := c.Resources.Requests[corev1.ResourceCPU]; ok {
		milli = q.MilliValue()
	} else if q, ok := c.Resources.Limits[corev1.ResourceCPU]; ok {
		milli = q.MilliValue() // requests default to limits
	}
	shares := milli * sharesPerCPU / milliCPUToCPU
	r.CPUShares = uint64(min(max(shares, minShares), maxShares))
	return r
}

// containerConfig builds what the runtime needs to create c. Its errors
// are configuration errors (CreateContainerConfigError).
func (w *podWorker) containerConfig(pod *corev1.Pod, c *corev1.Container, attempt uint32) (runtime.ContainerConfig, error) {
	k := w.k
	in := &envInput{
		pod: pod, container: c, podIP: w.podIP(pod), hostIP: k.hostIP(),
		objs: k.objects(),
	}
	if n := k.node(); n != nil {
		in.nodeAllocatable = n.Status.Allocatable.DeepCopy() // the cache's is shared
	}
	env, err := makeEnv(in)
	if err != nil {
		return runtime.ContainerConfig{}, err
	}
	// As the kubelet does: the Service variables and HOSTNAME come first,
	// and the container's own env overrides them.
	env = append(append([]string{"HOSTNAME=" + podHostname(pod)}, serviceEnv(k.caches.services, pod)...), env...)
	if len(in.invalidNamesSkipped) > 0 {
		k.events.record(pod, containerField(pod, c.Name), corev1.EventTypeWarning, reasonInvalidEnvNames,
			fmt.Sprintf("Keys [%s] from the EnvFrom configMap %s/%s were skipped since they are considered invalid environment variable names.",
				strings.Join(in.invalidNamesSkipped, ", "), pod.Namespace, envFromName(c)))
	}
	mounts, err := containerMounts(c, w.volumes, env)
	if err != nil {
		return runtime.ContainerConfig{}, err
	}
	labels := map[string]string{
		labelPodUID: string(pod.UID), labelPodNamespace: pod.Namespace, labelPodName: pod.Name,
		labelContainerName:                     c.Name,
		"io.kubernetes.container.restartCount": strconv.FormatUint(uint64(attempt), 10),
	}
	return runtime.ContainerConfig{
		Name:       c.Name,
		Attempt:    attempt,
		Image:      c.Image,
		Command:    expandAll(c.Command, env),
		Args:       expandAll(c.Args, env),
		WorkingDir: c.WorkingDir,
		Env:        env,
		Mounts:     mounts,
		Resources:  resources(c),
		TTY:        c.TTY,
		Stdin:      c.Stdin,
		Labels:     labels,
	}, nil
}

func envFromName(c *corev1.Container) string {
	for _, f := range c.EnvFrom {
		if f.ConfigMapRef != nil {
			return f.ConfigMapRef.Name
		}
		if f.SecretRef != nil {
			return f.SecretRef.Name
		}
	}
	return ""
}

// startContainer pulls, creates and starts attempt number attempt of c. It
// returns the waiting state to report when it could not (nil on success);
// the kubelet's events are recorded either way.
func (w *podWorker) startContainer(ctx context.Context, pod *corev1.Pod, c *corev1.Container, attempt uint32) *corev1.ContainerStateWaiting {
	k := w.k
	field := containerField(pod, c.Name)
	img, waiting := w.ensureImage(ctx, pod, c)
	if waiting != nil {
		return waiting
	}
	w.images[c.Name] = img
	cfg, err := w.containerConfig(pod, c, attempt)
	if err != nil {
		k.events.record(pod, field, corev1.EventTypeWarning, reasonFailed, "Error: "+err.Error())
		return &corev1.ContainerStateWaiting{Reason: waitConfigError, Message: err.Error()}
	}
	id, err := k.rt.CreateContainer(ctx, w.sandbox.ID, cfg)
	if err != nil {
		k.events.record(pod, field, corev1.EventTypeWarning, reasonFailed, "Error: "+err.Error())
		return &corev1.ContainerStateWaiting{Reason: waitCreateError, Message: err.Error()}
	}
	k.events.record(pod, field, corev1.EventTypeNormal, reasonCreated, "Created container: "+c.Name)
	if err := k.rt.StartContainer(ctx, id); err != nil {
		k.events.record(pod, field, corev1.EventTypeWarning, reasonFailed, "Error: "+err.Error())
		// The container stays (created, never started): the next sync
		// counts it as a failed attempt and restarts it with back-off.
		return &corev1.ContainerStateWaiting{Reason: waitRunError, Message: err.Error()}
	}
	k.events.record(pod, field, corev1.EventTypeNormal, reasonStarted, "Started container "+c.Name)
	return nil
}

// crashKey keys a container's restart back-off.
func (w *podWorker) crashKey(name string) string { return string(w.uid) + "/" + name }
