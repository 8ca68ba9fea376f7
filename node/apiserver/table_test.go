package apiserver

import (
	"encoding/json"
	"net/http"
	"slices"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// tableAccept is what `kubectl get` sends.
const tableAccept = "application/json;as=Table;v=v1;g=meta.k8s.io,application/json;as=Table;v=v1beta1;g=meta.k8s.io,application/json"

func (e *testEnv) table(path string) metav1.Table {
	e.t.Helper()
	rep := e.do("GET", path, "", nil, "Accept", tableAccept)
	if rep.code != http.StatusOK {
		e.t.Fatalf("GET %s as Table: %d %s", path, rep.code, rep.body)
	}
	var tb metav1.Table
	if err := json.Unmarshal(rep.body, &tb); err != nil {
		e.t.Fatal(err)
	}
	if tb.Kind != "Table" || tb.APIVersion != "meta.k8s.io/v1" {
		e.t.Fatalf("GET %s: %s %s, want a meta.k8s.io/v1 Table", path, tb.APIVersion, tb.Kind)
	}
	return tb
}

func TestTables(t *testing.T) {
	e := newTestEnv(t)
	pods := e.cs.CoreV1().Pods("default")
	for _, n := range []string{"web-1", "web-2"} {
		if _, err := pods.Create(e.ctx, testPod(n, "node-a", map[string]string{"app": "web"}), metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	const podsPath = "/api/v1/namespaces/default/pods"

	tb := e.table(podsPath)
	var cols []string
	for _, c := range tb.ColumnDefinitions {
		cols = append(cols, c.Name)
	}
	if want := []string{"Name", "Ready", "Status", "Restarts", "Age", "IP", "Node", "Nominated Node", "Readiness Gates"}; !slices.Equal(cols, want) {
		t.Errorf("pod columns %v, want %v", cols, want)
	}
	if tb.ResourceVersion == "" || len(tb.Rows) != 2 {
		t.Fatalf("table rv %q with %d rows", tb.ResourceVersion, len(tb.Rows))
	}
	row := tb.Rows[0]
	if len(row.Cells) != len(cols) || row.Cells[0] != "web-1" || row.Cells[1] != "0/1" || row.Cells[2] != "Pending" || row.Cells[6] != "node-a" {
		t.Errorf("row cells %v", row.Cells)
	}
	var pom metav1.PartialObjectMetadata
	if err := json.Unmarshal(row.Object.Raw, &pom); err != nil {
		t.Fatal(err)
	}
	if pom.Kind != "PartialObjectMetadata" || pom.APIVersion != "meta.k8s.io/v1" || pom.Name != "web-1" || pom.Namespace != "default" || pom.Labels["app"] != "web" {
		t.Errorf("row object %s", row.Object.Raw)
	}

	tb = e.table(podsPath + "?includeObject=Object")
	var pod corev1.Pod
	if err := json.Unmarshal(tb.Rows[1].Object.Raw, &pod); err != nil {
		t.Fatal(err)
	}
	if pod.Kind != "Pod" || pod.Name != "web-2" || len(pod.Spec.Containers) != 1 || pod.Spec.NodeName != "node-a" {
		t.Errorf("includeObject=Object row %s", tb.Rows[1].Object.Raw)
	}
	tb = e.table(podsPath + "?includeObject=None")
	if len(tb.Rows) != 2 || tb.Rows[0].Object.Raw != nil {
		t.Errorf("includeObject=None row object %s", tb.Rows[0].Object.Raw)
	}

	tb = e.table(podsPath + "/web-2")
	if len(tb.Rows) != 1 || tb.Rows[0].Cells[0] != "web-2" {
		t.Errorf("single-object Table %+v", tb.Rows)
	}
	tb = e.table(podsPath + "?labelSelector=app%3Dnone")
	if len(tb.Rows) != 0 || len(tb.ColumnDefinitions) == 0 {
		t.Errorf("empty Table: %d rows %d columns", len(tb.Rows), len(tb.ColumnDefinitions))
	}
	tb = e.table(podsPath + "?limit=1")
	if len(tb.Rows) != 1 || tb.Continue == "" {
		t.Errorf("paged Table: %d rows, continue %q", len(tb.Rows), tb.Continue)
	}
	tb = e.table("/api/v1/namespaces")
	if len(tb.Rows) != 2 || tb.ColumnDefinitions[0].Name != "Name" {
		t.Errorf("namespaces Table %+v", tb)
	}

	// A client that prefers a protobuf Table gets the JSON one it also accepts.
	rep := e.do("GET", podsPath, "", nil, "Accept", "application/vnd.kubernetes.protobuf;as=Table;v=v1;g=meta.k8s.io,application/json;as=Table;v=v1;g=meta.k8s.io,application/json")
	if err := json.Unmarshal(rep.body, &tb); err != nil || tb.Kind != "Table" {
		t.Errorf("protobuf-first Table Accept: %v %s", err, rep.body)
	}

	// Without the Table Accept (kubectl -o json) the answer is the list.
	for _, accept := range []string{"application/json", "application/json, */*", "application/vnd.kubernetes.protobuf,application/json"} {
		rep := e.do("GET", podsPath, "", nil, "Accept", accept)
		var l corev1.PodList
		if err := json.Unmarshal(rep.body, &l); err != nil || l.Kind != "PodList" || len(l.Items) != 2 {
			t.Errorf("Accept %q: %v kind %q with %d items", accept, err, l.Kind, len(l.Items))
		}
	}
}

func TestDeploymentTable(t *testing.T) {
	e := newTestEnv(t)
	if _, err := e.cs.AppsV1().Deployments("default").Create(e.ctx, testDeployment("web", 3), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	tb := e.table(deployPath)
	var cols []string
	for _, c := range tb.ColumnDefinitions {
		cols = append(cols, c.Name)
	}
	if want := []string{"Name", "Ready", "Up-to-date", "Available", "Age", "Containers", "Images", "Selector"}; !slices.Equal(cols, want) {
		t.Errorf("deployment columns %v, want %v", cols, want)
	}
	if c := tb.Rows[0].Cells; c[0] != "web" || c[1] != "0/3" || c[6] != "nginx:1.25" || c[7] != "app=web" {
		t.Errorf("deployment row %v", c)
	}
}
