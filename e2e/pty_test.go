package e2e

import (
	"bytes"
	"context"
	"io"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/creack/pty"
)

// kubectlFor runs kubectl for at most d (for commands that follow) and
// returns what it printed.
func (c *cluster) kubectlFor(d time.Duration, args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	defer cancel()
	args = append([]string{"--kubeconfig", c.kubeconfig, "--cache-dir", filepath.Join(c.dir, "kube-cache")}, args...)
	cmd := command(ctx, c.clientNS, kubectlBin(), args...)
	out, err := cmd.CombinedOutput()
	return string(out), err
}

// interactiveShell drives `kubectl exec -ti POD -- sh` through a pty as a
// user at a terminal would: type a command, read its answer, exit.
func (pc *podCluster) interactiveShell(t *testing.T, server, pod string) {
	t.Helper()
	pc.interactiveShellWith(t, kubectlBin(), "--kubeconfig", pc.kubeconfig, "--cache-dir", filepath.Join(pc.dir, "kube-cache"),
		"--server", server, "exec", "-ti", pod, "--", "sh")
}

// interactiveShellWith runs the given exec -ti command line in a pty.
func (pc *podCluster) interactiveShellWith(t *testing.T, bin string, args ...string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := command(ctx, pc.clientNS, bin, args...)
	tty, err := pty.Start(cmd)
	if err != nil {
		t.Fatalf("start kubectl exec -ti in a pty: %v", err)
	}
	defer tty.Close()
	var mu sync.Mutex
	var screen bytes.Buffer
	go func() {
		buf := make([]byte, 4096)
		for {
			n, err := tty.Read(buf)
			mu.Lock()
			screen.Write(buf[:n])
			mu.Unlock()
			if err != nil {
				return
			}
		}
	}()
	seen := func(s string) func() error {
		return func() error {
			mu.Lock()
			defer mu.Unlock()
			if !strings.Contains(screen.String(), s) {
				return errString("screen so far: " + screen.String())
			}
			return nil
		}
	}
	io.WriteString(tty, "echo sum=$((40+2))\r")
	waitFor(t, 20*time.Second, "the shell's answer in the terminal", seen("sum=42"))
	io.WriteString(tty, "exit\r")
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("kubectl exec -ti exited with %v; screen:\n%s", err, screen.String())
		}
	case <-time.After(20 * time.Second):
		t.Fatalf("kubectl exec -ti did not exit after `exit`; screen:\n%s", screen.String())
	}
}
