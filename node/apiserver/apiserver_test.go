package apiserver

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/utils/ptr"

	"github.com/shoal-project/shoal/consensus"
)

const testToken = "secret"

// testEnv is one API server over a fresh store, served by httptest, with
// the "default" and "kube-system" namespaces created.
type testEnv struct {
	t     testing.TB
	store *consensus.Store
	srv   *Server
	hs    *httptest.Server
	cs    kubernetes.Interface
	dyn   dynamic.Interface
	ctx   context.Context
}

func newTestEnv(t testing.TB, opts ...consensus.StoreOption) *testEnv {
	t.Helper()
	st := consensus.NewStore(opts...)
	srv := New(Config{
		Store:    st,
		Proposer: consensus.NewLocalProposer(st),
		Authenticate: func(r *http.Request) bool {
			return r.Header.Get("Authorization") == "Bearer "+testToken
		},
		Logger:        slog.New(slog.NewTextHandler(io.Discard, nil)),
		ServerAddress: "127.0.0.1:6443",
	})
	hs := httptest.NewServer(srv.Handler())
	t.Cleanup(func() {
		hs.CloseClientConnections()
		hs.Close()
	})
	cfg := &rest.Config{Host: hs.URL, BearerToken: testToken, QPS: 1e6, Burst: 1e6}
	cs, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	dyn, err := dynamic.NewForConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	e := &testEnv{t: t, store: st, srv: srv, hs: hs, cs: cs, dyn: dyn, ctx: context.Background()}
	for _, ns := range []string{"default", "kube-system"} {
		if _, err := cs.CoreV1().Namespaces().Create(e.ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}, metav1.CreateOptions{}); err != nil {
			t.Fatalf("create namespace %s: %v", ns, err)
		}
	}
	return e
}

// reply is a raw HTTP answer.
type reply struct {
	code   int
	header http.Header
	body   []byte
}

// do sends one authenticated request; hdr are extra header key/value pairs.
func (e *testEnv) do(method, path, contentType string, body []byte, hdr ...string) reply {
	e.t.Helper()
	req, err := http.NewRequest(method, e.hs.URL+path, bytes.NewReader(body))
	if err != nil {
		e.t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+testToken)
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	resp, err := e.hs.Client().Do(req)
	if err != nil {
		e.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		e.t.Fatalf("%s %s: read: %v", method, path, err)
	}
	return reply{code: resp.StatusCode, header: resp.Header, body: b}
}

// status decodes a Status answer, checking its kind and code.
func (e *testEnv) status(rep reply, code int) metav1.Status {
	e.t.Helper()
	var st metav1.Status
	if err := json.Unmarshal(rep.body, &st); err != nil {
		e.t.Fatalf("answer is not a Status: %v: %s", err, rep.body)
	}
	if st.Kind != "Status" || st.APIVersion != "v1" || rep.code != code || int(st.Code) != code {
		e.t.Fatalf("want a v1 Status with code %d, got HTTP %d: %s", code, rep.code, rep.body)
	}
	return st
}

// names lists the names of the objects of a collection path.
func (e *testEnv) names(path string) []string {
	e.t.Helper()
	rep := e.do("GET", path, "", nil)
	if rep.code != http.StatusOK {
		e.t.Fatalf("GET %s: %d %s", path, rep.code, rep.body)
	}
	var l struct {
		Items []struct {
			Metadata metav1.ObjectMeta `json:"metadata"`
		} `json:"items"`
	}
	if err := json.Unmarshal(rep.body, &l); err != nil {
		e.t.Fatal(err)
	}
	var out []string
	for _, it := range l.Items {
		out = append(out, it.Metadata.Name)
	}
	return out
}

func testDeployment(name string, replicas int32) *appsv1.Deployment {
	labels := map[string]string{"app": name}
	return &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: name, Labels: labels},
		Spec: appsv1.DeploymentSpec{
			Replicas: ptr.To(replicas),
			Selector: &metav1.LabelSelector{MatchLabels: labels},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: labels},
				Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: name, Image: "nginx:1.25"}}},
			},
		},
	}
}

func testPod(name, node string, labels map[string]string) *corev1.Pod {
	return &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: name, Labels: labels},
		Spec:       corev1.PodSpec{NodeName: node, Containers: []corev1.Container{{Name: "c", Image: "nginx"}}},
	}
}

func testConfigMap(name string, labels map[string]string) *corev1.ConfigMap {
	return &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: name, Labels: labels}, Data: map[string]string{"k": "v"}}
}

func TestCreateGenerateNameAndGet(t *testing.T) {
	e := newTestEnv(t)
	cms := e.cs.CoreV1().ConfigMaps("default")
	cm := testConfigMap("", nil)
	cm.GenerateName = "cfg-"
	created, err := cms.Create(e.ctx, cm, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(created.Name, "cfg-") || len(created.Name) != len("cfg-")+5 {
		t.Errorf("generated name %q, want cfg- plus 5 characters", created.Name)
	}
	if created.UID == "" || created.ResourceVersion == "" || created.CreationTimestamp.IsZero() || created.Namespace != "default" {
		t.Errorf("server-set metadata missing: %+v", created.ObjectMeta)
	}
	got, err := cms.Get(e.ctx, created.Name, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if got.UID != created.UID || got.Data["k"] != "v" {
		t.Errorf("get returned %+v, want the created object", got)
	}
}

func TestCreateInMissingNamespace(t *testing.T) {
	e := newTestEnv(t)
	_, err := e.cs.CoreV1().ConfigMaps("nope").Create(e.ctx, testConfigMap("a", nil), metav1.CreateOptions{})
	if err == nil || err.Error() != `namespaces "nope" not found` {
		t.Fatalf("create in a missing namespace: %v, want namespaces \"nope\" not found", err)
	}
	rep := e.do("POST", "/api/v1/namespaces/nope/configmaps", "application/json", []byte(`{"metadata":{"name":"a"}}`))
	if st := e.status(rep, 404); st.Reason != metav1.StatusReasonNotFound {
		t.Errorf("reason %q, want NotFound", st.Reason)
	}
}

func TestListSelectors(t *testing.T) {
	e := newTestEnv(t)
	pods := e.cs.CoreV1().Pods("default")
	for _, p := range []*corev1.Pod{
		testPod("web-1", "node-a", map[string]string{"app": "web", "tier": "front"}),
		testPod("web-2", "node-b", map[string]string{"app": "web"}),
		testPod("db-1", "node-a", map[string]string{"app": "db", "tier": "back"}),
		testPod("lone", "", nil),
	} {
		if _, err := pods.Create(e.ctx, p, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := e.cs.CoreV1().Pods("kube-system").Create(e.ctx, testPod("sys", "node-a", map[string]string{"app": "web"}), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	running, err := pods.Get(e.ctx, "web-2", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	running.Status.Phase = corev1.PodRunning
	if _, err := pods.UpdateStatus(e.ctx, running, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		ns, label, field string
		want             []string
	}{
		{ns: "default", label: "app=web", want: []string{"web-1", "web-2"}},
		{ns: "default", label: "app!=web", want: []string{"db-1", "lone"}},
		{ns: "default", label: "app in (web,db)", want: []string{"db-1", "web-1", "web-2"}},
		{ns: "default", label: "app notin (web)", want: []string{"db-1", "lone"}},
		{ns: "default", label: "tier", want: []string{"db-1", "web-1"}},
		{ns: "default", label: "!tier", want: []string{"lone", "web-2"}},
		{ns: "default", label: "app=web,tier=front", want: []string{"web-1"}},
		{ns: "default", field: "metadata.name=db-1", want: []string{"db-1"}},
		{ns: "default", field: "metadata.name=missing"},
		{ns: "", field: "metadata.name=sys", want: []string{"sys"}},
		{ns: "", label: "app=web", field: "metadata.name=web-1", want: []string{"web-1"}},
		{ns: "", field: "metadata.namespace=kube-system", want: []string{"sys"}},
		{ns: "", field: "spec.nodeName=node-a", want: []string{"db-1", "web-1", "sys"}},
		{ns: "default", field: "spec.nodeName=", want: []string{"lone"}},
		{ns: "default", field: "status.phase=Running", want: []string{"web-2"}},
		{ns: "default", field: "status.phase!=Running", want: []string{"db-1", "lone", "web-1"}},
		{ns: "", label: "app=web", field: "spec.nodeName=node-a,metadata.namespace=default", want: []string{"web-1"}},
	}
	for _, tt := range tests {
		l, err := e.cs.CoreV1().Pods(tt.ns).List(e.ctx, metav1.ListOptions{LabelSelector: tt.label, FieldSelector: tt.field})
		if err != nil {
			t.Errorf("list %q %q: %v", tt.label, tt.field, err)
			continue
		}
		var got []string
		for _, p := range l.Items {
			got = append(got, p.Name)
		}
		if !slices.Equal(got, tt.want) {
			t.Errorf("list ns=%q label=%q field=%q: got %v, want %v", tt.ns, tt.label, tt.field, got, tt.want)
		}
	}

	rep := e.do("GET", "/api/v1/namespaces/default/pods?fieldSelector=spec.bogus%3Dx", "", nil)
	if st := e.status(rep, 400); st.Reason != metav1.StatusReasonBadRequest || !strings.Contains(st.Message, "field label not supported: spec.bogus") {
		t.Errorf("unsupported field selector: %+v", st)
	}
	rep = e.do("GET", "/api/v1/namespaces/default/pods?labelSelector=a%20in%20(", "", nil)
	e.status(rep, 400)

	// Across all namespaces a collection is only listed and watched.
	e.status(e.do("DELETE", "/api/v1/pods", "", nil), 405)
	e.status(e.do("POST", "/api/v1/pods", "application/json", []byte(`{"metadata":{"name":"x","namespace":"default"},"spec":{"containers":[{"name":"c","image":"i"}]}}`)), 405)
	if l, err := e.cs.CoreV1().Pods("").List(e.ctx, metav1.ListOptions{}); err != nil || len(l.Items) != 5 {
		t.Errorf("pods after refused cluster-wide writes: %v, %d items", err, len(l.Items))
	}
}

func TestListPaging(t *testing.T) {
	e := newTestEnv(t)
	cms := e.cs.CoreV1().ConfigMaps("default")
	want := map[string]bool{}
	for i := range 25 {
		cm := testConfigMap("", nil)
		cm.GenerateName = "page-"
		c, err := cms.Create(e.ctx, cm, metav1.CreateOptions{})
		if err != nil {
			t.Fatal(err)
		}
		want[c.Name] = true
		if i == 12 {
			// An object in another namespace must not show up.
			if _, err := e.cs.CoreV1().ConfigMaps("kube-system").Create(e.ctx, testConfigMap("other", nil), metav1.CreateOptions{}); err != nil {
				t.Fatal(err)
			}
		}
	}
	seen := map[string]bool{}
	var sizes []int
	cont := ""
	for page := 0; page < 10; page++ {
		l, err := cms.List(e.ctx, metav1.ListOptions{Limit: 10, Continue: cont})
		if err != nil {
			t.Fatal(err)
		}
		sizes = append(sizes, len(l.Items))
		for _, it := range l.Items {
			if seen[it.Name] {
				t.Errorf("page %d repeats %s", page, it.Name)
			}
			seen[it.Name] = true
		}
		if cont = l.Continue; cont == "" {
			break
		}
	}
	if !slices.Equal(sizes, []int{10, 10, 5}) {
		t.Errorf("page sizes %v, want [10 10 5]", sizes)
	}
	for n := range want {
		if !seen[n] {
			t.Errorf("paging skipped %s", n)
		}
	}
	if len(seen) != len(want) {
		t.Errorf("paging saw %d objects, want %d", len(seen), len(want))
	}
	rep := e.do("GET", "/api/v1/namespaces/default/configmaps?limit=10&continue=%25%25garbage", "", nil)
	e.status(rep, 400)
}
