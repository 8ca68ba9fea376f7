package containerd

import (
	"bytes"
	"context"
	"errors"
	"syscall"
	"testing"

	"github.com/shoal-project/shoal/runtime"
)

// TestInterruptedStart: shoal killed in StartContainer after the task was
// made (and maybe started) but before the start was recorded leaves a
// container that has a task and no start record; its containerd may be
// killed too and adopt the shim again. Removing its sandbox must kill and
// delete that task, with or without a restart of the Runtime (the chaos
// suite saw `remove container X: cannot delete running task X: failed
// precondition` for four minutes). A started task is adopted (it reads as
// running, not as a created container whose process runs unseen); a task
// never started is deleted (the container reads as created).
func TestInterruptedStart(t *testing.T) {
	needDaemon(t)
	archive := imageTarball(t, busyboxImage(t), testImageRef)
	for _, tc := range []struct {
		name             string
		started, restart bool
		want             runtime.ContainerState
	}{
		{name: "started", started: true, want: runtime.StateRunning},
		{name: "created", started: false, want: runtime.StateCreated},
		{name: "started-restart", started: true, restart: true, want: runtime.StateRunning},
		{name: "created-restart", started: false, restart: true, want: runtime.StateCreated},
	} {
		t.Run(tc.name, func(t *testing.T) {
			newRuntime := newNodeFactory(nil)
			rt := newRuntime(t).(*Runtime)
			ctx := context.Background()
			if _, err := rt.ImportImages(ctx, bytes.NewReader(archive)); err != nil {
				t.Fatalf("ImportImages: %v", err)
			}
			sb, err := rt.RunSandbox(ctx, runtime.SandboxConfig{UID: "u-" + tc.name, Namespace: "default", Name: "p", Hostname: "p"})
			if err != nil {
				t.Fatalf("RunSandbox: %v", err)
			}
			id, err := rt.CreateContainer(ctx, sb.ID, runtime.ContainerConfig{Name: "app", Image: testImageRef, Command: []string{"sleep", "3600"}})
			if err != nil {
				t.Fatalf("CreateContainer: %v", err)
			}

			// StartContainer up to the crash: the task made (and
			// started), the start not recorded, the copier gone.
			nctx := rt.nsctx(ctx)
			c, err := rt.client.LoadContainer(nctx, id)
			if err != nil {
				t.Fatal(err)
			}
			labels, err := c.Labels(nctx)
			if err != nil {
				t.Fatal(err)
			}
			lt, err := rt.newTask(nctx, c, labels)
			if err != nil {
				t.Fatalf("newTask: %v", err)
			}
			if tc.started {
				if err := lt.task.Start(nctx); err != nil {
					t.Fatalf("task start: %v", err)
				}
			}
			pid := int(lt.task.Pid())
			lt.detach()

			if tc.restart {
				if err := rt.Close(); err != nil {
					t.Fatalf("Close: %v", err)
				}
				rt = newRuntime(t).(*Runtime)
			}
			st, err := rt.ContainerStatus(ctx, id)
			if err != nil {
				t.Fatalf("ContainerStatus: %v", err)
			}
			if st.State != tc.want {
				t.Errorf("the container is %s, want %s", st.State, tc.want)
			}

			if err := rt.StopSandbox(ctx, sb.ID); err != nil {
				t.Fatalf("StopSandbox: %v", err)
			}
			if err := rt.RemoveSandbox(ctx, sb.ID); err != nil {
				t.Fatalf("RemoveSandbox: %v", err)
			}
			if list, err := rt.ListContainers(ctx, sb.ID); err != nil || len(list) != 0 {
				t.Errorf("after RemoveSandbox: containers %v, %v; want none", list, err)
			}
			checkNoContainers(t, sb.ID)
			if err := syscall.Kill(pid, 0); !errors.Is(err, syscall.ESRCH) {
				t.Errorf("the task's process %d still exists after RemoveSandbox (kill 0: %v)", pid, err)
			}
		})
	}
}
