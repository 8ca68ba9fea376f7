package controller

import (
	corev1 "k8s.io/api/core/v1"
	"k8s.io/client-go/kubernetes/scheme"
	typedcorev1 "k8s.io/client-go/kubernetes/typed/core/v1"
	"k8s.io/client-go/tools/record"
)

// NewRecorder returns an event recorder for component (e.g.
// "deployment-controller") that writes through the API with client-go's
// broadcaster, which aggregates repeats into one Event with a count,
// firstTimestamp and lastTimestamp as Kubernetes' controllers do. stop
// flushes and stops it; call it when the controller stops.
func NewRecorder(d Deps, component string) (rec record.EventRecorder, stop func()) {
	b := record.NewBroadcaster()
	b.StartRecordingToSink(&typedcorev1.EventSinkImpl{Interface: d.Client.CoreV1().Events("")})
	return b.NewRecorder(scheme.Scheme, corev1.EventSource{Component: component}), b.Shutdown
}
