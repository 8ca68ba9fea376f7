package containerd

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	containerd "github.com/containerd/containerd"
	"github.com/containerd/containerd/cio"
	"github.com/containerd/containerd/errdefs"
)

// liveTask is a running task whose output this process copies into the
// container's log.
type liveTask struct {
	task   containerd.Task
	log    *logFile
	exited <-chan containerd.ExitStatus
}

// detach stops copying output (the task keeps running; the shim holds its
// pipes until someone attaches again).
func (lt *liveTask) detach() {
	if io := lt.task.IO(); io != nil {
		io.Cancel()
	}
	lt.log.Close()
}

// logIO returns the cio options that send a container's output to lf.
func (r *Runtime) logIO(lf *logFile, tty bool) []cio.Opt {
	opts := []cio.Opt{cio.WithStreams(nil, lf.stream("stdout"), lf.stream("stderr")), cio.WithFIFODir(fifoDir(r.opts.StateDir))}
	if tty {
		opts = append(opts, cio.WithTerminal)
	}
	return opts
}

// newTask creates the container's task (not started) wired to its log.
func (r *Runtime) newTask(ctx context.Context, c containerd.Container, labels map[string]string) (*liveTask, error) {
	lf, err := openLogFile(labels[labelLogPath], r.opts.LogMaxBytes)
	if err != nil {
		return nil, err
	}
	tty, _ := strconv.ParseBool(labels[labelTTY])
	task, err := c.NewTask(ctx, cio.NewCreator(r.logIO(lf, tty)...))
	if err != nil {
		lf.Close()
		return nil, fmt.Errorf("create task of %s: %w", c.ID(), err)
	}
	exited, err := task.Wait(r.ctx)
	if err != nil {
		lf.Close()
		_, _ = task.Delete(context.WithoutCancel(ctx))
		return nil, fmt.Errorf("wait task of %s: %w", c.ID(), err)
	}
	return &liveTask{task: task, log: lf, exited: exited}, nil
}

// track remembers lt and records the container's exit when it comes.
func (r *Runtime) track(id string, lt *liveTask) {
	r.mu.Lock()
	r.live[id] = lt
	r.mu.Unlock()
	r.wg.Add(1)
	go func() {
		defer r.wg.Done()
		select {
		case <-lt.exited:
		case <-r.ctx.Done():
			return
		}
		c, err := r.client.LoadContainer(r.ctx, id)
		if err == nil {
			err = r.finish(r.ctx, c)
		}
		if err != nil && r.ctx.Err() == nil {
			r.log.Warn("recording container exit", "container_id", id, "error", err)
		}
	}()
}

// untrack forgets and returns the live task of id, if any.
func (r *Runtime) untrack(id string) *liveTask {
	r.mu.Lock()
	defer r.mu.Unlock()
	lt := r.live[id]
	delete(r.live, id)
	return lt
}

// finish records a stopped task's exit in the container's labels and
// deletes the task. It does nothing for a task that still runs or a
// container already recorded; a started container whose task vanished
// (containerd lost it) is recorded as failed.
func (r *Runtime) finish(ctx context.Context, c containerd.Container) error {
	id := c.ID()
	defer r.keys.lock("container/" + id)()
	labels, err := c.Labels(ctx)
	if err != nil {
		return notFound(err, "container "+id)
	}
	if labels[labelStarted] == "" || labels[labelFinished] != "" {
		return nil
	}
	rec := map[string]string{labelFinished: fmtTime(time.Now()), labelExitCode: "255", labelReason: "Error"}
	task, err := c.Task(ctx, cio.NewAttach()) // attaches nothing; Delete removes the fifos
	switch {
	case errdefs.IsNotFound(err):
		rec[labelMessage] = "the container's task is gone (containerd lost it)"
	case err != nil:
		return fmt.Errorf("container %s task: %w", id, err)
	default:
		st, err := task.Status(ctx)
		if err != nil {
			return fmt.Errorf("container %s task: %w", id, err)
		}
		if st.Status != containerd.Stopped {
			return nil
		}
		oom := r.oomKilled(ctx, c)
		lt := r.untrack(id)
		if lt != nil {
			waitIO(lt.task.IO(), 2*time.Second)
			task = lt.task
		}
		_, err = task.Delete(ctx)
		if lt != nil {
			lt.log.Close() // before the exit is recorded, so a follower sees every line
		}
		if err != nil && !errdefs.IsNotFound(err) {
			return fmt.Errorf("delete task of %s: %w", id, err)
		}
		rec[labelExitCode] = strconv.FormatUint(uint64(st.ExitStatus), 10)
		rec[labelReason] = exitReason(st.ExitStatus, oom)
		if !st.ExitTime.IsZero() {
			rec[labelFinished] = fmtTime(st.ExitTime)
		}
	}
	if _, err := c.SetLabels(ctx, rec); err != nil {
		return fmt.Errorf("record exit of %s: %w", id, err)
	}
	r.log.Debug("container exited", "container_id", id, "exit_code", rec[labelExitCode], "reason", rec[labelReason])
	return nil
}

// waitIO waits for a task's output to be copied, at most d.
func waitIO(io cio.IO, d time.Duration) {
	if io == nil {
		return
	}
	done := make(chan struct{})
	go func() { io.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(d):
	}
}

// reattach, at New, resumes copying the output of running containers and
// records the exits that happened while no one watched.
func (r *Runtime) reattach(ctx context.Context) error {
	cs, err := r.client.Containers(ctx, fmt.Sprintf(`labels.%q`, labelSandbox))
	if err != nil {
		return fmt.Errorf("list containers: %w", err)
	}
	for _, c := range cs {
		labels, err := c.Labels(ctx)
		if err != nil || labels[labelStarted] == "" || labels[labelFinished] != "" {
			continue
		}
		running, err := r.isRunning(ctx, c)
		if err != nil {
			return err
		}
		if !running {
			if err := r.finish(ctx, c); err != nil {
				return err
			}
			continue
		}
		lf, err := openLogFile(labels[labelLogPath], r.opts.LogMaxBytes)
		if err != nil {
			return err
		}
		tty, _ := strconv.ParseBool(labels[labelTTY])
		task, err := c.Task(ctx, cio.NewAttach(r.logIO(lf, tty)...))
		if err != nil {
			lf.Close()
			return fmt.Errorf("attach to %s: %w", c.ID(), err)
		}
		exited, err := task.Wait(r.ctx)
		if err != nil {
			lf.Close()
			return fmt.Errorf("wait task of %s: %w", c.ID(), err)
		}
		r.track(c.ID(), &liveTask{task: task, log: lf, exited: exited})
	}
	return nil
}

// oomKilled reports whether the kernel OOM-killed a process in the
// container's cgroup (memory.oom_control on v1, memory.events on v2); the
// cgroup still exists while the stopped task is not deleted.
func (r *Runtime) oomKilled(ctx context.Context, c containerd.Container) bool {
	spec, err := c.Spec(ctx)
	if err != nil || spec.Linux == nil || spec.Linux.CgroupsPath == "" {
		return false
	}
	path := spec.Linux.CgroupsPath
	files := []string{
		filepath.Join("/sys/fs/cgroup", path, "memory.events"),             // v2
		filepath.Join("/sys/fs/cgroup/memory", path, "memory.oom_control"), // v1
	}
	for _, f := range files {
		if n, err := readCounter(f, "oom_kill"); err == nil {
			return n > 0
		}
	}
	return false
}

// readCounter reads "key N" from a cgroup file.
func readCounter(file, key string) (uint64, error) {
	f, err := os.Open(file)
	if err != nil {
		return 0, err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), " ")
		if ok && k == key {
			return strconv.ParseUint(strings.TrimSpace(v), 10, 64)
		}
	}
	return 0, errors.New(key + " not in " + file)
}
