package cli

import (
	"context"
	"errors"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/shoal-project/shoal/consensus"
	"github.com/shoal-project/shoal/internal/apitest"
	"github.com/shoal-project/shoal/node/apiserver"
	"github.com/shoal-project/shoal/node/resourcemetrics"
)

// summaries are canned node Summaries; a node without one does not answer.
type summaries map[string]*resourcemetrics.Summary

func (s summaries) Summary(ctx context.Context, node string) (*resourcemetrics.Summary, error) {
	if sum, ok := s[node]; ok {
		return sum, nil
	}
	return nil, errors.New("connection refused")
}

func topUsage(millicores, mib uint64) (*resourcemetrics.CPUStats, *resourcemetrics.MemoryStats) {
	cpu, mem := millicores*1_000_000, mib<<20
	now := time.Now()
	return &resourcemetrics.CPUStats{Time: now, Window: 10 * time.Second, UsageNanoCores: &cpu},
		&resourcemetrics.MemoryStats{Time: now, WorkingSetBytes: &mem}
}

func topContainer(name string, millicores, mib uint64) resourcemetrics.ContainerStats {
	cpu, mem := topUsage(millicores, mib)
	return resourcemetrics.ContainerStats{Name: name, CPU: cpu, Memory: mem}
}

// topAPI is a real API server with the metrics API. Nodes a (2 cores,
// 8Gi) and b (4 cores, 16Gi) are Ready; c is Ready but does not answer.
// Pods: default/web (a: app 250m 100Mi, sidecar 5m 20Mi), default/busy
// (b: 1500m 300Mi), default/new (b, no figures yet, just created),
// prod/db (b: 40m 1024Mi), stale/old (b, no figures, created long ago).
func topAPI(t *testing.T) *httptest.Server {
	t.Helper()
	e := apitest.New(t, apitest.WithoutAuth(), apitest.WithAPI(func(c *apiserver.Config) {
		c.APIServices = []apiserver.APIService{topMetricsAPI(c.Store).APIService()}
	}))
	for _, n := range []struct {
		name, zone string
		cpu, mem   string
	}{{"a", "east", "2", "8Gi"}, {"b", "west", "4", "16Gi"}, {"c", "west", "2", "8Gi"}} {
		res := corev1.ResourceList{corev1.ResourceCPU: resource.MustParse(n.cpu), corev1.ResourceMemory: resource.MustParse(n.mem)}
		e.Seed("nodes", "", n.name, "uid-"+n.name, time.Now(), &corev1.Node{
			TypeMeta:   metav1.TypeMeta{APIVersion: "v1", Kind: "Node"},
			ObjectMeta: metav1.ObjectMeta{Name: n.name, Labels: map[string]string{"zone": n.zone}},
			Status: corev1.NodeStatus{Capacity: res, Allocatable: res,
				Conditions: []corev1.NodeCondition{{Type: corev1.NodeReady, Status: corev1.ConditionTrue}}},
		})
	}
	for _, ns := range []string{"prod", "stale"} { // default is apitest's
		e.Seed("namespaces", "", ns, "uid-"+ns, time.Now(), &corev1.Namespace{TypeMeta: metav1.TypeMeta{APIVersion: "v1", Kind: "Namespace"}, ObjectMeta: metav1.ObjectMeta{Name: ns}})
	}
	for _, p := range []struct {
		ns, name, node, app string
		age                 time.Duration
	}{
		{"default", "web", "a", "web", time.Hour}, {"default", "busy", "b", "burn", time.Hour},
		{"default", "new", "b", "web", 0}, {"prod", "db", "b", "db", time.Hour}, {"stale", "old", "b", "old", time.Hour},
	} {
		e.Seed("pods", p.ns, p.name, "uid-"+p.name, time.Now().Add(-p.age), &corev1.Pod{
			TypeMeta:   metav1.TypeMeta{APIVersion: "v1", Kind: "Pod"},
			ObjectMeta: metav1.ObjectMeta{Name: p.name, Namespace: p.ns, Labels: map[string]string{"app": p.app}},
			Spec:       corev1.PodSpec{NodeName: p.node, Containers: []corev1.Container{{Name: "app", Image: "busybox"}}},
			Status:     corev1.PodStatus{Phase: corev1.PodRunning},
		})
	}
	return e.Server
}

// topMetricsAPI is the metrics API over st with topAPI's figures.
func topMetricsAPI(st *consensus.Store) *resourcemetrics.API {
	pod := func(ns, name string, cs ...resourcemetrics.ContainerStats) resourcemetrics.PodStats {
		return resourcemetrics.PodStats{PodRef: resourcemetrics.PodReference{Namespace: ns, Name: name, UID: "uid-" + name}, Containers: cs}
	}
	nodeStats := func(name string, millicores, mib uint64) resourcemetrics.NodeStats {
		cpu, mem := topUsage(millicores, mib)
		return resourcemetrics.NodeStats{NodeName: name, CPU: cpu, Memory: mem}
	}
	return resourcemetrics.NewAPI(resourcemetrics.APIConfig{Store: st, Summaries: summaries{
		"a": {Node: nodeStats("a", 250, 1024), Pods: []resourcemetrics.PodStats{
			pod("default", "web", topContainer("app", 250, 100), topContainer("sidecar", 5, 20))}},
		"b": {Node: nodeStats("b", 2100, 4096), Pods: []resourcemetrics.PodStats{
			pod("default", "busy", topContainer("app", 1500, 300)), pod("prod", "db", topContainer("db", 40, 1024))}},
	}})
}

func TestTopCommand(t *testing.T) {
	isolateKubeconfig(t)
	srv := topAPI(t)
	ta := newTestApp(t, Deps{})
	dataDir := t.TempDir()
	for _, tc := range []struct {
		args           []string
		stdout, stderr string
	}{
		// c has no figures: kubectl's <unknown> line.
		{[]string{"top", "nodes"}, `NAME   CPU(cores)   CPU(%)      MEMORY(bytes)   MEMORY(%)   
a      250m         12%         1024Mi          12%         
b      2100m        52%         4096Mi          25%         
c      <unknown>    <unknown>   <unknown>       <unknown>   
`, ""},
		{[]string{"top", "node", "b"}, `NAME   CPU(cores)   CPU(%)   MEMORY(bytes)   MEMORY(%)   
b      2100m        52%      4096Mi          25%         
`, ""},
		{[]string{"top", "no", "-l", "zone=east", "--no-headers"}, "a     250m   12%   1024Mi   12%   \n", ""},
		{[]string{"top", "pods"}, `NAME   CPU(cores)   MEMORY(bytes)   
busy   1500m        300Mi           
web    255m         120Mi           
`, ""},
		{[]string{"top", "pod", "--sort-by", "memory", "-A"}, `NAMESPACE   NAME   CPU(cores)   MEMORY(bytes)   
prod        db     40m          1024Mi          
default     busy   1500m        300Mi           
default     web    255m         120Mi           
`, ""},
		{[]string{"top", "pod", "web", "--containers"}, `POD   NAME      CPU(cores)   MEMORY(bytes)   
web   app       250m         100Mi           
web   sidecar   5m           20Mi            
`, ""},
		{[]string{"top", "po", "-l", "app=web", "-n", "default"}, `NAME   CPU(cores)   MEMORY(bytes)   
web    255m         120Mi           
`, ""},
		{[]string{"top", "pods", "-n", "prod", "--sum"}, `NAME   CPU(cores)   MEMORY(bytes)   
db     40m          1024Mi          
       ________     ________        
       40m          1024Mi          
`, ""},
	} {
		ta.stdout.Reset()
		ta.stderr.Reset()
		args := append(append([]string{}, tc.args[:2]...), append([]string{"--server", srv.URL, "--data-dir", dataDir}, tc.args[2:]...)...)
		if err := ta.run(args...); err != nil {
			t.Errorf("%v: %v", tc.args, err)
			continue
		}
		if ta.stdout.String() != tc.stdout || ta.stderr.String() != tc.stderr {
			t.Errorf("%v:\nstdout:\n%s\nstderr: %q\nwant:\n%s\nstderr: %q", tc.args, ta.stdout.String(), ta.stderr.String(), tc.stdout, tc.stderr)
		}
	}
}

func TestTopCommandErrors(t *testing.T) {
	isolateKubeconfig(t)
	srv := topAPI(t)
	ta := newTestApp(t, Deps{})
	dataDir := t.TempDir()
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"top", "pod", "new"}, `Error from server (NotFound): podmetrics.metrics.k8s.io "default/new" not found`},
		{[]string{"top", "pod", "nope"}, `Error from server (NotFound): pods "nope" not found`},
		{[]string{"top", "pods", "-l", "app=web", "-n", "default", "--field-selector", "metadata.name=new"}, "error: metrics not available yet"},
		{[]string{"top", "pods", "-n", "stale"}, "error: Metrics not available for pod stale/old, age: "},
		{[]string{"top", "node", "nope"}, `Error from server (NotFound): nodes "nope" not found`},
		{[]string{"top", "node", "c"}, `Error from server (NotFound): nodemetrics.metrics.k8s.io "c" not found`},
		{[]string{"top", "node", "--sort-by", "age"}, "error: --sort-by accepts only cpu or memory"},
		{[]string{"top", "node", "a", "-l", "zone=east"}, "error: only one of NAME or --selector can be provided"},
		{[]string{"top", "pod", "a", "b"}, "error: pod [NAME | -l label]\nSee 'shoal top pod -h'"},
	} {
		ta.stdout.Reset()
		ta.stderr.Reset()
		args := append(append([]string{}, tc.args[:2]...), append([]string{"--server", srv.URL, "--data-dir", dataDir}, tc.args[2:]...)...)
		err := ta.run(args...)
		if code := ExitCode(err, &ta.stderr); code != 1 || !strings.Contains(ta.stderr.String(), tc.want) {
			t.Errorf("%v: exit %d, stderr %q, want %q", tc.args, code, ta.stderr.String(), tc.want)
		}
	}
}
