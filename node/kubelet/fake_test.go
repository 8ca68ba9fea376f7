package kubelet

import (
	"context"
	"fmt"
	"io"
	"strings"
	"sync"
	"time"

	"github.com/shoal-project/shoal/runtime"
)

// fakeRuntime is a minimal in-memory runtime.Runtime for the kubelet's
// tests: images pull unless failPull names them, containers run until
// behave says they exit, sandboxes get addresses from 10.42.0.0/24.
type fakeRuntime struct {
	mu         sync.Mutex
	images     map[string]*runtime.Image
	failPull   map[string]error
	sandboxes  map[string]*runtime.Sandbox
	containers map[string]*fakeContainer
	// behave is per container name: run for d, then exit with code.
	behave map[string]fakeBehaviour
	// exec answers Exec: exit code for a command (joined by spaces).
	exec   func(id string, cmd []string) int
	nextID int
	pulls  []string
	stops  []fakeStop
}

type fakeBehaviour struct {
	runFor time.Duration
	code   int32
	reason string
}

type fakeStop struct {
	name  string
	grace time.Duration
}

type fakeContainer struct {
	status runtime.ContainerStatus
	cfg    runtime.ContainerConfig
}

var _ runtime.Runtime = (*fakeRuntime)(nil)

func newFakeRuntime() *fakeRuntime {
	return &fakeRuntime{
		images:     map[string]*runtime.Image{},
		failPull:   map[string]error{},
		sandboxes:  map[string]*runtime.Sandbox{},
		containers: map[string]*fakeContainer{},
		behave:     map[string]fakeBehaviour{},
	}
}

func (f *fakeRuntime) id(prefix string) string {
	f.nextID++
	return fmt.Sprintf("%s%04d", prefix, f.nextID)
}

// advance applies the exit behaviours to running containers. f.mu held.
func (f *fakeRuntime) advance() {
	now := time.Now()
	for _, c := range f.containers {
		b, ok := f.behave[c.status.Name]
		if !ok || c.status.State != runtime.StateRunning {
			continue
		}
		if now.Sub(c.status.StartedAt) >= b.runFor {
			c.status.State = runtime.StateExited
			c.status.ExitCode = b.code
			c.status.Reason = b.reason
			c.status.FinishedAt = c.status.StartedAt.Add(b.runFor)
		}
	}
}

func (f *fakeRuntime) PullImage(ctx context.Context, ref string, auth *runtime.RegistryAuth) (*runtime.Image, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.pulls = append(f.pulls, ref)
	if err := f.failPull[ref]; err != nil {
		return nil, fmt.Errorf("%w: %v", runtime.ErrImagePull, err)
	}
	img := &runtime.Image{Ref: normalize(ref), ID: "sha256:cfg" + ref, Digest: "sha256:0123abcd", Size: 1234}
	f.images[ref] = img
	return img, nil
}

func normalize(ref string) string {
	if !strings.Contains(ref, "/") {
		ref = "docker.io/library/" + ref
	}
	if !strings.Contains(ref[strings.LastIndex(ref, "/"):], ":") {
		ref += ":latest"
	}
	return ref
}

func (f *fakeRuntime) ImageStatus(ctx context.Context, ref string) (*runtime.Image, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if img := f.images[ref]; img != nil {
		return img, nil
	}
	return nil, fmt.Errorf("image %s: %w", ref, runtime.ErrNotFound)
}

func (f *fakeRuntime) ListImages(ctx context.Context) ([]*runtime.Image, error) { return nil, nil }

func (f *fakeRuntime) ImportImages(ctx context.Context, r io.Reader) ([]*runtime.Image, error) {
	return nil, nil
}

func (f *fakeRuntime) RunSandbox(ctx context.Context, cfg runtime.SandboxConfig) (*runtime.Sandbox, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, sb := range f.sandboxes {
		if sb.UID == cfg.UID {
			c := *sb
			return &c, nil
		}
	}
	id := f.id("sb")
	sb := &runtime.Sandbox{
		ID: id, UID: cfg.UID, Namespace: cfg.Namespace, Name: cfg.Name,
		IP: fmt.Sprintf("10.42.0.%d", f.nextID%250+2), Labels: cfg.Labels, Created: time.Now(), Ready: true,
	}
	f.sandboxes[id] = sb
	c := *sb
	return &c, nil
}

func (f *fakeRuntime) StopSandbox(ctx context.Context, id string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	sb := f.sandboxes[id]
	if sb == nil {
		return nil
	}
	sb.Ready = false
	for _, c := range f.containers {
		if c.status.SandboxID == id && c.status.State == runtime.StateRunning {
			c.status.State, c.status.ExitCode, c.status.FinishedAt = runtime.StateExited, 137, time.Now()
		}
	}
	return nil
}

func (f *fakeRuntime) RemoveSandbox(ctx context.Context, id string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	delete(f.sandboxes, id)
	for cid, c := range f.containers {
		if c.status.SandboxID == id {
			delete(f.containers, cid)
		}
	}
	return nil
}

func (f *fakeRuntime) ListSandboxes(ctx context.Context) ([]*runtime.Sandbox, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []*runtime.Sandbox
	for _, sb := range f.sandboxes {
		c := *sb
		out = append(out, &c)
	}
	return out, nil
}

func (f *fakeRuntime) CreateContainer(ctx context.Context, sandboxID string, cfg runtime.ContainerConfig) (string, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.sandboxes[sandboxID] == nil {
		return "", fmt.Errorf("sandbox %s: %w", sandboxID, runtime.ErrNotFound)
	}
	id := f.id("c")
	f.containers[id] = &fakeContainer{cfg: cfg, status: runtime.ContainerStatus{
		ID: id, SandboxID: sandboxID, Name: cfg.Name, Attempt: cfg.Attempt, Image: cfg.Image,
		State: runtime.StateCreated, CreatedAt: time.Now(), Labels: cfg.Labels,
	}}
	return id, nil
}

func (f *fakeRuntime) StartContainer(ctx context.Context, id string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	c := f.containers[id]
	if c == nil {
		return runtime.ErrNotFound
	}
	c.status.State, c.status.StartedAt = runtime.StateRunning, time.Now()
	return nil
}

func (f *fakeRuntime) StopContainer(ctx context.Context, id string, grace time.Duration) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	c := f.containers[id]
	if c == nil {
		return runtime.ErrNotFound
	}
	f.stops = append(f.stops, fakeStop{name: c.status.Name, grace: grace})
	if c.status.State == runtime.StateRunning {
		c.status.State, c.status.ExitCode, c.status.Reason, c.status.FinishedAt = runtime.StateExited, 143, "Error", time.Now()
	}
	return nil
}

func (f *fakeRuntime) RemoveContainer(ctx context.Context, id string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	delete(f.containers, id)
	return nil
}

func (f *fakeRuntime) ListContainers(ctx context.Context, sandboxID string) ([]*runtime.ContainerStatus, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.advance()
	var out []*runtime.ContainerStatus
	for _, c := range f.containers {
		if sandboxID == "" || c.status.SandboxID == sandboxID {
			s := c.status
			out = append(out, &s)
		}
	}
	return out, nil
}

func (f *fakeRuntime) ContainerStatus(ctx context.Context, id string) (*runtime.ContainerStatus, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.advance()
	c := f.containers[id]
	if c == nil {
		return nil, runtime.ErrNotFound
	}
	s := c.status
	return &s, nil
}

func (f *fakeRuntime) Exec(ctx context.Context, id string, cmd []string, s runtime.ExecStreams) (int, error) {
	f.mu.Lock()
	exec := f.exec
	f.mu.Unlock()
	if exec == nil {
		return 0, nil
	}
	return exec(id, cmd), nil
}

func (f *fakeRuntime) Logs(ctx context.Context, id string, opts runtime.LogOptions, w io.Writer) error {
	return nil
}

func (f *fakeRuntime) ContainerStats(ctx context.Context, id string) (*runtime.ContainerStats, error) {
	return &runtime.ContainerStats{}, nil
}

func (f *fakeRuntime) Version(ctx context.Context) (string, error) { return "containerd://fake", nil }

func (f *fakeRuntime) Close() error { return nil }

// config returns the config a container was created with (the newest of
// that name).
func (f *fakeRuntime) config(name string) (runtime.ContainerConfig, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	var best *fakeContainer
	for _, c := range f.containers {
		if c.status.Name == name && (best == nil || c.status.Attempt > best.status.Attempt) {
			best = c
		}
	}
	if best == nil {
		return runtime.ContainerConfig{}, false
	}
	return best.cfg, true
}

func (f *fakeRuntime) set(fn func()) {
	f.mu.Lock()
	defer f.mu.Unlock()
	fn()
}
