package registry

import (
	"fmt"
	"reflect"
	"time"

	corev1 "k8s.io/api/core/v1"
	eventsv1 "k8s.io/api/events/v1"
	apivalidation "k8s.io/apimachinery/pkg/api/validation"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

// events.k8s.io/v1 Event is another version of core/v1 Event, as in
// Kubernetes: both APIs serve the same stored events, so a client of
// either sees every event. The fields map as Kubernetes' conversion does
// (pkg/apis/events/v1/conversion.go): regarding is involvedObject, note is
// message, deprecatedSource/FirstTimestamp/LastTimestamp/Count are source,
// firstTimestamp, lastTimestamp and count; the others share their names
// (reportingController is core's reportingComponent in JSON).

func eventV1Kind() *Kind {
	core := eventKind()
	return &Kind{
		Group: "events.k8s.io", Version: "v1", Kind: "Event",
		Resource: "events", Singular: "event",
		ShortNames: []string{"ev"},
		Namespaced: true,
		Verbs:      verbsAll,
		New:        func() runtime.Object { return &eventsv1.Event{} },
		NewList:    func() runtime.Object { return &eventsv1.EventList{} },
		Default:    func(runtime.Object) {},
		Validate:   typedValidate(validateEventV1),
		// kube-apiserver prints both versions with the core printer.
		Columns: core.Columns,
		Row: typedRow(len(core.Columns), func(ev *eventsv1.Event, now time.Time) []interface{} {
			return eventRow(EventToCore(ev), now)
		}),
		Fields: typedFields(eventV1Fields),
		StoredAs: &StorageVersion{
			Resource:   schema.GroupVersionResource{Version: "v1", Resource: "events"},
			ToStored:   func(obj runtime.Object) runtime.Object { return EventToCore(obj.(*eventsv1.Event)) },
			FromStored: func(obj runtime.Object) runtime.Object { return EventFromCore(obj.(*corev1.Event)) },
		},
	}
}

// EventToCore converts an events.k8s.io/v1 Event to core/v1.
func EventToCore(in *eventsv1.Event) *corev1.Event {
	out := &corev1.Event{
		TypeMeta:            metav1.TypeMeta{APIVersion: "v1", Kind: "Event"},
		ObjectMeta:          *in.ObjectMeta.DeepCopy(),
		InvolvedObject:      in.Regarding,
		Reason:              in.Reason,
		Message:             in.Note,
		Source:              in.DeprecatedSource,
		FirstTimestamp:      in.DeprecatedFirstTimestamp,
		LastTimestamp:       in.DeprecatedLastTimestamp,
		Count:               in.DeprecatedCount,
		Type:                in.Type,
		EventTime:           in.EventTime,
		Action:              in.Action,
		ReportingController: in.ReportingController,
		ReportingInstance:   in.ReportingInstance,
	}
	if in.Series != nil {
		out.Series = &corev1.EventSeries{Count: in.Series.Count, LastObservedTime: in.Series.LastObservedTime}
	}
	if in.Related != nil {
		r := *in.Related
		out.Related = &r
	}
	return out
}

// EventFromCore converts a core/v1 Event to events.k8s.io/v1.
func EventFromCore(in *corev1.Event) *eventsv1.Event {
	out := &eventsv1.Event{
		TypeMeta:                 metav1.TypeMeta{APIVersion: "events.k8s.io/v1", Kind: "Event"},
		ObjectMeta:               *in.ObjectMeta.DeepCopy(),
		EventTime:                in.EventTime,
		ReportingController:      in.ReportingController,
		ReportingInstance:        in.ReportingInstance,
		Action:                   in.Action,
		Reason:                   in.Reason,
		Regarding:                in.InvolvedObject,
		Note:                     in.Message,
		Type:                     in.Type,
		DeprecatedSource:         in.Source,
		DeprecatedFirstTimestamp: in.FirstTimestamp,
		DeprecatedLastTimestamp:  in.LastTimestamp,
		DeprecatedCount:          in.Count,
	}
	if in.Series != nil {
		out.Series = &eventsv1.EventSeries{Count: in.Series.Count, LastObservedTime: in.Series.LastObservedTime}
	}
	if in.Related != nil {
		r := *in.Related
		out.Related = &r
	}
	return out
}

// validateEventV1 is Kubernetes' ValidateEventCreate and ValidateEventUpdate
// for a request through events.k8s.io/v1: the legacy checks, then the
// strict ones. As in Kubernetes, the field paths are those of the stored
// (core) event: message, involvedObject.
func validateEventV1(evV1, oldV1 *eventsv1.Event) field.ErrorList {
	ev := EventToCore(evV1)
	if oldV1 == nil {
		errs := validateEvent(ev, nil)
		errs = append(errs, validateEventSeries(ev)...)
		if ev.EventTime.IsZero() {
			errs = append(errs, field.Required(field.NewPath("eventTime"), ""))
		}
		if ev.Type != corev1.EventTypeNormal && ev.Type != corev1.EventTypeWarning {
			errs = append(errs, field.Invalid(field.NewPath("type"), "", fmt.Sprintf("has invalid value: %v", ev.Type)))
		}
		if !ev.FirstTimestamp.IsZero() {
			errs = append(errs, field.Invalid(field.NewPath("firstTimestamp"), "", "needs to be unset"))
		}
		if !ev.LastTimestamp.IsZero() {
			errs = append(errs, field.Invalid(field.NewPath("lastTimestamp"), "", "needs to be unset"))
		}
		if ev.Count != 0 {
			errs = append(errs, field.Invalid(field.NewPath("count"), "", "needs to be unset"))
		}
		if ev.Source.Component != "" || ev.Source.Host != "" {
			errs = append(errs, field.Invalid(field.NewPath("source"), "", "needs to be unset"))
		}
		return errs
	}
	old := EventToCore(oldV1)
	errs := validateEvent(ev, old)
	if !reflect.DeepEqual(ev.Series, old.Series) {
		errs = append(errs, validateEventSeries(ev)...)
	}
	immutable := func(name string, a, b any) {
		errs = append(errs, apivalidation.ValidateImmutableField(a, b, field.NewPath(name))...)
	}
	immutable("involvedObject", ev.InvolvedObject, old.InvolvedObject)
	immutable("reason", ev.Reason, old.Reason)
	immutable("message", ev.Message, old.Message)
	immutable("source", ev.Source, old.Source)
	immutable("firstTimestamp", ev.FirstTimestamp, old.FirstTimestamp)
	immutable("lastTimestamp", ev.LastTimestamp, old.LastTimestamp)
	immutable("count", ev.Count, old.Count)
	immutable("reason", ev.Reason, old.Reason)
	immutable("type", ev.Type, old.Type)
	immutable("eventTime", ev.EventTime, old.EventTime)
	immutable("action", ev.Action, old.Action)
	immutable("related", ev.Related, old.Related)
	immutable("reportingController", ev.ReportingController, old.ReportingController)
	immutable("reportingInstance", ev.ReportingInstance, old.ReportingInstance)
	return errs
}

func validateEventSeries(ev *corev1.Event) field.ErrorList {
	var errs field.ErrorList
	if ev.Series != nil {
		if ev.Series.Count < 2 {
			errs = append(errs, field.Invalid(field.NewPath("series.count"), "", "should be at least 2"))
		}
		if ev.Series.LastObservedTime.IsZero() {
			errs = append(errs, field.Required(field.NewPath("series.lastObservedTime"), ""))
		}
	}
	return errs
}

// eventV1Fields are the field labels events.k8s.io/v1 supports, with the
// values of the core labels they map to (AddFieldLabelConversionsForEvent).
func eventV1Fields(ev *eventsv1.Event) fields.Set {
	core := eventFields(EventToCore(ev))
	return fields.Set{
		"metadata.name":             core["metadata.name"],
		"metadata.namespace":        core["metadata.namespace"],
		"reason":                    core["reason"],
		"regarding.kind":            core["involvedObject.kind"],
		"regarding.namespace":       core["involvedObject.namespace"],
		"regarding.name":            core["involvedObject.name"],
		"regarding.uid":             core["involvedObject.uid"],
		"regarding.apiVersion":      core["involvedObject.apiVersion"],
		"regarding.resourceVersion": core["involvedObject.resourceVersion"],
		"regarding.fieldPath":       core["involvedObject.fieldPath"],
		"reportingController":       core["reportingComponent"],
		"source":                    core["source"],
		"type":                      core["type"],
	}
}
