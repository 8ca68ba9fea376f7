package apiserver

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"

	"github.com/shoal-project/shoal/consensus"
)

func TestClassifyRequest(t *testing.T) {
	m := &requestMetrics{extra: []string{"/shoal/v1/join", "/shoal/v1/node/pods/"}, services: []APIService{{
		GroupVersion: schema.GroupVersion{Group: "metrics.k8s.io", Version: "v1beta1"},
		Resources:    []metav1.APIResource{{Name: "nodes"}, {Name: "pods", Namespaced: true}},
	}}}
	tests := []struct {
		method, url, contentType string
		want                     requestInfo
	}{
		{"GET", "/api/v1/namespaces/default/pods", "", requestInfo{verb: "LIST", version: "v1", resource: "pods", scope: "namespace"}},
		{"GET", "/api/v1/pods", "", requestInfo{verb: "LIST", version: "v1", resource: "pods", scope: "cluster"}},
		{"GET", "/api/v1/namespaces/default/pods/web", "", requestInfo{verb: "GET", version: "v1", resource: "pods", scope: "resource"}},
		{"GET", "/api/v1/namespaces/default/pods?watch=true&resourceVersion=10", "", requestInfo{verb: "WATCH", version: "v1", resource: "pods", scope: "namespace", longRunning: true}},
		{"GET", "/api/v1/namespaces/default/pods?watch=1", "", requestInfo{verb: "WATCH", version: "v1", resource: "pods", scope: "namespace", longRunning: true}},
		{"GET", "/api/v1/namespaces/default/pods?watch=false", "", requestInfo{verb: "LIST", version: "v1", resource: "pods", scope: "namespace"}},
		{"POST", "/api/v1/namespaces/default/configmaps", "application/json", requestInfo{verb: "POST", version: "v1", resource: "configmaps", scope: "resource"}},
		{"POST", "/api/v1/namespaces/default/configmaps?dryRun=All", "application/json", requestInfo{verb: "POST", dryRun: "All", version: "v1", resource: "configmaps", scope: "resource"}},
		{"POST", "/api/v1/namespaces/default/configmaps?dryRun=Some", "application/json", requestInfo{verb: "POST", dryRun: "invalid", version: "v1", resource: "configmaps", scope: "resource"}},
		{"POST", "/api/v1/namespaces", "application/json", requestInfo{verb: "POST", version: "v1", resource: "namespaces", scope: "resource"}},
		{"PUT", "/apis/apps/v1/namespaces/default/deployments/web", "application/json", requestInfo{verb: "PUT", group: "apps", version: "v1", resource: "deployments", scope: "resource"}},
		{"PUT", "/apis/apps/v1/namespaces/default/deployments/web/status", "application/json", requestInfo{verb: "PUT", group: "apps", version: "v1", resource: "deployments", subresource: "status", scope: "resource"}},
		{"PATCH", "/apis/apps/v1/namespaces/default/deployments/web/scale", "application/merge-patch+json", requestInfo{verb: "PATCH", group: "apps", version: "v1", resource: "deployments", subresource: "scale", scope: "resource"}},
		{"PATCH", "/apis/apps/v1/namespaces/default/deployments/web", "application/apply-patch+yaml", requestInfo{verb: "APPLY", group: "apps", version: "v1", resource: "deployments", scope: "resource"}},
		{"DELETE", "/api/v1/namespaces/default/pods/web", "", requestInfo{verb: "DELETE", version: "v1", resource: "pods", scope: "resource"}},
		{"DELETE", "/api/v1/namespaces/default/pods", "", requestInfo{verb: "DELETECOLLECTION", version: "v1", resource: "pods", scope: "namespace"}},
		{"POST", "/api/v1/namespaces/default/pods/web/binding", "application/json", requestInfo{verb: "POST", version: "v1", resource: "pods", subresource: "binding", scope: "resource"}},
		{"GET", "/api/v1/namespaces/default/pods/web/log?follow=true", "", requestInfo{verb: "GET", version: "v1", resource: "pods", subresource: "log", scope: "resource", longRunning: true}},
		{"POST", "/api/v1/namespaces/default/pods/web/exec?command=sh", "", requestInfo{verb: "CONNECT", version: "v1", resource: "pods", subresource: "exec", scope: "resource", longRunning: true}},
		{"GET", "/api/v1/namespaces/default/pods/web/exec?command=sh", "", requestInfo{verb: "CONNECT", version: "v1", resource: "pods", subresource: "exec", scope: "resource", longRunning: true}},
		{"POST", "/api/v1/namespaces/default/pods/web/portforward", "", requestInfo{verb: "CONNECT", version: "v1", resource: "pods", subresource: "portforward", scope: "resource", longRunning: true}},
		{"PUT", "/api/v1/namespaces/default/services/web/proxy/some/path", "", requestInfo{verb: "CONNECT", version: "v1", resource: "services", subresource: "proxy", scope: "resource", longRunning: true}},
		{"GET", "/api/v1/nodes/node-1", "", requestInfo{verb: "GET", version: "v1", resource: "nodes", scope: "resource"}},
		{"GET", "/api/v1/namespaces/default", "", requestInfo{verb: "GET", version: "v1", resource: "namespaces", scope: "resource"}},
		// Unknown resources add no series of their own.
		{"GET", "/api/v1/namespaces/default/gadgets", "", requestInfo{verb: "GET"}},
		{"GET", "/apis/example.com/v1/things", "", requestInfo{verb: "GET"}},
		// An APIService's resources are labelled as the store's.
		{"GET", "/apis/metrics.k8s.io/v1beta1/nodes", "", requestInfo{verb: "LIST", group: "metrics.k8s.io", version: "v1beta1", resource: "nodes", scope: "cluster"}},
		{"GET", "/apis/metrics.k8s.io/v1beta1/namespaces/default/pods/web", "", requestInfo{verb: "GET", group: "metrics.k8s.io", version: "v1beta1", resource: "pods", scope: "resource"}},
		{"GET", "/apis/metrics.k8s.io/v1beta1/gadgets", "", requestInfo{verb: "GET"}},
		// Outside the resource tree: a bounded set of paths.
		{"GET", "/healthz", "", requestInfo{verb: "GET", subresource: "/healthz"}},
		{"GET", "/metrics", "", requestInfo{verb: "GET", subresource: "/metrics"}},
		{"GET", "/api", "", requestInfo{verb: "GET", subresource: "/api"}},
		{"GET", "/api/v1", "", requestInfo{verb: "GET", subresource: "/api"}},
		{"GET", "/apis/apps/v1", "", requestInfo{verb: "GET", subresource: "/apis"}},
		{"GET", "/openapi/v3/api/v1", "", requestInfo{verb: "GET", subresource: "/openapi/v3"}},
		{"GET", "/wp-admin/index.php", "", requestInfo{verb: "GET", subresource: "other"}},
		{"POST", "/shoal/v1/join", "", requestInfo{verb: "POST", subresource: "/shoal/v1/join"}},
		{"POST", "/shoal/v1/node/pods/default/web/exec", "", requestInfo{verb: "POST", subresource: "/shoal/v1/node/pods", longRunning: true}},
		// Methods outside HTTP's own are "other", wherever they go.
		{"X0", "/healthz", "", requestInfo{verb: "other", subresource: "/healthz"}},
		{"get", "/wp-admin/index.php", "", requestInfo{verb: "other", subresource: "other"}},
		{"BREW", "/api/v1/namespaces/default/gadgets", "", requestInfo{verb: "other"}},
		{"BREW", "/api/v1/namespaces/default/pods", "", requestInfo{verb: "other", version: "v1", resource: "pods", scope: "namespace"}},
		{"OPTIONS", "/api/v1/namespaces/default/pods", "", requestInfo{verb: "OPTIONS", version: "v1", resource: "pods", scope: "namespace"}},
		{"HEAD", "/healthz", "", requestInfo{verb: "HEAD", subresource: "/healthz"}},
	}
	for _, tt := range tests {
		t.Run(tt.method+" "+tt.url, func(t *testing.T) {
			r := httptest.NewRequest(tt.method, tt.url, nil)
			if tt.contentType != "" {
				r.Header.Set("Content-Type", tt.contentType)
			}
			if got := m.classify(r); got != tt.want {
				t.Errorf("expected %+v\n         seen %+v", tt.want, got)
			}
		})
	}
}

// TestRequestMetrics: requests through the whole handler are counted by
// verb, resource and code; quick ones are timed, watches are not, and the
// long-running gauge follows an open watch.
func TestRequestMetrics(t *testing.T) {
	st := consensus.NewStore()
	reg := prometheus.NewPedanticRegistry()
	srv := New(Config{
		Store: st, Proposer: consensus.NewLocalProposer(st),
		Authenticate:  func(r *http.Request) bool { return r.Header.Get("Authorization") == "Bearer "+testToken },
		Logger:        slog.New(slog.NewTextHandler(io.Discard, nil)),
		ServerAddress: "127.0.0.1:6443",
		Metrics:       reg,
	})
	hs := httptest.NewServer(srv.Handler())
	defer hs.Close()
	defer hs.CloseClientConnections()
	cs, err := kubernetes.NewForConfig(&rest.Config{Host: hs.URL, BearerToken: testToken})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if _, err := cs.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "default"}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	cm := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "a", Namespace: "default"}}
	if _, err := cs.CoreV1().ConfigMaps("default").Create(ctx, cm, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := cs.CoreV1().ConfigMaps("default").Create(ctx, cm, metav1.CreateOptions{}); err == nil {
		t.Fatal("second create of the same ConfigMap: expected 409, seen success")
	}
	if _, err := cs.CoreV1().ConfigMaps("default").Get(ctx, "missing", metav1.GetOptions{}); err == nil {
		t.Fatal("get of a missing ConfigMap: expected 404, seen success")
	}
	resp, err := http.Get(hs.URL + "/api/v1/namespaces/default/configmaps")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	w, err := cs.CoreV1().ConfigMaps("default").Watch(ctx, metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	watchLabels := map[string]string{"verb": "WATCH", "resource": "configmaps", "scope": "namespace", "component": "apiserver"}
	waitFor(t, "the watch counted as long-running", func() bool { return sample(t, reg, "apiserver_longrunning_requests", watchLabels) == 1 })
	w.Stop()
	waitFor(t, "the watch's end counted", func() bool {
		return sample(t, reg, "apiserver_longrunning_requests", watchLabels) == 0 &&
			sample(t, reg, "apiserver_request_total", map[string]string{"verb": "WATCH", "code": "200"}) == 1
	})

	counts := []struct {
		labels map[string]string
		want   float64
	}{
		{map[string]string{"verb": "POST", "resource": "configmaps", "scope": "resource", "code": "201", "version": "v1", "group": "", "component": "apiserver"}, 1},
		{map[string]string{"verb": "POST", "resource": "configmaps", "code": "409"}, 1},
		{map[string]string{"verb": "GET", "resource": "configmaps", "code": "404"}, 1},
		{map[string]string{"verb": "LIST", "resource": "configmaps", "code": "401"}, 1},
		{map[string]string{"verb": "POST", "resource": "namespaces", "code": "201", "scope": "resource"}, 1},
	}
	for _, c := range counts {
		if got := sample(t, reg, "apiserver_request_total", c.labels); got != c.want {
			t.Errorf("apiserver_request_total%v: expected %v, seen %v", c.labels, c.want, got)
		}
	}
	if got := histogramCount(t, reg, map[string]string{"verb": "POST", "resource": "configmaps"}); got != 2 {
		t.Errorf("apiserver_request_duration_seconds count for POST configmaps: expected 2, seen %d", got)
	}
	if got := histogramCount(t, reg, map[string]string{"verb": "WATCH"}); got != 0 {
		t.Errorf("apiserver_request_duration_seconds count for WATCH: expected 0 (long-running), seen %d", got)
	}
}

// TestOddMethodsShareOneSeries: the metrics run before authentication and
// Go's server takes any token as a method, so unauthenticated clients
// sending 50 made-up methods must not make 50 series: all of them are
// counted under verb "other".
func TestOddMethodsShareOneSeries(t *testing.T) {
	st := consensus.NewStore()
	reg := prometheus.NewPedanticRegistry()
	srv := New(Config{
		Store: st, Proposer: consensus.NewLocalProposer(st),
		Authenticate:  func(r *http.Request) bool { return r.Header.Get("Authorization") == "Bearer "+testToken },
		Logger:        slog.New(slog.NewTextHandler(io.Discard, nil)),
		ServerAddress: "127.0.0.1:6443",
		Metrics:       reg,
	})
	hs := httptest.NewServer(srv.Handler())
	defer hs.Close()
	paths := []string{"/healthz", "/api/v1/namespaces/default/pods", "/apis/example.com/v1/things", "/wp-admin/x"}
	for i := 0; i < 50; i++ {
		for _, p := range paths {
			req, err := http.NewRequest(fmt.Sprintf("X%d", i), hs.URL+p, nil)
			if err != nil {
				t.Fatal(err)
			}
			resp, err := hs.Client().Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
		}
	}
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		for _, m := range mf.Metric {
			for _, l := range m.Label {
				if l.GetName() == "verb" && l.GetValue() != "other" {
					t.Errorf("%s: expected verb \"other\" for every made-up method, seen %q", mf.GetName(), l.GetValue())
				}
			}
		}
	}
	// One series per path (and code), however many methods were used.
	if got := len(matching(t, reg, "apiserver_request_total", map[string]string{"verb": "other"})); got != len(paths) {
		t.Errorf("apiserver_request_total series for 50 methods on %d paths: expected %d, seen %d", len(paths), len(paths), got)
	}
	if got := sample(t, reg, "apiserver_request_total", map[string]string{"verb": "other"}); got != float64(50*len(paths)) {
		t.Errorf("apiserver_request_total for verb other: expected %d, seen %v", 50*len(paths), got)
	}
	if got := len(matching(t, reg, "apiserver_request_duration_seconds", nil)); got != len(paths) {
		t.Errorf("apiserver_request_duration_seconds series: expected %d, seen %d", len(paths), got)
	}
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("waited 5s for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// matching returns the samples of family name whose labels include want.
func matching(t *testing.T, reg prometheus.Gatherer, name string, want map[string]string) []*dto.Metric {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatalf("gather: %v", err)
	}
	var out []*dto.Metric
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
	next:
		for _, m := range mf.Metric {
			have := map[string]string{}
			for _, l := range m.Label {
				have[l.GetName()] = l.GetValue()
			}
			for k, v := range want {
				if have[k] != v {
					continue next
				}
			}
			out = append(out, m)
		}
	}
	return out
}

// sample sums the counters or gauges of name matching want.
func sample(t *testing.T, reg prometheus.Gatherer, name string, want map[string]string) float64 {
	t.Helper()
	var sum float64
	for _, m := range matching(t, reg, name, want) {
		sum += m.GetCounter().GetValue() + m.GetGauge().GetValue()
	}
	return sum
}

func histogramCount(t *testing.T, reg prometheus.Gatherer, want map[string]string) uint64 {
	t.Helper()
	var n uint64
	for _, m := range matching(t, reg, "apiserver_request_duration_seconds", want) {
		n += m.GetHistogram().GetSampleCount()
	}
	return n
}
