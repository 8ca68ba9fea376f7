package registry

import (
	"fmt"
	"strconv"
	"time"

	corev1 "k8s.io/api/core/v1"
	apivalidation "k8s.io/apimachinery/pkg/api/validation"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

// nodeUnreachablePodReason is the status.reason the node lifecycle
// controller sets on pods of an unreachable node.
const nodeUnreachablePodReason = "NodeLost"

func podKind() *Kind {
	return &Kind{
		Group: "", Version: "v1", Kind: "Pod",
		Resource: "pods", Singular: "pod",
		ShortNames: []string{"po"}, Categories: []string{"all"},
		Namespaced: true,
		Verbs:      verbsAll,
		Subresources: []Subresource{
			{Name: "attach", Kind: "PodAttachOptions", Verbs: verbsCreateGet},
			{Name: "binding", Kind: "Binding", Verbs: []string{"create"}},
			{Name: "ephemeralcontainers", Kind: "Pod", Verbs: verbsGetPatchUp},
			{Name: "eviction", Group: "policy", Version: "v1", Kind: "Eviction", Verbs: []string{"create"}},
			{Name: "exec", Kind: "PodExecOptions", Verbs: verbsCreateGet},
			{Name: "log", Kind: "Pod", Verbs: []string{"get"}},
			{Name: "portforward", Kind: "PodPortForwardOptions", Verbs: verbsCreateGet},
			{Name: "proxy", Kind: "PodProxyOptions", Verbs: verbsProxy},
			statusSub("Pod"),
		},
		HasStatus:        true,
		New:              func() runtime.Object { return &corev1.Pod{} },
		NewList:          func() runtime.Object { return &corev1.PodList{} },
		Default:          typed(defaultPod),
		Validate:         typedValidate(validatePod),
		PrepareForCreate: typed(preparePodForCreate),
		Columns: []metav1.TableColumnDefinition{
			nameColumn(),
			column("Ready", "string", "The aggregate readiness state of this pod for accepting traffic."),
			column("Status", "string", "The aggregate status of the containers in this pod."),
			column("Restarts", "string", "The number of times the containers in this pod have been restarted and when the last container in this pod has restarted."),
			ageColumn(),
			wideColumn("IP", "string", corev1.PodStatus{}.SwaggerDoc()["podIP"]),
			wideColumn("Node", "string", corev1.PodSpec{}.SwaggerDoc()["nodeName"]),
			wideColumn("Nominated Node", "string", corev1.PodStatus{}.SwaggerDoc()["nominatedNodeName"]),
			wideColumn("Readiness Gates", "string", corev1.PodSpec{}.SwaggerDoc()["readinessGates"]),
		},
		Row:    typedRow(9, podRow),
		Fields: typedFields(podFields),
	}
}

func validatePod(pod, old *corev1.Pod) field.ErrorList {
	specPath := field.NewPath("spec")
	if old == nil {
		errs := validateMeta(&pod.ObjectMeta, nil, true, apivalidation.NameIsDNSSubdomain)
		errs = append(errs, validatePodSpec(&pod.Spec, specPath)...)
		if len(pod.Spec.EphemeralContainers) > 0 {
			errs = append(errs, field.Forbidden(specPath.Child("ephemeralContainers"), "cannot be set on create"))
		}
		return errs
	}
	errs := validateMeta(&pod.ObjectMeta, &old.ObjectMeta, true, nil)
	errs = append(errs, validatePodSpec(&pod.Spec, specPath)...)
	errs = append(errs, validatePodSpecUpdate(&pod.Spec, &old.Spec, specPath)...)
	return errs
}

// preparePodForCreate is the pod strategy's PrepareForCreate: a new pod
// starts Pending with its QoS class computed.
func preparePodForCreate(pod *corev1.Pod) {
	pod.Status = corev1.PodStatus{Phase: corev1.PodPending, QOSClass: computePodQOS(pod)}
}

func podFields(pod *corev1.Pod) fields.Set {
	podIP := ""
	if len(pod.Status.PodIPs) > 0 {
		podIP = pod.Status.PodIPs[0].IP
	} else {
		podIP = pod.Status.PodIP
	}
	return mergeFields(objectMetaFields(&pod.ObjectMeta, true), fields.Set{
		"spec.nodeName":            pod.Spec.NodeName,
		"spec.restartPolicy":       string(pod.Spec.RestartPolicy),
		"spec.schedulerName":       pod.Spec.SchedulerName,
		"spec.serviceAccountName":  pod.Spec.ServiceAccountName,
		"spec.hostNetwork":         strconv.FormatBool(pod.Spec.HostNetwork),
		"status.phase":             string(pod.Status.Phase),
		"status.podIP":             podIP,
		"status.nominatedNodeName": pod.Status.NominatedNodeName,
	})
}

// computePodQOS is Kubernetes' ComputePodQOS over cpu and memory.
func computePodQOS(pod *corev1.Pod) corev1.PodQOSClass {
	requests := corev1.ResourceList{}
	limits := corev1.ResourceList{}
	guaranteed := true
	all := append(append([]corev1.Container{}, pod.Spec.Containers...), pod.Spec.InitContainers...)
	for _, c := range all {
		for name, q := range c.Resources.Requests {
			if (name == corev1.ResourceCPU || name == corev1.ResourceMemory) && q.Sign() > 0 {
				sum := requests[name]
				sum.Add(q)
				requests[name] = sum
			}
		}
		found := map[corev1.ResourceName]bool{}
		for name, q := range c.Resources.Limits {
			if (name == corev1.ResourceCPU || name == corev1.ResourceMemory) && q.Sign() > 0 {
				found[name] = true
				sum := limits[name]
				sum.Add(q)
				limits[name] = sum
			}
		}
		if !found[corev1.ResourceCPU] || !found[corev1.ResourceMemory] {
			guaranteed = false
		}
	}
	if len(requests) == 0 && len(limits) == 0 {
		return corev1.PodQOSBestEffort
	}
	if guaranteed {
		for name, req := range requests {
			if lim, ok := limits[name]; !ok || lim.Cmp(req) != 0 {
				guaranteed = false
				break
			}
		}
	}
	if guaranteed && len(requests) == len(limits) {
		return corev1.PodQOSGuaranteed
	}
	return corev1.PodQOSBurstable
}

func isRestartableInitContainer(c *corev1.Container) bool {
	return c != nil && c.RestartPolicy != nil && *c.RestartPolicy == corev1.ContainerRestartPolicyAlways
}

func podConditionTrue(status *corev1.PodStatus, t corev1.PodConditionType) bool {
	for _, c := range status.Conditions {
		if c.Type == t {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}

// podRow is Kubernetes' printPod: Name, Ready, Status, Restarts, Age | IP,
// Node, Nominated Node, Readiness Gates.
func podRow(pod *corev1.Pod, now time.Time) []interface{} {
	restarts := 0
	restartableInitRestarts := 0
	totalContainers := len(pod.Spec.Containers)
	readyContainers := 0
	lastRestart := metav1.Time{}
	lastRestartableInitRestart := metav1.Time{}

	reason := string(pod.Status.Phase)
	if pod.Status.Reason != "" {
		reason = pod.Status.Reason
	}
	for _, c := range pod.Status.Conditions {
		if c.Type == corev1.PodScheduled && c.Reason == corev1.PodReasonSchedulingGated {
			reason = corev1.PodReasonSchedulingGated
		}
	}

	initContainers := map[string]*corev1.Container{}
	for i := range pod.Spec.InitContainers {
		initContainers[pod.Spec.InitContainers[i].Name] = &pod.Spec.InitContainers[i]
		if isRestartableInitContainer(&pod.Spec.InitContainers[i]) {
			totalContainers++
		}
	}

	initializing := false
	for i, cs := range pod.Status.InitContainerStatuses {
		restarts += int(cs.RestartCount)
		if t := cs.LastTerminationState.Terminated; t != nil && lastRestart.Before(&t.FinishedAt) {
			lastRestart = t.FinishedAt
		}
		restartable := isRestartableInitContainer(initContainers[cs.Name])
		if restartable {
			restartableInitRestarts += int(cs.RestartCount)
			if t := cs.LastTerminationState.Terminated; t != nil && lastRestartableInitRestart.Before(&t.FinishedAt) {
				lastRestartableInitRestart = t.FinishedAt
			}
		}
		switch {
		case cs.State.Terminated != nil && cs.State.Terminated.ExitCode == 0:
			continue
		case restartable && cs.Started != nil && *cs.Started:
			if cs.Ready {
				readyContainers++
			}
			continue
		case cs.State.Terminated != nil:
			t := cs.State.Terminated
			switch {
			case t.Reason != "":
				reason = "Init:" + t.Reason
			case t.Signal != 0:
				reason = fmt.Sprintf("Init:Signal:%d", t.Signal)
			default:
				reason = fmt.Sprintf("Init:ExitCode:%d", t.ExitCode)
			}
		case cs.State.Waiting != nil && cs.State.Waiting.Reason != "" && cs.State.Waiting.Reason != "PodInitializing":
			reason = "Init:" + cs.State.Waiting.Reason
		default:
			reason = fmt.Sprintf("Init:%d/%d", i, len(pod.Spec.InitContainers))
		}
		initializing = true
		break
	}

	if !initializing || podConditionTrue(&pod.Status, corev1.PodInitialized) {
		restarts = restartableInitRestarts
		lastRestart = lastRestartableInitRestart
		hasRunning := false
		for i := len(pod.Status.ContainerStatuses) - 1; i >= 0; i-- {
			cs := pod.Status.ContainerStatuses[i]
			restarts += int(cs.RestartCount)
			if t := cs.LastTerminationState.Terminated; t != nil && lastRestart.Before(&t.FinishedAt) {
				lastRestart = t.FinishedAt
			}
			switch {
			case cs.State.Waiting != nil && cs.State.Waiting.Reason != "":
				reason = cs.State.Waiting.Reason
			case cs.State.Terminated != nil && cs.State.Terminated.Reason != "":
				reason = cs.State.Terminated.Reason
			case cs.State.Terminated != nil && cs.State.Terminated.Signal != 0:
				reason = fmt.Sprintf("Signal:%d", cs.State.Terminated.Signal)
			case cs.State.Terminated != nil:
				reason = fmt.Sprintf("ExitCode:%d", cs.State.Terminated.ExitCode)
			case cs.Ready && cs.State.Running != nil:
				hasRunning = true
				readyContainers++
			}
		}
		// At least one container still running: back to Running.
		if reason == "Completed" && hasRunning {
			if podConditionTrue(&pod.Status, corev1.PodReady) {
				reason = "Running"
			} else {
				reason = "NotReady"
			}
		}
	}

	terminal := pod.Status.Phase == corev1.PodFailed || pod.Status.Phase == corev1.PodSucceeded
	if pod.DeletionTimestamp != nil && pod.Status.Reason == nodeUnreachablePodReason {
		reason = "Unknown"
	} else if pod.DeletionTimestamp != nil && !terminal {
		reason = "Terminating"
	}

	restartsStr := strconv.Itoa(restarts)
	if restarts != 0 && !lastRestart.IsZero() {
		restartsStr = fmt.Sprintf("%d (%s ago)", restarts, translateTimestampSince(lastRestart, now))
	}

	podIP := "<none>"
	if len(pod.Status.PodIPs) > 0 && pod.Status.PodIPs[0].IP != "" {
		podIP = pod.Status.PodIPs[0].IP
	} else if pod.Status.PodIP != "" {
		podIP = pod.Status.PodIP
	}
	nodeName := orNone(pod.Spec.NodeName)
	nominated := orNone(pod.Status.NominatedNodeName)
	readinessGates := "<none>"
	if len(pod.Spec.ReadinessGates) > 0 {
		trueConditions := 0
		for _, g := range pod.Spec.ReadinessGates {
			for _, c := range pod.Status.Conditions {
				if c.Type == g.ConditionType {
					if c.Status == corev1.ConditionTrue {
						trueConditions++
					}
					break
				}
			}
		}
		readinessGates = fmt.Sprintf("%d/%d", trueConditions, len(pod.Spec.ReadinessGates))
	}

	return []interface{}{
		pod.Name,
		fmt.Sprintf("%d/%d", readyContainers, totalContainers),
		reason,
		restartsStr,
		translateTimestampSince(pod.CreationTimestamp, now),
		podIP, nodeName, nominated, readinessGates,
	}
}

// orNone returns s, or "<none>" when s is empty.
func orNone(s string) string {
	if s == "" {
		return "<none>"
	}
	return s
}
