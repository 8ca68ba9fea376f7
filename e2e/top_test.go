package e2e

import (
	"fmt"
	"os/exec"
	"regexp"
	goruntime "runtime"
	"strconv"
	"strings"
	"testing"
	"time"
)

// TestTop checks the resource metrics pipeline on three real nodes: kubectl
// top and shoal top print kubectl's columns, a pod burning a core shows
// far more CPU than an idle one, and its node's figure moves up.
func TestTop(t *testing.T) {
	if testing.Short() {
		t.Skip("e2e: skipped in -short")
	}
	if _, err := exec.LookPath(kubectlBin()); err != nil {
		t.Skip("kubectl is not installed on this machine")
	}
	pc := startPodCluster(t, 3)

	pc.podFromYAML(t, `apiVersion: v1
kind: Pod
metadata:
  name: idle
  labels: {app: top-test}
spec:
  containers:
  - name: idle
    image: busybox
    command: ["sleep", "3600"]
`)
	pc.waitPod("default", "idle", "Running", 60*time.Second)

	// The machine's CPU before the burner starts: the lowest of a few
	// readings of every node (the nodes share the machine; other work on
	// it comes and goes).
	baseline := map[string]int{}
	for i := 0; i < 3; i++ {
		var rows map[string][]string
		waitFor(t, 30*time.Second, "kubectl top nodes with every node", func() error {
			out, err := pc.kubectl("top", "nodes")
			if err != nil {
				return err
			}
			rows = topRows(out)
			if len(rows) != 4 || strings.Join(rows["NAME"], " ") != "CPU(cores) CPU(%) MEMORY(bytes) MEMORY(%)" {
				return fmt.Errorf("want a header and 3 nodes:\n%s", out)
			}
			for _, a := range pc.agents {
				if r := rows[a.name]; len(r) != 4 || !regexp.MustCompile(`^\d+m$`).MatchString(r[0]) || !strings.HasSuffix(r[1], "%") || !strings.HasSuffix(r[2], "Mi") {
					return fmt.Errorf("node %s: %q in:\n%s", a.name, r, out)
				}
			}
			return nil
		})
		for name, r := range rows {
			if name == "NAME" {
				continue
			}
			if m := milli(t, r[0]); i == 0 || m < baseline[name] {
				baseline[name] = m
			}
		}
		time.Sleep(1500 * time.Millisecond)
	}

	pc.podFromYAML(t, `apiVersion: v1
kind: Pod
metadata:
  name: burner
  labels: {app: top-test}
spec:
  containers:
  - name: stress
    image: polinux/stress
    command: ["stress"]
    args: ["--cpu", "1"]
`)
	pc.waitPod("default", "burner", "Running", 60*time.Second)
	node := pc.pod("default", "burner").Spec.NodeName

	var out string
	waitFor(t, 40*time.Second, "kubectl top pods: burner >= 200m, idle < 50m", func() error {
		var err error
		out, err = pc.kubectl("top", "pods")
		if err != nil {
			return err
		}
		rows := topRows(out)
		if strings.Join(rows["NAME"], " ") != "CPU(cores) MEMORY(bytes)" || len(rows["burner"]) != 2 || len(rows["idle"]) != 2 {
			return fmt.Errorf("want burner and idle:\n%s", out)
		}
		if b, i := milli(t, rows["burner"][0]), milli(t, rows["idle"][0]); b < 200 || i >= 50 {
			return fmt.Errorf("burner %dm, idle %dm:\n%s", b, i, out)
		}
		return nil
	})
	t.Logf("kubectl top pods:\n%s", out)

	// The node's figure is the machine's: it holds the burner's core, and
	// it rises by most of a core unless the machine was already near full
	// (other work on a shared test machine), where it cannot.
	burner := milli(t, topRows(out)["burner"][0])
	capacity := goruntime.NumCPU() * 1000
	rises := baseline[node]+300 <= capacity-200
	waitFor(t, 40*time.Second, fmt.Sprintf("kubectl top node %s: at least the burner's %dm, above its idle %dm", node, burner, baseline[node]), func() error {
		var err error
		out, err = pc.kubectl("top", "node", node)
		if err != nil {
			return err
		}
		r := topRows(out)[node]
		if len(r) != 4 {
			return fmt.Errorf("%s", out)
		}
		m := milli(t, r[0])
		if m < burner*8/10 || rises && m < baseline[node]+300 {
			return fmt.Errorf("%dm, idle %dm, burner %dm:\n%s", m, baseline[node], burner, out)
		}
		return nil
	})
	if !rises {
		t.Logf("the machine was near full before the burner (%dm of %dm): not checking that the node figure rose", baseline[node], capacity)
	}
	t.Logf("kubectl top node %s (idle %dm):\n%s", node, baseline[node], out)

	// kubectl's other shapes, and shoal's own command with the same columns.
	out = pc.mustKubectl("top", "pod", "burner", "--containers")
	contains(t, "kubectl top pod --containers", out, "POD", "NAME", "CPU(cores)", "MEMORY(bytes)", "burner", "stress")
	out = pc.mustKubectl("top", "pods", "-A", "-l", "app=top-test")
	contains(t, "kubectl top pods -A -l", out, "NAMESPACE", "default", "burner", "idle")
	out = pc.mustShoal("top", "nodes", "--kubeconfig", pc.kubeconfig)
	contains(t, "shoal top nodes", out, "NAME", "CPU(cores)", "CPU(%)", "MEMORY(bytes)", "MEMORY(%)", pc.agents[0].name, pc.agents[1].name, pc.agents[2].name)
	out = pc.mustShoal("top", "pods", "--kubeconfig", pc.kubeconfig)
	rows := topRows(out)
	if strings.Join(rows["NAME"], " ") != "CPU(cores) MEMORY(bytes)" || len(rows["burner"]) != 2 || milli(t, rows["burner"][0]) < 200 {
		t.Fatalf("shoal top pods:\n%s", out)
	}
	if out, err := pc.kubectl("top", "pod", "nope"); err == nil || !strings.Contains(out, `pods "nope" not found`) {
		t.Fatalf("kubectl top pod nope: %v\n%s", err, out)
	}
}

// topRows splits top's output into rows keyed by their first column.
func topRows(out string) map[string][]string {
	rows := map[string][]string{}
	for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
		if f := strings.Fields(line); len(f) > 0 {
			rows[f[0]] = f[1:]
		}
	}
	return rows
}

// milli reads a "250m" CPU figure.
func milli(t *testing.T, s string) int {
	t.Helper()
	n, err := strconv.Atoi(strings.TrimSuffix(s, "m"))
	if err != nil {
		t.Fatalf("CPU figure %q: %v", s, err)
	}
	return n
}
