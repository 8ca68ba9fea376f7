package apiserver

import (
	"bufio"
	"context"
	"encoding/json"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/watch"

	"github.com/shoal-project/shoal/consensus"
)

// seen is one received watch event, reduced to what the tests compare.
type seen struct {
	typ  watch.EventType
	name string
	data string
}

// next reads one event from w, failing after a few seconds.
func next(t *testing.T, w watch.Interface) seen {
	t.Helper()
	select {
	case ev, ok := <-w.ResultChan():
		if !ok {
			t.Fatal("watch ended early")
		}
		if cm, ok := ev.Object.(*corev1.ConfigMap); ok {
			return seen{ev.Type, cm.Name, cm.Data["k"]}
		}
		if st, ok := ev.Object.(*metav1.Status); ok {
			return seen{ev.Type, string(st.Reason), st.Message}
		}
		t.Fatalf("unexpected event object %T", ev.Object)
	case <-time.After(5 * time.Second):
		t.Fatal("no watch event within 5s")
	}
	return seen{}
}

func expectEvents(t *testing.T, w watch.Interface, want ...seen) {
	t.Helper()
	for i, wv := range want {
		if got := next(t, w); got != wv {
			t.Fatalf("event %d: got %+v, want %+v", i, got, wv)
		}
	}
	select {
	case ev := <-w.ResultChan():
		t.Fatalf("unexpected extra event %s %T", ev.Type, ev.Object)
	case <-time.After(100 * time.Millisecond):
	}
}

func TestWatchReplayThenLive(t *testing.T) {
	e := newTestEnv(t)
	cms := e.cs.CoreV1().ConfigMaps("default")
	a, err := cms.Create(e.ctx, testConfigMap("a", nil), metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := cms.Create(e.ctx, testConfigMap("b", nil), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	a.Data["k"] = "v2"
	if _, err := cms.Update(e.ctx, a, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	if err := cms.Delete(e.ctx, "b", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	// Another namespace's change must not show up.
	if _, err := e.cs.CoreV1().ConfigMaps("kube-system").Create(e.ctx, testConfigMap("elsewhere", nil), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	w, err := cms.Watch(e.ctx, metav1.ListOptions{ResourceVersion: a.ResourceVersion})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Stop()
	expectEvents(t, w,
		seen{watch.Added, "b", "v"},
		seen{watch.Modified, "a", "v2"},
		seen{watch.Deleted, "b", "v"},
	)
	if _, err := cms.Create(e.ctx, testConfigMap("c", nil), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	expectEvents(t, w, seen{watch.Added, "c", "v"})
}

func TestWatchWithoutResourceVersion(t *testing.T) {
	e := newTestEnv(t)
	cms := e.cs.CoreV1().ConfigMaps("default")
	for _, n := range []string{"x", "y"} {
		if _, err := cms.Create(e.ctx, testConfigMap(n, nil), metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	for _, rv := range []string{"", "0"} {
		w, err := cms.Watch(e.ctx, metav1.ListOptions{ResourceVersion: rv})
		if err != nil {
			t.Fatal(err)
		}
		expectEvents(t, w, seen{watch.Added, "x", "v"}, seen{watch.Added, "y", "v"})
		w.Stop()
	}
}

func TestWatchLabelSelector(t *testing.T) {
	e := newTestEnv(t)
	cms := e.cs.CoreV1().ConfigMaps("default")
	web, err := cms.Create(e.ctx, testConfigMap("web", map[string]string{"app": "web"}), metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	startRV := web.ResourceVersion
	w, err := cms.Watch(e.ctx, metav1.ListOptions{LabelSelector: "app=web", ResourceVersion: startRV})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Stop()
	web.Labels["app"] = "other" // leaves the selector: DELETED
	if web, err = cms.Update(e.ctx, web, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	leaveRV := web.ResourceVersion
	web.Data["k"] = "v2" // outside the selector: nothing
	if web, err = cms.Update(e.ctx, web, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	web.Labels["app"] = "web" // enters the selector: ADDED
	if _, err = cms.Update(e.ctx, web, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := cms.Create(e.ctx, testConfigMap("db", map[string]string{"app": "db"}), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	expectEvents(t, w, seen{watch.Deleted, "web", "v"}, seen{watch.Added, "web", "v2"})

	// The DELETED event of an object that left the selector carries its
	// last matching state, at the resourceVersion of the change (as
	// kube-apiserver's watch cache does).
	w2, err := cms.Watch(e.ctx, metav1.ListOptions{LabelSelector: "app=web", ResourceVersion: startRV})
	if err != nil {
		t.Fatal(err)
	}
	defer w2.Stop()
	ev := <-w2.ResultChan()
	cm, ok := ev.Object.(*corev1.ConfigMap)
	if ev.Type != watch.Deleted || !ok || cm.Labels["app"] != "web" {
		t.Fatalf("replayed leave: %s %+v, want DELETED with app=web", ev.Type, ev.Object)
	}
	if cm.ResourceVersion != leaveRV {
		t.Errorf("DELETED resourceVersion %s, want %s (the change's)", cm.ResourceVersion, leaveRV)
	}
}

// A burst whose last events the selector drops is still flushed: replayed
// from a past version, the events below reach the stream together, and only
// the first is sent.
func TestWatchFlushesBurstEndingFiltered(t *testing.T) {
	e := newTestEnv(t)
	cms := e.cs.CoreV1().ConfigMaps("default")
	web, err := cms.Create(e.ctx, testConfigMap("web", map[string]string{"app": "web"}), metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	startRV := web.ResourceVersion
	web.Labels["app"] = "other" // leaves the selector: DELETED
	if web, err = cms.Update(e.ctx, web, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	web.Data["k"] = "v2" // outside the selector: dropped
	if _, err = cms.Update(e.ctx, web, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := cms.Create(e.ctx, testConfigMap("db", map[string]string{"app": "db"}), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	w, err := cms.Watch(e.ctx, metav1.ListOptions{LabelSelector: "app=web", ResourceVersion: startRV})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Stop()
	expectEvents(t, w, seen{watch.Deleted, "web", "v"})
}

func TestWatchTimeoutSeconds(t *testing.T) {
	e := newTestEnv(t)
	start := time.Now()
	ctx, cancel := context.WithTimeout(e.ctx, 10*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, "GET", e.hs.URL+cmPath+"?watch=true&timeoutSeconds=1", nil)
	req.Header.Set("Authorization", "Bearer "+testToken)
	resp, err := e.hs.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Type") != "application/json" {
		t.Fatalf("watch answer %d %q", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		t.Errorf("unexpected event %s", sc.Bytes())
	}
	if err := sc.Err(); err != nil {
		t.Fatalf("stream ended with %v, want a clean end", err)
	}
	if d := time.Since(start); d < 900*time.Millisecond || d > 5*time.Second {
		t.Errorf("stream ended after %v, want about 1s", d)
	}
	e.status(e.do("GET", cmPath+"?watch=true&timeoutSeconds=soon", "", nil), 400)
}

func TestWatchExpired(t *testing.T) {
	e := newTestEnv(t, consensus.WithEventRing(3))
	cms := e.cs.CoreV1().ConfigMaps("default")
	first, err := cms.Create(e.ctx, testConfigMap("c0", nil), metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for i := 1; i < 6; i++ {
		if _, err := cms.Create(e.ctx, testConfigMap("c"+strconv.Itoa(i), nil), metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	w, err := cms.Watch(e.ctx, metav1.ListOptions{ResourceVersion: first.ResourceVersion})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Stop()
	select {
	case ev := <-w.ResultChan():
		if ev.Type != watch.Error {
			t.Fatalf("got %s, want ERROR", ev.Type)
		}
		err := apierrors.FromObject(ev.Object)
		if !apierrors.IsResourceExpired(err) && !apierrors.IsGone(err) {
			t.Fatalf("error event %v, want 410 Expired", err)
		}
		if st := ev.Object.(*metav1.Status); st.Code != http.StatusGone || st.Reason != metav1.StatusReasonExpired {
			t.Errorf("status %+v, want code 410 reason Expired", st)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("no event")
	}
	// A recent resourceVersion still works.
	l, err := cms.List(e.ctx, metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	w2, err := cms.Watch(e.ctx, metav1.ListOptions{ResourceVersion: l.ResourceVersion})
	if err != nil {
		t.Fatal(err)
	}
	defer w2.Stop()
	if err := cms.Delete(e.ctx, "c5", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	expectEvents(t, w2, seen{watch.Deleted, "c5", "v"})
}

func TestWatchTable(t *testing.T) {
	e := newTestEnv(t)
	pods := e.cs.CoreV1().Pods("default")
	p, err := pods.Create(e.ctx, testPod("web-1", "node-a", map[string]string{"app": "web"}), metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(e.ctx)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, "GET", e.hs.URL+"/api/v1/namespaces/default/pods?watch=true&includeObject=Object&resourceVersion="+p.ResourceVersion, nil)
	req.Header.Set("Authorization", "Bearer "+testToken)
	req.Header.Set("Accept", tableAccept)
	resp, err := e.hs.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	p.Status.Phase = corev1.PodRunning
	if _, err := pods.UpdateStatus(e.ctx, p, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	if err := pods.Delete(e.ctx, "web-1", metav1.DeleteOptions{GracePeriodSeconds: new(int64)}); err != nil {
		t.Fatal(err)
	}
	dec := json.NewDecoder(resp.Body)
	for _, want := range []struct{ typ, status string }{{"MODIFIED", "Running"}, {"DELETED", "Running"}} {
		var ev struct {
			Type   string       `json:"type"`
			Object metav1.Table `json:"object"`
		}
		if err := dec.Decode(&ev); err != nil {
			t.Fatal(err)
		}
		tb := ev.Object
		if ev.Type != want.typ || tb.Kind != "Table" || tb.APIVersion != "meta.k8s.io/v1" || len(tb.Rows) != 1 {
			t.Fatalf("event %s %+v, want %s with a one-row Table", ev.Type, tb, want.typ)
		}
		if cells := tb.Rows[0].Cells; cells[0] != "web-1" || cells[2] != want.status {
			t.Errorf("%s row %v, want web-1 %s", ev.Type, cells, want.status)
		}
		var pod corev1.Pod
		if err := json.Unmarshal(tb.Rows[0].Object.Raw, &pod); err != nil || pod.Kind != "Pod" || pod.Labels["app"] != "web" || pod.Spec.NodeName != "node-a" {
			t.Errorf("%s row object %s: %v", ev.Type, tb.Rows[0].Object.Raw, err)
		}
	}
}

func TestWatchList(t *testing.T) {
	// client-go's reflectors (WatchListClient, on by default since 1.35)
	// ask for the initial state as events and wait for the bookmark that
	// ends it.
	e := newTestEnv(t)
	cms := e.cs.CoreV1().ConfigMaps("default")
	for _, n := range []string{"x", "y"} {
		if _, err := cms.Create(e.ctx, testConfigMap(n, nil), metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	l, err := cms.List(e.ctx, metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	yes := true
	for _, rv := range []string{"", l.ResourceVersion} {
		w, err := cms.Watch(e.ctx, metav1.ListOptions{ResourceVersion: rv, SendInitialEvents: &yes,
			ResourceVersionMatch: metav1.ResourceVersionMatchNotOlderThan, AllowWatchBookmarks: true})
		if err != nil {
			t.Fatal(err)
		}
		if got := next(t, w); got != (seen{watch.Added, "x", "v"}) {
			t.Fatalf("rv %q: first event %+v, want ADDED x", rv, got)
		}
		if got := next(t, w); got != (seen{watch.Added, "y", "v"}) {
			t.Fatalf("rv %q: second event %+v, want ADDED y", rv, got)
		}
		var ev watch.Event
		select {
		case ev = <-w.ResultChan():
		case <-time.After(5 * time.Second):
			t.Fatalf("rv %q: no bookmark within 5s after the initial events", rv)
		}
		cm, _ := ev.Object.(*corev1.ConfigMap)
		if ev.Type != watch.Bookmark || cm == nil || cm.Annotations[metav1.InitialEventsAnnotationKey] != "true" || cm.ResourceVersion != l.ResourceVersion {
			t.Fatalf("rv %q: third event %s %+v, want a BOOKMARK at %s annotated %s", rv, ev.Type, ev.Object, l.ResourceVersion, metav1.InitialEventsAnnotationKey)
		}
		w.Stop()
	}
	st := e.status(e.do("GET", cmPath+"?watch=true&sendInitialEvents=true", "", nil), http.StatusUnprocessableEntity)
	if want := "sendInitialEvents requires setting resourceVersionMatch to NotOlderThan"; !strings.Contains(st.Message, want) {
		t.Errorf("message %q lacks %q", st.Message, want)
	}
}
