package containerd

import (
	"context"
	"fmt"
	"time"

	v1 "github.com/containerd/cgroups/stats/v1"
	v2 "github.com/containerd/cgroups/v2/stats"
	"github.com/containerd/containerd/errdefs"
	"github.com/containerd/typeurl/v2"

	"github.com/shoal-project/shoal/runtime"
)

// ContainerStats reads the task's cgroup metrics (v1 or v2).
func (r *Runtime) ContainerStats(ctx context.Context, id string) (*runtime.ContainerStats, error) {
	ctx = r.nsctx(ctx)
	c, err := r.client.LoadContainer(ctx, id)
	if err != nil {
		return nil, notFound(err, "container "+id)
	}
	task, err := c.Task(ctx, nil)
	if errdefs.IsNotFound(err) {
		return nil, fmt.Errorf("container %s: %w", id, runtime.ErrNotRunning)
	}
	if err != nil {
		return nil, fmt.Errorf("stats of %s: %w", id, err)
	}
	m, err := task.Metrics(ctx)
	if err != nil {
		return nil, fmt.Errorf("stats of %s: %w", id, err)
	}
	data, err := typeurl.UnmarshalAny(m.Data)
	if err != nil {
		return nil, fmt.Errorf("stats of %s: %w", id, err)
	}
	st := &runtime.ContainerStats{Timestamp: time.Now()}
	if m.Timestamp != nil {
		st.Timestamp = m.Timestamp.AsTime()
	}
	switch d := data.(type) {
	case *v1.Metrics:
		if d.CPU != nil && d.CPU.Usage != nil {
			st.CPUUsageNanos = d.CPU.Usage.Total
		}
		if d.Memory != nil && d.Memory.Usage != nil {
			st.MemoryWorkingSetBytes = sub(d.Memory.Usage.Usage, d.Memory.TotalInactiveFile)
		}
	case *v2.Metrics:
		if d.CPU != nil {
			st.CPUUsageNanos = d.CPU.UsageUsec * 1000
		}
		if d.Memory != nil {
			st.MemoryWorkingSetBytes = sub(d.Memory.Usage, d.Memory.InactiveFile)
		}
	default:
		return nil, fmt.Errorf("stats of %s: unknown metrics type %T", id, data)
	}
	return st, nil
}

func sub(a, b uint64) uint64 {
	if b > a {
		return 0
	}
	return a - b
}
