package network

import (
	"context"
	"fmt"
	"math/rand"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/shoal-project/shoal/runtime"
)

// The CNI test runs in two parts. The outer part (TestCNIAttachDetach)
// creates a network namespace that stands for the node, and re-runs this
// test binary inside it, so the bridge and every address live there and
// never in the machine's own namespace. The inner part does the work.
const innerEnv = "SHOAL_CNI_TEST_INNER"

func TestCNIAttachDetach(t *testing.T) {
	if os.Getenv(innerEnv) != "" {
		innerCNITest(t)
		return
	}
	if os.Geteuid() != 0 {
		t.Skip("needs root to create network namespaces")
	}
	if _, err := exec.LookPath("ip"); err != nil {
		t.Skip("needs iproute2's ip")
	}
	if !pluginExists(DefaultPluginDirs, "bridge") {
		t.Skip("needs the CNI plugins (containernetworking-plugins)")
	}
	nodeNS := fmt.Sprintf("shoal-cnitest-node-%d", rand.Intn(1e6))
	podNS := fmt.Sprintf("shoal-cnitest-pod-%d", rand.Intn(1e6))
	for _, ns := range []string{nodeNS, podNS} {
		if out, err := exec.Command("ip", "netns", "add", ns).CombinedOutput(); err != nil {
			t.Fatalf("ip netns add %s: %v: %s", ns, err, out)
		}
		t.Cleanup(func() { exec.Command("ip", "netns", "del", ns).Run() })
	}
	cmd := exec.Command("ip", "netns", "exec", nodeNS, os.Args[0], "-test.run", "^TestCNIAttachDetach$", "-test.v")
	cmd.Env = append(os.Environ(), innerEnv+"=1", "SHOAL_CNI_TEST_PODNS=/run/netns/"+podNS, "SHOAL_CNI_TEST_STATE="+t.TempDir())
	out, err := cmd.CombinedOutput()
	t.Logf("inside the node namespace:\n%s", out)
	if err != nil {
		t.Fatalf("inner test failed: %v", err)
	}
}

func innerCNITest(t *testing.T) {
	podNS := os.Getenv("SHOAL_CNI_TEST_PODNS")
	state := os.Getenv("SHOAL_CNI_TEST_STATE")
	c, err := NewCNI(CNIConfig{PodCIDR: "10.42.7.0/24", StateDir: state, Bridge: "shoaltest0"})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	pod := runtime.PodRef{Namespace: "default", Name: "p", UID: "uid-1"}
	ip, err := c.Setup(ctx, "sandbox-1", podNS, pod, nil)
	if err != nil {
		t.Fatal(err)
	}
	_, subnet, _ := net.ParseCIDR("10.42.7.0/24")
	if !subnet.Contains(net.ParseIP(ip)) || ip == "10.42.7.1" {
		t.Fatalf("pod IP %s: want a host address of 10.42.7.0/24 other than the gateway", ip)
	}
	// The bridge is the gateway, in this (the node's) namespace.
	out, err := exec.Command("ip", "-4", "addr", "show", "shoaltest0").CombinedOutput()
	if err != nil || !strings.Contains(string(out), "10.42.7.1/24") {
		t.Fatalf("bridge shoaltest0 with 10.42.7.1/24: %v\n%s", err, out)
	}
	// The pod answers from its namespace: ping the pod from the node.
	if out, err := exec.Command("ping", "-c1", "-W2", ip).CombinedOutput(); err != nil {
		if _, lerr := exec.LookPath("ping"); lerr == nil {
			t.Fatalf("ping %s from the node namespace: %v\n%s", ip, err, out)
		}
	}
	allocated := filepath.Join(state, "ipam", "shoal", ip)
	if _, err := os.Stat(allocated); err != nil {
		t.Fatalf("IPAM allocation file %s: %v", allocated, err)
	}
	if err := c.Teardown(ctx, "sandbox-1", podNS, pod); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(allocated); !os.IsNotExist(err) {
		t.Fatalf("after teardown the address is still allocated: %v", err)
	}
	out, _ = exec.Command("ip", "netns", "exec", filepath.Base(podNS), "ip", "link", "show", "eth0").CombinedOutput()
	if !strings.Contains(string(out), "does not exist") {
		t.Fatalf("after teardown eth0 still exists in the pod namespace:\n%s", out)
	}
	// A second teardown is fine.
	if err := c.Teardown(ctx, "sandbox-1", podNS, pod); err != nil {
		t.Fatalf("second teardown: %v", err)
	}
}
