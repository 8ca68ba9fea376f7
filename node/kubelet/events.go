package kubelet

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes"
)

// Event reasons, as the kubelet names them.
const (
	reasonPulling         = "Pulling"
	reasonPulled          = "Pulled"
	reasonFailed          = "Failed"
	reasonBackOff         = "BackOff"
	reasonErrImageNever   = "ErrImageNeverPull"
	reasonCreated         = "Created"
	reasonStarted         = "Started"
	reasonKilling         = "Killing"
	reasonUnhealthy       = "Unhealthy"
	reasonFailedMount     = "FailedMount"
	reasonFailedSandbox   = "FailedCreatePodSandBox"
	reasonInvalidEnvNames = "InvalidEnvironmentVariableNames"
)

// Limits of the event pipeline: a full queue drops events (they are
// informational), a full cache forgets what it aggregated.
const (
	eventQueue = 1024
	eventCache = 4096
)

// recorder writes core/v1 Events for pods, the way client-go's recorder
// with the kubelet's source does: a repeat of the same (object, type,
// reason, message) bumps count and lastTimestamp of the event already
// written instead of creating another. Recording never blocks: events are
// queued and written by run, and repeats are written at most every flush.
type recorder struct {
	client kubernetes.Interface
	host   string
	now    func() time.Time
	log    *slog.Logger
	flush  time.Duration
	ch     chan *corev1.Event

	// cache and dirty belong to the run goroutine.
	cache map[string]*aggregate
	dirty map[string]bool
}

// aggregate is the event written for one key and its count so far.
type aggregate struct {
	ev      *corev1.Event
	written int32 // the count the API holds
}

func newRecorder(c kubernetes.Interface, host string, now func() time.Time, log *slog.Logger, flush time.Duration) *recorder {
	return &recorder{
		client: c, host: host, now: now, log: log, flush: flush,
		ch:    make(chan *corev1.Event, eventQueue),
		cache: make(map[string]*aggregate),
		dirty: make(map[string]bool),
	}
}

// record queues an event about pod; fieldPath names the container
// ("spec.containers{name}") or is empty for the pod itself.
func (r *recorder) record(pod *corev1.Pod, fieldPath, eventType, reason, message string) {
	r.recordAbout(pod.Name, pod.Namespace, corev1.ObjectReference{
		Kind: "Pod", APIVersion: "v1", Namespace: pod.Namespace, Name: pod.Name,
		UID: pod.UID, ResourceVersion: pod.ResourceVersion, FieldPath: fieldPath,
	}, eventType, reason, message)
}

// recordNode queues an event about this node, as the kubelet's
// recordNodeStatusEvent does: reason event, "Node <name> status is now:
// <event>", in the default namespace (where events about cluster-scoped
// objects go), the node's name standing for its uid as in Kubernetes.
func (r *recorder) recordNode(eventType, event string) {
	r.recordAbout(r.host, metav1.NamespaceDefault, corev1.ObjectReference{Kind: "Node", Name: r.host, UID: types.UID(r.host)},
		eventType, event, fmt.Sprintf("Node %s status is now: %s", r.host, event))
}

func (r *recorder) recordAbout(name, namespace string, ref corev1.ObjectReference, eventType, reason, message string) {
	t := metav1.NewTime(r.now())
	ev := &corev1.Event{
		ObjectMeta: metav1.ObjectMeta{
			Name:      fmt.Sprintf("%v.%x", name, t.UnixNano()),
			Namespace: namespace,
		},
		InvolvedObject:      ref,
		Reason:              reason,
		Message:             message,
		Type:                eventType,
		Source:              corev1.EventSource{Component: "kubelet", Host: r.host},
		FirstTimestamp:      t,
		LastTimestamp:       t,
		Count:               1,
		ReportingController: "kubelet",
		ReportingInstance:   r.host,
	}
	select {
	case r.ch <- ev:
	default:
		r.log.Debug("event dropped: queue full", "reason", reason, "object", ref.Kind+" "+namespace+"/"+name)
	}
}

// containerField is the fieldPath of a container (init or app).
func containerField(pod *corev1.Pod, name string) string {
	for _, c := range pod.Spec.InitContainers {
		if c.Name == name {
			return "spec.initContainers{" + name + "}"
		}
	}
	return "spec.containers{" + name + "}"
}

func eventKey(ev *corev1.Event) string {
	o := ev.InvolvedObject
	b, _ := json.Marshal([]string{string(o.UID), o.FieldPath, ev.Type, ev.Reason, ev.Message})
	return string(b)
}

// run writes queued events until ctx ends.
func (r *recorder) run(ctx context.Context) {
	t := time.NewTicker(r.flush)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case ev := <-r.ch:
			r.observe(ctx, ev)
		case <-t.C:
			r.flushRepeats(ctx)
		}
	}
}

func (r *recorder) observe(ctx context.Context, ev *corev1.Event) {
	key := eventKey(ev)
	if agg := r.cache[key]; agg != nil {
		agg.ev.Count++
		agg.ev.LastTimestamp = ev.LastTimestamp
		r.dirty[key] = true
		return
	}
	if len(r.cache) >= eventCache {
		r.cache = make(map[string]*aggregate)
		r.dirty = make(map[string]bool)
	}
	created, err := r.client.CoreV1().Events(ev.Namespace).Create(ctx, ev, metav1.CreateOptions{})
	if err != nil {
		if ctx.Err() == nil {
			r.log.Debug("write event", "reason", ev.Reason, "error", err)
		}
		return
	}
	r.cache[key] = &aggregate{ev: created, written: created.Count}
}

// flushRepeats writes the new counts of repeated events.
func (r *recorder) flushRepeats(ctx context.Context) {
	for key := range r.dirty {
		delete(r.dirty, key)
		agg := r.cache[key]
		if agg == nil || agg.ev.Count == agg.written {
			continue
		}
		patch, _ := json.Marshal(map[string]any{
			"count":         agg.ev.Count,
			"lastTimestamp": agg.ev.LastTimestamp,
		})
		ev := agg.ev
		updated, err := r.client.CoreV1().Events(ev.Namespace).Patch(ctx, ev.Name, types.MergePatchType, patch, metav1.PatchOptions{})
		if apierrors.IsNotFound(err) {
			fresh := ev.DeepCopy()
			fresh.ResourceVersion = ""
			fresh.UID = ""
			fresh.Name = fmt.Sprintf("%v.%x", ev.InvolvedObject.Name, r.now().UnixNano())
			updated, err = r.client.CoreV1().Events(ev.Namespace).Create(ctx, fresh, metav1.CreateOptions{})
		}
		if err != nil {
			if ctx.Err() == nil {
				r.log.Debug("update event", "reason", ev.Reason, "error", err)
			}
			continue
		}
		agg.ev, agg.written = updated, updated.Count
	}
}
