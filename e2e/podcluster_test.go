package e2e

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"

	"github.com/shoal-project/shoal/internal/testimage"
)

// registryPort is where the test registry listens on the hub bridge.
const registryPort = "5000"

// podCluster is a cluster whose agents run pods: every node in its own
// network namespace of a netLab, images served by a test registry on the
// hub through --registry-mirror.
type podCluster struct {
	*cluster
	lab *netLab
	reg *testimage.Registry
	// mirrors are the agents' --registry-mirror flags.
	mirrors []string
}

// startPodCluster starts n agents in a fresh lab, with the tutorial's and
// the seed's image names served by the test registry.
func startPodCluster(t testing.TB, n int) *podCluster {
	t.Helper()
	requireRoot(t)
	dir := t.TempDir() // removed last, after the mounts below it are gone
	lab := newNetLab(t, n)
	c := &cluster{t: t, dir: dir, clientNS: lab.nodes[0]}
	pc := &podCluster{cluster: c, lab: lab}
	t.Cleanup(func() {
		// Agents first (SIGTERM), then whatever they left running in the
		// namespaces (containerd, shims, containers), then their mounts.
		c.stop()
		lab.killAll()
		var names []string
		for _, a := range c.agents {
			names = append(names, a.name)
		}
		killContainersOf(names)
		time.Sleep(200 * time.Millisecond)
		for _, a := range c.agents {
			cleanDir(a.dataDir)
		}
	})

	pc.reg = testimage.StartRegistry(t, "127.0.0.1:0")
	l, err := listenIn(lab.hub, lab.HubIP()+":"+registryPort)
	if err != nil {
		t.Fatalf("registry listener in the hub: %v", err)
	}
	pc.reg.ServeOn(l)
	pc.reg.Push(t, "google-samples/kubernetes-bootcamp:v1", testimage.Bootcamp(t, "v1"))
	pc.reg.Push(t, "google-samples/kubernetes-bootcamp:v2", testimage.Bootcamp(t, "v2"))
	pc.reg.Push(t, "jocatalin/kubernetes-bootcamp:v2", testimage.Bootcamp(t, "v2")) // the tutorial's v2
	pc.reg.Push(t, "library/busybox:latest", testimage.Busybox(t))
	pc.reg.Push(t, "polinux/stress:latest", testimage.Stress(t))

	mirror := "http://" + lab.HubIP() + ":" + registryPort
	mirrors := []string{"--registry-mirror", "gcr.io=" + mirror, "--registry-mirror", "docker.io=" + mirror}
	pc.mirrors = mirrors
	for i := 0; i < n; i++ {
		a := &agent{ns: lab.nodes[i], name: fmt.Sprintf("node-%d-%s", i, lab.id), dataDir: filepath.Join(dir, fmt.Sprintf("node-%d", i)),
			ip: lab.NodeIP(i), gossip: 7946, raft: 7947, api: 6443, log: &syncBuffer{}, done: make(chan struct{})}
		c.agents = append(c.agents, a)
		if i == 0 {
			c.run(a, "agent", mirrors...)
			waitFor(t, 30*time.Second, "the first agent's join token", func() error {
				_, err := os.Stat(filepath.Join(a.dataDir, "agent.json"))
				return err
			})
			continue
		}
		out := c.mustShoal("token", "--data-dir", c.agents[0].dataDir)
		join := strings.Fields(out)
		c.run(a, "join", append([]string{join[2], "--token", join[4]}, mirrors...)...)
	}
	kc := c.mustShoal("kubeconfig", "--data-dir", c.agents[0].dataDir)
	c.kubeconfig = filepath.Join(dir, "kubeconfig")
	if err := os.WriteFile(c.kubeconfig, []byte(kc), 0o600); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 90*time.Second, fmt.Sprintf("%d Ready nodes", n), func() error {
		out, err := c.shoal("get", "nodes", "--kubeconfig", c.kubeconfig)
		if err != nil {
			return err
		}
		if got := strings.Count(out, " Ready "); got != n {
			return fmt.Errorf("%d Ready nodes in:\n%s", got, out)
		}
		return nil
	})
	// A test that kills the leader needs a quorum left: wait until the
	// voter set is full (the default --voters 3, an odd count: 1 of 2
	// nodes), not only the nodes Ready.
	wantVoters := min(n, 3)
	if wantVoters%2 == 0 {
		wantVoters--
	}
	waitFor(t, 60*time.Second, fmt.Sprintf("%d raft voters", wantVoters), func() error {
		out, err := c.shoal("get", "nodes", "-o", "json", "--kubeconfig", c.kubeconfig)
		if err != nil {
			return err
		}
		var list corev1.NodeList
		if err := json.Unmarshal([]byte(out), &list); err != nil {
			return fmt.Errorf("decode nodes: %v\n%s", err, out)
		}
		voters := 0
		for _, nd := range list.Items {
			if r := roleOf(nd); r == "leader" || r == "voter" {
				voters++
			}
		}
		if voters != wantVoters {
			return fmt.Errorf("%d voters of %d: %s", voters, wantVoters, describeNodes(list.Items))
		}
		return nil
	})
	waitFor(t, 30*time.Second, "the kubernetes Service", func() error {
		_, err := c.shoal("get", "svc", "kubernetes", "--kubeconfig", c.kubeconfig)
		return err
	})
	return pc
}

// sh runs a shell command inside node i's namespace.
func (pc *podCluster) sh(i int, script string) (string, error) {
	return pc.lab.run(pc.lab.nodes[i], "sh", "-c", script)
}

// get runs `shoal get` with the cluster's kubeconfig.
func (pc *podCluster) get(args ...string) (string, error) {
	return pc.shoal(append([]string{"get", "--kubeconfig", pc.kubeconfig}, args...)...)
}

// waitPod waits until `shoal get pod NAME` shows want in its STATUS.
func (pc *podCluster) waitPod(ns, name, want string, timeout time.Duration) string {
	pc.t.Helper()
	var last string
	waitFor(pc.t, timeout, fmt.Sprintf("pod %s/%s %s", ns, name, want), func() error {
		out, err := pc.get("pod", name, "-n", ns)
		last = out
		if err != nil {
			return err
		}
		if !strings.Contains(out, want) {
			return fmt.Errorf("status:\n%s", out)
		}
		return nil
	})
	return last
}

// pod reads a pod as JSON through shoal get -o json.
func (pc *podCluster) pod(ns, name string) *corev1.Pod {
	pc.t.Helper()
	p, err := pc.tryPod(ns, name)
	if err != nil {
		pc.t.Fatal(err)
	}
	return p
}

// tryPod is pod for polling loops: errors come back.
func (pc *podCluster) tryPod(ns, name string) (*corev1.Pod, error) {
	out, err := pc.get("pod", name, "-n", ns, "-o", "json")
	if err != nil {
		return nil, fmt.Errorf("get pod %s/%s: %w", ns, name, err)
	}
	var p corev1.Pod
	if err := json.Unmarshal([]byte(out), &p); err != nil {
		return nil, fmt.Errorf("decode pod %s/%s: %v\n%s", ns, name, err, out)
	}
	return &p, nil
}
