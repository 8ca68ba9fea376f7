package kubelet

import (
	"context"
	"fmt"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/shoal-project/shoal/runtime"
)

// statusInput is everything a pod's status is computed from: the pod as
// stored, what the runtime reports, and what the pod worker knows that the
// runtime does not (why a container waits, probe results, image digests).
type statusInput struct {
	pod    *corev1.Pod
	now    time.Time
	hostIP string
	scheme string // containerID scheme: "containerd"
	// sandbox is nil before it exists.
	sandbox *runtime.Sandbox
	// latest and previous are the newest two attempts of each container,
	// by container name.
	latest, previous map[string]*runtime.ContainerStatus
	// waiting says why a container waits, by name (nil: it does not, or
	// for no reason the runtime shows).
	waiting map[string]*corev1.ContainerStateWaiting
	// images are the images of the containers, by name.
	images map[string]*runtime.Image
	// ready and started are probe results by container id; a running
	// container without an entry is neither.
	ready, started map[string]bool
}

// kubeletConditions are the pod conditions the kubelet owns; others
// (PodScheduled, DisruptionTarget, ...) are kept as stored.
var kubeletConditions = []corev1.PodConditionType{
	corev1.PodReadyToStartContainers, corev1.PodInitialized, corev1.PodReady, corev1.ContainersReady,
}

// computeStatus is the status the kubelet reports for a pod.
func computeStatus(in *statusInput) corev1.PodStatus {
	pod, old := in.pod, in.pod.Status
	st := corev1.PodStatus{}
	keepForeign(&st, &old)

	initialized := true
	for _, c := range pod.Spec.InitContainers {
		cs := in.latest[c.Name]
		if cs == nil || cs.State != runtime.StateExited || cs.ExitCode != 0 {
			initialized = false
		}
	}
	if cond := findCondition(old.Conditions, corev1.PodInitialized); cond != nil && cond.Status == corev1.ConditionTrue {
		initialized = true // init containers never run again once they all succeeded
	}
	st.InitContainerStatuses = in.containerStatuses(pod.Spec.InitContainers, waitPodInitializing)
	for i := range st.InitContainerStatuses {
		// An init container is ready once it completed.
		t := st.InitContainerStatuses[i].State.Terminated
		st.InitContainerStatuses[i].Ready = t != nil && t.ExitCode == 0
	}
	appWait := waitContainerCreating
	if !initialized {
		appWait = waitPodInitializing
	}
	st.ContainerStatuses = in.containerStatuses(pod.Spec.Containers, appWait)
	st.Phase = podPhase(&pod.Spec, st.InitContainerStatuses, st.ContainerStatuses)

	now := metav1.NewTime(in.now.Truncate(time.Second))
	terminal := st.Phase == corev1.PodSucceeded || st.Phase == corev1.PodFailed
	sandboxReady := in.sandbox != nil && in.sandbox.Ready && !terminal
	conds := []corev1.PodCondition{
		boolCondition(corev1.PodReadyToStartContainers, sandboxReady, "", ""),
		initializedCondition(&pod.Spec, st.InitContainerStatuses, initialized, st.Phase),
	}
	ready := containersReadyCondition(&pod.Spec, st.ContainerStatuses, st.Phase)
	podReady := ready
	podReady.Type = corev1.PodReady
	conds = append(conds, podReady, ready)
	for _, c := range old.Conditions {
		if !isKubeletCondition(c.Type) {
			conds = append(conds, c)
		}
	}
	for i := range conds {
		if prev := findCondition(old.Conditions, conds[i].Type); prev != nil && prev.Status == conds[i].Status {
			conds[i].LastTransitionTime = prev.LastTransitionTime
			conds[i].LastProbeTime = prev.LastProbeTime
		} else if isKubeletCondition(conds[i].Type) {
			conds[i].LastTransitionTime = now
		}
	}
	st.Conditions = conds

	st.HostIP = in.hostIP
	if st.HostIP == "" {
		st.HostIP = old.HostIP
	}
	if st.HostIP != "" {
		st.HostIPs = []corev1.HostIP{{IP: st.HostIP}}
	}
	switch {
	case pod.Spec.HostNetwork:
		st.PodIP = st.HostIP
	case in.sandbox != nil && in.sandbox.IP != "":
		st.PodIP = in.sandbox.IP
	default:
		st.PodIP = old.PodIP
	}
	if st.PodIP != "" {
		st.PodIPs = []corev1.PodIP{{IP: st.PodIP}}
	}
	st.StartTime = old.StartTime
	if st.StartTime == nil {
		st.StartTime = &now
	}
	return st
}

// keepForeign copies what the kubelet does not own from src into dst.
func keepForeign(dst, src *corev1.PodStatus) {
	dst.QOSClass = src.QOSClass
	dst.NominatedNodeName = src.NominatedNodeName
	dst.Reason = src.Reason
	dst.Message = src.Message
	dst.ObservedGeneration = src.ObservedGeneration
	dst.Resize = src.Resize
	dst.ResourceClaimStatuses = src.ResourceClaimStatuses
	dst.EphemeralContainerStatuses = src.EphemeralContainerStatuses
	var conds []corev1.PodCondition
	for _, c := range dst.Conditions {
		if isKubeletCondition(c.Type) {
			conds = append(conds, c)
		}
	}
	for _, c := range src.Conditions {
		if !isKubeletCondition(c.Type) {
			conds = append(conds, c)
		}
	}
	dst.Conditions = conds
}

func isKubeletCondition(t corev1.PodConditionType) bool {
	for _, k := range kubeletConditions {
		if k == t {
			return true
		}
	}
	return false
}

func findCondition(conds []corev1.PodCondition, t corev1.PodConditionType) *corev1.PodCondition {
	for i := range conds {
		if conds[i].Type == t {
			return &conds[i]
		}
	}
	return nil
}

func boolCondition(t corev1.PodConditionType, ok bool, reason, message string) corev1.PodCondition {
	c := corev1.PodCondition{Type: t, Status: corev1.ConditionFalse, Reason: reason, Message: message}
	if ok {
		c.Status, c.Reason, c.Message = corev1.ConditionTrue, "", ""
	}
	return c
}

// containerStatuses reports the containers of one list; wait is the
// waiting reason of a container that has not been created.
func (in *statusInput) containerStatuses(cs []corev1.Container, wait string) []corev1.ContainerStatus {
	if len(cs) == 0 {
		return nil
	}
	out := make([]corev1.ContainerStatus, 0, len(cs))
	for _, c := range cs {
		out = append(out, in.containerStatus(&c, wait))
	}
	return out
}

func (in *statusInput) containerStatus(c *corev1.Container, wait string) corev1.ContainerStatus {
	st := corev1.ContainerStatus{Name: c.Name, Image: c.Image, Started: new(bool)}
	img := in.images[c.Name]
	if img != nil {
		st.ImageID = imageID(img)
		if img.Ref != "" {
			st.Image = img.Ref
		}
	}
	cur := in.latest[c.Name]
	waiting := in.waiting[c.Name]
	if cur == nil {
		if waiting == nil {
			waiting = &corev1.ContainerStateWaiting{Reason: wait}
		}
		st.State = corev1.ContainerState{Waiting: waiting.DeepCopy()}
		return st
	}
	if cur.Image != "" && img == nil {
		st.Image = cur.Image
	}
	if st.ImageID == "" {
		st.ImageID = cur.ImageID
	}
	st.ContainerID = in.scheme + "://" + cur.ID
	st.RestartCount = int32(cur.Attempt)
	st.State = runtimeState(cur, in.scheme)
	if prev := in.previous[c.Name]; prev != nil {
		if s := runtimeState(prev, in.scheme); s.Terminated != nil {
			st.LastTerminationState = s
		}
	}
	if waiting != nil && st.State.Running == nil {
		if st.State.Terminated != nil {
			st.LastTerminationState = st.State
		}
		st.State = corev1.ContainerState{Waiting: waiting.DeepCopy()}
	}
	if st.State.Running != nil {
		*st.Started = in.started[cur.ID]
		st.Ready = in.ready[cur.ID]
	}
	return st
}

// runtimeState is the API state of a runtime container. A container that
// was created and never started is a failed start (exit code 128, as CRI
// runtimes report it).
func runtimeState(cs *runtime.ContainerStatus, scheme string) corev1.ContainerState {
	t := func(x time.Time) metav1.Time {
		if x.IsZero() {
			return metav1.Time{}
		}
		return metav1.NewTime(x.Truncate(time.Second))
	}
	id := scheme + "://" + cs.ID
	switch cs.State {
	case runtime.StateRunning:
		return corev1.ContainerState{Running: &corev1.ContainerStateRunning{StartedAt: t(cs.StartedAt)}}
	case runtime.StateExited:
		reason := cs.Reason
		if reason == "" {
			reason = "Error"
			if cs.ExitCode == 0 {
				reason = "Completed"
			}
		}
		return corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{
			ExitCode: cs.ExitCode, Reason: reason, Message: cs.Message,
			StartedAt: t(cs.StartedAt), FinishedAt: t(cs.FinishedAt), ContainerID: id,
		}}
	case runtime.StateCreated:
		return corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{
			ExitCode: 128, Reason: "StartError", Message: cs.Message,
			FinishedAt: t(cs.CreatedAt), ContainerID: id,
		}}
	}
	return corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{
		Reason: "ContainerStatusUnknown", Message: "The container state could not be determined",
	}}
}

// finishedAt is when an attempt ended (its creation for a failed start).
func finishedAt(cs *runtime.ContainerStatus) time.Time {
	if cs.State == runtime.StateCreated || cs.FinishedAt.IsZero() {
		return cs.CreatedAt
	}
	return cs.FinishedAt
}

// exitCode is an ended attempt's exit code (128 for a failed start).
func exitCode(cs *runtime.ContainerStatus) int32 {
	if cs.State == runtime.StateCreated {
		return 128
	}
	return cs.ExitCode
}

// podPhase is the kubelet's getPhase.
func podPhase(spec *corev1.PodSpec, initStatuses, statuses []corev1.ContainerStatus) corev1.PodPhase {
	pendingInit, failedInit := 0, 0
	for _, s := range initStatuses {
		switch {
		case s.State.Running != nil:
			pendingInit++
		case s.State.Terminated != nil:
			if s.State.Terminated.ExitCode != 0 {
				failedInit++
			}
		case s.State.Waiting != nil:
			if t := s.LastTerminationState.Terminated; t != nil {
				if t.ExitCode != 0 {
					failedInit++
				}
			} else {
				pendingInit++
			}
		default:
			pendingInit++
		}
	}
	if failedInit > 0 && spec.RestartPolicy == corev1.RestartPolicyNever {
		return corev1.PodFailed
	}
	unknown, running, waiting, stopped, succeeded := 0, 0, 0, 0, 0
	for _, s := range statuses {
		switch {
		case s.State.Running != nil:
			running++
		case s.State.Terminated != nil:
			stopped++
			if s.State.Terminated.ExitCode == 0 {
				succeeded++
			}
		case s.State.Waiting != nil:
			if s.LastTerminationState.Terminated != nil {
				stopped++
			} else {
				waiting++
			}
		default:
			unknown++
		}
	}
	switch {
	case pendingInit > 0 || failedInit > 0:
		return corev1.PodPending
	case waiting > 0:
		return corev1.PodPending
	case running > 0 && unknown == 0:
		return corev1.PodRunning
	case running == 0 && stopped > 0 && unknown == 0:
		if spec.RestartPolicy == corev1.RestartPolicyAlways {
			return corev1.PodRunning
		}
		if stopped == succeeded {
			return corev1.PodSucceeded
		}
		if spec.RestartPolicy == corev1.RestartPolicyNever {
			return corev1.PodFailed
		}
		return corev1.PodRunning
	}
	return corev1.PodPending
}

// initializedCondition is GeneratePodInitializedCondition.
func initializedCondition(spec *corev1.PodSpec, statuses []corev1.ContainerStatus, initialized bool, phase corev1.PodPhase) corev1.PodCondition {
	if len(spec.InitContainers) == 0 || initialized {
		return boolCondition(corev1.PodInitialized, true, "", "")
	}
	if phase == corev1.PodSucceeded {
		return corev1.PodCondition{Type: corev1.PodInitialized, Status: corev1.ConditionTrue, Reason: "PodCompleted"}
	}
	var incomplete []string
	for _, s := range statuses {
		if t := s.State.Terminated; t == nil || t.ExitCode != 0 {
			incomplete = append(incomplete, s.Name)
		}
	}
	return corev1.PodCondition{
		Type: corev1.PodInitialized, Status: corev1.ConditionFalse, Reason: "ContainersNotInitialized",
		Message: fmt.Sprintf("containers with incomplete status: %s", brackets(incomplete)),
	}
}

// containersReadyCondition is GenerateContainersReadyCondition.
func containersReadyCondition(spec *corev1.PodSpec, statuses []corev1.ContainerStatus, phase corev1.PodPhase) corev1.PodCondition {
	switch phase {
	case corev1.PodSucceeded:
		return corev1.PodCondition{Type: corev1.ContainersReady, Status: corev1.ConditionFalse, Reason: "PodCompleted"}
	case corev1.PodFailed:
		return corev1.PodCondition{Type: corev1.ContainersReady, Status: corev1.ConditionFalse, Reason: "PodFailed"}
	}
	var unready []string
	for _, s := range statuses {
		if !s.Ready {
			unready = append(unready, s.Name)
		}
	}
	if len(unready) == 0 {
		return boolCondition(corev1.ContainersReady, true, "", "")
	}
	return corev1.PodCondition{
		Type: corev1.ContainersReady, Status: corev1.ConditionFalse, Reason: "ContainersNotReady",
		Message: fmt.Sprintf("containers with unready status: %s", brackets(unready)),
	}
}

// brackets renders a name list as fmt renders a []string: [a b].
func brackets(ss []string) string { return "[" + strings.Join(ss, " ") + "]" }

// writeStatus stores st as pod's status when it differs from the stored
// one, retrying on conflicts against a fresh copy.
func (w *podWorker) writeStatus(ctx context.Context, pod *corev1.Pod, st corev1.PodStatus) error {
	if equality.Semantic.DeepEqual(pod.Status, st) {
		return nil
	}
	pods := w.k.cfg.Client.CoreV1().Pods(pod.Namespace)
	p := pod.DeepCopy()
	p.Status = st
	for attempt := 0; ; attempt++ {
		updated, err := pods.UpdateStatus(ctx, p, metav1.UpdateOptions{})
		if err == nil {
			w.wrote(updated)
			return nil
		}
		if apierrors.IsNotFound(err) {
			return nil
		}
		if !apierrors.IsConflict(err) || attempt == 3 {
			return fmt.Errorf("update status: %w", err)
		}
		fresh, err := pods.Get(ctx, pod.Name, metav1.GetOptions{})
		if apierrors.IsNotFound(err) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("update status: %w", err)
		}
		if fresh.UID != pod.UID {
			return nil
		}
		if fresh.Status.Phase == corev1.PodSucceeded || fresh.Status.Phase == corev1.PodFailed {
			return nil // terminal is final
		}
		merged := st
		keepForeign(&merged, &fresh.Status)
		p = fresh.DeepCopy()
		p.Status = merged
	}
}
