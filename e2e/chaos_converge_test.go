package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"sort"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// After the last fault the cluster must heal on its own: every node
// Ready, every peer answering the same objects at the same
// resourceVersions, the suite's Deployment back to its ready replicas.

// registerKind is the list of the registers, compared once the workload
// has stopped; clusterKinds are compared while it still runs. Leases and
// Events are left out: they change all the time by design.
const registerKind = "/api/v1/namespaces/" + chaosNamespace + "/configmaps"

var clusterKinds = []string{
	"/api/v1/nodes",
	"/api/v1/pods",
	"/api/v1/services",
	"/apis/apps/v1/deployments",
	"/apis/apps/v1/replicasets",
}

// converge polls check until it passes or deadline passes, and returns
// the last error (nil once it passed). Each new reason to wait is logged
// with the time since since.
func converge(t testing.TB, since time.Time, deadline time.Time, check func() error) error {
	last := ""
	for {
		err := check()
		if err == nil || time.Now().After(deadline) {
			return err
		}
		if msg := err.Error(); msg != last {
			t.Logf("chaos: +%.1fs after the last fault: %s", time.Since(since).Seconds(), truncate(msg, 300))
			last = msg
		}
		time.Sleep(500 * time.Millisecond)
	}
}

// clusterHealed says why the cluster has not healed yet, or nil: every
// peer sees every node Ready, the peers agree on clusterKinds, and the
// suite's Deployment has its replicas back.
func clusterHealed(ctx context.Context, pc *podCluster, peers []*peerClient) error {
	for i, p := range peers {
		if err := nodesReady(ctx, p, len(pc.agents)); err != nil {
			return fmt.Errorf("through node-%d: %w", i, err)
		}
	}
	for _, kind := range clusterKinds {
		if err := peersAgree(ctx, peers, kind); err != nil {
			return err
		}
	}
	return deploymentBack(ctx, peers[0])
}

// peersAgree lists kind through every peer and compares the objects and
// their resourceVersions.
func peersAgree(ctx context.Context, peers []*peerClient, kind string) error {
	var first map[string]string
	for i, p := range peers {
		got, err := listVersions(ctx, p, kind)
		if err != nil {
			return fmt.Errorf("list %s through node-%d: %w", kind, i, err)
		}
		if i == 0 {
			first = got
			continue
		}
		if d := diffVersions(first, got); d != "" {
			return fmt.Errorf("%s: node-0 and node-%d differ: %s", kind, i, d)
		}
	}
	return nil
}

// nodesReady checks that the peer sees n nodes, all Ready.
func nodesReady(ctx context.Context, p *peerClient, n int) error {
	var l corev1.NodeList
	if err := getJSON(ctx, p, "/api/v1/nodes", &l); err != nil {
		return err
	}
	var notReady []string
	for _, node := range l.Items {
		ready := false
		for _, c := range node.Status.Conditions {
			if c.Type == corev1.NodeReady && c.Status == corev1.ConditionTrue {
				ready = true
			}
		}
		if !ready {
			notReady = append(notReady, node.Name)
		}
	}
	if len(l.Items) != n || len(notReady) > 0 {
		return fmt.Errorf("%d nodes, expected %d; not Ready: %v", len(l.Items), n, notReady)
	}
	return nil
}

// listVersions lists path and returns namespace/name -> resourceVersion.
func listVersions(ctx context.Context, p *peerClient, path string) (map[string]string, error) {
	var l struct {
		Items []struct {
			Metadata metav1.ObjectMeta `json:"metadata"`
		} `json:"items"`
	}
	if err := getJSON(ctx, p, path, &l); err != nil {
		return nil, err
	}
	m := map[string]string{}
	for _, it := range l.Items {
		m[it.Metadata.Namespace+"/"+it.Metadata.Name] = it.Metadata.ResourceVersion
	}
	return m, nil
}

// diffVersions describes how b differs from a ("" when equal).
func diffVersions(a, b map[string]string) string {
	var d []string
	for k, v := range a {
		if w, ok := b[k]; !ok {
			d = append(d, k+" missing")
		} else if w != v {
			d = append(d, fmt.Sprintf("%s at %s vs %s", k, v, w))
		}
	}
	for k := range b {
		if _, ok := a[k]; !ok {
			d = append(d, k+" extra")
		}
	}
	sort.Strings(d)
	if len(d) > 5 {
		d = append(d[:5], fmt.Sprintf("and %d more", len(d)-5))
	}
	return strings.Join(d, "; ")
}

// deploymentBack checks the suite's Deployment has all its replicas
// updated, ready and available.
func deploymentBack(ctx context.Context, p *peerClient) error {
	var d appsv1.Deployment
	if err := getJSON(ctx, p, "/apis/apps/v1/namespaces/"+chaosNamespace+"/deployments/"+chaosDeploymentName, &d); err != nil {
		return err
	}
	st := d.Status
	if d.Status.ObservedGeneration < d.Generation || st.Replicas != chaosReplicas || st.UpdatedReplicas != chaosReplicas ||
		st.ReadyReplicas != chaosReplicas || st.AvailableReplicas != chaosReplicas {
		return fmt.Errorf("deployment %s: replicas %d, updated %d, ready %d, available %d (expected %d each; generation %d observed %d)",
			chaosDeploymentName, st.Replicas, st.UpdatedReplicas, st.ReadyReplicas, st.AvailableReplicas, chaosReplicas, d.Generation, st.ObservedGeneration)
	}
	return nil
}

// getJSON GETs path (a quorum read: no resourceVersion) and decodes it.
func getJSON(ctx context.Context, p *peerClient, path string, v any) error {
	status, body, err := p.do(ctx, "GET", path, "", nil)
	if err != nil {
		return err
	}
	if status != 200 {
		return fmt.Errorf("GET %s: %d %s", path, status, truncate(string(body), 200))
	}
	if err := json.Unmarshal(body, v); err != nil {
		return fmt.Errorf("GET %s: decode: %w", path, err)
	}
	return nil
}
