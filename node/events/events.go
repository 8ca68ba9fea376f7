// Package events records Kubernetes Events for the parts of a node (the
// controllers, the scheduler, the kubelet) with client-go's broadcaster,
// the recorder Kubernetes' own components use: repeats of an event are
// aggregated into one Event with a count, firstTimestamp and
// lastTimestamp, bursts are rate-limited, and recording never blocks.
package events

import (
	"context"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/kubernetes/scheme"
	typedcorev1 "k8s.io/client-go/kubernetes/typed/core/v1"
	"k8s.io/client-go/tools/record"
)

// Source names who records: Component as Kubernetes names it
// ("deployment-controller", "default-scheduler", "kubelet"), and Host for
// the kubelet (its node's name).
type Source struct {
	Component string
	Host      string
}

// NewRecorder returns a recorder writing through client, and stop, which
// flushes and stops it: call stop when the part stops.
func NewRecorder(client kubernetes.Interface, src Source) (rec record.EventRecorder, stop func()) {
	b := record.NewBroadcasterWithCorrelatorOptions(record.CorrelatorOptions{})
	b.StartRecordingToSink(&typedcorev1.EventSinkImpl{Interface: client.CoreV1().Events("")})
	return b.NewRecorder(scheme.Scheme, corev1.EventSource{Component: src.Component, Host: src.Host}), b.Shutdown
}

// Run is NewRecorder for a part with a context: the recorder stops when
// ctx ends.
func Run(ctx context.Context, client kubernetes.Interface, src Source) record.EventRecorder {
	rec, stop := NewRecorder(client, src)
	context.AfterFunc(ctx, stop)
	return rec
}
