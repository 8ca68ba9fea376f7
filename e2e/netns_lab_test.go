package e2e

import (
	"net"
	"os/exec"
	"strings"
	"testing"
)

// TestNetLab checks the test network itself: nodes reach each other and
// the hub, and the namespaces are gone after the test.
func TestNetLab(t *testing.T) {
	requireRoot(t)
	var names []string
	t.Run("lab", func(t *testing.T) {
		lab := newNetLab(t, 2)
		names = append([]string{lab.hub}, lab.nodes...)
		// A TCP listener in node 1, reached from node 0.
		out, err := lab.run(lab.nodes[0], "sh", "-c", "ip -4 addr show eth0")
		if err != nil || !strings.Contains(out, lab.NodeIP(0)) {
			t.Fatalf("node 0 address: %v\n%s", err, out)
		}
		srv := lab.start(lab.nodes[1], nil, "busybox", "nc", "-l", "-p", "7000", "-e", "echo", "hello")
		defer srv.Process.Kill()
		waitFor(t, 10e9, "node 1's listener", func() error {
			out, err := lab.run(lab.nodes[0], "busybox", "nc", "-w", "2", lab.NodeIP(1), "7000")
			if err != nil {
				return err
			}
			if !strings.Contains(out, "hello") {
				return errString("got " + out)
			}
			return nil
		})
	})
	out, _ := exec.Command("ip", "netns", "list").Output()
	for _, n := range names {
		if strings.Contains(string(out), n) {
			t.Fatalf("namespace %s left behind", n)
		}
	}
	if _, err := net.InterfaceByName("br0"); err == nil {
		t.Fatal("a br0 bridge exists in the machine's namespace")
	}
}
