package node

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"syscall"
	"testing"

	"github.com/hashicorp/raft-wal/metadb"

	"github.com/shoal-project/shoal/node/preflight"
)

func TestPreflightChecksFollowConfig(t *testing.T) {
	names := func(cfg Config) []string {
		var out []string
		for _, c := range PreflightChecks(cfg, false) {
			out = append(out, c.Name)
		}
		return out
	}
	cfg := DefaultConfig()
	cfg.AdvertiseAddr = "127.0.0.1"
	want := []string{"cgroups", "container-runtime", "cni-plugins",
		"port 7946/tcp", "port 7946/udp", "port 7947/tcp", "port 6443/tcp",
		"port 53/udp", "port 53/tcp", "port 80/tcp", "port 443/tcp", "ip-forward", "data-dir"}
	if got := names(cfg); !reflect.DeepEqual(got, want) {
		t.Errorf("pods:\n%v\nwant\n%v", got, want)
	}
	cfg.IngressHTTPPort, cfg.IngressHTTPSPort = 0, 8443
	want = []string{"cgroups", "container-runtime", "cni-plugins",
		"port 7946/tcp", "port 7946/udp", "port 7947/tcp", "port 6443/tcp",
		"port 53/udp", "port 53/tcp", "port 8443/tcp", "ip-forward", "data-dir"}
	if got := names(cfg); !reflect.DeepEqual(got, want) {
		t.Errorf("no HTTP Ingress:\n%v\nwant\n%v", got, want)
	}
	cfg.RunPods = false
	want = []string{"port 7946/tcp", "port 7946/udp", "port 7947/tcp", "port 6443/tcp", "data-dir"}
	if got := names(cfg); !reflect.DeepEqual(got, want) {
		t.Errorf("control plane only:\n%v\nwant\n%v", got, want)
	}
}

// TestPreflightContainerRuntime: the node's own containerd needs
// containerd, its runc shim and runc on PATH; an existing one (--containerd)
// needs runc or crun.
func TestPreflightContainerRuntime(t *testing.T) {
	bin := t.TempDir()
	t.Setenv("PATH", bin)
	runtimeCheck := func(cfg Config) preflight.Check {
		for _, c := range PreflightChecks(cfg, false) {
			if c.Name == "container-runtime" {
				return c
			}
		}
		t.Fatal("no container-runtime check")
		return preflight.Check{}
	}
	cfg := DefaultConfig()
	_, err := runtimeCheck(cfg).Run()
	if err == nil || err.Error() != "containerd not found on PATH ("+bin+"); containerd-shim-runc-v2 not found on PATH ("+bin+"); runc not found on PATH ("+bin+
		"): install Debian's containerd and runc, or pass --containerd SOCKET of a containerd you run" {
		t.Errorf("own containerd: %v", err)
	}
	cfg.ContainerdSocket = "/run/containerd/containerd.sock"
	_, err = runtimeCheck(cfg).Run()
	if err == nil || err.Error() != "runc or crun not found on PATH ("+bin+"): install runc (Debian's runc) or crun" {
		t.Errorf("existing containerd: %v", err)
	}
	if err := os.WriteFile(filepath.Join(bin, "crun"), nil, 0o755); err != nil {
		t.Fatal(err)
	}
	if note, err := runtimeCheck(cfg).Run(); err != nil || note != filepath.Join(bin, "crun") {
		t.Errorf("existing containerd with crun: note %q, err %v", note, err)
	}
}

// TestPreflightDataDirInUse holds the raft log's lock as a running agent
// does and expects the data-dir check to say so; without the lock, and
// without any raft state yet, it passes.
func TestPreflightDataDirInUse(t *testing.T) {
	dataDir := t.TempDir()
	check := preflight.DataDir(dataDir, func() error { return dataDirFree(dataDir) })
	if _, err := check.Run(); err != nil {
		t.Fatalf("a fresh data dir: %v", err)
	}
	wal := filepath.Join(raftDir(dataDir), "wal")
	if err := os.MkdirAll(wal, 0o700); err != nil {
		t.Fatal(err)
	}
	f, err := os.Create(filepath.Join(wal, metadb.FileName))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := check.Run(); err != nil {
		t.Fatalf("a stopped agent's data dir: %v", err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		t.Fatal(err)
	}
	_, err = check.Run()
	want := dataDir + " is in use by another shoal agent (it holds the raft log's lock): stop that agent first, or choose another --data-dir"
	if err == nil || err.Error() != want {
		t.Fatalf("held lock: %v\nwant %s", err, want)
	}
	syscall.Flock(int(f.Fd()), syscall.LOCK_UN)
	if _, err := check.Run(); err != nil {
		t.Fatalf("lock released: %v", err)
	}
	if r := preflight.Run([]preflight.Check{check}); !strings.HasPrefix(r[0].String(), "[preflight] data-dir: ok") {
		t.Errorf("line %q", r[0])
	}
}
