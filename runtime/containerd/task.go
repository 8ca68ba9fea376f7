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
	"syscall"
	"time"

	containerd "github.com/containerd/containerd"
	"github.com/containerd/containerd/cio"
	"github.com/containerd/containerd/errdefs"

	"github.com/shoal-project/shoal/runtime"
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

// discard kills and deletes a task StartContainer could not finish; its
// output is no longer copied.
func (lt *liveTask) discard(ctx context.Context) {
	lt.detach()
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), killWait)
	defer cancel()
	_ = killTask(ctx, lt.task)
	_, _ = lt.task.Delete(ctx, containerd.WithProcessKill)
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
		if err != nil && r.ctx.Err() == nil && !errdefs.IsNotFound(err) && !errors.Is(err, runtime.ErrNotFound) {
			// (a container removed meanwhile has nothing to record)
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

// killWait bounds the wait for a task to exit after SIGKILL: a process
// stuck in the kernel or a hung shim must not hold the caller (a pod
// worker) for ever; it gets an error and tries again later.
const killWait = 10 * time.Second

// removeTask kills and deletes the container's task, whatever its state,
// as ctr and the CRI plugin remove a task: SIGKILL to all its processes,
// a bounded wait for the exit, then Delete (WithProcessKill, for a task
// that was only created). A task that is gone counts as removed. The
// container's log copier, if any, is closed. Callers hold the container's
// key.
func (r *Runtime) removeTask(ctx context.Context, c containerd.Container) error {
	id := c.ID()
	var task containerd.Task
	if lt := r.untrack(id); lt != nil {
		task = lt.task
		defer lt.log.Close()
	} else {
		t, err := c.Task(ctx, cio.NewAttach()) // attaches nothing; Delete removes the fifos
		if errdefs.IsNotFound(err) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("task of %s: %w", id, err)
		}
		task = t
	}
	if err := killTask(ctx, task); err != nil {
		return fmt.Errorf("kill task of %s: %w", id, err)
	}
	dctx, cancel := context.WithTimeout(ctx, killWait)
	defer cancel()
	if _, err := task.Delete(dctx, containerd.WithProcessKill); err != nil && !errdefs.IsNotFound(err) {
		return fmt.Errorf("delete task of %s: %w", id, err)
	}
	return nil
}

// killTask SIGKILLs every process of a task that has not stopped and waits
// at most killWait for its exit. A task that is gone counts as stopped.
func killTask(ctx context.Context, task containerd.Task) error {
	st, err := task.Status(ctx)
	if errdefs.IsNotFound(err) {
		return nil
	}
	if err != nil {
		return err
	}
	if st.Status == containerd.Stopped || st.Status == containerd.Created {
		return nil // nothing runs (a created task's init waits for Start; Delete kills it)
	}
	wctx, cancel := context.WithTimeout(ctx, killWait)
	defer cancel()
	exited, err := task.Wait(wctx)
	if errdefs.IsNotFound(err) {
		return nil
	}
	if err != nil {
		return err
	}
	if err := task.Kill(wctx, syscall.SIGKILL, containerd.WithKillAll); err != nil && !errdefs.IsNotFound(err) {
		return err
	}
	select {
	case <-exited:
		return nil
	case <-wctx.Done():
		if ctx.Err() != nil {
			return ctx.Err()
		}
		return fmt.Errorf("task %s did not exit within %v of SIGKILL", task.ID(), killWait)
	}
}

// settleStart settles a container that has a task but no record of its
// start: shoal was killed in StartContainer between creating the task and
// recording the start (its containerd may have died too and adopted the
// shim again), or the record failed. A task that was started is recorded
// as started and adopted (its output copied, its exit watched), or its
// exit recorded if it stopped meanwhile; a task never started is deleted,
// leaving the container created. Without this the container would read as
// created while its process runs, and removing it would fail for ever on
// the task ("cannot delete running task"). It reports whether the
// container is started now.
func (r *Runtime) settleStart(ctx context.Context, c containerd.Container) (bool, error) {
	if _, err := c.Task(ctx, nil); errdefs.IsNotFound(err) {
		return false, nil // the usual created container: no task yet
	}
	labels, adopt, err := r.recordStart(ctx, c)
	if err != nil || !adopt {
		return labels[labelStarted] != "", err
	}
	if err := r.adopt(ctx, c, labels); err != nil {
		return true, fmt.Errorf("adopt %s: %w", c.ID(), err)
	}
	return true, nil
}

// recordStart is settleStart's part under the container's key: it returns
// the container's labels and whether it recorded the start of a task that
// was started (which the caller adopts).
func (r *Runtime) recordStart(ctx context.Context, c containerd.Container) (map[string]string, bool, error) {
	defer r.keys.lock("container/" + c.ID())()
	labels, err := c.Labels(ctx)
	if err != nil {
		return nil, false, notFound(err, "container "+c.ID())
	}
	if labels[labelStarted] != "" {
		return labels, false, nil // StartContainer finished meanwhile
	}
	task, err := c.Task(ctx, nil)
	if errdefs.IsNotFound(err) {
		return labels, false, nil
	}
	if err != nil {
		return labels, false, fmt.Errorf("container %s task: %w", c.ID(), err)
	}
	st, err := task.Status(ctx)
	if errdefs.IsNotFound(err) {
		return labels, false, nil
	}
	if err != nil {
		return labels, false, fmt.Errorf("container %s task: %w", c.ID(), err)
	}
	if st.Status == containerd.Created {
		r.log.Info("deleting the task of an interrupted container start", "container_id", c.ID())
		return labels, false, r.removeTask(ctx, c)
	}
	r.log.Info("adopting the task of an interrupted container start", "container_id", c.ID(), "status", string(st.Status))
	started := fmtTime(time.Now())
	if _, err := c.SetLabels(ctx, map[string]string{labelStarted: started}); err != nil {
		return labels, false, fmt.Errorf("record start of %s: %w", c.ID(), err)
	}
	labels[labelStarted] = started
	return labels, true, nil
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
		if err != nil || labels[labelFinished] != "" {
			continue
		}
		if labels[labelStarted] == "" {
			if _, err := r.settleStart(ctx, c); err != nil {
				// Listing it tries again; removing it removes the task.
				r.log.Warn("settling an interrupted container start", "container_id", c.ID(), "error", err)
			}
			continue
		}
		if err := r.adopt(ctx, c, labels); err != nil {
			return err
		}
	}
	return nil
}

// adopt resumes copying the output of a started container's task to its
// log and watching for its exit; the exit of a task that stopped while no
// one watched is recorded.
func (r *Runtime) adopt(ctx context.Context, c containerd.Container, labels map[string]string) error {
	running, err := r.isRunning(ctx, c)
	if err != nil {
		return err
	}
	if !running {
		return r.finish(ctx, c)
	}
	defer r.keys.lock("container/" + c.ID())()
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
