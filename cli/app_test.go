package cli

import (
	"bytes"
	"context"
	"log/slog"
	"reflect"
	"strings"
	"testing"

	"github.com/shoal-project/shoal/node"
)

// testApp is an App whose output lands in buffers and whose agent records
// the config it was given.
type testApp struct {
	*App
	stdout, stderr bytes.Buffer
	agentCfg       *node.Config
}

func newTestApp(t *testing.T, deps Deps) *testApp {
	t.Helper()
	ta := &testApp{}
	if deps.RunAgent == nil {
		deps.RunAgent = func(ctx context.Context, cfg node.Config, logger *slog.Logger) error {
			ta.agentCfg = &cfg
			return nil
		}
	}
	deps.Stdout, deps.Stderr = &ta.stdout, &ta.stderr
	if deps.Stdin == nil {
		deps.Stdin = strings.NewReader("")
	}
	ta.App = NewApp(deps)
	return ta
}

func (ta *testApp) run(args ...string) error {
	return ta.Run(context.Background(), append([]string{"shoal"}, args...))
}

func TestIntersperse(t *testing.T) {
	app := NewApp(Deps{})
	for _, tc := range []struct{ in, want string }{
		{"shoal get pods -o wide", "shoal get -o wide -- pods"},
		{"shoal get pods web -n prod --show-labels", "shoal get -n prod --show-labels -- pods web"},
		{"shoal get -owide pods", "shoal get -o wide -- pods"},
		{"shoal get pods -A", "shoal get -A -- pods"},
		{"shoal delete deploy web --wait=false", "shoal delete --wait=false -- deploy web"},
		{"shoal join 10.0.0.1:7946 --token T", "shoal join --token T -- 10.0.0.1:7946"},
		{"shoal get -- -weird", "shoal get -- -weird"},
		{"shoal get", "shoal get"},
		{"shoal nosuch a -x", "shoal nosuch a -x"},
	} {
		got := strings.Join(intersperse(app.app.Commands, strings.Fields(tc.in)), " ")
		if got != tc.want {
			t.Errorf("intersperse(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

func TestHelpRuns(t *testing.T) {
	ta := newTestApp(t, Deps{})
	if err := ta.run("--help"); err != nil {
		t.Fatal(err)
	}
	for _, cmd := range []string{"agent", "join", "token", "kubeconfig", "apply", "get", "delete", "describe"} {
		if !strings.Contains(ta.stdout.String(), cmd) {
			t.Errorf("help lacks %s:\n%s", cmd, ta.stdout.String())
		}
	}
}

func TestFlagsAreNotShared(t *testing.T) {
	// Two apps, two runs: nothing leaks through package-level state.
	a := newTestApp(t, Deps{})
	if err := a.run("agent", "--name", "a", "--voters", "5"); err != nil {
		t.Fatal(err)
	}
	b := newTestApp(t, Deps{})
	if err := b.run("agent", "--name", "b"); err != nil {
		t.Fatal(err)
	}
	if a.agentCfg.Name != "a" || a.agentCfg.Voters != 5 || b.agentCfg.Name != "b" || b.agentCfg.Voters != 3 {
		t.Fatalf("a=%+v b=%+v", a.agentCfg, b.agentCfg)
	}
	if !reflect.DeepEqual(b.agentCfg.Join, []string(nil)) {
		t.Fatalf("b.Join = %v", b.agentCfg.Join)
	}
}
