package e2e

import (
	"fmt"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"
)

// killNode loses node i as a machine would: kill -9 its agent, its
// containerd and shims (everything in its network namespace) and its
// containers.
func (pc *podCluster) killNode(i int) {
	// The agent by its pid first, in case it is not where its namespace
	// says (`ip netns pids` looks at each process's main thread only).
	pc.agents[i].cmd.Process.Kill()
	out, _ := exec.Command("ip", "netns", "pids", pc.lab.nodes[i]).Output()
	for _, pid := range strings.Fields(string(out)) {
		exec.Command("kill", "-9", pid).Run()
	}
	killContainersOf([]string{pc.agents[i].name})
	select {
	case <-pc.agents[i].done:
	case <-time.After(10 * time.Second):
	}
}

// leaderIndex finds the leading node from the agents' logs: the last to
// say it became leader without saying it stopped its leader loops since.
func (pc *podCluster) leaderIndex() int {
	for i, a := range pc.agents {
		log := a.log.String()
		if j := strings.LastIndex(log, "became leader"); j >= 0 && !strings.Contains(log[j:], "leader loops stopped") {
			return i
		}
	}
	return -1
}

// deploymentReady waits until the deployment has want ready pods, none of
// them on the node named avoid, and returns how long that took.
func (pc *podCluster) deploymentReady(t testing.TB, want int, avoid string, timeout time.Duration) time.Duration {
	start := time.Now()
	waitFor(t, timeout, fmt.Sprintf("%d ready pods off %s", want, avoid), func() error {
		pods, err := pc.podList("app=" + bootcamp)
		if err != nil {
			return err
		}
		ready := 0
		for _, p := range pods {
			if p.Spec.NodeName == avoid || p.DeletionTimestamp != nil {
				continue
			}
			for _, c := range p.Status.Conditions {
				if c.Type == "Ready" && c.Status == "True" {
					ready++
				}
			}
		}
		if ready != want {
			return fmt.Errorf("%d ready pods off %s", ready, avoid)
		}
		return nil
	})
	return time.Since(start)
}

// deployFourAndPickVictim runs 4 bootcamp pods and returns a node that
// runs one of them and neither leads nor runs the client (node 0); it skips
// when there is none.
func (pc *podCluster) deployFourAndPickVictim(tb testing.TB) int {
	tb.Helper()
	kc := []string{"--kubeconfig", pc.kubeconfig}
	pc.mustShoal(append([]string{"create", "deployment", bootcamp, "--image=gcr.io/google-samples/kubernetes-bootcamp:v1", "--replicas=4"}, kc...)...)
	pc.mustShoal(append([]string{"rollout", "status", "deployments/" + bootcamp, "--timeout", "120s"}, kc...)...)
	leader := pc.leaderIndex()
	pods, _ := pc.podList("app=" + bootcamp)
	for _, p := range pods {
		if i := nodeIndex(p.Spec.NodeName); i != leader && i != 0 {
			return i
		}
	}
	tb.Skipf("no pod on a node other than the leader and node-0: %v", pods)
	return -1
}

// TestNodeLoss kills a node like a lost machine: its pods come back on the
// other nodes and the deployment is fully available again.
func TestNodeLoss(t *testing.T) {
	if testing.Short() {
		t.Skip("e2e: skipped in -short")
	}
	pc := startPodCluster(t, 3)
	kc := []string{"--kubeconfig", pc.kubeconfig}
	// Every kubelet keeps its node's lease, as in Kubernetes.
	waitFor(t, 30*time.Second, "a lease per node in kube-node-lease", func() error {
		out, err := pc.shoal(append([]string{"get", "leases", "-n", "kube-node-lease"}, kc...)...)
		if err != nil {
			return err
		}
		for _, want := range []string{"HOLDER", pc.agents[0].name, pc.agents[1].name, pc.agents[2].name} {
			if !strings.Contains(out, want) {
				return fmt.Errorf("no %q in:\n%s", want, out)
			}
		}
		return nil
	})
	victim := pc.deployFourAndPickVictim(t)
	pc.killNode(victim)
	took := pc.deploymentReady(t, 4, pc.agents[victim].name, 90*time.Second)
	t.Logf("node %s lost: 4 pods ready on the others after %s", pc.agents[victim].name, took)
	out := pc.mustShoal(append([]string{"get", "nodes"}, kc...)...)
	contains(t, "get nodes", out, pc.agents[victim].name, "NotReady")
	out = pc.mustShoal(append([]string{"get", "deploy", bootcamp}, kc...)...)
	contains(t, "get deploy", out, "4/4")
}

// TestLeaderLossDuringRollout kills the leader in the middle of a rolling
// update: the rollout completes under the new leader.
func TestLeaderLossDuringRollout(t *testing.T) {
	if testing.Short() {
		t.Skip("e2e: skipped in -short")
	}
	pc := startPodCluster(t, 3)
	pc.clientNS = pc.lab.nodes[0]
	kc := []string{"--kubeconfig", pc.kubeconfig}
	pc.mustShoal(append([]string{"create", "deployment", bootcamp, "--image=gcr.io/google-samples/kubernetes-bootcamp:v1", "--replicas=4"}, kc...)...)
	pc.mustShoal(append([]string{"rollout", "status", "deployments/" + bootcamp, "--timeout", "120s"}, kc...)...)
	leader := pc.leaderIndex()
	survivor := (leader + 1) % 3
	pc.clientNS = pc.lab.nodes[survivor]
	// Every client command from now on talks to the survivor.
	kcfg := pc.mustShoal("kubeconfig", "--data-dir", pc.agents[survivor].dataDir)
	if err := os.WriteFile(pc.kubeconfig, []byte(kcfg), 0o600); err != nil {
		t.Fatal(err)
	}
	pc.mustShoal(append([]string{"set", "image", "deployments/" + bootcamp, bootcamp + "=gcr.io/google-samples/kubernetes-bootcamp:v2"}, kc...)...)
	pc.killNode(leader)
	out := pc.mustShoal(append([]string{"rollout", "status", "deployments/" + bootcamp, "--timeout", "180s"}, kc...)...)
	contains(t, "rollout status after the leader died", out, "successfully rolled out")
	pc.deploymentReady(t, 4, pc.agents[leader].name, 90*time.Second)
}
