package e2e

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
)

// TestPodsOnContainerd runs real pods on three real agents (containerd,
// runc, CNI), each node in its own network namespace, and checks what a
// user would: status columns, cgroup limits, shared volumes and localhost,
// image pull and crash back-off, logs and exec through another peer, and
// the clean-up of a deleted pod.
func TestPodsOnContainerd(t *testing.T) {
	if testing.Short() {
		t.Skip("e2e: skipped in -short")
	}
	pc := startPodCluster(t, 3)
	manifests, _ := filepath.Abs("../testdata/manifests")

	t.Run("node-status-from-the-kubelet", func(t *testing.T) {
		waitFor(t, 30*time.Second, "nodeInfo reported by every kubelet", func() error {
			out, err := pc.get("nodes", "-o", "wide")
			if err != nil {
				return err
			}
			if strings.Count(out, "containerd://") != 3 || strings.Contains(out, "<unknown>") {
				return fmt.Errorf("%s", out)
			}
			return nil
		})
		out, _ := pc.get("nodes", "-o", "wide")
		contains(t, "get nodes -o wide", out, "OS-IMAGE", "KERNEL-VERSION", "CONTAINER-RUNTIME", pc.lab.NodeIP(1))
		node := pc.mustShoal("get", "node", pc.agents[1].name, "-o", "json", "--kubeconfig", pc.kubeconfig)
		contains(t, "node-1 status", node, `"ephemeral-storage"`, `"pods": "110"`, `"type": "InternalIP"`)
	})

	t.Run("memory-demo", func(t *testing.T) {
		pc.mustShoal("apply", "-f", filepath.Join(manifests, "memory-demo.yaml"), "--kubeconfig", pc.kubeconfig)
		out := pc.waitPod("mem-example", "memory-demo", "Running", 90*time.Second)
		contains(t, "get pod", out, "NAME", "READY", "STATUS", "RESTARTS", "AGE", "1/1")
		limit := pc.mustShoal("exec", "-n", "mem-example", "memory-demo", "--kubeconfig", pc.kubeconfig, "--",
			"sh", "-c", "cat /sys/fs/cgroup/memory/memory.limit_in_bytes 2>/dev/null || cat /sys/fs/cgroup/memory.max")
		if strings.TrimSpace(limit) != "209715200" {
			t.Fatalf("container memory limit = %q, want 209715200 (200Mi)", limit)
		}
		mounts := pc.mustShoal("exec", "-n", "mem-example", "memory-demo", "--kubeconfig", pc.kubeconfig, "--", "sh", "-c", "grep /data/redis /proc/mounts")
		contains(t, "the emptyDir is mounted", mounts, "/data/redis")
	})

	t.Run("oom-killed", func(t *testing.T) {
		manifest := filepath.Join(t.TempDir(), "oom.yaml")
		orig, _ := os.ReadFile(filepath.Join(manifests, "memory-demo.yaml"))
		m := strings.NewReplacer("name: memory-demo\n", "name: memory-hog\n", `"150M"`, `"250M"`).Replace(string(orig))
		os.WriteFile(manifest, []byte(m), 0o600)
		pc.mustShoal("apply", "-f", manifest, "--kubeconfig", pc.kubeconfig)
		waitFor(t, 120*time.Second, "memory-hog OOMKilled with restarts", func() error {
			p, err := pc.tryPod("mem-example", "memory-hog")
			if err != nil {
				return err
			}
			if len(p.Status.ContainerStatuses) == 0 {
				return fmt.Errorf("no container status yet")
			}
			cs := p.Status.ContainerStatuses[0]
			term := cs.LastTerminationState.Terminated
			if term == nil && cs.State.Terminated != nil {
				term = cs.State.Terminated
			}
			if term == nil || term.Reason != "OOMKilled" || cs.RestartCount < 1 {
				return fmt.Errorf("restarts %d, state %+v, last %+v", cs.RestartCount, cs.State, cs.LastTerminationState)
			}
			return nil
		})
	})

	t.Run("two-containers", func(t *testing.T) {
		pc.mustShoal("apply", "-f", filepath.Join(manifests, "two-containers.yaml"), "--kubeconfig", pc.kubeconfig)
		out := pc.waitPod("default", "two-containers", "2/2", 90*time.Second)
		contains(t, "get pod", out, "Running")
		waitFor(t, 30*time.Second, "B fetched A's file over localhost into the shared volume", func() error {
			got, err := pc.shoal("exec", "two-containers", "-c", "a", "--kubeconfig", pc.kubeconfig, "--", "cat", "/shared/b-got")
			if err != nil {
				return err
			}
			if strings.TrimSpace(got) != "from-a" {
				return fmt.Errorf("/shared/b-got seen from A = %q", got)
			}
			return nil
		})
		got := pc.mustShoal("exec", "two-containers", "-c", "b", "--kubeconfig", pc.kubeconfig, "--", "cat", "/shared/from-a")
		if strings.TrimSpace(got) != "from-a" {
			t.Fatalf("/shared/from-a seen from B = %q", got)
		}
	})

	t.Run("image-pull-backoff", func(t *testing.T) {
		pc.podFromYAML(t, `apiVersion: v1
kind: Pod
metadata:
  name: no-such-tag
spec:
  containers:
  - name: app
    image: gcr.io/google-samples/kubernetes-bootcamp:no-such-tag
`)
		pc.waitPod("default", "no-such-tag", "ImagePullBackOff", 90*time.Second)
		if _, err := exec.LookPath(kubectlBin()); err == nil {
			waitFor(t, 30*time.Second, "kubectl shows ImagePullBackOff", func() error {
				out, err := pc.kubectl("get", "pods", "no-such-tag")
				if err == nil && !strings.Contains(out, "ImagePullBackOff") && !strings.Contains(out, "ErrImagePull") {
					err = fmt.Errorf("%s", out)
				}
				return err
			})
		}
		out := pc.mustShoal("describe", "pod", "no-such-tag", "--kubeconfig", pc.kubeconfig)
		contains(t, "describe pod", out, "Failed to pull image", "Back-off pulling image", "ImagePullBackOff")
	})

	t.Run("logs-and-exec-through-another-peer", func(t *testing.T) {
		pc.podFromYAML(t, `apiVersion: v1
kind: Pod
metadata:
  name: bootcamp
spec:
  containers:
  - name: app
    image: gcr.io/google-samples/kubernetes-bootcamp:v1
    env:
    - name: GREETING
      value: hello-from-env
`)
		pc.waitPod("default", "bootcamp", "Running", 90*time.Second)
		p := pc.pod("default", "bootcamp")
		other := pc.otherPeer(p.Spec.NodeName)
		logs := pc.mustShoal("logs", "bootcamp", "--kubeconfig", pc.kubeconfig, "--server", other)
		contains(t, "shoal logs", logs, "Kubernetes Bootcamp App Started At: port 8080")
		env := pc.mustShoal("exec", "bootcamp", "--kubeconfig", pc.kubeconfig, "--server", other, "--", "env")
		contains(t, "shoal exec env", env, "GREETING=hello-from-env")
		if _, err := exec.LookPath(kubectlBin()); err != nil {
			t.Log("kubectl absent: skipping the kubectl steps")
			return
		}
		env = pc.mustKubectl("--server", other, "exec", "bootcamp", "--", "env")
		contains(t, "kubectl exec env", env, "GREETING=hello-from-env")
		out, _ := pc.kubectlFor(5*time.Second, "--server", other, "logs", "-f", "bootcamp")
		contains(t, "kubectl logs -f", out, "Kubernetes Bootcamp App Started At")
		pc.interactiveShell(t, other, "bootcamp")

		// kubectl proxy, then the tutorial's curl to the pod through the API.
		kp := pc.lab.start(pc.lab.nodes[0], nil, kubectlBin(), "--kubeconfig", pc.kubeconfig, "--server", other, "proxy", "--port=8001")
		defer kp.Process.Kill()
		waitFor(t, 20*time.Second, "the app's answer through kubectl proxy", func() error {
			out, err := pc.sh(0, "timeout 3 busybox wget -qO- http://127.0.0.1:8001/api/v1/namespaces/default/pods/bootcamp:8080/proxy/")
			if err != nil {
				return err
			}
			if !strings.Contains(out, "Hello Kubernetes bootcamp! | Running on: bootcamp | v=v1") {
				return fmt.Errorf("answer %q", out)
			}
			return nil
		})
		out, err := pc.sh(0, "timeout 3 busybox wget -qO- http://127.0.0.1:8001/version")
		if err != nil || !strings.Contains(out, `"gitVersion"`) {
			t.Fatalf("curl /version through kubectl proxy: %v %s", err, out)
		}

		// kubectl port-forward through another peer, then the app locally.
		pf := pc.lab.start(pc.lab.nodes[0], nil, kubectlBin(), "--kubeconfig", pc.kubeconfig, "--server", other, "port-forward", "pod/bootcamp", "18080:8080")
		defer pf.Process.Kill()
		waitFor(t, 20*time.Second, "the app through kubectl port-forward", func() error {
			out, err := pc.sh(0, "timeout 3 busybox wget -qO- http://127.0.0.1:18080/")
			if err == nil && !strings.Contains(out, "Running on: bootcamp") {
				err = fmt.Errorf("answer %q", out)
			}
			return err
		})
	})

	t.Run("agent-restart-keeps-pods", func(t *testing.T) {
		before := pc.pod("default", "bootcamp")
		i := nodeIndex(before.Spec.NodeName)
		a := pc.agents[i]
		a.cmd.Process.Signal(os.Interrupt)
		select {
		case <-a.done:
		case <-time.After(30 * time.Second):
			t.Fatalf("%s did not stop", a.name)
		}
		if out, err := pc.sh(i, "timeout 3 busybox wget -qO- http://"+before.Status.PodIP+":8080/"); err != nil || !strings.Contains(out, "Hello Kubernetes bootcamp") {
			t.Fatalf("while the agent is down the pod should keep serving: %v %s", err, out)
		}
		a.done = make(chan struct{})
		a.log.Reset()
		pc.run(a, "agent", pc.mirrors...)
		waitFor(t, 60*time.Second, "the restarted agent's pod Running again, not restarted", func() error {
			p, err := pc.tryPod("default", "bootcamp")
			if err != nil {
				return err
			}
			if p.Status.Phase != corev1.PodRunning || len(p.Status.ContainerStatuses) == 0 || !p.Status.ContainerStatuses[0].Ready {
				return fmt.Errorf("phase %s, statuses %+v", p.Status.Phase, p.Status.ContainerStatuses)
			}
			cs, was := p.Status.ContainerStatuses[0], before.Status.ContainerStatuses[0]
			if cs.ContainerID != was.ContainerID || cs.RestartCount != 0 {
				return fmt.Errorf("container %s (restarts %d), was %s", cs.ContainerID, cs.RestartCount, was.ContainerID)
			}
			return nil
		})
		// The restarted agent serves the pod's log again once its runtime
		// is back: the same log, so the container was not restarted.
		waitFor(t, 60*time.Second, "the log of the adopted container", func() error {
			logs, err := pc.shoal("logs", "bootcamp", "--kubeconfig", pc.kubeconfig)
			if err != nil {
				return err
			}
			if n := strings.Count(logs, "Kubernetes Bootcamp App Started At"); n != 1 {
				return fmt.Errorf("%d start lines in:\n%s", n, logs)
			}
			return nil
		})
		p := pc.pod("default", "bootcamp")
		if cs := p.Status.ContainerStatuses[0]; cs.ContainerID != before.Status.ContainerStatuses[0].ContainerID || cs.RestartCount != 0 {
			t.Fatalf("after the agent restart the container is %s with %d restarts; before it was %s", cs.ContainerID, cs.RestartCount, before.Status.ContainerStatuses[0].ContainerID)
		}
	})

	t.Run("crash-loop", func(t *testing.T) {
		pc.podFromYAML(t, `apiVersion: v1
kind: Pod
metadata:
  name: crasher
spec:
  containers:
  - name: app
    image: busybox
    command: ["sh", "-c", "echo about to fail; exit 1"]
`)
		waitFor(t, 120*time.Second, "CrashLoopBackOff with a growing restart count", func() error {
			out, err := pc.get("pod", "crasher")
			if err != nil {
				return err
			}
			p, err := pc.tryPod("default", "crasher")
			if err != nil {
				return err
			}
			if !strings.Contains(out, "CrashLoopBackOff") || len(p.Status.ContainerStatuses) == 0 || p.Status.ContainerStatuses[0].RestartCount < 2 {
				return fmt.Errorf("%s", out)
			}
			return nil
		})
	})

	t.Run("delete-cleans-up", func(t *testing.T) {
		p := pc.pod("default", "bootcamp")
		node := nodeIndex(p.Spec.NodeName)
		ip := p.Status.PodIP
		dataDir := pc.agents[node].dataDir
		ipam := filepath.Join(dataDir, "cni", "ipam", "shoal", ip)
		if _, err := os.Stat(ipam); err != nil {
			t.Fatalf("before delete: the pod's address %s is not allocated: %v", ip, err)
		}
		netnsDir := filepath.Join(dataDir, "pods", "netns") + "/"
		before := mountsUnder(netnsDir)
		allBefore := mountsUnder(dataDir + "/")
		pc.mustShoal("delete", "pod", "bootcamp", "--kubeconfig", pc.kubeconfig)
		if _, err := pc.get("pod", "bootcamp"); err == nil {
			t.Fatal("the pod object still exists after delete returned")
		}
		if _, err := os.Stat(ipam); !os.IsNotExist(err) {
			t.Fatalf("after delete: the address %s is still allocated (%v)", ip, err)
		}
		after := mountsUnder(netnsDir)
		if len(after) != len(before)-1 {
			t.Fatalf("after delete: netns mounts under %s: before %v, after %v: want exactly the pod's gone", netnsDir, before, after)
		}
		// The netns and the container's root file system.
		if allAfter := mountsUnder(dataDir + "/"); len(allAfter) > len(allBefore)-2 {
			t.Fatalf("after delete: %d mounts under %s, before %d: want the pod's netns and rootfs gone", len(allAfter), dataDir, len(allBefore))
		}
		if out, _ := exec.Command("pgrep", "-f", "/bootcamp").Output(); len(out) > 0 {
			// Other tests' bootcamp pods may run; none should be this one's.
			t.Logf("bootcamp processes still running (other pods): %s", out)
		}
		if out, _ := pc.sh(node, "timeout 3 busybox wget -qO- http://"+ip+":8080/ 2>&1"); strings.Contains(out, "Hello") {
			t.Fatalf("after delete: the pod still answers on %s", ip)
		}
	})

	t.Run("unschedulable", func(t *testing.T) {
		pc.podFromYAML(t, `apiVersion: v1
kind: Pod
metadata:
  name: too-big
spec:
  containers:
  - name: app
    image: busybox
    resources:
      requests:
        memory: 100Ti
`)
		waitFor(t, 30*time.Second, "PodScheduled=False with the reason", func() error {
			p, err := pc.tryPod("default", "too-big")
			if err != nil {
				return err
			}
			for _, c := range p.Status.Conditions {
				if c.Type == corev1.PodScheduled && c.Status == corev1.ConditionFalse && c.Reason == "Unschedulable" && strings.Contains(c.Message, "Insufficient memory") {
					return nil
				}
			}
			return fmt.Errorf("conditions %+v", p.Status.Conditions)
		})
		out := pc.mustShoal("get", "pod", "too-big", "--kubeconfig", pc.kubeconfig)
		contains(t, "get pod", out, "Pending")
	})
}

// mountsUnder lists the mount points below dir.
func mountsUnder(dir string) []string {
	b, _ := os.ReadFile("/proc/self/mountinfo")
	var out []string
	for _, line := range strings.Split(string(b), "\n") {
		if f := strings.Fields(line); len(f) > 4 && strings.HasPrefix(f[4], dir) {
			out = append(out, f[4])
		}
	}
	return out
}

// nodeIndex reads i from a lab node's name, node-<i>-<lab id>. The lab id
// keeps two labs on one machine from sharing node names, and so containerd
// namespaces and cgroups.
func nodeIndex(name string) int {
	var i int
	fmt.Sscanf(name, "node-%d", &i)
	return i
}

// otherPeer is the API URL of a node other than the named one.
func (pc *podCluster) otherPeer(nodeName string) string {
	i := (nodeIndex(nodeName) + 1) % len(pc.agents)
	return "https://" + pc.lab.NodeIP(i) + ":6443"
}

// podFromYAML applies a manifest given inline.
func (pc *podCluster) podFromYAML(t *testing.T, manifest string) {
	t.Helper()
	f := filepath.Join(t.TempDir(), "pod.yaml")
	if err := os.WriteFile(f, []byte(manifest), 0o600); err != nil {
		t.Fatal(err)
	}
	pc.mustShoal("apply", "-f", f, "--kubeconfig", pc.kubeconfig)
}
