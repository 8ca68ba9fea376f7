package runtimetest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/shoal-project/shoal/runtime"
)

// TestImage is the image the suite runs, and what the runtime under test
// can do with it.
type TestImage struct {
	// Ref is the image's reference once Load has run.
	Ref string
	// Load makes Ref a local image of rt (e.g. through ImportImages).
	Load func(t *testing.T, rt runtime.Runtime)
	// PullRef, when set, is a reference PullImage can fetch (from a local
	// registry or mirror).
	PullRef string
	// MissingRef, when set, is a reference whose pull fails with the
	// registry's "not found".
	MissingRef string
	// Real says processes really run: Ref is busybox (sh, sleep, echo,
	// httpd, wget, head, tail, cat) and the limits are real cgroups. The
	// cases that need it are skipped otherwise.
	Real bool
	// CheckRemoved, when set, checks that nothing of a removed sandbox is
	// left (netns mounts, state files, tasks).
	CheckRemoved func(t *testing.T, sb *runtime.Sandbox)
}

// Run runs the conformance suite; each case is a subtest with its own
// Runtime.
func Run(t *testing.T, newRuntime func(t *testing.T) runtime.Runtime, img TestImage) {
	s := &suite{newRuntime: newRuntime, img: img}
	cases := []struct {
		name string
		real bool
		fn   func(t *testing.T, h *harness)
	}{
		{"Images", false, s.images},
		{"SandboxLifecycle", false, s.sandboxLifecycle},
		{"ContainerLifecycle", false, s.containerLifecycle},
		{"Restart", false, s.restart},
		{"ExitCodes", true, s.exitCodes},
		{"EnvAndArgs", true, s.envAndArgs},
		{"SharedNetnsAndMount", true, s.sharedNetnsAndMount},
		{"MemoryLimitAndOOM", true, s.memoryLimitAndOOM},
		{"Exec", true, s.exec},
		{"Logs", true, s.logs},
		{"StopGrace", true, s.stopGrace},
		{"StopAndRemoveSandbox", true, s.stopAndRemoveSandbox},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if c.real && !img.Real {
				t.Skip("needs a runtime that runs real processes")
			}
			c.fn(t, s.harness(t))
		})
	}
}

type suite struct {
	newRuntime func(t *testing.T) runtime.Runtime
	img        TestImage
}

// harness is one case's runtime plus helpers.
type harness struct {
	t   *testing.T
	s   *suite
	rt  runtime.Runtime
	ctx context.Context
	n   int
}

func (s *suite) harness(t *testing.T) *harness {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	t.Cleanup(cancel)
	h := &harness{t: t, s: s, rt: s.newRuntime(t), ctx: ctx}
	if s.img.Load != nil {
		s.img.Load(t, h.rt)
	}
	return h
}

// restart closes the runtime and makes a new one over the same state.
func (h *harness) restart() {
	h.t.Helper()
	if err := h.rt.Close(); err != nil {
		h.t.Fatalf("Close: %v", err)
	}
	h.rt = h.s.newRuntime(h.t)
}

// sandbox runs a new sandbox that the case's cleanup removes.
func (h *harness) sandbox() *runtime.Sandbox {
	h.t.Helper()
	h.n++
	name := fmt.Sprintf("pod-%d", h.n)
	cfg := runtime.SandboxConfig{
		UID: fmt.Sprintf("uid-%s-%d-%d", strings.ReplaceAll(h.t.Name(), "/", "-"), time.Now().UnixNano(), h.n), Namespace: "default", Name: name,
		Hostname: name, Labels: map[string]string{"app": "test", "n": fmt.Sprint(h.n)},
	}
	sb, err := h.rt.RunSandbox(h.ctx, cfg)
	if err != nil {
		h.t.Fatalf("RunSandbox: %v", err)
	}
	h.t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		if err := h.rt.RemoveSandbox(ctx, sb.ID); err != nil {
			h.t.Errorf("cleanup: RemoveSandbox %s: %v", sb.ID, err)
		}
	})
	return sb
}

// run creates and starts a container of the test image.
func (h *harness) run(sb *runtime.Sandbox, cfg runtime.ContainerConfig) string {
	h.t.Helper()
	id := h.create(sb, cfg)
	if err := h.rt.StartContainer(h.ctx, id); err != nil {
		h.t.Fatalf("StartContainer %s: %v", cfg.Name, err)
	}
	return id
}

func (h *harness) create(sb *runtime.Sandbox, cfg runtime.ContainerConfig) string {
	h.t.Helper()
	if cfg.Image == "" {
		cfg.Image = h.s.img.Ref
	}
	if cfg.Name == "" {
		h.n++
		cfg.Name = fmt.Sprintf("c%d", h.n)
	}
	id, err := h.rt.CreateContainer(h.ctx, sb.ID, cfg)
	if err != nil {
		h.t.Fatalf("CreateContainer %s: %v", cfg.Name, err)
	}
	return id
}

func (h *harness) status(id string) *runtime.ContainerStatus {
	h.t.Helper()
	st, err := h.rt.ContainerStatus(h.ctx, id)
	if err != nil {
		h.t.Fatalf("ContainerStatus %s: %v", id, err)
	}
	return st
}

// waitExit waits for the container to exit and returns its status.
func (h *harness) waitExit(id string, within time.Duration) *runtime.ContainerStatus {
	h.t.Helper()
	var st *runtime.ContainerStatus
	h.eventually(within, func() bool {
		st = h.status(id)
		return st.State == runtime.StateExited
	}, func() string { return fmt.Sprintf("container %s state %s, want exited", id, st.State) })
	return st
}

// eventually polls cond until it holds or fails the test after within.
func (h *harness) eventually(within time.Duration, cond func() bool, msg func() string) {
	h.t.Helper()
	deadline := time.Now().Add(within)
	for !cond() {
		if time.Now().After(deadline) {
			h.t.Fatalf("timed out after %v: %s", within, msg())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// logs returns the container's whole log.
func (h *harness) logs(id string, opts runtime.LogOptions) string {
	h.t.Helper()
	var b bytes.Buffer
	if err := h.rt.Logs(h.ctx, id, opts, &b); err != nil {
		h.t.Fatalf("Logs %s: %v", id, err)
	}
	return b.String()
}

// waitLogs waits until the container's log contains want.
func (h *harness) waitLogs(id, want string) string {
	h.t.Helper()
	var got string
	h.eventually(30*time.Second, func() bool {
		got = h.logs(id, runtime.LogOptions{})
		return strings.Contains(got, want)
	}, func() string { return fmt.Sprintf("logs of %s = %q, want %q in them", id, got, want) })
	return got
}

// exec runs cmd and returns stdout, stderr and the exit code.
func (h *harness) exec(id string, cmd ...string) (string, string, int) {
	h.t.Helper()
	var out, errb syncBuffer
	code, err := h.rt.Exec(h.ctx, id, cmd, runtime.ExecStreams{Stdout: &out, Stderr: &errb})
	if err != nil {
		h.t.Fatalf("Exec %v: %v", cmd, err)
	}
	return out.String(), errb.String(), code
}

func sh(script string) []string { return []string{"sh", "-c", script} }

func ptr[T any](v T) *T { return &v }

// syncBuffer is a bytes.Buffer safe for a writer and a reader.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

var _ io.Writer = (*syncBuffer)(nil)

// wantErrIs fails unless errors.Is(err, target).
func wantErrIs(t *testing.T, err, target error, what string) {
	t.Helper()
	if !errors.Is(err, target) {
		t.Fatalf("%s: err = %v, want %v", what, err, target)
	}
}
