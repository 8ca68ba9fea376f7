package cli

import (
	"errors"
	"strings"
	"testing"

	"github.com/shoal-project/shoal/node"
	"github.com/shoal-project/shoal/node/preflight"
)

// fakePreflight returns two passing and two failing checks, recording
// what it was asked.
type fakePreflight struct {
	cfg   *node.Config
	fix   bool
	calls int
}

func (f *fakePreflight) run(cfg node.Config, fix bool) []preflight.Result {
	f.cfg, f.fix = &cfg, fix
	f.calls++
	return []preflight.Result{
		{Name: "cgroups", Note: "cgroup v2 at /sys/fs/cgroup"},
		{Name: "port 6443/tcp", Err: errors.New("0.0.0.0:6443 (the Kubernetes API) is in use")},
		{Name: "ip-forward", Note: "net.ipv4.ip_forward was 0; set it to 1", Changed: fix},
		{Name: "data-dir", Err: errors.New("/var/lib/shoal is in use by another shoal agent")},
	}
}

func TestAgentCheck(t *testing.T) {
	fp := &fakePreflight{}
	ta := newTestApp(t, Deps{Preflight: fp.run})
	err := ta.run("agent", "--check", "--api-port", "8443")
	if !errors.Is(err, ErrReported) {
		t.Fatalf("err = %v, want ErrReported (exit 1, lines already printed)", err)
	}
	if ta.agentCfg != nil {
		t.Fatal("--check started the agent")
	}
	if fp.fix || fp.cfg == nil || fp.cfg.APIPort != 8443 {
		t.Fatalf("preflight asked with fix=%v cfg=%+v; want fix=false and the flags' config", fp.fix, fp.cfg)
	}
	want := `[preflight] cgroups: ok (cgroup v2 at /sys/fs/cgroup)
[preflight] port 6443/tcp: 0.0.0.0:6443 (the Kubernetes API) is in use
[preflight] ip-forward: ok (net.ipv4.ip_forward was 0; set it to 1)
[preflight] data-dir: /var/lib/shoal is in use by another shoal agent
`
	if got := ta.stdout.String(); got != want {
		t.Errorf("stdout:\n%s\nwant:\n%s", got, want)
	}

	pass := newTestApp(t, Deps{Preflight: func(node.Config, bool) []preflight.Result {
		return []preflight.Result{{Name: "cgroups"}}
	}})
	if err := pass.run("agent", "--check"); err != nil {
		t.Fatalf("every check passing: err = %v, want nil (exit 0)", err)
	}
	if pass.stdout.String() != "[preflight] cgroups: ok\n" || pass.agentCfg != nil {
		t.Errorf("stdout %q, agent started %v", pass.stdout.String(), pass.agentCfg != nil)
	}
}

func TestAgentStartRunsPreflight(t *testing.T) {
	fp := &fakePreflight{}
	ta := newTestApp(t, Deps{Preflight: fp.run})
	err := ta.run("agent")
	if err == nil {
		t.Fatal("the agent started with failed checks")
	}
	if ta.agentCfg != nil {
		t.Fatal("RunAgent was called")
	}
	if !fp.fix {
		t.Error("the checks ran without fix at start")
	}
	want := "[preflight] some checks failed:\n\t[preflight] port 6443/tcp: 0.0.0.0:6443 (the Kubernetes API) is in use\n\t[preflight] data-dir: /var/lib/shoal is in use by another shoal agent"
	if err.Error() != want {
		t.Errorf("error:\n%s\nwant:\n%s", err, want)
	}
	if !strings.Contains(ta.stderr.String(), "preflight: net.ipv4.ip_forward was 0; set it to 1") {
		t.Errorf("the change is not logged; stderr:\n%s", ta.stderr.String())
	}
	var stderr strings.Builder
	if code := ExitCode(err, &stderr); code != 1 || !strings.Contains(stderr.String(), "[preflight] data-dir:") {
		t.Errorf("exit code %d, stderr %q", code, stderr.String())
	}

	ok := newTestApp(t, Deps{Preflight: func(node.Config, bool) []preflight.Result { return []preflight.Result{{Name: "cgroups"}} }})
	if err := ok.run("agent", "--name", "n1"); err != nil || ok.agentCfg == nil || ok.agentCfg.Name != "n1" {
		t.Fatalf("checks passing: err %v, agent started with %+v", err, ok.agentCfg)
	}
	// join runs them too.
	jfp := &fakePreflight{}
	j := newTestApp(t, Deps{Preflight: jfp.run})
	if err := j.run("join", "127.0.0.1:7946", "--token", "SHOAL-1-a-b"); err == nil || jfp.calls != 1 || j.agentCfg != nil {
		t.Fatalf("join: err %v, preflight calls %d, agent started %v", err, jfp.calls, j.agentCfg != nil)
	}
}
