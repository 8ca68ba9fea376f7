package containerd

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sync"
	"syscall"
	"time"

	containerd "github.com/containerd/containerd"
	"github.com/containerd/containerd/cio"
	"github.com/containerd/containerd/errdefs"

	"github.com/shoal-project/shoal/runtime"
)

// Exec runs cmd in the running container id with the container's process
// settings (env, cwd, user), wiring s; it returns cmd's exit code. When ctx
// ends first the process is killed.
func (r *Runtime) Exec(ctx context.Context, id string, cmd []string, s runtime.ExecStreams) (int, error) {
	ctx = r.nsctx(ctx)
	if len(cmd) == 0 {
		return -1, errors.New("exec: empty command")
	}
	c, err := r.client.LoadContainer(ctx, id)
	if err != nil {
		return -1, notFound(err, "container "+id)
	}
	task, err := c.Task(ctx, nil)
	if errdefs.IsNotFound(err) {
		return -1, fmt.Errorf("container %s: %w", id, runtime.ErrNotRunning)
	}
	if err != nil {
		return -1, fmt.Errorf("exec in %s: %w", id, err)
	}
	if st, err := task.Status(ctx); err != nil || st.Status != containerd.Running {
		return -1, fmt.Errorf("container %s: %w", id, runtime.ErrNotRunning)
	}
	spec, err := c.Spec(ctx)
	if err != nil {
		return -1, fmt.Errorf("exec in %s: %w", id, err)
	}
	pspec := *spec.Process
	pspec.Args = cmd
	pspec.Terminal = s.TTY
	pspec.ConsoleSize = nil

	// stdin's EOF must reach the process: close its stdin through the
	// shim once the copy ends (the process handle exists by then).
	procReady := make(chan struct{})
	var proc containerd.Process
	var stdin io.Reader
	if s.Stdin != nil {
		stdin = &eofCloser{r: s.Stdin, onEOF: func() {
			<-procReady
			if proc != nil {
				_ = proc.CloseIO(context.WithoutCancel(ctx), containerd.WithStdinCloser)
			}
		}}
	}
	// The shim wants both output streams of a non-terminal process.
	stdout, stderr := orDiscard(s.Stdout), orDiscard(s.Stderr)
	if s.TTY {
		stderr = nil // one terminal stream
	}
	opts := []cio.Opt{cio.WithStreams(stdin, stdout, stderr), cio.WithFIFODir(fifoDir(r.opts.StateDir))}
	if s.TTY {
		opts = append(opts, cio.WithTerminal)
	}
	execID := "exec-" + newID()[:16]
	proc, err = task.Exec(ctx, execID, &pspec, cio.NewCreator(opts...))
	close(procReady)
	if err != nil {
		return -1, fmt.Errorf("exec in %s: %w", id, err)
	}
	defer func() {
		_, _ = proc.Delete(context.WithoutCancel(ctx), containerd.WithProcessKill)
	}()
	exited, err := proc.Wait(context.WithoutCancel(ctx))
	if err != nil {
		return -1, fmt.Errorf("exec in %s: %w", id, err)
	}
	if err := proc.Start(ctx); err != nil {
		return -1, fmt.Errorf("exec in %s: %w", id, err)
	}
	if s.TTY && s.Resize != nil {
		go func() {
			for sz := range s.Resize {
				_ = proc.Resize(context.WithoutCancel(ctx), uint32(sz.Width), uint32(sz.Height))
			}
		}()
	}
	var status containerd.ExitStatus
	select {
	case status = <-exited:
	case <-ctx.Done():
		_ = proc.Kill(context.WithoutCancel(ctx), syscall.SIGKILL)
		status = <-exited
	}
	waitIO(proc.IO(), 5*time.Second)
	code, _, err := status.Result()
	if err != nil {
		return -1, fmt.Errorf("exec in %s: %w", id, err)
	}
	return int(code), ctx.Err()
}

// eofCloser calls onEOF once when the reader ends.
type eofCloser struct {
	r     io.Reader
	once  sync.Once
	onEOF func()
}

func (e *eofCloser) Read(p []byte) (int, error) {
	n, err := e.r.Read(p)
	if err != nil {
		e.once.Do(e.onEOF)
	}
	return n, err
}

func orDiscard(w io.Writer) io.Writer {
	if w == nil {
		return io.Discard
	}
	return w
}
