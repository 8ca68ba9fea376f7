package scheduler

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
)

// eventQueue bounds the events waiting to be written. As client-go's
// event broadcaster does, an event that finds the queue full is dropped
// (and logged): events are informational and must not slow scheduling.
const eventQueue = 4096

// recorder writes core/v1 Events about pods, from source component
// "default-scheduler", on a few goroutines of its own.
type recorder struct {
	client    kubernetes.Interface
	component string
	now       func() time.Time
	log       *slog.Logger
	queue     chan *corev1.Event
}

func newRecorder(client kubernetes.Interface, component string, now func() time.Time, log *slog.Logger) *recorder {
	return &recorder{client: client, component: component, now: now, log: log, queue: make(chan *corev1.Event, eventQueue)}
}

// event queues an event about pod; it never blocks.
func (r *recorder) event(pod *corev1.Pod, eventType, reason, message string) {
	now := r.now()
	t := metav1.NewTime(now)
	ev := &corev1.Event{
		ObjectMeta: metav1.ObjectMeta{
			Name:      fmt.Sprintf("%s.%x", pod.Name, now.UnixNano()),
			Namespace: pod.Namespace,
		},
		InvolvedObject: corev1.ObjectReference{
			Kind: "Pod", APIVersion: "v1",
			Namespace: pod.Namespace, Name: pod.Name, UID: pod.UID,
			ResourceVersion: pod.ResourceVersion,
		},
		Reason:              reason,
		Message:             message,
		Source:              corev1.EventSource{Component: r.component},
		FirstTimestamp:      t,
		LastTimestamp:       t,
		Count:               1,
		Type:                eventType,
		ReportingController: r.component,
	}
	select {
	case r.queue <- ev:
	default:
		r.log.Warn("event queue full; dropping event", "pod", pod.Namespace+"/"+pod.Name, "reason", reason)
	}
}

// run writes queued events until ctx ends.
func (r *recorder) run(ctx context.Context) {
	for {
		select {
		case <-ctx.Done():
			return
		case ev := <-r.queue:
			// The answer is not decoded: nothing reads it.
			err := r.client.CoreV1().RESTClient().Post().Namespace(ev.Namespace).Resource("events").
				Body(ev).Do(ctx).Error()
			if err != nil && !apierrors.IsAlreadyExists(err) && ctx.Err() == nil {
				r.log.Debug("event not written", "pod", ev.Namespace+"/"+ev.InvolvedObject.Name, "reason", ev.Reason, "error", err)
			}
		}
	}
}
