package apiserver

import (
	"encoding/json"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	eventsv1 "k8s.io/api/events/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/watch"
)

const eventsV1Path = "/apis/events.k8s.io/v1/namespaces/default/events"

// kubeletEvent is a core/v1 event as the kubelet records it.
func kubeletEvent(name string) *corev1.Event {
	ts := metav1.NewTime(time.Date(2026, 3, 1, 10, 0, 0, 0, time.UTC))
	return &corev1.Event{
		ObjectMeta:     metav1.ObjectMeta{Name: name, Namespace: "default"},
		InvolvedObject: corev1.ObjectReference{Kind: "Pod", Namespace: "default", Name: "web-1", UID: "uid-web-1", APIVersion: "v1", FieldPath: "spec.containers{web}"},
		Reason:         "Started", Message: "Started container web", Type: corev1.EventTypeNormal,
		Source:         corev1.EventSource{Component: "kubelet", Host: "node-a"},
		FirstTimestamp: ts, LastTimestamp: ts, Count: 3,
	}
}

// controllerEvent is an events.k8s.io/v1 event as a new-style recorder
// writes it.
func controllerEvent(name string) *eventsv1.Event {
	t := metav1.NewMicroTime(time.Date(2026, 3, 1, 10, 0, 0, 0, time.UTC))
	return &eventsv1.Event{
		ObjectMeta:          metav1.ObjectMeta{Name: name, Namespace: "default"},
		EventTime:           t,
		Series:              &eventsv1.EventSeries{Count: 4, LastObservedTime: metav1.NewMicroTime(t.Add(time.Minute))},
		ReportingController: "example.com/scaler", ReportingInstance: "scaler-1",
		Action: "Scaling", Reason: "ScalingReplicaSet", Type: corev1.EventTypeNormal,
		Regarding: corev1.ObjectReference{APIVersion: "apps/v1", Kind: "Deployment", Namespace: "default", Name: "web", UID: "uid-web"},
		Related:   &corev1.ObjectReference{APIVersion: "apps/v1", Kind: "ReplicaSet", Namespace: "default", Name: "web-5d4f"},
		Note:      "Scaled up replica set web-5d4f to 2",
	}
}

// TestEventsV1SharesCoreEvents: an event written through either API is read
// through the other with Kubernetes' field mapping.
func TestEventsV1SharesCoreEvents(t *testing.T) {
	e := newTestEnv(t)
	core, v1 := e.cs.CoreV1().Events("default"), e.cs.EventsV1().Events("default")
	if _, err := core.Create(e.ctx, kubeletEvent("web-1.started"), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := v1.Create(e.ctx, controllerEvent("web.scaled"), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}

	got, err := v1.Get(e.ctx, "web-1.started", metav1.GetOptions{})
	if err != nil {
		t.Fatalf("the core event through events.k8s.io/v1: %v", err)
	}
	if got.APIVersion != "" && got.APIVersion != "events.k8s.io/v1" {
		t.Errorf("apiVersion %q", got.APIVersion)
	}
	if got.Note != "Started container web" || got.Regarding.Name != "web-1" || got.Regarding.FieldPath != "spec.containers{web}" ||
		got.DeprecatedSource.Component != "kubelet" || got.DeprecatedSource.Host != "node-a" || got.DeprecatedCount != 3 ||
		!got.DeprecatedFirstTimestamp.Equal(&metav1.Time{Time: time.Date(2026, 3, 1, 10, 0, 0, 0, time.UTC)}) || got.Reason != "Started" {
		t.Errorf("core -> events.k8s.io/v1 mapping: %+v", got)
	}

	back, err := core.Get(e.ctx, "web.scaled", metav1.GetOptions{})
	if err != nil {
		t.Fatalf("the events.k8s.io/v1 event through core/v1: %v", err)
	}
	if back.Message != "Scaled up replica set web-5d4f to 2" || back.InvolvedObject.Name != "web" || back.InvolvedObject.Kind != "Deployment" ||
		back.ReportingController != "example.com/scaler" || back.ReportingInstance != "scaler-1" || back.Action != "Scaling" ||
		back.Series == nil || back.Series.Count != 4 || back.Related == nil || back.Related.Name != "web-5d4f" || back.EventTime.IsZero() {
		t.Errorf("events.k8s.io/v1 -> core mapping: %+v", back)
	}
	// The JSON names, as a kubectl -o yaml reader sees them.
	raw := e.do("GET", "/api/v1/namespaces/default/events/web.scaled", "", nil).body
	for _, want := range []string{`"reportingComponent":"example.com/scaler"`, `"message":"Scaled up replica set web-5d4f to 2"`, `"involvedObject":{`} {
		if !strings.Contains(string(raw), want) {
			t.Errorf("core JSON lacks %s: %s", want, raw)
		}
	}
	raw = e.do("GET", eventsV1Path+"/web-1.started", "", nil).body
	for _, want := range []string{`"apiVersion":"events.k8s.io/v1"`, `"note":"Started container web"`, `"regarding":{`, `"deprecatedCount":3`} {
		if !strings.Contains(string(raw), want) {
			t.Errorf("events.k8s.io/v1 JSON lacks %s: %s", want, raw)
		}
	}

	l1, err := v1.List(e.ctx, metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	lc, err := core.List(e.ctx, metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if len(l1.Items) != 2 || len(lc.Items) != 2 {
		t.Fatalf("lists: events.k8s.io/v1 %d, core %d; want both events in both", len(l1.Items), len(lc.Items))
	}

	// Field selectors in each API's own names.
	sel, err := v1.List(e.ctx, metav1.ListOptions{FieldSelector: "regarding.kind=Deployment,reportingController=example.com/scaler"})
	if err != nil || len(sel.Items) != 1 || sel.Items[0].Name != "web.scaled" {
		t.Errorf("events.k8s.io/v1 regarding.kind selector: %v %v", err, sel)
	}
	selc, err := core.List(e.ctx, metav1.ListOptions{FieldSelector: "involvedObject.name=web"})
	if err != nil || len(selc.Items) != 1 || selc.Items[0].Name != "web.scaled" {
		t.Errorf("core involvedObject.name selector: %v %v", err, selc)
	}
	if _, err := v1.List(e.ctx, metav1.ListOptions{FieldSelector: "involvedObject.name=web"}); !apierrors.IsBadRequest(err) {
		t.Errorf("events.k8s.io/v1 with a core field label: %v, want 400 field label not supported", err)
	}

	// Deleting through one API removes it from the other.
	if err := v1.Delete(e.ctx, "web-1.started", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := core.Get(e.ctx, "web-1.started", metav1.GetOptions{}); !apierrors.IsNotFound(err) {
		t.Errorf("after delete through events.k8s.io/v1, core get: %v", err)
	}
	if _, err := v1.Get(e.ctx, "nope", metav1.GetOptions{}); err == nil || !strings.Contains(err.Error(), `events.events.k8s.io "nope" not found`) {
		t.Errorf("missing event: %v, want Kubernetes' events.events.k8s.io \"nope\" not found", err)
	}
}

// TestEventsV1Watch: a watch on events.k8s.io/v1 sees an event recorded
// through core/v1, in its v1 shape.
func TestEventsV1Watch(t *testing.T) {
	e := newTestEnv(t)
	l, err := e.cs.EventsV1().Events("default").List(e.ctx, metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	w, err := e.cs.EventsV1().Events("default").Watch(e.ctx, metav1.ListOptions{ResourceVersion: l.ResourceVersion})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Stop()
	if _, err := e.cs.CoreV1().Events("default").Create(e.ctx, kubeletEvent("web-1.pulled"), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	select {
	case ev := <-w.ResultChan():
		got, ok := ev.Object.(*eventsv1.Event)
		if ev.Type != watch.Added || !ok || got.Name != "web-1.pulled" || got.Note != "Started container web" || got.Regarding.Name != "web-1" {
			t.Errorf("watch event %s %#v, want ADDED web-1.pulled with note and regarding", ev.Type, ev.Object)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("no watch event within 5s")
	}
}

func TestEventsV1Validation(t *testing.T) {
	e := newTestEnv(t)
	v1 := e.cs.EventsV1().Events("default")
	tests := []struct {
		name   string
		change func(ev *eventsv1.Event)
		field  string
		detail string
	}{
		{"no eventTime", func(ev *eventsv1.Event) { ev.EventTime = metav1.MicroTime{} }, "eventTime", "Required value"},
		{"bad type", func(ev *eventsv1.Event) { ev.Type = "Info" }, "type", "has invalid value: Info"},
		{"deprecated first timestamp", func(ev *eventsv1.Event) { ev.DeprecatedFirstTimestamp = metav1.Now() }, "firstTimestamp", "needs to be unset"},
		{"deprecated source", func(ev *eventsv1.Event) { ev.DeprecatedSource.Component = "kubelet" }, "source", "needs to be unset"},
		{"short series", func(ev *eventsv1.Event) { ev.Series.Count = 1 }, "series.count", "should be at least 2"},
		{"no reporting controller", func(ev *eventsv1.Event) { ev.ReportingController = "" }, "reportingController", "Required value"},
		{"no action", func(ev *eventsv1.Event) { ev.Action = "" }, "action", "Required value"},
	}
	for _, tt := range tests {
		ev := controllerEvent("bad")
		tt.change(ev)
		_, err := v1.Create(e.ctx, ev, metav1.CreateOptions{})
		st, ok := err.(apierrors.APIStatus)
		if !apierrors.IsInvalid(err) || !ok || st.Status().Details == nil {
			t.Errorf("%s: %v, want 422 Invalid", tt.name, err)
			continue
		}
		causes := st.Status().Details.Causes
		if !slices.ContainsFunc(causes, func(c metav1.StatusCause) bool {
			return c.Field == tt.field && strings.Contains(c.Message, tt.detail)
		}) {
			t.Errorf("%s: causes %+v, want %s: %s", tt.name, causes, tt.field, tt.detail)
		}
	}
	// The core API keeps its legacy rules: the same event with
	// deprecated fields is fine there.
	if _, err := e.cs.CoreV1().Events("default").Create(e.ctx, kubeletEvent("legacy"), metav1.CreateOptions{}); err != nil {
		t.Errorf("core/v1 legacy event: %v", err)
	}

	created, err := v1.Create(e.ctx, controllerEvent("ok"), metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	// Through events.k8s.io/v1 an event's content is immutable; its series
	// may grow.
	created.Note = "changed"
	if _, err := v1.Update(e.ctx, created, metav1.UpdateOptions{}); !apierrors.IsInvalid(err) || !strings.Contains(err.Error(), "message: Invalid value") || !strings.Contains(err.Error(), "field is immutable") {
		t.Errorf("changing the note: %v, want message: field is immutable", err)
	}
	created.Note = "Scaled up replica set web-5d4f to 2"
	created.Series.Count = 5
	if got, err := v1.Update(e.ctx, created, metav1.UpdateOptions{}); err != nil || got.Series.Count != 5 {
		t.Errorf("growing the series: %v %v", err, got)
	}
}

// TestEventsV1Table: kubectl get events.v1.events.k8s.io prints the core
// event columns, as kube-apiserver does for both versions.
func TestEventsV1Table(t *testing.T) {
	e := newTestEnv(t)
	if _, err := e.cs.EventsV1().Events("default").Create(e.ctx, controllerEvent("web.scaled"), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	rep := e.do("GET", eventsV1Path, "", nil, "Accept", "application/json;as=Table;v=v1;g=meta.k8s.io,application/json")
	if rep.code != http.StatusOK {
		t.Fatalf("table: %d %s", rep.code, rep.body)
	}
	var tbl metav1.Table
	if err := json.Unmarshal(rep.body, &tbl); err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, c := range tbl.ColumnDefinitions {
		if c.Priority == 0 {
			names = append(names, c.Name)
		}
	}
	if strings.Join(names, ",") != "Last Seen,Type,Reason,Object,Message" || len(tbl.Rows) != 1 {
		t.Fatalf("columns %v rows %d", names, len(tbl.Rows))
	}
	cells := tbl.Rows[0].Cells
	if cells[1] != "Normal" || cells[2] != "ScalingReplicaSet" || cells[3] != "deployment/web" || cells[6] != "Scaled up replica set web-5d4f to 2" {
		t.Errorf("row %v", cells)
	}
}
