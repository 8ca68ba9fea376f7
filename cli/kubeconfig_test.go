package cli

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"k8s.io/client-go/tools/clientcmd"
)

func TestKubeconfig(t *testing.T) {
	dir, c := agentDataDir(t)
	ta := newTestApp(t, Deps{})
	if err := ta.run("kubeconfig", "--data-dir", dir); err != nil {
		t.Fatal(err)
	}
	out := ta.stdout.Bytes()
	cfg, err := clientcmd.Load(out)
	if err != nil {
		t.Fatalf("clientcmd cannot load the output: %v\n%s", err, out)
	}
	if cfg.CurrentContext != "shoal" || cfg.Contexts["shoal"].Cluster != "shoal" || cfg.Contexts["shoal"].AuthInfo != "admin" {
		t.Errorf("contexts = %+v, current %q", cfg.Contexts, cfg.CurrentContext)
	}
	rc, err := clientcmd.NewDefaultClientConfig(*cfg, nil).ClientConfig()
	if err != nil {
		t.Fatal(err)
	}
	if rc.Host != "https://10.0.0.1:6443" || rc.BearerToken != c.AdminToken() || string(rc.CAData) != string(c.CACertPEM) {
		t.Errorf("rest config: host %q token %q ca %d bytes", rc.Host, rc.BearerToken, len(rc.CAData))
	}

	// kubectl accepts it too, when there is one to ask.
	if kubectl, err := exec.LookPath("kubectl"); err == nil {
		p := filepath.Join(t.TempDir(), "config")
		if err := os.WriteFile(p, out, 0o600); err != nil {
			t.Fatal(err)
		}
		cmd := exec.Command(kubectl, "config", "view", "--kubeconfig", p, "-o", "jsonpath={.clusters[0].cluster.server}")
		cmd.Env = append(os.Environ(), "HOME="+t.TempDir())
		got, err := cmd.Output()
		if err != nil {
			t.Logf("kubectl config view: %v (skipping the kubectl check)", err)
		} else if string(got) != "https://10.0.0.1:6443" {
			t.Errorf("kubectl sees server %q", got)
		}
	}
}

func TestKubeconfigServerOverride(t *testing.T) {
	dir, _ := agentDataDir(t)
	ta := newTestApp(t, Deps{})
	if err := ta.run("kubeconfig", "--data-dir", dir, "--server", "https://10.0.0.2:6443"); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(ta.stdout.String(), "server: https://10.0.0.2:6443") {
		t.Errorf("output:\n%s", ta.stdout.String())
	}
	if err := ta.run("kubeconfig", "--data-dir", dir, "--server", "10.0.0.2"); err == nil {
		t.Error("a server without scheme was accepted")
	}
}
