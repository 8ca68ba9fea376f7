package e2e

import (
	"os/exec"
	"testing"
)

// TestKubectlAuth: kubectl auth whoami and can-i, as a cluster admin sees
// them in Kubernetes.
func TestKubectlAuth(t *testing.T) {
	if testing.Short() {
		t.Skip("e2e: skipped in -short")
	}
	if _, err := exec.LookPath(kubectlBin()); err != nil {
		t.Skip("kubectl is not installed on this machine")
	}
	c := startCluster(t, 1)
	out := c.mustKubectl("auth", "whoami")
	contains(t, "kubectl auth whoami", out, "Username", "admin", "system:masters")
	out = c.mustKubectl("auth", "can-i", "create", "pods")
	contains(t, "kubectl auth can-i create pods", out, "yes")
	out = c.mustKubectl("auth", "can-i", "--list")
	contains(t, "kubectl auth can-i --list", out, "*.*", "[*]")
}
