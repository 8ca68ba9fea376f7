package containerd

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"syscall"
	"testing"

	"github.com/shoal-project/shoal/runtime"
)

// TestPurge: a namespace with a running container (a pod's sandbox and a
// sleep) is emptied and removed by Purge, the container's process gone; a
// second Purge has nothing to do.
func TestPurge(t *testing.T) {
	socket := needDaemon(t)
	archive := imageTarball(t, busyboxImage(t), testImageRef)
	rt := newNodeFactory(nil)(t).(*Runtime)
	ctx := context.Background()
	if _, err := rt.ImportImages(ctx, bytes.NewReader(archive)); err != nil {
		t.Fatalf("ImportImages: %v", err)
	}
	sb, err := rt.RunSandbox(ctx, runtime.SandboxConfig{UID: "u-purge", Namespace: "default", Name: "p", Hostname: "p"})
	if err != nil {
		t.Fatalf("RunSandbox: %v", err)
	}
	id, err := rt.CreateContainer(ctx, sb.ID, runtime.ContainerConfig{Name: "app", Image: testImageRef, Command: []string{"sleep", "3600"}})
	if err != nil {
		t.Fatalf("CreateContainer: %v", err)
	}
	if err := rt.StartContainer(ctx, id); err != nil {
		t.Fatalf("StartContainer: %v", err)
	}
	c, err := rt.client.LoadContainer(rt.nsctx(ctx), id)
	if err != nil {
		t.Fatal(err)
	}
	task, err := c.Task(rt.nsctx(ctx), nil)
	if err != nil {
		t.Fatal(err)
	}
	pid := int(task.Pid())
	ns := rt.opts.Namespace
	rt.Close()

	did, err := Purge(ctx, socket, ns)
	if err != nil {
		t.Fatalf("Purge: %v (did %q)", err, did)
	}
	text := strings.Join(did, "\n")
	for _, want := range []string{"task " + id, "container " + id, "image " + testImageRef, "containerd namespace " + ns} {
		if !strings.Contains(text, want) {
			t.Errorf("Purge did:\n%s\nwant %q", text, want)
		}
	}
	if err := syscall.Kill(pid, 0); !errors.Is(err, syscall.ESRCH) {
		t.Errorf("the container's process %d outlived Purge (kill 0: %v)", pid, err)
	}
	if did, err := Purge(ctx, socket, ns); err != nil || len(did) != 0 {
		t.Errorf("second Purge: did %q, %v; want nothing", did, err)
	}
}
