package fake

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"sort"
	"strings"
	"time"

	"github.com/shoal-project/shoal/runtime"
)

// RunSandbox records a ready sandbox; the same UID gives the same one.
func (r *Runtime) RunSandbox(ctx context.Context, cfg runtime.SandboxConfig) (*runtime.Sandbox, error) {
	if err := r.check(ctx); err != nil {
		return nil, err
	}
	if cfg.UID == "" || cfg.Name == "" {
		return nil, fmt.Errorf("sandbox: UID and Name are required")
	}
	r.st.mu.Lock()
	defer r.st.mu.Unlock()
	id := "sb-" + cfg.UID
	sb, ok := r.st.sandboxes[id]
	if !ok {
		sb = &runtime.Sandbox{ID: id, UID: cfg.UID, Namespace: cfg.Namespace, Name: cfg.Name, Labels: cfg.Labels, Created: time.Now()}
		r.st.sandboxes[id] = sb
	}
	if !sb.Ready {
		r.st.nextID++
		sb.Ready = true
		if !cfg.HostNetwork {
			sb.IP = fmt.Sprintf("10.88.%d.%d", r.st.nextID/250, r.st.nextID%250+2)
			sb.NetNS = "/var/run/netns/fake-" + id
		}
	}
	cp := *sb
	return &cp, nil
}

// StopSandbox "kills" the sandbox's containers and marks it not ready.
func (r *Runtime) StopSandbox(ctx context.Context, id string) error {
	if err := r.check(ctx); err != nil {
		return err
	}
	r.st.mu.Lock()
	defer r.st.mu.Unlock()
	sb, ok := r.st.sandboxes[id]
	if !ok {
		return nil
	}
	for _, c := range r.st.containers {
		if c.status.SandboxID == id {
			r.st.exit(c, 137, "")
		}
	}
	sb.Ready, sb.IP, sb.NetNS = false, "", ""
	return nil
}

// RemoveSandbox forgets the sandbox and its containers.
func (r *Runtime) RemoveSandbox(ctx context.Context, id string) error {
	if err := r.StopSandbox(ctx, id); err != nil {
		return err
	}
	r.st.mu.Lock()
	defer r.st.mu.Unlock()
	for cid, c := range r.st.containers {
		if c.status.SandboxID == id {
			delete(r.st.containers, cid)
		}
	}
	delete(r.st.sandboxes, id)
	return nil
}

// ListSandboxes lists the sandboxes, oldest first.
func (r *Runtime) ListSandboxes(ctx context.Context) ([]*runtime.Sandbox, error) {
	if err := r.check(ctx); err != nil {
		return nil, err
	}
	r.st.mu.Lock()
	defer r.st.mu.Unlock()
	out := make([]*runtime.Sandbox, 0, len(r.st.sandboxes))
	for _, sb := range r.st.sandboxes {
		cp := *sb
		out = append(out, &cp)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Created.Before(out[j].Created) })
	return out, nil
}

// CreateContainer records a created container of a local image.
func (r *Runtime) CreateContainer(ctx context.Context, sandboxID string, cfg runtime.ContainerConfig) (string, error) {
	if err := r.check(ctx); err != nil {
		return "", err
	}
	r.st.mu.Lock()
	defer r.st.mu.Unlock()
	sb, ok := r.st.sandboxes[sandboxID]
	if !ok {
		return "", fmt.Errorf("sandbox %s: %w", sandboxID, runtime.ErrNotFound)
	}
	if !sb.Ready {
		return "", fmt.Errorf("sandbox %s is stopped", sandboxID)
	}
	img, ok := r.st.images[normalize(cfg.Image)]
	if !ok {
		return "", fmt.Errorf("image %s: %w", cfg.Image, runtime.ErrNotFound)
	}
	r.st.nextID++
	id := fmt.Sprintf("fake%028d", r.st.nextID)
	labels := map[string]string{}
	for k, v := range cfg.Labels {
		labels[k] = v
	}
	r.st.containers[id] = &container{
		image:  cfg.Image,
		exited: make(chan struct{}),
		status: runtime.ContainerStatus{
			ID: id, SandboxID: sandboxID, Name: cfg.Name, Attempt: cfg.Attempt,
			Image: cfg.Image, ImageID: img.ID, State: runtime.StateCreated,
			CreatedAt: time.Now(), Labels: labels,
		},
	}
	return id, nil
}

// StartContainer "runs" the container, honouring StartDelay, StartError,
// RunFor and ExitCode.
func (r *Runtime) StartContainer(ctx context.Context, id string) error {
	if err := r.check(ctx); err != nil {
		return err
	}
	r.st.mu.Lock()
	delay := r.st.faults.StartDelay
	r.st.mu.Unlock()
	if delay > 0 {
		select {
		case <-time.After(delay):
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	r.st.mu.Lock()
	defer r.st.mu.Unlock()
	c, ok := r.st.containers[id]
	if !ok {
		return fmt.Errorf("container %s: %w", id, runtime.ErrNotFound)
	}
	if c.status.State != runtime.StateCreated {
		return fmt.Errorf("container %s was already started", id)
	}
	if err := r.st.faults.StartError; err != nil {
		c.status.State, c.status.ExitCode, c.status.Reason = runtime.StateExited, 128, "StartError"
		c.status.Message, c.status.FinishedAt = err.Error(), time.Now()
		close(c.exited)
		return fmt.Errorf("start container %s: %w", id, err)
	}
	c.status.State, c.status.StartedAt = runtime.StateRunning, time.Now()
	if d := r.st.faults.RunFor[c.image]; d > 0 {
		code := r.st.faults.ExitCode[c.image]
		c.timer = time.AfterFunc(d, func() {
			r.st.mu.Lock()
			defer r.st.mu.Unlock()
			r.st.exit(c, code, "")
		})
	}
	return nil
}

// StopContainer ends a running container: 137, as SIGKILL after the grace.
func (r *Runtime) StopContainer(ctx context.Context, id string, _ time.Duration) error {
	if err := r.check(ctx); err != nil {
		return err
	}
	r.st.mu.Lock()
	defer r.st.mu.Unlock()
	c, ok := r.st.containers[id]
	if !ok {
		return fmt.Errorf("container %s: %w", id, runtime.ErrNotFound)
	}
	r.st.exit(c, 137, "")
	return nil
}

// RemoveContainer forgets a container; a missing one is not an error.
func (r *Runtime) RemoveContainer(ctx context.Context, id string) error {
	if err := r.check(ctx); err != nil {
		return err
	}
	r.st.mu.Lock()
	defer r.st.mu.Unlock()
	if c, ok := r.st.containers[id]; ok {
		r.st.exit(c, 137, "")
		delete(r.st.containers, id)
	}
	return nil
}

// ListContainers lists a sandbox's containers ("" = all), oldest first.
func (r *Runtime) ListContainers(ctx context.Context, sandboxID string) ([]*runtime.ContainerStatus, error) {
	if err := r.check(ctx); err != nil {
		return nil, err
	}
	r.st.mu.Lock()
	defer r.st.mu.Unlock()
	var out []*runtime.ContainerStatus
	for _, c := range r.st.containers {
		if sandboxID == "" || c.status.SandboxID == sandboxID {
			out = append(out, c.snapshot())
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out, nil
}

// ContainerStatus reports one container.
func (r *Runtime) ContainerStatus(ctx context.Context, id string) (*runtime.ContainerStatus, error) {
	if err := r.check(ctx); err != nil {
		return nil, err
	}
	r.st.mu.Lock()
	defer r.st.mu.Unlock()
	c, ok := r.st.containers[id]
	if !ok {
		return nil, fmt.Errorf("container %s: %w", id, runtime.ErrNotFound)
	}
	return c.snapshot(), nil
}

func (c *container) snapshot() *runtime.ContainerStatus {
	st := c.status
	st.Labels = map[string]string{}
	for k, v := range c.status.Labels {
		st.Labels[k] = v
	}
	return &st
}

// Exec "runs" cmd in a running container: it writes cmd to stdout and
// returns 0.
func (r *Runtime) Exec(ctx context.Context, id string, cmd []string, s runtime.ExecStreams) (int, error) {
	st, err := r.ContainerStatus(ctx, id)
	if err != nil {
		return -1, err
	}
	if st.State != runtime.StateRunning {
		return -1, fmt.Errorf("container %s: %w", id, runtime.ErrNotRunning)
	}
	if s.Stdout != nil {
		fmt.Fprintln(s.Stdout, strings.Join(cmd, " "))
	}
	return 0, nil
}

// Logs writes the lines given to AppendLog, honouring the options; Follow
// waits for the container's exit or ctx.
func (r *Runtime) Logs(ctx context.Context, id string, opts runtime.LogOptions, w io.Writer) error {
	r.st.mu.Lock()
	c, ok := r.st.containers[id]
	if !ok {
		r.st.mu.Unlock()
		return fmt.Errorf("container %s: %w", id, runtime.ErrNotFound)
	}
	lines := append([]logLine(nil), c.logs...)
	exited := c.exited
	r.st.mu.Unlock()
	if opts.TailLines != nil && int64(len(lines)) > *opts.TailLines {
		lines = lines[int64(len(lines))-*opts.TailLines:]
	}
	var buf bytes.Buffer
	for _, l := range lines {
		if !opts.Since.IsZero() && l.ts.Before(opts.Since) {
			continue
		}
		if opts.Timestamps {
			buf.WriteString(l.ts.UTC().Format(time.RFC3339Nano) + " ")
		}
		buf.WriteString(l.text + "\n")
	}
	b := buf.Bytes()
	if opts.LimitBytes != nil && int64(len(b)) > *opts.LimitBytes {
		b = b[:*opts.LimitBytes]
	}
	if _, err := w.Write(b); err != nil {
		return err
	}
	if opts.Follow {
		select {
		case <-exited:
		case <-ctx.Done():
		}
	}
	return nil
}

// ContainerStats reports fixed figures for a running container.
func (r *Runtime) ContainerStats(ctx context.Context, id string) (*runtime.ContainerStats, error) {
	st, err := r.ContainerStatus(ctx, id)
	if err != nil {
		return nil, err
	}
	if st.State != runtime.StateRunning {
		return nil, fmt.Errorf("container %s: %w", id, runtime.ErrNotRunning)
	}
	return &runtime.ContainerStats{Timestamp: time.Now(), CPUUsageNanos: uint64(time.Since(st.StartedAt)), MemoryWorkingSetBytes: 4 << 20}, nil
}
