package resourcemetrics

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"sort"
	"sync"
	"time"

	"github.com/shoal-project/shoal/runtime"

	"github.com/shoal-project/shoal/internal/procfs"
)

// Defaults of CollectorConfig.
const (
	DefaultInterval  = 10 * time.Second
	DefaultMinWindow = time.Second
)

// maxSamples bounds the history whatever the request rate (on-demand
// samples are at most one per MinWindow).
const maxSamples = 64

// Containers is the part of runtime.Runtime the collector reads.
type Containers interface {
	ListSandboxes(ctx context.Context) ([]*runtime.Sandbox, error)
	ListContainers(ctx context.Context, sandboxID string) ([]*runtime.ContainerStatus, error)
	ContainerStats(ctx context.Context, id string) (*runtime.ContainerStats, error)
}

var _ Containers = runtime.Runtime(nil)

// CollectorConfig holds what a Collector uses. NodeName is required.
type CollectorConfig struct {
	NodeName string
	// Runtime lists the node's containers and reads their cgroup figures;
	// nil reports node figures only.
	Runtime Containers
	// FsPath is a path on the filesystem to report (the data directory);
	// "" leaves Fs out.
	FsPath string
	// ProcRoot is where proc is mounted; "" means /proc. Network counters
	// are those of the namespace the process runs in.
	ProcRoot string
	// Interval is the sampling period (0: DefaultInterval). Rates are
	// averaged over up to one and a half Intervals.
	Interval time.Duration
	// MinWindow is the shortest window a rate is computed over, and the
	// age beyond which a request takes a fresh sample (0: DefaultMinWindow).
	MinWindow time.Duration
	Logger    *slog.Logger
	// Now is the clock; nil means time.Now.
	Now func() time.Time
}

// Collector samples the node's and its containers' figures every Interval
// (and on demand) and reports them with CPU rates computed between two
// samples, as the kubelet's summary API and metrics-server do together.
type Collector struct {
	cfg       CollectorConfig
	log       *slog.Logger
	maxWindow time.Duration

	// sem holds one token while a sample is taken: one sample at a time,
	// and callers wait for it on their own context.
	sem     chan struct{}
	mu      sync.Mutex
	samples []*sample // oldest first
}

// sample is one reading of everything.
type sample struct {
	at    time.Time
	cpu   *uint64 // machine busy core-nanoseconds
	mem   *procfs.Meminfo
	net   []InterfaceStats
	netOK bool
	fs    *FsStats
	// containers are the running containers by runtime id, when
	// containersOK: the runtime was listed and every read finished. A
	// reading that failed or was cut short is not kept (it would show
	// pods missing or under-counted); summaries use the newest whole one.
	containers   map[string]containerSample
	containersOK bool
}

// containerSample is one reading of a running container.
type containerSample struct {
	pod  PodReference
	name string
	at   time.Time
	cpu  uint64
	mem  uint64
}

// NewCollector assembles a collector; it does no I/O.
func NewCollector(cfg CollectorConfig) *Collector {
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.ProcRoot == "" {
		cfg.ProcRoot = "/proc"
	}
	if cfg.Interval <= 0 {
		cfg.Interval = DefaultInterval
	}
	if cfg.MinWindow <= 0 {
		cfg.MinWindow = DefaultMinWindow
	}
	return &Collector{cfg: cfg, log: cfg.Logger, maxWindow: cfg.Interval * 3 / 2, sem: make(chan struct{}, 1)}
}

// Run samples every Interval until ctx ends.
func (c *Collector) Run(ctx context.Context) error {
	t := time.NewTicker(c.cfg.Interval)
	defer t.Stop()
	for {
		c.sample(ctx)
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
	}
}

// Summary reports the freshest figures, sampling first when the last
// sample is older than MinWindow.
func (c *Collector) Summary(ctx context.Context) *Summary {
	c.sampleIfStale(ctx)
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.summarize()
}

// sampleIfStale samples unless the last sample is younger than MinWindow.
// Requests that arrive together (every peer asking at once) wait for one
// sample rather than take one each; one that gives up waiting reports what
// there is. The sample is shared, so it is not bound to the request that
// happens to take it: a peer giving up must not cut it short for everyone.
func (c *Collector) sampleIfStale(ctx context.Context) {
	if !c.acquire(ctx) {
		return
	}
	defer c.release()
	c.mu.Lock()
	fresh := len(c.samples) > 0 && c.cfg.Now().Sub(c.samples[len(c.samples)-1].at) < c.cfg.MinWindow
	c.mu.Unlock()
	if !fresh {
		c.sampleHeld(context.WithoutCancel(ctx))
	}
}

// sample reads everything once and appends it to the history.
func (c *Collector) sample(ctx context.Context) {
	if !c.acquire(ctx) {
		return
	}
	defer c.release()
	c.sampleHeld(ctx)
}

// acquire takes the sampling token, or gives up (false) when ctx ends
// first. A caller whose ctx has already ended does not sample.
func (c *Collector) acquire(ctx context.Context) bool {
	if ctx.Err() != nil {
		return false
	}
	select {
	case c.sem <- struct{}{}:
		return true
	case <-ctx.Done():
		return false
	}
}

func (c *Collector) release() { <-c.sem }

// sampleHeld is sample with the token held. Container reads are bounded
// by the collector's own timeout (Interval).
func (c *Collector) sampleHeld(ctx context.Context) {
	s := &sample{at: c.cfg.Now()}
	proc := procfs.FS{Root: c.cfg.ProcRoot}
	if cpu, err := proc.CPUBusy(); err == nil {
		s.cpu = &cpu
	} else {
		c.log.Debug("read node cpu", "error", err)
	}
	if m, err := proc.Meminfo(); err == nil {
		s.mem = &m
	} else {
		c.log.Debug("read node memory", "error", err)
	}
	if ifs, err := proc.NetDev(); err == nil {
		s.net, s.netOK = make([]InterfaceStats, len(ifs)), true
		for i, f := range ifs {
			s.net[i] = InterfaceStats(f)
		}
	} else {
		c.log.Debug("read node network", "error", err)
	}
	if c.cfg.FsPath != "" {
		if fs, err := statFS(c.cfg.FsPath); err == nil {
			s.fs = &fs
		} else {
			c.log.Debug("read node filesystem", "error", err)
		}
	}
	if c.cfg.Runtime != nil {
		s.containers, s.containersOK = c.sampleContainers(ctx, s.at)
	}

	c.mu.Lock()
	defer c.mu.Unlock()
	c.samples = append(c.samples, s)
	// Keep what a later sample could still use as its base.
	keep := 0
	for keep < len(c.samples)-1 && (s.at.Sub(c.samples[keep].at) > c.maxWindow+c.cfg.Interval || len(c.samples)-keep > maxSamples) {
		keep++
	}
	c.samples = append([]*sample(nil), c.samples[keep:]...)
}

// sampleContainers reads every running container of the node's pods; ok
// is false when the runtime could not be listed or the reads were cut
// short. A pod one of whose containers could not be read is left out
// rather than under-counted.
func (c *Collector) sampleContainers(ctx context.Context, now time.Time) (_ map[string]containerSample, ok bool) {
	ctx, cancel := context.WithTimeout(ctx, c.cfg.Interval)
	defer cancel()
	sbs, err := c.cfg.Runtime.ListSandboxes(ctx)
	if err != nil {
		c.log.Debug("list sandboxes", "error", err)
		return nil, false
	}
	pods := make(map[string]PodReference, len(sbs))
	for _, sb := range sbs {
		pods[sb.ID] = PodReference{Name: sb.Name, Namespace: sb.Namespace, UID: sb.UID}
	}
	list, err := c.cfg.Runtime.ListContainers(ctx, "")
	if err != nil {
		c.log.Debug("list containers", "error", err)
		return nil, false
	}
	out := make(map[string]containerSample, len(list))
	incomplete := map[string]bool{} // pod uids
	for _, cs := range list {
		pod, ok := pods[cs.SandboxID]
		if !ok || cs.State != runtime.StateRunning {
			continue
		}
		st, err := c.cfg.Runtime.ContainerStats(ctx, cs.ID)
		switch {
		case err == nil:
		case errors.Is(err, runtime.ErrNotRunning) || errors.Is(err, runtime.ErrNotFound):
			continue // stopped since the listing: not running, not missing
		case ctx.Err() != nil:
			c.log.Debug("container stats cut short", "container_id", cs.ID, "error", err)
			return nil, false
		default:
			c.log.Debug("container stats", "container_id", cs.ID, "error", err)
			incomplete[pod.UID] = true
			continue
		}
		at := st.Timestamp
		if at.IsZero() {
			at = now
		}
		out[cs.ID] = containerSample{pod: pod, name: cs.Name, at: at, cpu: st.CPUUsageNanos, mem: st.MemoryWorkingSetBytes}
	}
	for id, cc := range out {
		if incomplete[cc.pod.UID] {
			delete(out, id)
		}
	}
	return out, true
}

// summarize reports the newest sample, with rates against the oldest
// earlier sample within the window; the pods come from the newest whole
// container reading (none once it has aged out of the history). c.mu is
// held.
func (c *Collector) summarize() *Summary {
	sum := &Summary{Node: NodeStats{NodeName: c.cfg.NodeName}, Pods: []PodStats{}}
	if len(c.samples) == 0 {
		return sum
	}
	cur := c.samples[len(c.samples)-1]
	earlier := c.samples[:len(c.samples)-1]

	if cur.cpu != nil {
		cs := &CPUStats{Time: cur.at, UsageCoreNanoSeconds: ptr(*cur.cpu)}
		for _, s := range c.bases(earlier, cur.at) {
			if s.cpu == nil {
				continue
			}
			if r, ok := rate(*s.cpu, *cur.cpu, cur.at.Sub(s.at)); ok {
				cs.UsageNanoCores, cs.Window = ptr(r), cur.at.Sub(s.at)
			}
			break
		}
		sum.Node.CPU = cs
	}
	if m := cur.mem; m != nil {
		sum.Node.Memory = &MemoryStats{Time: cur.at, AvailableBytes: ptr(m.Available), UsageBytes: ptr(m.Usage()), WorkingSetBytes: ptr(m.WorkingSet())}
	}
	if cur.netOK {
		sum.Node.Network = &NetworkStats{Time: cur.at, InterfaceStats: sumInterfaces(cur.net), Interfaces: cur.net}
	}
	if cur.fs != nil {
		fs := *cur.fs
		fs.Time = cur.at
		sum.Node.Fs = &fs
	}

	// Containers: from the newest whole reading, with rates against the
	// whole readings before it.
	var curC *sample
	var earlierC []*sample
	for i := len(c.samples) - 1; i >= 0; i-- {
		if c.samples[i].containersOK {
			curC = c.samples[i]
			break
		}
	}
	for _, s := range c.samples {
		if curC != nil && s.containersOK && s.at.Before(curC.at) {
			earlierC = append(earlierC, s)
		}
	}
	if curC == nil {
		return sum
	}
	byPod := map[string]int{} // uid -> index in sum.Pods
	for _, id := range sortedKeys(curC.containers) {
		cc := curC.containers[id]
		cs := ContainerStats{
			Name:   cc.name,
			CPU:    &CPUStats{Time: cc.at, UsageCoreNanoSeconds: ptr(cc.cpu)},
			Memory: &MemoryStats{Time: cc.at, WorkingSetBytes: ptr(cc.mem)},
		}
		for _, s := range c.bases(earlierC, curC.at) {
			prev, ok := s.containers[id]
			if !ok {
				continue
			}
			if r, ok := rate(prev.cpu, cc.cpu, cc.at.Sub(prev.at)); ok {
				cs.CPU.UsageNanoCores, cs.CPU.Window = ptr(r), cc.at.Sub(prev.at)
			}
			break
		}
		i, ok := byPod[cc.pod.UID]
		if !ok {
			i = len(sum.Pods)
			byPod[cc.pod.UID] = i
			sum.Pods = append(sum.Pods, PodStats{PodRef: cc.pod})
		}
		sum.Pods[i].Containers = append(sum.Pods[i].Containers, cs)
	}
	sort.Slice(sum.Pods, func(i, j int) bool {
		a, b := sum.Pods[i].PodRef, sum.Pods[j].PodRef
		if a.Namespace != b.Namespace {
			return a.Namespace < b.Namespace
		}
		return a.Name < b.Name || a.Name == b.Name && a.UID < b.UID
	})
	for _, p := range sum.Pods {
		sort.SliceStable(p.Containers, func(i, j int) bool { return p.Containers[i].Name < p.Containers[j].Name })
	}
	return sum
}

// bases are the samples a rate ending at end may start from, oldest
// first: at most maxWindow and at least MinWindow before end.
func (c *Collector) bases(earlier []*sample, end time.Time) []*sample {
	var out []*sample
	for _, s := range earlier {
		age := end.Sub(s.at)
		if age > c.maxWindow {
			continue
		}
		if age < c.cfg.MinWindow {
			break
		}
		out = append(out, s)
	}
	return out
}

// rate is the average CPU usage, in nanocores, of a counter of core
// nanoseconds that went from prev to cur over window. A counter that went
// backwards (a restarted container) or an empty window has no rate.
func rate(prev, cur uint64, window time.Duration) (uint64, bool) {
	if window <= 0 || cur < prev {
		return 0, false
	}
	return uint64(float64(cur-prev) / window.Seconds()), true
}

func ptr(v uint64) *uint64 { return &v }

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
