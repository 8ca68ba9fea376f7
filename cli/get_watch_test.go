package cli

import (
	"bytes"
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// syncBuffer is a buffer one goroutine writes while the test reads it.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// lines are the output's lines with their fields single-spaced and the
// AGE column left out, so that ages and column widths do not matter. A
// header is the first line and any line after a blank one.
func lines(out string) []string {
	var ls []string
	age, header := -1, true
	for _, l := range strings.Split(strings.TrimRight(out, "\n"), "\n") {
		f := strings.Fields(l)
		if header {
			age = -1
			for j, h := range f {
				if h == "AGE" {
					age = j
				}
			}
		}
		header = len(f) == 0
		if age >= 0 && len(f) > age {
			f = append(f[:age:age], f[age+1:]...)
		}
		ls = append(ls, strings.Join(f, " "))
	}
	return ls
}

func TestGetWatch(t *testing.T) {
	isolateKubeconfig(t)
	srv, cs := realAPI(t)
	ctx := context.Background()
	pods := cs.CoreV1().Pods("default")
	if _, err := pods.Create(ctx, testPod("web", nil), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	dataDir := t.TempDir()
	for _, tc := range []struct {
		args []string
		// initial is the output before the changes, change what follows
		// (see lines).
		initial, change []string
	}{
		{[]string{"get", "pods", "-w"},
			[]string{"NAME READY STATUS RESTARTS", "web 0/1 Pending 0"},
			[]string{"db 0/1 Pending 0", "web 0/1 Running 0", "db 0/1 Pending 0"}},
		{[]string{"get", "pods", "--watch-only"},
			nil,
			[]string{"NAME READY STATUS RESTARTS", "db 0/1 Pending 0", "web 0/1 Running 0", "db 0/1 Pending 0"}},
		{[]string{"get", "pod", "web", "-w", "-o", "wide"},
			[]string{"NAME READY STATUS RESTARTS IP NODE NOMINATED NODE READINESS GATES", "web 0/1 Pending 0 <none> <none> <none> <none>"},
			[]string{"web 0/1 Running 0 <none> <none> <none> <none>"}},
		{[]string{"get", "pods", "-w", "-o", "name"},
			[]string{"pod/web"},
			[]string{"pod/db", "pod/web", "pod/db"}},
		{[]string{"get", "pods", "-w", "-A"},
			[]string{"NAMESPACE NAME READY STATUS RESTARTS", "default web 0/1 Pending 0"},
			[]string{"default db 0/1 Pending 0", "default web 0/1 Running 0", "default db 0/1 Pending 0"}},
	} {
		name := strings.Join(tc.args, " ")
		var stdout, stderr syncBuffer
		app := NewApp(Deps{Stdin: strings.NewReader(""), Stdout: &stdout, Stderr: &stderr})
		wctx, cancel := context.WithCancel(ctx)
		done := make(chan error, 1)
		go func() {
			done <- app.Run(wctx, append(append([]string{"shoal"}, tc.args...), "--server", srv.URL, "--data-dir", dataDir))
		}()
		waitFor := func(what string, want []string) {
			t.Helper()
			deadline := time.Now().Add(5 * time.Second)
			for {
				got := lines(stdout.String())
				if len(want) == 0 && stdout.String() == "" || strings.Join(got, "\n") == strings.Join(want, "\n") {
					return
				}
				if time.Now().After(deadline) {
					t.Fatalf("%s: %s:\n%s\nwant\n%s", name, what, strings.Join(got, "\n"), strings.Join(want, "\n"))
				}
				time.Sleep(20 * time.Millisecond)
			}
		}
		waitFor("initial output", tc.initial)
		// Let the watch start before changing anything.
		time.Sleep(300 * time.Millisecond)
		if _, err := pods.Create(ctx, testPod("db", nil), metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		setPodStatus(t, cs, "web", func(s *corev1.PodStatus) { s.Phase = corev1.PodRunning })
		if err := pods.Delete(ctx, "db", metav1.DeleteOptions{}); err != nil {
			t.Fatal(err)
		}
		waitFor("after the changes", append(tc.initial, tc.change...))
		cancel()
		if err := <-done; ExitCode(err, &stderr) != 0 || stderr.String() != "" {
			t.Errorf("%s: %v, stderr %q", name, err, stderr.String())
		}
		setPodStatus(t, cs, "web", func(s *corev1.PodStatus) { s.Phase = corev1.PodPending })
	}
}
