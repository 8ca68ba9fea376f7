package fake_test

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/shoal-project/shoal/runtime"
	"github.com/shoal-project/shoal/runtime/fake"
	"github.com/shoal-project/shoal/runtime/runtimetest"
)

func TestConformance(t *testing.T) {
	var mu sync.Mutex
	nodes := map[*testing.T]*fake.Runtime{}
	newRuntime := func(t *testing.T) runtime.Runtime {
		mu.Lock()
		defer mu.Unlock()
		rt := fake.New()
		if prev, ok := nodes[t]; ok {
			rt = prev.Restart()
		}
		rt.SetFaults(func(f *fake.Faults) {
			f.PullError["registry.test/app:missing"] = errors.New("registry.test/app:missing: not found")
		})
		nodes[t] = rt
		return rt
	}
	runtimetest.Run(t, newRuntime, runtimetest.TestImage{
		Ref: "shoal.test/busybox:1",
		Load: func(t *testing.T, rt runtime.Runtime) {
			if _, err := rt.ImportImages(context.Background(), strings.NewReader("shoal.test/busybox:1\n")); err != nil {
				t.Fatal(err)
			}
		},
		PullRef:    "registry.test/app:1",
		MissingRef: "registry.test/app:missing",
	})
}

func TestFaults(t *testing.T) {
	ctx := context.Background()
	rt := fake.New()
	rt.AddImage("job:1")
	rt.SetFaults(func(f *fake.Faults) {
		f.RunFor["job:1"] = 50 * time.Millisecond
		f.ExitCode["job:1"] = 4
		f.StartDelay = 20 * time.Millisecond
	})
	sb, err := rt.RunSandbox(ctx, runtime.SandboxConfig{UID: "u1", Namespace: "ns", Name: "p"})
	if err != nil {
		t.Fatal(err)
	}
	id, err := rt.CreateContainer(ctx, sb.ID, runtime.ContainerConfig{Name: "c", Image: "job:1"})
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	if err := rt.StartContainer(ctx, id); err != nil {
		t.Fatal(err)
	}
	if time.Since(start) < 20*time.Millisecond {
		t.Errorf("StartDelay not honoured")
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		st, err := rt.ContainerStatus(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		if st.State == runtime.StateExited {
			if st.ExitCode != 4 || st.Reason != "Error" {
				t.Errorf("exit = %+v, want 4 Error", st)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("RunFor not honoured: %+v", st)
		}
		time.Sleep(10 * time.Millisecond)
	}

	boom := errors.New("boom")
	rt.SetFaults(func(f *fake.Faults) { f.StartError = boom; f.StartDelay = 0 })
	id2, err := rt.CreateContainer(ctx, sb.ID, runtime.ContainerConfig{Name: "d", Image: "job:1"})
	if err != nil {
		t.Fatal(err)
	}
	if err := rt.StartContainer(ctx, id2); !errors.Is(err, boom) {
		t.Errorf("StartContainer = %v, want boom", err)
	}
	if _, err := rt.PullImage(ctx, "job:1", nil); err != nil {
		t.Errorf("PullImage: %v", err)
	}
}
