package runtimetest

import (
	"context"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/shoal-project/shoal/runtime"
)

// exitCodes: exit codes and reasons of containers that end by themselves.
func (s *suite) exitCodes(t *testing.T, h *harness) {
	sb := h.sandbox()
	ok := h.run(sb, runtime.ContainerConfig{Command: []string{"true"}})
	bad := h.run(sb, runtime.ContainerConfig{Command: sh("exit 3")})
	if st := h.waitExit(ok, 30*time.Second); st.ExitCode != 0 || st.Reason != "Completed" {
		t.Errorf("true: %+v, want 0 Completed", st)
	}
	if st := h.waitExit(bad, 30*time.Second); st.ExitCode != 3 || st.Reason != "Error" {
		t.Errorf("exit 3: %+v, want 3 Error", st)
	}
}

// envAndArgs: env, working dir, Command/Args with Kubernetes' meaning, and
// the sandbox's hostname and files.
func (s *suite) envAndArgs(t *testing.T, h *harness) {
	sb := h.sandbox()
	a := h.run(sb, runtime.ContainerConfig{
		Command:    []string{"sh", "-c", `echo "greeting=$GREETING args=$1,$2 pwd=$(pwd) host=$(hostname)"; cat /etc/hostname; grep -c localhost /etc/hosts`, "sh"},
		Args:       []string{"one", "two"},
		Env:        []string{"GREETING=hello world"},
		WorkingDir: "/tmp",
	})
	// Args alone replace the image's cmd (sh) and keep no entrypoint.
	b := h.run(sb, runtime.ContainerConfig{Args: []string{"echo", "only-args"}})
	tty := h.run(sb, runtime.ContainerConfig{TTY: true, Command: sh("tty; echo on-a-tty")})
	h.waitExit(a, 30*time.Second)
	h.waitExit(b, 30*time.Second)
	h.waitExit(tty, 30*time.Second)
	if got := h.logs(tty, runtime.LogOptions{}); !strings.Contains(got, "/dev/") || !strings.Contains(got, "on-a-tty\n") {
		t.Errorf("TTY container logs = %q, want its terminal's name", got)
	}
	got := h.logs(a, runtime.LogOptions{})
	want := "greeting=hello world args=one,two pwd=/tmp host=" + sb.Name + "\n" + sb.Name + "\n"
	if !strings.HasPrefix(got, want) {
		t.Errorf("logs = %q, want prefix %q", got, want)
	}
	if got := h.logs(b, runtime.LogOptions{}); got != "only-args\n" {
		t.Errorf("args-only logs = %q", got)
	}
}

// sharedNetnsAndMount: two containers of one sandbox share its loopback
// and a bind-mounted host directory.
func (s *suite) sharedNetnsAndMount(t *testing.T, h *harness) {
	sb := h.sandbox()
	dir := t.TempDir()
	mounts := []runtime.Mount{{HostPath: dir, ContainerPath: "/shared"}}
	server := h.run(sb, runtime.ContainerConfig{Name: "server", Mounts: mounts, Command: sh(
		`mkdir -p /www && echo served-by-a > /www/index.html && echo written-by-a > /shared/from-a && exec httpd -f -p 127.0.0.1:8080 -h /www`)})
	client := h.run(sb, runtime.ContainerConfig{Name: "client", Mounts: mounts, Command: sh(
		`for i in $(seq 1 100); do wget -qO- http://127.0.0.1:8080/ && break; sleep 0.1; done; cat /shared/from-a; echo from-b > /shared/from-b`)})
	st := h.waitExit(client, 60*time.Second)
	got := h.logs(client, runtime.LogOptions{})
	if st.ExitCode != 0 || !strings.Contains(got, "served-by-a") || !strings.Contains(got, "written-by-a") {
		t.Fatalf("client: exit %d, logs %q; want served-by-a and written-by-a", st.ExitCode, got)
	}
	if b, err := os.ReadFile(filepath.Join(dir, "from-b")); err != nil || string(b) != "from-b\n" {
		t.Errorf("host sees %q, %v; want from-b", b, err)
	}
	if st := h.status(server); st.State != runtime.StateRunning {
		t.Errorf("server: %+v, want running", st)
	}
}

// memoryLimitAndOOM: the limit reaches the cgroup, and exceeding it ends
// the container with OOMKilled.
func (s *suite) memoryLimitAndOOM(t *testing.T, h *harness) {
	sb := h.sandbox()
	const limit = 48 << 20
	id := h.run(sb, runtime.ContainerConfig{Command: []string{"sleep", "3600"}, Resources: runtime.Resources{
		MemoryLimitBytes: limit, CPUQuota: 50000, CPUPeriod: 100000, CPUShares: 512,
	}})
	out, _, code := h.exec(id, "sh", "-c", "cat /sys/fs/cgroup/memory/memory.limit_in_bytes 2>/dev/null || cat /sys/fs/cgroup/memory.max")
	if got, err := strconv.ParseInt(strings.TrimSpace(out), 10, 64); code != 0 || err != nil || got != limit {
		t.Errorf("cgroup memory limit = %q (exit %d), want %d", out, code, limit)
	}
	hog := h.run(sb, runtime.ContainerConfig{
		Command:   sh("head -c 400000000 /dev/zero | tail"),
		Resources: runtime.Resources{MemoryLimitBytes: 32 << 20},
	})
	if st := h.waitExit(hog, 60*time.Second); st.Reason != "OOMKilled" || st.ExitCode == 0 {
		t.Errorf("memory hog: %+v, want OOMKilled", st)
	}
}

// exec: streams, exit code, stdin, TTY.
func (s *suite) exec(t *testing.T, h *harness) {
	sb := h.sandbox()
	id := h.run(sb, runtime.ContainerConfig{Command: []string{"sleep", "3600"}, Env: []string{"FROM_SPEC=yes"}})
	out, errOut, code := h.exec(id, "sh", "-c", "echo out $FROM_SPEC; echo err >&2; exit 7")
	if out != "out yes\n" || errOut != "err\n" || code != 7 {
		t.Errorf("exec = %q, %q, %d; want \"out yes\\n\", \"err\\n\", 7", out, errOut, code)
	}
	var stdout syncBuffer
	code, err := h.rt.Exec(h.ctx, id, []string{"cat"}, runtime.ExecStreams{Stdin: strings.NewReader("from stdin\n"), Stdout: &stdout})
	if err != nil || code != 0 || stdout.String() != "from stdin\n" {
		t.Errorf("exec cat = %q, %d, %v", stdout.String(), code, err)
	}
	var tty syncBuffer
	resize := make(chan runtime.TerminalSize, 1)
	resize <- runtime.TerminalSize{Width: 100, Height: 40}
	close(resize)
	code, err = h.rt.Exec(h.ctx, id, sh("tty; sleep 0.3; stty size; echo tty-done"), runtime.ExecStreams{Stdout: &tty, TTY: true, Resize: resize})
	if err != nil || code != 0 || !strings.Contains(tty.String(), "/dev/pts/") || !strings.Contains(tty.String(), "tty-done") {
		t.Errorf("exec with TTY = %q, %d, %v", tty.String(), code, err)
	}
	if !strings.Contains(tty.String(), "40 100") {
		t.Logf("exec with TTY: the resize did not show in %q", tty.String())
	}
	ctx, cancel := context.WithTimeout(h.ctx, 500*time.Millisecond)
	defer cancel()
	start := time.Now()
	if _, err := h.rt.Exec(ctx, id, []string{"sleep", "60"}, runtime.ExecStreams{}); err == nil || time.Since(start) > 20*time.Second {
		t.Errorf("exec past its ctx: err %v after %v; want an error soon after the deadline", err, time.Since(start))
	}
}

// logs: tail, since, timestamps, limit, follow until exit, stderr.
func (s *suite) logs(t *testing.T, h *harness) {
	sb := h.sandbox()
	dir := t.TempDir()
	id := h.run(sb, runtime.ContainerConfig{
		Mounts: []runtime.Mount{{HostPath: dir, ContainerPath: "/gate"}},
		Command: sh(`for i in 1 2 3 4 5; do echo line$i; done; sleep 0.2; echo oops >&2; sleep 0.2; printf no-newline-yet; echo
			while [ ! -e /gate/go ]; do sleep 0.05; done; echo late; printf partial`),
	})
	h.waitLogs(id, "no-newline-yet\n")
	if got := h.logs(id, runtime.LogOptions{TailLines: ptr(int64(2))}); got != "oops\nno-newline-yet\n" {
		t.Errorf("tail 2 = %q", got)
	}
	if got := h.logs(id, runtime.LogOptions{LimitBytes: ptr(int64(8))}); got != "line1\nli" {
		t.Errorf("limit 8 = %q", got)
	}
	ts := h.logs(id, runtime.LogOptions{Timestamps: true, TailLines: ptr(int64(1))})
	f := strings.SplitN(ts, " ", 2)
	if tm, err := time.Parse(time.RFC3339Nano, f[0]); err != nil || time.Since(tm) > time.Minute || len(f) != 2 || f[1] != "no-newline-yet\n" {
		t.Errorf("timestamps = %q (%v)", ts, err)
	}
	since := time.Now()
	time.Sleep(20 * time.Millisecond)

	followed := make(chan string, 1)
	go func() {
		var b syncBuffer
		err := h.rt.Logs(h.ctx, id, runtime.LogOptions{Follow: true, TailLines: ptr(int64(0))}, &b)
		if err != nil {
			t.Errorf("follow: %v", err)
		}
		followed <- b.String()
	}()
	time.Sleep(300 * time.Millisecond)
	if err := os.WriteFile(filepath.Join(dir, "go"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	select {
	case got := <-followed:
		if got != "late\npartial\n" {
			t.Errorf("follow = %q, want the lines after it began, until the exit", got)
		}
	case <-time.After(30 * time.Second):
		t.Fatalf("follow did not end when the container exited")
	}
	if got := h.logs(id, runtime.LogOptions{Since: since}); got != "late\npartial\n" {
		t.Errorf("since = %q", got)
	}
	if err := h.rt.RemoveContainer(h.ctx, id); err != nil {
		t.Fatal(err)
	}
	if got := h.logs(id, runtime.LogOptions{TailLines: ptr(int64(1))}); got != "partial\n" {
		t.Errorf("logs of a removed container = %q, want them kept", got)
	}
}

// stopGrace: a container that handles SIGTERM exits within the grace; one
// that ignores it is killed after the grace.
func (s *suite) stopGrace(t *testing.T, h *harness) {
	sb := h.sandbox()
	polite := h.run(sb, runtime.ContainerConfig{Command: sh(`trap 'echo got-term; exit 0' TERM; echo ready; while true; do sleep 0.1; done`)})
	stubborn := h.run(sb, runtime.ContainerConfig{Command: sh(`trap '' TERM; echo ready; while true; do sleep 0.1; done`)})
	h.waitLogs(polite, "ready")
	h.waitLogs(stubborn, "ready")

	start := time.Now()
	if err := h.rt.StopContainer(h.ctx, polite, 20*time.Second); err != nil {
		t.Fatalf("StopContainer polite: %v", err)
	}
	if d := time.Since(start); d > 10*time.Second {
		t.Errorf("polite container took %v to stop", d)
	}
	if st := h.status(polite); st.State != runtime.StateExited || st.ExitCode != 0 || st.Reason != "Completed" {
		t.Errorf("polite: %+v, want exited 0", st)
	}
	h.waitLogs(polite, "got-term")

	start = time.Now()
	if err := h.rt.StopContainer(h.ctx, stubborn, 2*time.Second); err != nil {
		t.Fatalf("StopContainer stubborn: %v", err)
	}
	if d := time.Since(start); d < 2*time.Second || d > 20*time.Second {
		t.Errorf("stubborn container stopped after %v, want just past the 2s grace", d)
	}
	if st := h.status(stubborn); st.State != runtime.StateExited || st.ExitCode != 137 {
		t.Errorf("stubborn: %+v, want exited 137", st)
	}
}

// stopAndRemoveSandbox: stopping kills the containers; removing leaves
// nothing behind; logs continue across a restart.
func (s *suite) stopAndRemoveSandbox(t *testing.T, h *harness) {
	sb := h.sandbox()
	dir := t.TempDir()
	a := h.run(sb, runtime.ContainerConfig{
		Mounts:  []runtime.Mount{{HostPath: dir, ContainerPath: "/gate"}},
		Command: sh(`echo before; while [ ! -e /gate/go ]; do sleep 0.05; done; echo after; sleep 3600`),
	})
	b := h.run(sb, runtime.ContainerConfig{Command: []string{"sleep", "3600"}})
	h.waitLogs(a, "before")
	h.restart()
	if err := os.WriteFile(filepath.Join(dir, "go"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	h.waitLogs(a, "after")

	if err := h.rt.StopSandbox(h.ctx, sb.ID); err != nil {
		t.Fatalf("StopSandbox: %v", err)
	}
	for _, id := range []string{a, b} {
		if st := h.status(id); st.State != runtime.StateExited {
			t.Errorf("after StopSandbox %s: %+v", id, st)
		}
	}
	if err := h.rt.RemoveSandbox(h.ctx, sb.ID); err != nil {
		t.Fatalf("RemoveSandbox: %v", err)
	}
	if list, err := h.rt.ListContainers(h.ctx, sb.ID); err != nil || len(list) != 0 {
		t.Errorf("after RemoveSandbox: containers %v, %v", list, err)
	}
	if s.img.CheckRemoved != nil {
		s.img.CheckRemoved(t, sb)
	}
}
