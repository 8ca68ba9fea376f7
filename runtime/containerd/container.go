package containerd

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"path/filepath"
	"strconv"
	"syscall"
	"time"

	containerd "github.com/containerd/containerd"
	"github.com/containerd/containerd/errdefs"
	"github.com/moby/sys/signal"

	"github.com/shoal-project/shoal/runtime"
)

// A container's life, as ContainerStatus reports it:
//
//	CreateContainer --> created --StartContainer--> running --exit/StopContainer--> exited --RemoveContainer--> gone
//
// "exited" is recorded in the container's labels (exit code, time, reason)
// and its task deleted, by whoever sees the exit first: the exit monitor,
// or any call that finds the task stopped (after a shoal restart).

// CreateContainer creates a container in a ready sandbox from a local image.
func (r *Runtime) CreateContainer(ctx context.Context, sandboxID string, cfg runtime.ContainerConfig) (string, error) {
	ctx = r.nsctx(ctx)
	sb, err := r.loadSandbox(sandboxID)
	if err != nil {
		return "", err
	}
	if !sb.Ready {
		return "", fmt.Errorf("sandbox %s is stopped", sandboxID)
	}
	if cfg.Name == "" {
		return "", errors.New("container: Name is required")
	}
	img, err := r.findImage(ctx, cfg.Image)
	if err != nil {
		return "", err
	}
	imgCfg, err := img.Config(ctx)
	if err != nil {
		return "", notFound(err, "image config of "+cfg.Image)
	}
	id := newID()
	labels := map[string]string{
		labelSandbox:    sandboxID,
		labelName:       cfg.Name,
		labelAttempt:    strconv.FormatUint(uint64(cfg.Attempt), 10),
		labelImageRef:   cfg.Image,
		labelImageID:    imgCfg.Digest.String(),
		labelLogPath:    filepath.Join(r.sandboxDir(sandboxID), "logs", id+".log"),
		labelTTY:        strconv.FormatBool(cfg.TTY),
		labelStopSignal: imageStopSignal(ctx, img),
		labelCreated:    fmtTime(time.Now()),
	}
	for k, v := range cfg.Labels {
		labels[userLabelPrefix+k] = v
	}
	_, err = r.client.NewContainer(ctx, id,
		containerd.WithImage(img),
		containerd.WithSnapshotter(r.snapshotter),
		containerd.WithNewSnapshot(id, img),
		containerd.WithNewSpec(r.specOpts(img, sb, cfg)...),
		containerd.WithContainerLabels(labels),
	)
	if err != nil {
		return "", fmt.Errorf("create container %s: %w", cfg.Name, err)
	}
	r.log.Debug("container created", "container_id", id, "sandbox_id", sandboxID, "name", cfg.Name)
	return id, nil
}

// StartContainer starts a created container's task with its output going
// to the container's log.
func (r *Runtime) StartContainer(ctx context.Context, id string) error {
	ctx = r.nsctx(ctx)
	defer r.keys.lock("container/" + id)()
	c, err := r.client.LoadContainer(ctx, id)
	if err != nil {
		return notFound(err, "container "+id)
	}
	labels, err := c.Labels(ctx)
	if err != nil {
		return notFound(err, "container "+id)
	}
	if labels[labelStarted] != "" {
		return fmt.Errorf("container %s was already started", id)
	}
	lt, err := r.newTask(ctx, c, labels)
	if err != nil {
		return err
	}
	if err := lt.task.Start(ctx); err != nil {
		lt.discard(ctx)
		return fmt.Errorf("start container %s: %w", id, err)
	}
	if _, err := c.SetLabels(ctx, map[string]string{labelStarted: fmtTime(time.Now())}); err != nil {
		// Unrecorded, the process would run unseen: the container reads
		// as created and the kubelet starts another attempt.
		lt.discard(ctx)
		return fmt.Errorf("start container %s: %w", id, err)
	}
	r.track(id, lt)
	r.log.Debug("container started", "container_id", id, "pid", lt.task.Pid())
	return nil
}

// StopContainer signals the container (SIGTERM or the image's stop signal),
// waits up to grace, SIGKILLs it, and records its exit.
func (r *Runtime) StopContainer(ctx context.Context, id string, grace time.Duration) error {
	ctx = r.nsctx(ctx)
	c, err := r.client.LoadContainer(ctx, id)
	if err != nil {
		return notFound(err, "container "+id)
	}
	// A task whose start went unrecorded is adopted first (or deleted,
	// if it was never started).
	if _, err := r.settleStart(ctx, c); err != nil {
		return fmt.Errorf("stop container %s: %w", id, err)
	}
	task, err := c.Task(ctx, nil)
	if errdefs.IsNotFound(err) {
		return r.finish(ctx, c)
	}
	if err != nil {
		return fmt.Errorf("stop container %s: %w", id, err)
	}
	st, err := task.Status(ctx)
	if errdefs.IsNotFound(err) {
		return r.finish(ctx, c)
	}
	if err != nil {
		return fmt.Errorf("stop container %s: %w", id, err)
	}
	if st.Status == containerd.Running || st.Status == containerd.Paused || st.Status == containerd.Pausing {
		if err := stopTask(ctx, task, r.stopSignal(ctx, c), grace); err != nil {
			return fmt.Errorf("stop container %s: %w", id, err)
		}
	}
	return r.finish(ctx, c)
}

// stopTask sends sig, waits up to grace, then SIGKILLs every process of the
// task and waits (at most killWait) for the exit.
func stopTask(ctx context.Context, task containerd.Task, sig syscall.Signal, grace time.Duration) error {
	if grace > 0 {
		exited, err := task.Wait(ctx)
		if err != nil {
			return err
		}
		if err := task.Kill(ctx, sig); err != nil && !errdefs.IsNotFound(err) {
			return err
		}
		select {
		case <-exited:
			return nil
		case <-time.After(grace):
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	return killTask(ctx, task)
}

func (r *Runtime) stopSignal(ctx context.Context, c containerd.Container) syscall.Signal {
	labels, err := c.Labels(ctx)
	if err == nil {
		if s, err := signal.ParseSignal(labels[labelStopSignal]); err == nil {
			return s
		}
	}
	return syscall.SIGTERM
}

// RemoveContainer kills the container if it still runs and removes it and
// its snapshot; its log stays with the sandbox. A missing container is not
// an error.
func (r *Runtime) RemoveContainer(ctx context.Context, id string) error {
	ctx = r.nsctx(ctx)
	c, err := r.client.LoadContainer(ctx, id)
	if errdefs.IsNotFound(err) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("remove container %s: %w", id, err)
	}
	if err := r.StopContainer(ctx, id, 0); err != nil && !errors.Is(err, runtime.ErrNotFound) {
		// Its exit goes unrecorded; the task is removed below all the same.
		r.log.Debug("stop before remove", "container_id", id, "error", err)
	}
	defer r.keys.lock("container/" + id)()
	// containerd refuses to delete a container that has a task, stopped
	// or not ("cannot delete running task"): whatever task is left (a
	// start cut short, an exit not yet recorded) goes first.
	if err := r.removeTask(ctx, c); err != nil {
		return fmt.Errorf("remove container %s: %w", id, err)
	}
	if err := c.Delete(ctx, containerd.WithSnapshotCleanup); err != nil && !errdefs.IsNotFound(err) {
		return fmt.Errorf("remove container %s: %w", id, err)
	}
	return nil
}

// ListContainers lists the containers of a sandbox, or all of the node's.
func (r *Runtime) ListContainers(ctx context.Context, sandboxID string) ([]*runtime.ContainerStatus, error) {
	ctx = r.nsctx(ctx)
	filter := fmt.Sprintf(`labels.%q`, labelSandbox)
	if sandboxID != "" {
		filter = fmt.Sprintf(`labels.%q==%q`, labelSandbox, sandboxID)
	}
	cs, err := r.client.Containers(ctx, filter)
	if err != nil {
		return nil, fmt.Errorf("list containers: %w", err)
	}
	out := make([]*runtime.ContainerStatus, 0, len(cs))
	for _, c := range cs {
		st, err := r.status(ctx, c)
		if errdefs.IsNotFound(err) || errors.Is(err, runtime.ErrNotFound) {
			continue // removed meanwhile
		}
		if err != nil {
			return nil, err
		}
		out = append(out, st)
	}
	return out, nil
}

// ContainerStatus reports one container.
func (r *Runtime) ContainerStatus(ctx context.Context, id string) (*runtime.ContainerStatus, error) {
	ctx = r.nsctx(ctx)
	c, err := r.client.LoadContainer(ctx, id)
	if err != nil {
		return nil, notFound(err, "container "+id)
	}
	return r.status(ctx, c)
}

// status reads the labels and, for a started container that has not been
// recorded as exited, its task.
func (r *Runtime) status(ctx context.Context, c containerd.Container) (*runtime.ContainerStatus, error) {
	labels, err := c.Labels(ctx)
	if err != nil {
		return nil, notFound(err, "container "+c.ID())
	}
	if labels[labelStarted] == "" && labels[labelFinished] == "" {
		started, err := r.settleStart(ctx, c)
		if err != nil {
			return nil, err
		}
		if started {
			if labels, err = c.Labels(ctx); err != nil {
				return nil, notFound(err, "container "+c.ID())
			}
		}
	}
	if labels[labelStarted] != "" && labels[labelFinished] == "" {
		running, err := r.isRunning(ctx, c)
		if err != nil {
			return nil, err
		}
		if running {
			st := statusFromLabels(c.ID(), labels)
			st.State = runtime.StateRunning
			return st, nil
		}
		if err := r.finish(ctx, c); err != nil {
			return nil, err
		}
		if labels, err = c.Labels(ctx); err != nil {
			return nil, notFound(err, "container "+c.ID())
		}
	}
	return statusFromLabels(c.ID(), labels), nil
}

// isRunning reports whether the container's task is alive.
func (r *Runtime) isRunning(ctx context.Context, c containerd.Container) (bool, error) {
	task, err := c.Task(ctx, nil)
	if errdefs.IsNotFound(err) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("container %s task: %w", c.ID(), err)
	}
	st, err := task.Status(ctx)
	if errdefs.IsNotFound(err) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("container %s task: %w", c.ID(), err)
	}
	return st.Status != containerd.Stopped, nil
}

// newID is a random container id.
func newID() string {
	b := make([]byte, 16)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}
