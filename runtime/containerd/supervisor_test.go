package containerd

import (
	"context"
	"errors"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

func TestSupervisorNoBinary(t *testing.T) {
	t.Setenv("PATH", t.TempDir())
	err := NewSupervisor(t.TempDir()).Run(context.Background())
	if !errors.Is(err, ErrNoContainerd) {
		t.Fatalf("Run = %v, want ErrNoContainerd", err)
	}
}

// TestSupervisorRestartsDaemon kills the supervised containerd and expects
// a new one to answer on the same socket; cancelling stops it.
func TestSupervisorRestartsDaemon(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root")
	}
	if _, err := exec.LookPath("containerd"); err != nil {
		t.Skip("containerd is not on PATH")
	}
	dir, err := os.MkdirTemp("", "shoal-sup-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { unmountUnder(dir); os.RemoveAll(dir) })
	sup := NewSupervisor(dir, WithStopTimeout(5*time.Second))
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- sup.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		select {
		case <-done:
		case <-time.After(20 * time.Second):
			t.Error("Run did not return after cancel")
		}
	})
	select {
	case <-sup.Ready():
	case err := <-done:
		done <- err
		t.Fatalf("Run: %v", err)
	case <-time.After(30 * time.Second):
		t.Fatal("containerd not ready after 30s")
	}
	cfg := filepath.Join(dir, "config.toml")
	first := daemonPID(t, cfg)
	if first == 0 {
		t.Fatal("no containerd process with our config")
	}
	if err := syscall.Kill(first, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		if pid := daemonPID(t, cfg); pid != 0 && pid != first && socketAnswers(sup.Socket()) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("containerd was not restarted")
		}
		time.Sleep(100 * time.Millisecond)
	}
	cancel()
	select {
	case err := <-done:
		done <- err
		if err != nil {
			t.Fatalf("Run after cancel = %v", err)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("Run did not return after cancel")
	}
	if pid := daemonPID(t, cfg); pid != 0 {
		t.Fatalf("containerd %d still runs after cancel", pid)
	}
}

// daemonPID finds the live containerd started with cfg (0 if none).
func daemonPID(t *testing.T, cfg string) int {
	ents, _ := os.ReadDir("/proc")
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		cmd, err := os.ReadFile(filepath.Join("/proc", e.Name(), "cmdline"))
		if err != nil || !strings.Contains(string(cmd), cfg) {
			continue
		}
		if st, err := os.ReadFile(filepath.Join("/proc", e.Name(), "stat")); err == nil && strings.Contains(string(st), ") Z ") {
			continue // exited, not yet reaped
		}
		return pid
	}
	return 0
}

func socketAnswers(path string) bool {
	c, err := net.DialTimeout("unix", path, time.Second)
	if err != nil {
		return false
	}
	c.Close()
	return true
}
