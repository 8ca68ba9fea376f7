package controller

import (
	"k8s.io/client-go/tools/record"

	"github.com/shoal-project/shoal/node/events"
)

// NewRecorder returns an event recorder for component (e.g.
// "deployment-controller"); stop flushes and stops it: call it when the
// controller stops.
func NewRecorder(d Deps, component string) (rec record.EventRecorder, stop func()) {
	return events.NewRecorder(d.Client, events.Source{Component: component})
}
