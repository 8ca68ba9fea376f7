package node_test

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"net/http"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/shoal-project/shoal/internal/testcluster"
)

// scrape reads member i's /metrics through its API with the admin's
// credentials (as `kubectl get --raw /metrics` does) and parses it.
func scrape(t *testing.T, c *testcluster.Cluster, i int) map[string]*dto.MetricFamily {
	t.Helper()
	raw, err := c.Client(i).CoreV1().RESTClient().Get().AbsPath("/metrics").DoRaw(context.Background())
	if err != nil {
		t.Fatalf("GET /metrics on %s: %v", c.Members[i].Name, err)
	}
	p := expfmt.NewTextParser(model.LegacyValidation)
	mfs, err := p.TextToMetricFamilies(bytes.NewReader(raw))
	if err != nil {
		t.Fatalf("parse /metrics of %s: %v", c.Members[i].Name, err)
	}
	return mfs
}

// value sums the samples of family name whose labels include want
// (counters and gauges; histograms give their sample count). ok is false
// when no sample matches.
func value(mfs map[string]*dto.MetricFamily, name string, want map[string]string) (sum float64, ok bool) {
	mf := mfs[name]
	if mf == nil {
		return 0, false
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
		ok = true
		sum += m.GetCounter().GetValue() + m.GetGauge().GetValue() + float64(m.GetHistogram().GetSampleCount())
	}
	return sum, ok
}

// TestMetricsEndpoint: every peer serves /metrics to the cluster's
// credentials only; exactly one reports itself raft leader, and it is the
// leader; each sees three members alive through gossip; a ConfigMap
// created through a peer is counted by that peer's API; once a pod is
// bound, the leader's scheduler has counted it; raft's own figures
// (through go-metrics) and the Go runtime's are there too.
func TestMetricsEndpoint(t *testing.T) {
	c := testcluster.New(t, 3)
	ctx := context.Background()
	leader := c.LeaderIndex()
	follower := (leader + 1) % 3

	if _, err := c.Client(follower).CoreV1().ConfigMaps("default").Create(ctx, configMap("counted", nil), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	// testcluster's nodes run no pods and carry the control-plane taint: a
	// pod that tolerates it is bound by the scheduler all the same.
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "bound", Namespace: "default"},
		Spec: corev1.PodSpec{
			Containers:  []corev1.Container{{Name: "app", Image: "busybox"}},
			Tolerations: []corev1.Toleration{{Key: "node-role.kubernetes.io/control-plane", Operator: corev1.TolerationOpExists, Effect: corev1.TaintEffectNoSchedule}},
		},
	}
	if _, err := c.Client(follower).CoreV1().Pods("default").Create(ctx, pod, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	c.Eventually(30*time.Second, "the pod bound", func() error {
		p, err := c.Client(leader).CoreV1().Pods("default").Get(ctx, "bound", metav1.GetOptions{})
		if err != nil {
			return err
		}
		if p.Spec.NodeName == "" {
			return fmt.Errorf("not bound: %+v", p.Status.Conditions)
		}
		return nil
	})

	c.Eventually(20*time.Second, "every peer's view in its metrics", func() error {
		leaders := 0
		for i, m := range c.Members {
			mfs := scrape(t, c, i)
			isLeader, ok := value(mfs, "shoal_raft_state", map[string]string{"state": "leader"})
			if !ok {
				return fmt.Errorf("%s: no shoal_raft_state{state=\"leader\"}", m.Name)
			}
			if isLeader == 1 {
				leaders++
				if i != c.LeaderIndex() {
					return fmt.Errorf("%s reports itself leader; the leader is %s", m.Name, c.Leader().Name)
				}
			}
			if alive, _ := value(mfs, "shoal_gossip_members", map[string]string{"state": "alive"}); alive != 3 {
				return fmt.Errorf("%s: shoal_gossip_members{state=\"alive\"}: expected 3, seen %v", m.Name, alive)
			}
			if voters, _ := value(mfs, "shoal_raft_voters", nil); voters != 3 {
				return fmt.Errorf("%s: shoal_raft_voters: expected 3, seen %v", m.Name, voters)
			}
			if applied, _ := value(mfs, "shoal_raft_applied_index", nil); applied == 0 {
				return fmt.Errorf("%s: shoal_raft_applied_index: expected > 0, seen 0", m.Name)
			}
			for _, family := range []string{"go_goroutines", "process_resident_memory_bytes", "raft_commitTime", "apiserver_request_duration_seconds"} {
				if mfs[family] == nil {
					return fmt.Errorf("%s: family %s not served", m.Name, family)
				}
			}
		}
		if leaders != 1 {
			return fmt.Errorf("%d peers report shoal_raft_state{state=\"leader\"} 1, expected exactly 1", leaders)
		}
		return nil
	})

	mfs := scrape(t, c, follower)
	created := map[string]string{"verb": "POST", "group": "", "version": "v1", "resource": "configmaps", "scope": "resource", "code": "201", "component": "apiserver"}
	if n, _ := value(mfs, "apiserver_request_total", created); n != 1 {
		t.Errorf("%s: apiserver_request_total%v: expected 1, seen %v", c.Members[follower].Name, created, n)
	}
	if n, _ := value(mfs, "apiserver_request_duration_seconds", map[string]string{"verb": "POST", "resource": "configmaps"}); n != 1 {
		t.Errorf("%s: apiserver_request_duration_seconds count for POST configmaps: expected 1, seen %v", c.Members[follower].Name, n)
	}

	mfs = scrape(t, c, leader)
	if n, _ := value(mfs, "scheduler_schedule_attempts_total", map[string]string{"result": "scheduled", "profile": "default-scheduler"}); n < 1 {
		t.Errorf("leader: scheduler_schedule_attempts_total{result=\"scheduled\"}: expected >= 1, seen %v", n)
	}
	if n, _ := value(mfs, "shoal_scheduler_pass_binds", nil); n < 1 {
		t.Errorf("leader: shoal_scheduler_pass_binds observations: expected >= 1, seen %v", n)
	}
	if _, ok := value(mfs, "scheduler_pending_pods", map[string]string{"queue": "active"}); !ok {
		t.Errorf("leader: scheduler_pending_pods{queue=\"active\"} not served")
	}

	// Without credentials: 401, as every API path but the health checks.
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(c.Members[0].Node.Cluster().CACertPEM)
	hc := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
	resp, err := hc.Get(c.Members[0].Node.APIURL() + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("GET /metrics without credentials: expected 401, seen %d", resp.StatusCode)
	}

	// Go's profiles, to the admin only (kube-apiserver's --profiling).
	heap, err := c.Client(0).CoreV1().RESTClient().Get().AbsPath("/debug/pprof/heap").DoRaw(context.Background())
	if err != nil || len(heap) < 2 || heap[0] != 0x1f || heap[1] != 0x8b { // a gzipped profile
		t.Errorf("GET /debug/pprof/heap as admin: %v, %d bytes; expected a gzipped profile", err, len(heap))
	}
	resp, err = hc.Get(c.Members[0].Node.APIURL() + "/debug/pprof/heap")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("GET /debug/pprof/heap without credentials: expected 401, seen %d", resp.StatusCode)
	}
}
