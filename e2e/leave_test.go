package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
)

// TestLeaveAndReset: on a 3-node cluster running a 6-replica Deployment,
// `shoal leave` on the raft leader drains it the way kubectl drain does;
// when its agent exits, all 6 pods are Running on the other nodes, and
// neither raft nor gossip counts it any more. `shoal reset` then leaves
// no trace of the node on the host (each kind listed by hostTraces), and
// says so when run again. Last, another node's agent is killed with its
// pods running, and `shoal reset` removes its containers, shims and
// mounts too.
func TestLeaveAndReset(t *testing.T) {
	if testing.Short() {
		t.Skip("e2e: skipped in -short")
	}
	pc := startPodCluster(t, 3)
	const replicas = 6
	sel := "app=" + bootcamp
	pc.mustShoal("create", "deployment", bootcamp, "--image=gcr.io/google-samples/kubernetes-bootcamp:v1",
		"--replicas", strconv.Itoa(replicas), "--kubeconfig", pc.kubeconfig)
	pc.mustShoal("rollout", "status", "deployments/"+bootcamp, "--timeout", "180s", "--kubeconfig", pc.kubeconfig)

	leaving := pc.leaderIndex()
	if leaving < 0 {
		t.Fatal("no agent says it leads")
	}
	a := pc.agents[leaving]
	before, err := pc.podList(sel)
	if err != nil {
		t.Fatal(err)
	}
	onLeaving := 0
	for _, p := range before {
		if p.Spec.NodeName == a.name {
			onLeaving++
		}
	}
	if onLeaving == 0 {
		t.Fatalf("no pod of %d on the leaving node %s: %s", replicas, a.name, podNodes(before))
	}
	// From now on the CLI talks to a node that stays.
	stay := (leaving + 1) % 3
	pc.useNode(stay)

	// The moment the agent exits, list the pods from a node that stays.
	atExit := make(chan []corev1.Pod, 1)
	go func() {
		<-a.done
		pods, err := pc.podList(sel)
		if err != nil {
			t.Logf("pods at exit: %v", err)
		}
		atExit <- pods
	}()
	out, err := runIn(a.ns, 4*time.Minute, shoalBin, "leave", "--data-dir", a.dataDir, "--timeout", "3m")
	t.Logf("shoal leave:\n%s", out)
	if err != nil {
		t.Fatal(err)
	}
	inOrder(t, "shoal leave", out,
		"node/"+a.name+" cordoned", "evicting pod default/", "node/"+a.name+" drained",
		"pods Running on other nodes: replicaset.apps/"+bootcamp,
		"raft leadership handed to ", "left gossip", "node/"+a.name+" deleted", "removed from raft by the leader ",
		"node/"+a.name+" left the cluster; its agent has stopped")
	select {
	case <-a.done:
	case <-time.After(30 * time.Second):
		t.Fatal("the agent still runs after shoal leave returned")
	}
	pods := <-atExit
	running := 0
	for _, p := range pods {
		if p.Spec.NodeName == a.name {
			t.Errorf("pod %s is still on %s when its agent exits", p.Name, a.name)
		}
		if p.Status.Phase == corev1.PodRunning && p.DeletionTimestamp == nil && p.Spec.NodeName != a.name {
			running++
		}
	}
	if running != replicas {
		t.Fatalf("when the agent exited %d of %d pods were Running elsewhere: %s", running, replicas, podNodes(pods))
	}
	waitFor(t, 30*time.Second, "raft and gossip without "+a.name, func() error { return pc.checkGone(a.name) })

	out, err = pc.lab.run(a.ns, shoalBin, "leave", "--data-dir", a.dataDir)
	if err != nil || !strings.Contains(out, "nothing left to do") {
		t.Fatalf("second shoal leave: %v\n%s", err, out)
	}

	traces := hostTraces(pc.lab, a.ns, a.name, a.dataDir)
	if len(traces) == 0 {
		t.Fatal("before reset the host shows no trace of the node: the checks below would prove nothing")
	}
	t.Logf("before reset: %s", strings.Join(traces, "; "))
	out, err = runIn(a.ns, 2*time.Minute, shoalBin, "reset", "--data-dir", a.dataDir, "--yes")
	t.Logf("shoal reset:\n%s", out)
	if err != nil {
		t.Fatal(err)
	}
	// A stopping agent removes its nftables table and routes itself; the
	// bridge stays (pods' veths hang on it across restarts).
	contains(t, "shoal reset", out, "removed bridge shoal0", "removed data dir "+a.dataDir, "reset done")
	if traces := hostTraces(pc.lab, a.ns, a.name, a.dataDir); len(traces) > 0 {
		t.Fatalf("after reset:\n%s", strings.Join(traces, "\n"))
	}
	out, err = pc.lab.run(a.ns, shoalBin, "reset", "--data-dir", a.dataDir, "--yes")
	if err != nil || !strings.Contains(out, "nothing to do") {
		t.Fatalf("second shoal reset: %v\n%s", err, out)
	}

	// A node whose agent died with its pods running.
	killed := pc.agents[(leaving+2)%3]
	if err := killed.cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	<-killed.done
	traces = hostTraces(pc.lab, killed.ns, killed.name, killed.dataDir)
	if !hasTrace(traces, "process ") || !hasTrace(traces, "mount ") {
		t.Fatalf("a killed agent's pods left no process or mount: %s", strings.Join(traces, "; "))
	}
	out, err = runIn(killed.ns, 2*time.Minute, shoalBin, "reset", "--data-dir", killed.dataDir, "--yes")
	t.Logf("shoal reset of the killed node:\n%s", out)
	if err != nil {
		t.Fatal(err)
	}
	contains(t, "shoal reset of the killed node", out, "removed task ", "removed container ", "removed nftables table ip shoal",
		"removed route 10.42.", "removed bridge shoal0", "removed data dir "+killed.dataDir)
	if traces := hostTraces(pc.lab, killed.ns, killed.name, killed.dataDir); len(traces) > 0 {
		t.Fatalf("after reset of the killed node:\n%s", strings.Join(traces, "\n"))
	}
}

// runIn runs a command in namespace ns (nsenter --net, as netLab.run)
// with its own timeout: a drain waits for pods to stop and start.
func runIn(ns string, timeout time.Duration, args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	out, err := exec.CommandContext(ctx, "nsenter", append([]string{"--net=/run/netns/" + ns}, args...)...).CombinedOutput()
	if err != nil {
		return string(out), fmt.Errorf("in %s: %s: %v\n%s", ns, strings.Join(args, " "), err, out)
	}
	return string(out), nil
}

// useNode points the CLI at agent i: its namespace and its API.
func (pc *podCluster) useNode(i int) {
	pc.t.Helper()
	a := pc.agents[i]
	pc.clientNS = a.ns
	kc := pc.mustShoal("kubeconfig", "--data-dir", a.dataDir)
	pc.kubeconfig = filepath.Join(pc.dir, "kubeconfig-"+a.name)
	if err := os.WriteFile(pc.kubeconfig, []byte(kc), 0o600); err != nil {
		pc.t.Fatal(err)
	}
}

// checkGone fails while the cluster still counts node name: its Node, a
// raft seat (the remaining peers' raft configuration: voters plus
// non-voters), or a member gossip calls alive.
func (pc *podCluster) checkGone(name string) error {
	out, err := pc.get("nodes", "-o", "json")
	if err != nil {
		return err
	}
	var nodes corev1.NodeList
	if err := json.Unmarshal([]byte(out), &nodes); err != nil {
		return err
	}
	for _, n := range nodes.Items {
		if n.Name == name {
			return fmt.Errorf("node/%s still exists: %s", name, describeNodes(nodes.Items))
		}
	}
	metrics, err := pc.kubectl("get", "--raw", "/metrics")
	if err != nil {
		return err
	}
	want := map[string]float64{`shoal_gossip_members{state="alive"}`: 2, `shoal_gossip_members{state="left"}`: 1}
	seats := metricValue(metrics, "shoal_raft_voters") + metricValue(metrics, "shoal_raft_nonvoters")
	if seats != 2 {
		return fmt.Errorf("raft configuration has %v servers, want 2", seats)
	}
	for m, v := range want {
		if got := metricValue(metrics, m); got != v {
			return fmt.Errorf("%s = %v, want %v", m, got, v)
		}
	}
	return nil
}

// metricValue reads one sample ("name" or "name{labels}") of a
// Prometheus text exposition; -1 when it is missing.
func metricValue(text, sample string) float64 {
	re := regexp.MustCompile(`(?m)^` + regexp.QuoteMeta(sample) + ` (\S+)$`)
	m := re.FindStringSubmatch(text)
	if m == nil {
		return -1
	}
	v, _ := strconv.ParseFloat(m[1], 64)
	return v
}

// hostTraces lists what of node name (data dir dataDir, network namespace
// ns) is on the host: processes (its containerd, shims, containers),
// mounts under its data dir (pod network namespaces among them), its
// cgroups, runc's state, and in its namespace the bridge, the nftables
// table and routes proto 83; and the data dir itself.
func hostTraces(lab *netLab, ns, name, dataDir string) []string {
	var out []string
	cns := "shoal-" + name
	procs, _ := os.ReadDir("/proc")
	for _, e := range procs {
		pid := e.Name()
		if pid[0] < '0' || pid[0] > '9' {
			continue
		}
		cmd, _ := os.ReadFile("/proc/" + pid + "/cmdline")
		cg, _ := os.ReadFile("/proc/" + pid + "/cgroup")
		args := strings.ReplaceAll(string(cmd), "\x00", " ")
		if strings.Contains(args, dataDir) || strings.Contains(args, "-namespace "+cns+" ") || strings.Contains(string(cg), ":/"+cns+"/") {
			out = append(out, fmt.Sprintf("process %s: %s", pid, args))
		}
	}
	mi, _ := os.ReadFile("/proc/self/mountinfo")
	for _, line := range strings.Split(string(mi), "\n") {
		if f := strings.Fields(line); len(f) > 4 && strings.HasPrefix(f[4], dataDir) {
			out = append(out, "mount "+line)
		}
	}
	cgs, _ := filepath.Glob("/sys/fs/cgroup/*/" + cns)
	cgs = append(cgs, "/sys/fs/cgroup/"+cns)
	for _, d := range append(cgs, "/run/containerd/runc/"+cns, dataDir) {
		if _, err := os.Stat(d); err == nil {
			out = append(out, "path "+d)
		}
	}
	if _, err := lab.run(ns, "ip", "link", "show", "shoal0"); err == nil {
		out = append(out, "bridge shoal0")
	}
	if tables, _ := lab.run(ns, "nft", "list", "tables"); strings.Contains(tables, "table ip shoal\n") {
		out = append(out, "nftables table ip shoal")
	}
	if routes, _ := lab.run(ns, "ip", "route", "show", "proto", "83"); strings.TrimSpace(routes) != "" {
		out = append(out, "routes proto 83: "+strings.TrimSpace(routes))
	}
	return out
}

func hasTrace(traces []string, prefix string) bool {
	for _, t := range traces {
		if strings.HasPrefix(t, prefix) {
			return true
		}
	}
	return false
}

// inOrder fails unless out has each of wants, in that order.
func inOrder(t testing.TB, what, out string, wants ...string) {
	t.Helper()
	rest := out
	for _, w := range wants {
		i := strings.Index(rest, w)
		if i < 0 {
			t.Fatalf("%s: want %q (after the ones before it) in:\n%s", what, w, out)
		}
		rest = rest[i+len(w):]
	}
}

func podNodes(pods []corev1.Pod) string {
	var parts []string
	for _, p := range pods {
		parts = append(parts, fmt.Sprintf("%s@%s(%s)", p.Name, p.Spec.NodeName, p.Status.Phase))
	}
	return strings.Join(parts, " ")
}
