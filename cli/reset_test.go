package cli

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/shoal-project/shoal/node"
)

// TestResetRefusesRunningAgent: while an agent holds the data dir's raft
// log, reset says so and touches nothing.
func TestResetRefusesRunningAgent(t *testing.T) {
	dataDir := t.TempDir()
	wal := filepath.Join(dataDir, "raft", "wal")
	if err := os.MkdirAll(wal, 0o700); err != nil {
		t.Fatal(err)
	}
	f, err := os.Create(filepath.Join(wal, "wal-meta.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		t.Fatal(err)
	}
	ta := newTestApp(t, Deps{})
	err = ta.run("reset", "--data-dir", dataDir, "--yes", "--name", "reset-test-node")
	if err == nil || !strings.Contains(err.Error(), "a shoal agent is running on "+dataDir) {
		t.Fatalf("reset with a running agent: %v", err)
	}
	if _, err := os.Stat(wal); err != nil || ta.stdout.Len() != 0 {
		t.Fatalf("reset touched the data dir (%v) or said %q", err, ta.stdout.String())
	}
}

func TestResetValidate(t *testing.T) {
	for _, tc := range []struct {
		o    resetOptions
		want string
	}{
		{resetOptions{DataDir: "/var/lib/shoal", Name: "a"}, ""},
		{resetOptions{DataDir: "data", Name: "a"}, "must be an absolute path"},
		{resetOptions{DataDir: "", Name: "a"}, "--data-dir: must not be empty"},
		{resetOptions{DataDir: "/x", Name: ""}, "--name: must not be empty"},
	} {
		err := tc.o.Validate()
		if (tc.want == "") != (err == nil) || (err != nil && !strings.Contains(err.Error(), tc.want)) {
			t.Errorf("%+v: %v, want %q", tc.o, err, tc.want)
		}
	}
}

func TestResetConfirm(t *testing.T) {
	for in, want := range map[string]bool{"y\n": true, "YES\n": true, " yes \n": true, "\n": false, "": false, "n\n": false, "yep\n": false} {
		var out bytes.Buffer
		if got := confirm(strings.NewReader(in), &out, t.TempDir()); got != want {
			t.Errorf("answer %q: %v, want %v", in, got, want)
		}
		if !strings.Contains(out.String(), "did not leave its cluster") {
			t.Errorf("the question does not warn that the node did not leave: %q", out.String())
		}
	}
}

// TestResetHost: what reset looks for comes from agent.json, else from
// --name.
func TestResetHost(t *testing.T) {
	dir := t.TempDir()
	own := filepath.Join(dir, "containerd", "containerd.sock")
	for _, tc := range []struct {
		name     string
		info     *node.AgentInfo
		wantNS   string
		wantSock string
		wantOwn  bool
	}{
		{name: "no agent.json", wantNS: "shoal-from-flag", wantSock: own, wantOwn: true},
		{name: "own containerd", info: &node.AgentInfo{Name: "a", ContainerdSocket: own, ContainerdNamespace: "shoal-a"}, wantNS: "shoal-a", wantSock: own, wantOwn: true},
		{name: "another containerd", info: &node.AgentInfo{Name: "a", ContainerdSocket: "/run/containerd/containerd.sock", ContainerdNamespace: "shoal-a"},
			wantNS: "shoal-a", wantSock: "/run/containerd/containerd.sock"},
		{name: "no pods", info: &node.AgentInfo{Name: "b.c"}, wantNS: "shoal-b.c", wantSock: own, wantOwn: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			os.Remove(filepath.Join(dir, "agent.json"))
			if tc.info != nil {
				if err := node.WriteAgentInfo(dir, *tc.info); err != nil {
					t.Fatal(err)
				}
			}
			h := resetHost(resetOptions{DataDir: dir, Name: "from-flag"}, nil)
			if h.Namespace != tc.wantNS || h.Socket != tc.wantSock || h.OwnContainerd != tc.wantOwn || !h.Network {
				t.Fatalf("host %+v, want namespace %s socket %s own %v", h, tc.wantNS, tc.wantSock, tc.wantOwn)
			}
		})
	}
}
