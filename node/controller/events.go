package controller

import (
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/tools/record"

	"github.com/shoal-project/shoal/node/events"
)

// NewRecorder returns an event recorder for component (e.g.
// "deployment-controller"); stop flushes and stops it: call it when the
// controller stops.
func NewRecorder(d Deps, component string) (rec record.EventRecorder, stop func()) {
	return events.NewRecorder(d.Client, events.Source{Component: component})
}

// DiscardEvents drops events: a controller's recorder before Run (tests
// that sync by hand).
type DiscardEvents struct{}

func (DiscardEvents) Event(runtime.Object, string, string, string)          {}
func (DiscardEvents) Eventf(runtime.Object, string, string, string, ...any) {}
func (DiscardEvents) AnnotatedEventf(runtime.Object, map[string]string, string, string, string, ...any) {
}

var _ record.EventRecorder = DiscardEvents{}
