package cli

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestServiceUnitVerifies runs `systemd-analyze verify` on
// contrib/shoal.service, with ExecStart pointed at an executable that
// exists (the unit names /usr/local/bin/shoal, which a test machine need
// not have), so what is checked is the unit's syntax and directives.
func TestServiceUnitVerifies(t *testing.T) {
	analyze, err := exec.LookPath("systemd-analyze")
	if err != nil {
		t.Skip("systemd-analyze is not installed: this host has no systemd to verify the unit against")
	}
	unit, err := os.ReadFile("../contrib/shoal.service")
	if err != nil {
		t.Fatal(err)
	}
	const bin = "/usr/local/bin/shoal"
	if !strings.Contains(string(unit), "ExecStart="+bin+" agent --config /etc/shoal/config.yaml") {
		t.Fatalf("ExecStart does not run %s agent --config /etc/shoal/config.yaml", bin)
	}
	for _, d := range []string{"Restart=on-failure", "KillMode=process", "Delegate=yes", "After=network-online.target"} {
		if !strings.Contains(string(unit), "\n"+d+"\n") {
			t.Errorf("the unit lacks %s", d)
		}
	}
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(t.TempDir(), "shoal.service")
	if err := os.WriteFile(p, []byte(strings.ReplaceAll(string(unit), bin, self)), 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(analyze, "verify", p).CombinedOutput()
	// verify exits 0 on warnings too: any line about our unit is a finding.
	if err != nil || strings.Contains(string(out), "shoal.service") {
		t.Fatalf("systemd-analyze verify: %v\n%s", err, out)
	}
	t.Logf("systemd-analyze verify: ok\n%s", out)
}
