package e2e

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
)

// cpLab is a cluster of control-plane-only agents (--run-pods=false), each
// in a network namespace of its own with its own address and the default
// ports, like machines: the recovery and backup tests kill, restart and
// replace agents at the same address, and their Services' cluster IPs
// exist only in the store. The CLI runs in the first namespace.
type cpLab struct {
	*cluster
	lab *netLab
	// agentBin is the binary of the agents agentAt makes ("" = shoalBin).
	agentBin string
}

// requireNetns skips tests that need root and ip (no container runtime).
func requireNetns(t testing.TB) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root: network namespaces")
	}
	if _, err := exec.LookPath("ip"); err != nil {
		t.Skip("needs ip on PATH")
	}
}

// newCPLab makes a lab with slots namespaces and no agents yet.
func newCPLab(t *testing.T, slots int) *cpLab {
	t.Helper()
	requireNetns(t)
	lab := newNetLab(t, slots)
	c := &cluster{t: t, dir: t.TempDir(), clientNS: lab.nodes[0]}
	t.Cleanup(c.stop) // before the lab's own cleanup, which kills what is left
	return &cpLab{cluster: c, lab: lab}
}

// agentAt is a new agent (not started) in slot i with its own data dir.
func (l *cpLab) agentAt(i int, name string) *agent {
	a := &agent{ns: l.lab.nodes[i], name: name, dataDir: filepath.Join(l.dir, name), ip: l.lab.NodeIP(i),
		gossip: 7946, raft: 7947, api: 6443, log: &syncBuffer{}, bin: l.agentBin}
	l.agents = append(l.agents, a)
	return a
}

// start runs `shoal VERB ARGS` as agent a (again, after a stop), as a
// control-plane-only member.
func (l *cpLab) start(a *agent, verb string, args ...string) {
	l.t.Helper()
	a.done = make(chan struct{})
	l.run(a, verb, append(args, "--run-pods=false")...)
}

// startCluster starts n agents in slots 0..n-1 (the first creates the
// cluster, the others join it), writes the kubeconfig and waits until
// every node is Ready and a voter.
func (l *cpLab) startCluster(n int) []*agent {
	l.t.Helper()
	var as []*agent
	for i := range n {
		a := l.agentAt(i, fmt.Sprintf("node-%d", i))
		as = append(as, a)
		if i == 0 {
			l.start(a, "agent")
			waitFor(l.t, 30*time.Second, "the first agent's join token", func() error {
				_, err := l.shoal("token", "--data-dir", a.dataDir)
				return err
			})
			continue
		}
		join := strings.Fields(l.mustShoal("token", "--data-dir", as[0].dataDir))
		l.start(a, "join", join[2], "--token", join[4])
	}
	l.kubeconfig = filepath.Join(l.dir, "kubeconfig")
	if err := os.WriteFile(l.kubeconfig, []byte(l.mustShoal("kubeconfig", "--data-dir", as[0].dataDir)), 0o600); err != nil {
		l.t.Fatal(err)
	}
	waitFor(l.t, 60*time.Second, fmt.Sprintf("%d Ready nodes, all raft voters", n), func() error {
		nodes, err := l.nodes(as[0])
		if err != nil {
			return err
		}
		voters := 0
		for _, nd := range nodes {
			if ready(nd) == corev1.ConditionTrue && (roleOf(nd) == "leader" || roleOf(nd) == "voter") {
				voters++
			}
		}
		if voters != n {
			return fmt.Errorf("%d Ready voters of %d: %s", voters, n, describeNodes(nodes))
		}
		return nil
	})
	return as
}

// kill loses agent a as a machine would: kill -9.
func (l *cpLab) kill(a *agent) {
	a.cmd.Process.Kill()
	<-a.done
}

// stopAgent stops agent a as its operator would (SIGTERM).
func (l *cpLab) stopAgent(a *agent) {
	a.cmd.Process.Signal(os.Interrupt)
	select {
	case <-a.done:
	case <-time.After(20 * time.Second):
		l.t.Errorf("%s did not stop within 20s of SIGTERM; killing it", a.name)
		a.cmd.Process.Kill()
		<-a.done
	}
}

// kc runs the CLI with the lab's kubeconfig against agent a's API.
func (l *cpLab) kc(a *agent, args ...string) (string, error) {
	return l.shoal(append(args, "--kubeconfig", l.kubeconfig, "--server", a.apiURL())...)
}

func (l *cpLab) mustKC(a *agent, args ...string) string {
	l.t.Helper()
	out, err := l.kc(a, args...)
	if err != nil {
		l.t.Fatal(err)
	}
	return out
}

// nodes reads the Node objects through agent a.
func (l *cpLab) nodes(a *agent) ([]corev1.Node, error) {
	out, err := l.kc(a, "get", "nodes", "-o", "json")
	if err != nil {
		return nil, err
	}
	var list corev1.NodeList
	if err := json.Unmarshal([]byte(out), &list); err != nil {
		return nil, fmt.Errorf("decode nodes: %v\n%s", err, out)
	}
	return list.Items, nil
}

// applyYAML applies manifest text through agent a.
func (l *cpLab) applyYAML(a *agent, name, manifest string) (string, error) {
	path := filepath.Join(l.dir, name+".yaml")
	if err := os.WriteFile(path, []byte(manifest), 0o600); err != nil {
		l.t.Fatal(err)
	}
	return l.kc(a, "apply", "-f", path)
}

func ready(n corev1.Node) corev1.ConditionStatus {
	for _, c := range n.Status.Conditions {
		if c.Type == corev1.NodeReady {
			return c.Status
		}
	}
	return ""
}

func roleOf(n corev1.Node) string { return n.Labels["shoal.io/raft-role"] }

func describeNodes(nodes []corev1.Node) string {
	var parts []string
	for _, n := range nodes {
		parts = append(parts, fmt.Sprintf("%s Ready=%s raft=%s gossip=%s", n.Name, ready(n), roleOf(n), n.Labels["shoal.io/gossip"]))
	}
	return strings.Join(parts, "; ")
}

// configMaps is a manifest of n ConfigMaps labelled test=LABEL.
func configMaps(label, prefix string, n int) string {
	var b strings.Builder
	for i := range n {
		fmt.Fprintf(&b, "---\napiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: %s-%02d\n  labels:\n    test: %s\ndata:\n  value: \"%s-%d\"\n", prefix, i, label, prefix, i)
	}
	return b.String()
}
