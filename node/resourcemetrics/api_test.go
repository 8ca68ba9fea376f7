package resourcemetrics_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"reflect"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/rest"
	metricsclient "k8s.io/metrics/pkg/client/clientset/versioned"

	"github.com/shoal-project/shoal/internal/apitest"
	"github.com/shoal-project/shoal/node/apiserver"
	"github.com/shoal-project/shoal/node/resourcemetrics"
)

var sampleTime = time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)

// fakeNodes answers Summaries from a map; a missing node fails, a node in
// slow blocks until the caller gives up.
type fakeNodes struct {
	mu    sync.Mutex
	sums  map[string]*resourcemetrics.Summary
	slow  map[string]bool
	asked []string
}

func (f *fakeNodes) Summary(ctx context.Context, node string) (*resourcemetrics.Summary, error) {
	f.mu.Lock()
	f.asked = append(f.asked, node)
	s, ok := f.sums[node]
	slow := f.slow[node]
	f.mu.Unlock()
	if slow {
		<-ctx.Done()
		return nil, ctx.Err()
	}
	if !ok {
		return nil, errors.New("connection refused")
	}
	return s, nil
}

func (f *fakeNodes) reset() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	a := f.asked
	f.asked = nil
	sort.Strings(a)
	return a
}

func u64(v uint64) *uint64 { return &v }

func cpuStats(nanocores uint64) *resourcemetrics.CPUStats {
	return &resourcemetrics.CPUStats{Time: sampleTime, Window: 10 * time.Second, UsageNanoCores: u64(nanocores)}
}

func memStats(bytes uint64) *resourcemetrics.MemoryStats {
	return &resourcemetrics.MemoryStats{Time: sampleTime, WorkingSetBytes: u64(bytes)}
}

func nodeSummary(name string, nanocores, mem uint64, pods ...resourcemetrics.PodStats) *resourcemetrics.Summary {
	return &resourcemetrics.Summary{Node: resourcemetrics.NodeStats{NodeName: name, CPU: cpuStats(nanocores), Memory: memStats(mem)}, Pods: pods}
}

func podStats(ns, name string, containers ...resourcemetrics.ContainerStats) resourcemetrics.PodStats {
	return resourcemetrics.PodStats{PodRef: resourcemetrics.PodReference{Namespace: ns, Name: name, UID: "uid-" + name}, Containers: containers}
}

func container(name string, nanocores, mem uint64) resourcemetrics.ContainerStats {
	return resourcemetrics.ContainerStats{Name: name, CPU: cpuStats(nanocores), Memory: memStats(mem)}
}

// metricsEnv is an API server with the metrics API over a store holding:
// nodes a, b (Ready), c (Ready, not answering), d (NotReady); pods
// default/web (on a, two containers), default/idle (on b), default/new (on
// b, no figures yet), default/done (Succeeded), prod/db (on b), default/
// stale (on a, recreated: the node knows an older uid).
type metricsEnv struct {
	t     *testing.T
	nodes *fakeNodes
	srv   *httptest.Server
	mc    metricsclient.Interface
}

func newMetricsEnv(t *testing.T) *metricsEnv {
	t.Helper()
	nodes := &fakeNodes{
		sums: map[string]*resourcemetrics.Summary{
			"a": nodeSummary("a", 250_000_000, 1<<30,
				podStats("default", "web", container("app", 200_000_000, 64<<20), container("sidecar", 1_500_000, 8<<20)),
				podStats("default", "done", container("app", 1, 1)),
				podStats("default", "stale", container("app", 1, 1))), // uid-stale, not uid-stale-2
			"b": nodeSummary("b", 1_999_000_000, 3<<30,
				podStats("default", "idle", container("app", 100_000, 1<<20)),
				podStats("default", "new", resourcemetrics.ContainerStats{Name: "app", CPU: &resourcemetrics.CPUStats{Time: sampleTime}, Memory: memStats(1)}),
				podStats("prod", "db", container("db", 500_000_000, 512<<20))),
			"d": nodeSummary("d", 1, 1, podStats("default", "lost", container("app", 1, 1))),
		},
		slow: map[string]bool{"c": true},
	}
	e := apitest.New(t, apitest.WithoutAuth(), apitest.WithAPI(func(c *apiserver.Config) {
		api := resourcemetrics.NewAPI(resourcemetrics.APIConfig{
			Store: c.Store, Summaries: nodes, NodeTimeout: 200 * time.Millisecond,
			Now: func() time.Time { return sampleTime.Add(time.Second) },
		})
		c.APIServices = []apiserver.APIService{api.APIService()}
	}))
	put := func(resource, ns, name, uid string, obj any) {
		e.Seed(resource, ns, name, uid, sampleTime.Add(-time.Hour), obj)
	}
	for _, n := range []struct {
		name  string
		ready corev1.ConditionStatus
		zone  string
	}{{"a", corev1.ConditionTrue, "east"}, {"b", corev1.ConditionTrue, "west"}, {"c", corev1.ConditionTrue, "west"}, {"d", corev1.ConditionFalse, "east"}} {
		put("nodes", "", n.name, "uid-"+n.name, &corev1.Node{
			TypeMeta:   metav1.TypeMeta{APIVersion: "v1", Kind: "Node"},
			ObjectMeta: metav1.ObjectMeta{Name: n.name, Labels: map[string]string{"zone": n.zone}},
			Status:     corev1.NodeStatus{Conditions: []corev1.NodeCondition{{Type: corev1.NodeReady, Status: n.ready}}},
		})
	}
	for _, p := range []struct {
		ns, name, node, uid string
		phase               corev1.PodPhase
		app                 string
	}{
		{"default", "web", "a", "uid-web", corev1.PodRunning, "web"},
		{"default", "idle", "b", "uid-idle", corev1.PodRunning, "idle"},
		{"default", "new", "b", "uid-new", corev1.PodRunning, "web"},
		{"default", "done", "a", "uid-done", corev1.PodSucceeded, "job"},
		{"prod", "db", "b", "uid-db", corev1.PodRunning, "db"},
		{"default", "stale", "a", "uid-stale-2", corev1.PodRunning, "stale"},
		{"default", "lost", "d", "uid-lost", corev1.PodRunning, "lost"},
	} {
		put("pods", p.ns, p.name, p.uid, &corev1.Pod{
			TypeMeta:   metav1.TypeMeta{APIVersion: "v1", Kind: "Pod"},
			ObjectMeta: metav1.ObjectMeta{Name: p.name, Namespace: p.ns, Labels: map[string]string{"app": p.app}},
			Spec:       corev1.PodSpec{NodeName: p.node, Containers: []corev1.Container{{Name: "app", Image: "busybox"}}},
			Status:     corev1.PodStatus{Phase: p.phase},
		})
	}
	hs := e.Server
	mc, err := metricsclient.NewForConfig(&rest.Config{Host: hs.URL})
	if err != nil {
		t.Fatal(err)
	}
	return &metricsEnv{t: t, nodes: nodes, srv: hs, mc: mc}
}

func (e *metricsEnv) get(path string, hdr ...string) (int, string) {
	e.t.Helper()
	req, _ := http.NewRequest(http.MethodGet, e.srv.URL+path, nil)
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func usage(l corev1.ResourceList) string {
	cpu, mem := l[corev1.ResourceCPU], l[corev1.ResourceMemory]
	return cpu.String() + "/" + mem.String()
}

func TestNodeMetrics(t *testing.T) {
	e := newMetricsEnv(t)
	ctx := context.Background()
	for _, tc := range []struct {
		name, selector, fieldSelector string
		want                          []string
		asked                         []string
	}{
		// c times out and d is NotReady (never asked): both left out.
		{"all", "", "", []string{"a 250m/1Gi", "b 1999m/3Gi"}, []string{"a", "b", "c"}},
		{"label selector", "zone=west", "", []string{"b 1999m/3Gi"}, []string{"b", "c"}},
		{"field selector", "", "metadata.name=a", []string{"a 250m/1Gi"}, []string{"a"}},
		{"nothing matches", "zone=north", "", nil, nil},
	} {
		start := time.Now()
		list, err := e.mc.MetricsV1beta1().NodeMetricses().List(ctx, metav1.ListOptions{LabelSelector: tc.selector, FieldSelector: tc.fieldSelector})
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		if d := time.Since(start); d > 2*time.Second {
			t.Errorf("%s: took %v; a slow node must not hold the answer past its timeout", tc.name, d)
		}
		var got []string
		for _, m := range list.Items {
			got = append(got, m.Name+" "+usage(m.Usage))
			if !m.Timestamp.Time.Equal(sampleTime) || m.Window.Duration != 10*time.Second || m.Labels["zone"] == "" {
				t.Errorf("%s: %s timestamp %v window %v labels %v", tc.name, m.Name, m.Timestamp, m.Window, m.Labels)
			}
		}
		if !reflect.DeepEqual(got, tc.want) {
			t.Errorf("%s: got %q, want %q", tc.name, got, tc.want)
		}
		if asked := e.nodes.reset(); !reflect.DeepEqual(asked, tc.asked) {
			t.Errorf("%s: asked nodes %q, want %q", tc.name, asked, tc.asked)
		}
	}

	m, err := e.mc.MetricsV1beta1().NodeMetricses().Get(ctx, "b", metav1.GetOptions{})
	if err != nil || m.Name != "b" || usage(m.Usage) != "1999m/3Gi" {
		t.Fatalf("get b: %v %+v", err, m)
	}
	// The wire form is metrics-server's: nanocores and Ki.
	_, body := e.get("/apis/metrics.k8s.io/v1beta1/nodes/a")
	for _, want := range []string{`"kind":"NodeMetrics"`, `"apiVersion":"metrics.k8s.io/v1beta1"`, `"cpu":"250m"`, `"memory":"1Gi"`, `"window":"10s"`} {
		if !strings.Contains(body, want) {
			t.Errorf("GET nodes/a: want %s in %s", want, body)
		}
	}
	_, body = e.get("/apis/metrics.k8s.io/v1beta1/nodes")
	if !strings.Contains(body, `"kind":"NodeMetricsList"`) || !strings.Contains(body, `"cpu":"1999m"`) {
		t.Errorf("GET nodes: %s", body)
	}

	for _, tc := range []struct{ name, want string }{
		{"nope", `nodes "nope" not found`},
		{"c", `nodemetrics.metrics.k8s.io "c" not found`},
		{"d", `nodemetrics.metrics.k8s.io "d" not found`},
	} {
		_, err := e.mc.MetricsV1beta1().NodeMetricses().Get(ctx, tc.name, metav1.GetOptions{})
		if !apierrors.IsNotFound(err) || err.Error() != tc.want {
			t.Errorf("get %s: %v, want NotFound %q", tc.name, err, tc.want)
		}
	}
}

func TestPodMetrics(t *testing.T) {
	e := newMetricsEnv(t)
	ctx := context.Background()
	for _, tc := range []struct {
		name, ns, selector string
		want               []string
	}{
		// done is not Running, new has no rate yet, stale's uid differs,
		// lost is on a NotReady node.
		{"namespace", "default", "", []string{"default/idle app=100u/1Mi", "default/web app=200m/64Mi sidecar=1500u/8Mi"}},
		{"all namespaces", "", "", []string{"default/idle app=100u/1Mi", "default/web app=200m/64Mi sidecar=1500u/8Mi", "prod/db db=500m/512Mi"}},
		{"label selector", "", "app=web", []string{"default/web app=200m/64Mi sidecar=1500u/8Mi"}},
		{"other namespace", "prod", "", []string{"prod/db db=500m/512Mi"}},
		{"empty namespace", "nope", "", nil},
	} {
		list, err := e.mc.MetricsV1beta1().PodMetricses(tc.ns).List(ctx, metav1.ListOptions{LabelSelector: tc.selector})
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		var got []string
		for _, m := range list.Items {
			s := m.Namespace + "/" + m.Name
			for _, c := range m.Containers {
				s += " " + c.Name + "=" + usage(c.Usage)
			}
			got = append(got, s)
			if !m.Timestamp.Time.Equal(sampleTime) || m.Window.Duration != 10*time.Second {
				t.Errorf("%s: %s timestamp %v window %v", tc.name, s, m.Timestamp, m.Window)
			}
		}
		if !reflect.DeepEqual(got, tc.want) {
			t.Errorf("%s:\n got %q\nwant %q", tc.name, got, tc.want)
		}
	}
	if asked := e.nodes.reset(); strings.Contains(fmt.Sprint(asked), "c") || strings.Contains(fmt.Sprint(asked), "d") {
		t.Errorf("asked %q; only the Ready nodes of the listed pods should be", asked)
	}
	_, _ = e.mc.MetricsV1beta1().PodMetricses("prod").List(ctx, metav1.ListOptions{})
	if asked := e.nodes.reset(); !reflect.DeepEqual(asked, []string{"b"}) {
		t.Errorf("listing prod asked %q, want only b (db's node)", asked)
	}

	m, err := e.mc.MetricsV1beta1().PodMetricses("default").Get(ctx, "web", metav1.GetOptions{})
	if err != nil || m.Name != "web" || len(m.Containers) != 2 {
		t.Fatalf("get web: %v %+v", err, m)
	}
	if code, body := e.get("/apis/metrics.k8s.io/v1beta1/namespaces/default/pods/web"); code != 200 || !strings.Contains(body, `"kind":"PodMetrics"`) {
		t.Errorf("GET pods/web: %d %s", code, body)
	}
	for _, tc := range []struct{ ns, name, want string }{
		{"default", "nope", `pods "nope" not found`},
		{"default", "new", `podmetrics.metrics.k8s.io "default/new" not found`},
		{"default", "done", `podmetrics.metrics.k8s.io "default/done" not found`},
		{"prod", "web", `pods "web" not found`},
	} {
		_, err := e.mc.MetricsV1beta1().PodMetricses(tc.ns).Get(ctx, tc.name, metav1.GetOptions{})
		if !apierrors.IsNotFound(err) || err.Error() != tc.want {
			t.Errorf("get %s/%s: %v, want NotFound %q", tc.ns, tc.name, err, tc.want)
		}
	}
}

func TestMetricsAPIRequests(t *testing.T) {
	e := newMetricsEnv(t)
	for _, tc := range []struct {
		method, path string
		code         int
		want         string
	}{
		{"GET", "/apis/metrics.k8s.io/v1beta1/namespaces/default/pods?labelSelector=app%3D%3D%3D", 400, "unable to parse requirement"},
		{"GET", "/apis/metrics.k8s.io/v1beta1/nodes?fieldSelector=x", 400, "invalid field selector"},
		{"GET", "/apis/metrics.k8s.io/v1beta1/nodes?watch=true", 405, "watch is not supported"},
		{"POST", "/apis/metrics.k8s.io/v1beta1/nodes", 405, `"reason":"MethodNotAllowed"`},
		{"DELETE", "/apis/metrics.k8s.io/v1beta1/namespaces/default/pods/web", 405, `"reason":"MethodNotAllowed"`},
		{"GET", "/apis/metrics.k8s.io/v1beta1/services", 404, "the server could not find the requested resource"},
		{"GET", "/apis/metrics.k8s.io/v1beta1/nodes/a/extra", 404, "the server could not find the requested resource"},
		{"GET", "/apis/metrics.k8s.io/v1beta1/namespaces/default/pods/web/x", 404, "the server could not find the requested resource"},
		{"GET", "/apis/metrics.k8s.io/v1beta1", 200, `"kind":"PodMetrics"`},
		{"GET", "/apis", 200, `"name":"metrics.k8s.io"`},
	} {
		req, _ := http.NewRequest(tc.method, e.srv.URL+tc.path, nil)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != tc.code || !strings.Contains(string(b), tc.want) {
			t.Errorf("%s %s: %d %s, want %d with %q", tc.method, tc.path, resp.StatusCode, b, tc.code, tc.want)
		}
	}
}

func TestMetricsTables(t *testing.T) {
	e := newMetricsEnv(t)
	accept := "application/json;as=Table;v=v1;g=meta.k8s.io,application/json;as=Table;v=v1beta1;g=meta.k8s.io,application/json"
	for _, tc := range []struct {
		path string
		rows [][]interface{}
		ns   []string
	}{
		{"/apis/metrics.k8s.io/v1beta1/nodes", [][]interface{}{{"a", "250m", "1Gi", "10s"}, {"b", "1999m", "3Gi", "10s"}}, []string{"", ""}},
		{"/apis/metrics.k8s.io/v1beta1/pods?labelSelector=app%3Dweb", [][]interface{}{{"web", "201500u", "72Mi", "10s"}}, []string{"default"}},
		{"/apis/metrics.k8s.io/v1beta1/namespaces/prod/pods/db", [][]interface{}{{"db", "500m", "512Mi", "10s"}}, []string{"prod"}},
	} {
		code, body := e.get(tc.path, "Accept", accept)
		var table metav1.Table
		if err := json.Unmarshal([]byte(body), &table); code != 200 || err != nil || table.Kind != "Table" {
			t.Fatalf("%s: %d %v %s", tc.path, code, err, body)
		}
		var cols []string
		for _, c := range table.ColumnDefinitions {
			cols = append(cols, c.Name)
		}
		if !reflect.DeepEqual(cols, []string{"Name", "cpu", "memory", "Window"}) {
			t.Errorf("%s: columns %q", tc.path, cols)
		}
		var rows [][]interface{}
		var ns []string
		for _, r := range table.Rows {
			rows = append(rows, r.Cells)
			var pom metav1.PartialObjectMetadata
			json.Unmarshal(r.Object.Raw, &pom)
			ns = append(ns, pom.Namespace)
		}
		if !reflect.DeepEqual(rows, tc.rows) || !reflect.DeepEqual(ns, tc.ns) {
			t.Errorf("%s: rows %v namespaces %q, want %v %q", tc.path, rows, ns, tc.rows, tc.ns)
		}
	}
}

// TestNodeClient fetches a collector's Summary over HTTP as a peer does.
func TestNodeClient(t *testing.T) {
	c := resourcemetrics.NewCollector(resourcemetrics.CollectorConfig{NodeName: "a"})
	mux := http.NewServeMux()
	mux.Handle(resourcemetrics.SummaryPath, c)
	srv := httptest.NewServer(mux)
	defer srv.Close()
	nc := &resourcemetrics.NodeClient{
		NodeAddr: func(n string) (string, bool) {
			if n == "a" {
				return srv.URL + "/", true
			}
			if n == "broken" {
				return srv.URL + "/nothing-here", true
			}
			return "", false
		},
		Transport: http.DefaultTransport,
	}
	s, err := nc.Summary(context.Background(), "a")
	if err != nil || s.Node.NodeName != "a" || s.Node.Memory == nil || s.Node.CPU == nil {
		t.Fatalf("summary of a: %v %+v", err, s)
	}
	if _, err := nc.Summary(context.Background(), "x"); err == nil || !strings.Contains(err.Error(), "no address") {
		t.Errorf("unknown node: %v", err)
	}
	if _, err := nc.Summary(context.Background(), "broken"); err == nil || !strings.Contains(err.Error(), "404") {
		t.Errorf("a node answering 404: %v", err)
	}
}

// TestMetricsKindsInOpenAPI: the metrics kinds discovery lists have their
// models in /openapi/v2 and /openapi/v3, as metrics-server's do behind
// kube-aggregator.
func TestMetricsKindsInOpenAPI(t *testing.T) {
	e := newMetricsEnv(t)
	hasKind := func(models map[string]map[string]any, kind string) bool {
		for _, m := range models {
			gvks, _ := m["x-kubernetes-group-version-kind"].([]any)
			for _, g := range gvks {
				g, _ := g.(map[string]any)
				if g["group"] == "metrics.k8s.io" && g["version"] == "v1beta1" && g["kind"] == kind {
					return true
				}
			}
		}
		return false
	}
	code, body := e.get("/openapi/v2", "Accept", "application/json")
	var v2 struct {
		Definitions map[string]map[string]any `json:"definitions"`
	}
	if err := json.Unmarshal([]byte(body), &v2); code != http.StatusOK || err != nil {
		t.Fatalf("/openapi/v2: %d %v", code, err)
	}
	code, body = e.get("/openapi/v3/apis/metrics.k8s.io/v1beta1")
	var v3 struct {
		Components struct {
			Schemas map[string]map[string]any `json:"schemas"`
		} `json:"components"`
	}
	if err := json.Unmarshal([]byte(body), &v3); code != http.StatusOK || err != nil {
		t.Fatalf("/openapi/v3/apis/metrics.k8s.io/v1beta1: %d %v", code, err)
	}
	for _, kind := range []string{"NodeMetrics", "PodMetrics", "NodeMetricsList", "PodMetricsList"} {
		if !hasKind(v2.Definitions, kind) || !hasKind(v3.Components.Schemas, kind) {
			t.Errorf("metrics.k8s.io/v1beta1 %s: in /openapi/v2 %v, in /openapi/v3 %v", kind, hasKind(v2.Definitions, kind), hasKind(v3.Components.Schemas, kind))
		}
	}
}
