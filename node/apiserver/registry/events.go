package registry

import (
	"fmt"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	apivalidation "k8s.io/apimachinery/pkg/api/validation"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

// Length limits of events written with an eventTime (events.k8s.io style).
const (
	reportingInstanceLengthLimit = 128
	actionLengthLimit            = 128
	reasonLengthLimit            = 128
	noteLengthLimit              = 1024
)

func eventKind() *Kind {
	doc := corev1.Event{}.SwaggerDoc()
	return &Kind{
		Group: "", Version: "v1", Kind: "Event",
		Resource: "events", Singular: "event",
		ShortNames: []string{"ev"},
		Namespaced: true,
		Verbs:      verbsAll,
		New:        func() runtime.Object { return &corev1.Event{} },
		NewList:    func() runtime.Object { return &corev1.EventList{} },
		Default:    func(runtime.Object) {},
		Validate:   typedValidate(validateEvent),
		Columns: []metav1.TableColumnDefinition{
			column("Last Seen", "string", doc["lastTimestamp"]),
			column("Type", "string", doc["type"]),
			column("Reason", "string", doc["reason"]),
			column("Object", "string", doc["involvedObject"]),
			wideColumn("Subobject", "string", corev1.ObjectReference{}.SwaggerDoc()["fieldPath"]),
			wideColumn("Source", "string", doc["source"]),
			column("Message", "string", doc["message"]),
			wideColumn("First Seen", "string", doc["firstTimestamp"]),
			wideColumn("Count", "string", doc["count"]),
			{Name: "Name", Type: "string", Format: "name", Priority: 1, Description: metaDoc["name"]},
		},
		Row:    typedRow(10, eventRow),
		Fields: typedFields(eventFields),
	}
}

// validateEvent is Kubernetes' legacyValidateEvent for core/v1 events (on
// update too: v1 events may change anything).
func validateEvent(ev, old *corev1.Event) field.ErrorList {
	var errs field.ErrorList
	if old == nil {
		errs = validateMeta(&ev.ObjectMeta, nil, true, apivalidation.NameIsDNSSubdomain)
	} else {
		errs = validateMeta(&ev.ObjectMeta, &old.ObjectMeta, true, nil)
	}
	nsPath := field.NewPath("involvedObject", "namespace")
	if ev.EventTime.IsZero() {
		if ev.InvolvedObject.Namespace == "" {
			if ev.Namespace != metav1.NamespaceNone && ev.Namespace != metav1.NamespaceDefault {
				errs = append(errs, field.Invalid(nsPath, ev.InvolvedObject.Namespace, "does not match event.namespace"))
			}
		} else if ev.Namespace != ev.InvolvedObject.Namespace {
			errs = append(errs, field.Invalid(nsPath, ev.InvolvedObject.Namespace, "does not match event.namespace"))
		}
	} else {
		if ev.InvolvedObject.Namespace == "" && ev.Namespace != metav1.NamespaceDefault && ev.Namespace != metav1.NamespaceSystem {
			errs = append(errs, field.Invalid(nsPath, ev.InvolvedObject.Namespace, "does not match event.namespace"))
		}
		rc := field.NewPath("reportingController")
		if ev.ReportingController == "" {
			errs = append(errs, field.Required(rc, ""))
		}
		for _, msg := range validation.IsQualifiedName(ev.ReportingController) {
			errs = append(errs, field.Invalid(rc, ev.ReportingController, msg))
		}
		errs = append(errs, requiredMax(ev.ReportingInstance, "reportingInstance", reportingInstanceLengthLimit)...)
		errs = append(errs, requiredMax(ev.Action, "action", actionLengthLimit)...)
		errs = append(errs, requiredMax(ev.Reason, "reason", reasonLengthLimit)...)
		if len(ev.Message) > noteLengthLimit {
			errs = append(errs, field.Invalid(field.NewPath("message"), "", fmt.Sprintf("can have at most %v characters", noteLengthLimit)))
		}
	}
	for _, msg := range validation.IsDNS1123Subdomain(ev.Namespace) {
		errs = append(errs, field.Invalid(field.NewPath("namespace"), ev.Namespace, msg))
	}
	return errs
}

func requiredMax(v, name string, limit int) field.ErrorList {
	p := field.NewPath(name)
	if v == "" {
		return field.ErrorList{field.Required(p, "")}
	}
	if len(v) > limit {
		return field.ErrorList{field.Invalid(p, "", fmt.Sprintf("can have at most %v characters", limit))}
	}
	return nil
}

func eventFields(ev *corev1.Event) fields.Set {
	src := ev.Source.Component
	if src == "" {
		src = ev.ReportingController
	}
	o := ev.InvolvedObject
	return mergeFields(objectMetaFields(&ev.ObjectMeta, true), fields.Set{
		"involvedObject.kind":            o.Kind,
		"involvedObject.namespace":       o.Namespace,
		"involvedObject.name":            o.Name,
		"involvedObject.uid":             string(o.UID),
		"involvedObject.apiVersion":      o.APIVersion,
		"involvedObject.resourceVersion": o.ResourceVersion,
		"involvedObject.fieldPath":       o.FieldPath,
		"reason":                         ev.Reason,
		"reportingComponent":             ev.ReportingController,
		"source":                         src,
		"type":                           ev.Type,
	})
}

// eventRow is printEvent: Last Seen, Type, Reason, Object, Subobject,
// Source, Message, First Seen, Count, Name.
func eventRow(ev *corev1.Event, now time.Time) []interface{} {
	first := translateTimestampSince(ev.FirstTimestamp, now)
	if ev.FirstTimestamp.IsZero() {
		first = translateMicroTimestampSince(ev.EventTime, now)
	}
	last := translateTimestampSince(ev.LastTimestamp, now)
	if ev.LastTimestamp.IsZero() {
		last = first
	}
	count := ev.Count
	if ev.Series != nil {
		last = translateMicroTimestampSince(ev.Series.LastObservedTime, now)
		count = ev.Series.Count
	} else if count == 0 {
		count = 1 // singleton events of the new API carry no count
	}
	target := strings.ToLower(ev.InvolvedObject.Kind)
	if ev.InvolvedObject.Name != "" {
		target += "/" + ev.InvolvedObject.Name
	}
	return []interface{}{
		last, ev.Type, ev.Reason, target,
		ev.InvolvedObject.FieldPath,
		eventSource(ev),
		strings.TrimSpace(ev.Message),
		first, int64(count), ev.Name,
	}
}

// eventSource is formatEventSource: "component, host" from source or the
// reporting fields.
func eventSource(ev *corev1.Event) string {
	component, host := ev.Source.Component, ev.Source.Host
	if component == "" {
		component = ev.ReportingController
	}
	if host == "" {
		host = ev.ReportingInstance
	}
	if host == "" {
		return component
	}
	return component + ", " + host
}
