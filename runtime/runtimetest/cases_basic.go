package runtimetest

import (
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/shoal-project/shoal/runtime"
)

// images: the loaded image is listed and described; pulls work through the
// configured registry; a missing tag fails with the registry's words.
func (s *suite) images(t *testing.T, h *harness) {
	img, err := h.rt.ImageStatus(h.ctx, s.img.Ref)
	if err != nil {
		t.Fatalf("ImageStatus(%s): %v", s.img.Ref, err)
	}
	if !strings.HasPrefix(img.ID, "sha256:") || !strings.HasPrefix(img.Digest, "sha256:") {
		t.Errorf("image %+v: want sha256 ID and Digest", img)
	}
	if byID, err := h.rt.ImageStatus(h.ctx, img.ID); err != nil || byID.Ref != img.Ref {
		t.Errorf("ImageStatus(%s) = %+v, %v; want %s", img.ID, byID, err, img.Ref)
	}
	all, err := h.rt.ListImages(h.ctx)
	if err != nil {
		t.Fatalf("ListImages: %v", err)
	}
	if !slices.ContainsFunc(all, func(i *runtime.Image) bool { return i.Ref == img.Ref }) {
		t.Errorf("ListImages = %v, want %s in it", all, img.Ref)
	}
	_, err = h.rt.ImageStatus(h.ctx, "registry.invalid/none/such:1")
	wantErrIs(t, err, runtime.ErrNotFound, "ImageStatus of a missing image")

	if s.img.PullRef != "" {
		pulled, err := h.rt.PullImage(h.ctx, s.img.PullRef, nil)
		if err != nil {
			t.Fatalf("PullImage(%s): %v", s.img.PullRef, err)
		}
		if got, err := h.rt.ImageStatus(h.ctx, s.img.PullRef); err != nil || got.ID != pulled.ID {
			t.Errorf("ImageStatus after pull = %+v, %v; want ID %s", got, err, pulled.ID)
		}
		sb := h.sandbox()
		id := h.run(sb, runtime.ContainerConfig{Image: s.img.PullRef, Command: []string{"sleep", "3600"}})
		if st := h.status(id); st.State != runtime.StateRunning || st.ImageID != pulled.ID {
			t.Errorf("container of the pulled image: %+v", st)
		}
	}
	if s.img.MissingRef != "" {
		_, err := h.rt.PullImage(h.ctx, s.img.MissingRef, nil)
		wantErrIs(t, err, runtime.ErrImagePull, "PullImage of a missing tag")
		if !strings.Contains(err.Error(), "not found") {
			t.Errorf("PullImage of a missing tag: %v, want the registry's \"not found\"", err)
		}
	}
}

// sandboxLifecycle: run (idempotent), list, stop (idempotent), remove
// (idempotent).
func (s *suite) sandboxLifecycle(t *testing.T, h *harness) {
	sb := h.sandbox()
	if !sb.Ready || sb.NetNS == "" || sb.ID == "" {
		t.Fatalf("RunSandbox = %+v, want ready with a netns", sb)
	}
	again, err := h.rt.RunSandbox(h.ctx, runtime.SandboxConfig{UID: sb.UID, Namespace: sb.Namespace, Name: sb.Name})
	if err != nil || again.ID != sb.ID {
		t.Fatalf("RunSandbox again = %+v, %v; want the same sandbox %s", again, err, sb.ID)
	}
	find := func() *runtime.Sandbox {
		all, err := h.rt.ListSandboxes(h.ctx)
		if err != nil {
			t.Fatalf("ListSandboxes: %v", err)
		}
		for _, x := range all {
			if x.ID == sb.ID {
				return x
			}
		}
		return nil
	}
	got := find()
	if got == nil || !got.Ready || got.Labels["app"] != "test" || got.UID != sb.UID {
		t.Fatalf("ListSandboxes has %+v, want ready %s with its labels", got, sb.ID)
	}
	for i := 0; i < 2; i++ {
		if err := h.rt.StopSandbox(h.ctx, sb.ID); err != nil {
			t.Fatalf("StopSandbox #%d: %v", i+1, err)
		}
	}
	if got := find(); got == nil || got.Ready {
		t.Fatalf("after StopSandbox: %+v, want listed and not ready", got)
	}
	for i := 0; i < 2; i++ {
		if err := h.rt.RemoveSandbox(h.ctx, sb.ID); err != nil {
			t.Fatalf("RemoveSandbox #%d: %v", i+1, err)
		}
	}
	if got := find(); got != nil {
		t.Fatalf("after RemoveSandbox: still listed %+v", got)
	}
	if s.img.CheckRemoved != nil {
		s.img.CheckRemoved(t, sb)
	}
}

// containerLifecycle: created -> running -> exited -> removed.
func (s *suite) containerLifecycle(t *testing.T, h *harness) {
	sb := h.sandbox()
	id := h.create(sb, runtime.ContainerConfig{
		Name: "main", Attempt: 2, Command: []string{"sleep", "3600"},
		Labels: map[string]string{"io.kubernetes.container.name": "main"},
	})
	st := h.status(id)
	if st.State != runtime.StateCreated || st.Name != "main" || st.Attempt != 2 || st.SandboxID != sb.ID ||
		st.Labels["io.kubernetes.container.name"] != "main" || !strings.HasPrefix(st.ImageID, "sha256:") {
		t.Fatalf("created: %+v", st)
	}
	if err := h.rt.StartContainer(h.ctx, id); err != nil {
		t.Fatalf("StartContainer: %v", err)
	}
	st = h.status(id)
	if st.State != runtime.StateRunning || st.StartedAt.IsZero() {
		t.Fatalf("started: %+v", st)
	}
	list, err := h.rt.ListContainers(h.ctx, sb.ID)
	if err != nil || len(list) != 1 || list[0].ID != id || list[0].State != runtime.StateRunning {
		t.Fatalf("ListContainers(%s) = %v, %v; want the running container", sb.ID, list, err)
	}
	if all, err := h.rt.ListContainers(h.ctx, ""); err != nil || !containsID(all, id) {
		t.Fatalf("ListContainers(\"\") = %v, %v; want %s in it", all, err, id)
	}
	if _, err := h.rt.ContainerStats(h.ctx, id); err != nil {
		t.Errorf("ContainerStats: %v", err)
	}
	if v, err := h.rt.Version(h.ctx); err != nil || !strings.Contains(v, "://") {
		t.Errorf("Version = %q, %v", v, err)
	}
	if err := h.rt.StopContainer(h.ctx, id, time.Second); err != nil {
		t.Fatalf("StopContainer: %v", err)
	}
	st = h.status(id)
	if st.State != runtime.StateExited || st.ExitCode != 137 || st.Reason != "Error" || st.FinishedAt.Before(st.StartedAt) {
		t.Fatalf("stopped: %+v, want exited 137 Error", st)
	}
	if _, err := h.rt.Exec(h.ctx, id, []string{"true"}, runtime.ExecStreams{}); err == nil {
		t.Errorf("Exec in a stopped container succeeded")
	} else {
		wantErrIs(t, err, runtime.ErrNotRunning, "Exec in a stopped container")
	}
	for i := 0; i < 2; i++ {
		if err := h.rt.RemoveContainer(h.ctx, id); err != nil {
			t.Fatalf("RemoveContainer #%d: %v", i+1, err)
		}
	}
	_, err = h.rt.ContainerStatus(h.ctx, id)
	wantErrIs(t, err, runtime.ErrNotFound, "ContainerStatus of a removed container")
	_, err = h.rt.CreateContainer(h.ctx, sb.ID, runtime.ContainerConfig{Name: "x", Image: "registry.invalid/none/such:1"})
	wantErrIs(t, err, runtime.ErrNotFound, "CreateContainer of a missing image")
}

// restart: a new Runtime over the same node state finds the same sandboxes
// and containers, and still records exits.
func (s *suite) restart(t *testing.T, h *harness) {
	sb := h.sandbox()
	running := h.run(sb, runtime.ContainerConfig{Name: "runs", Command: []string{"sleep", "3600"}})
	created := h.create(sb, runtime.ContainerConfig{Name: "waits", Command: []string{"sleep", "3600"}})
	h.restart()
	all, err := h.rt.ListSandboxes(h.ctx)
	if err != nil {
		t.Fatalf("ListSandboxes after restart: %v", err)
	}
	found := false
	for _, x := range all {
		if x.ID == sb.ID && x.Ready && x.UID == sb.UID && x.NetNS == sb.NetNS {
			found = true
		}
	}
	if !found {
		t.Fatalf("ListSandboxes after restart = %v, want ready %+v", all, sb)
	}
	list, err := h.rt.ListContainers(h.ctx, sb.ID)
	if err != nil {
		t.Fatalf("ListContainers after restart: %v", err)
	}
	states := map[string]runtime.ContainerState{}
	for _, c := range list {
		states[c.ID] = c.State
	}
	if states[running] != runtime.StateRunning || states[created] != runtime.StateCreated || len(states) != 2 {
		t.Fatalf("after restart: states %v, want %s running and %s created", states, running, created)
	}
	if err := h.rt.StopContainer(h.ctx, running, 0); err != nil {
		t.Fatalf("StopContainer after restart: %v", err)
	}
	if st := h.status(running); st.State != runtime.StateExited || st.ExitCode != 137 {
		t.Fatalf("stopped after restart: %+v", st)
	}
}

func containsID(list []*runtime.ContainerStatus, id string) bool {
	return slices.ContainsFunc(list, func(c *runtime.ContainerStatus) bool { return c.ID == id })
}
