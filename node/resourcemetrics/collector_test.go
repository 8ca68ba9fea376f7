package resourcemetrics

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/shoal-project/shoal/runtime"
)

func TestRate(t *testing.T) {
	for _, tc := range []struct {
		prev, cur uint64
		window    time.Duration
		want      uint64
		ok        bool
	}{
		{0, 500_000_000, time.Second, 500_000_000, true},             // half a core
		{1_000_000_000, 21_000_000_000, 10 * time.Second, 2e9, true}, // two cores
		{5, 5, time.Second, 0, true},                                 // idle
		{10, 5, time.Second, 0, false},                               // restarted counter
		{0, 5, 0, 0, false},                                          // no window
		{0, 15e18, 15 * time.Second, 1e18, true},                     // no overflow
	} {
		got, ok := rate(tc.prev, tc.cur, tc.window)
		if got != tc.want || ok != tc.ok {
			t.Errorf("rate(%d, %d, %v) = %d, %v; want %d, %v", tc.prev, tc.cur, tc.window, got, ok, tc.want, tc.ok)
		}
	}
}

// fakeMachine is a proc root, a clock and a runtime whose figures the test
// moves between samples.
type fakeMachine struct {
	t    *testing.T
	root string
	now  time.Time

	mu         sync.Mutex
	sandboxes  []*runtime.Sandbox
	containers []*runtime.ContainerStatus
	stats      map[string]*runtime.ContainerStats
	// listErr fails the listings; statsErr a container's stats.
	listErr  error
	statsErr map[string]error
	// onList runs when the sandboxes are listed (unlocked); block, when
	// set, holds the listing until it is closed or the ctx ends.
	onList func()
	block  chan struct{}
}

func newFakeMachine(t *testing.T) *fakeMachine {
	m := &fakeMachine{t: t, root: t.TempDir(), now: time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC), stats: map[string]*runtime.ContainerStats{}}
	os.MkdirAll(filepath.Join(m.root, "net"), 0o755)
	m.setProc(0, 2048, 1000, 0)
	return m
}

// setProc writes proc files: busy CPU in jiffies, memory in kB, rx bytes
// of eth0.
func (m *fakeMachine) setProc(busyJiffies uint64, totalKB, availKB, rx uint64) {
	write := func(name, content string) {
		if err := os.WriteFile(filepath.Join(m.root, name), []byte(content), 0o644); err != nil {
			m.t.Fatal(err)
		}
	}
	write("stat", fmt.Sprintf("cpu  %d 0 0 99999 0 0 0 0 0 0\n", busyJiffies))
	write("meminfo", fmt.Sprintf("MemTotal: %d kB\nMemFree: %d kB\nMemAvailable: %d kB\n", totalKB, availKB/2, availKB))
	write("net/dev", fmt.Sprintf("h\nh\n    lo: 1 0 0 0 0 0 0 0 1 0 0 0 0 0 0 0\n  eth0: %d 0 0 0 0 0 0 0 7 0 0 0 0 0 0 0\n", rx))
}

func (m *fakeMachine) addContainer(podUID, ns, pod, sbID, id, name string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	found := false
	for _, sb := range m.sandboxes {
		found = found || sb.ID == sbID
	}
	if !found {
		m.sandboxes = append(m.sandboxes, &runtime.Sandbox{ID: sbID, UID: podUID, Namespace: ns, Name: pod})
	}
	m.containers = append(m.containers, &runtime.ContainerStatus{ID: id, SandboxID: sbID, Name: name, State: runtime.StateRunning})
}

// setStats sets a container's cumulative CPU (ns) and working set at the
// machine's current time.
func (m *fakeMachine) setStats(id string, cpu, mem uint64) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.stats[id] = &runtime.ContainerStats{Timestamp: m.now, CPUUsageNanos: cpu, MemoryWorkingSetBytes: mem}
}

func (m *fakeMachine) advance(d time.Duration) {
	m.mu.Lock()
	m.now = m.now.Add(d)
	m.mu.Unlock()
}

func (m *fakeMachine) clock() time.Time {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.now
}

// The fake runtime honours its ctx as containerd's client does: a call
// made with an ended ctx fails.

func (m *fakeMachine) ListSandboxes(ctx context.Context) ([]*runtime.Sandbox, error) {
	m.mu.Lock()
	onList, block := m.onList, m.block
	m.mu.Unlock()
	if onList != nil {
		onList()
	}
	if block != nil {
		select {
		case <-block:
		case <-ctx.Done():
		}
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.listErr != nil {
		return nil, m.listErr
	}
	return append([]*runtime.Sandbox(nil), m.sandboxes...), nil
}

func (m *fakeMachine) ListContainers(ctx context.Context, sandboxID string) ([]*runtime.ContainerStatus, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.listErr != nil {
		return nil, m.listErr
	}
	return append([]*runtime.ContainerStatus(nil), m.containers...), nil
}

func (m *fakeMachine) ContainerStats(ctx context.Context, id string) (*runtime.ContainerStats, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if err := m.statsErr[id]; err != nil {
		return nil, err
	}
	st, ok := m.stats[id]
	if !ok {
		return nil, fmt.Errorf("container %s: %w", id, runtime.ErrNotFound)
	}
	cp := *st
	return &cp, nil
}

func (m *fakeMachine) collector() *Collector {
	return NewCollector(CollectorConfig{NodeName: "node-a", Runtime: m, ProcRoot: m.root, FsPath: m.root, Now: m.clock})
}

func derefOr(p *uint64) string {
	if p == nil {
		return "<none>"
	}
	return fmt.Sprint(*p)
}

func TestCollectorNodeFigures(t *testing.T) {
	m := newFakeMachine(t)
	c := m.collector()
	ctx := context.Background()

	// One sample: figures, but no rate yet.
	s := c.Summary(ctx)
	if s.Node.NodeName != "node-a" || s.Node.CPU == nil || s.Node.CPU.UsageNanoCores != nil {
		t.Fatalf("first summary: node %q cpu %+v, want no rate", s.Node.NodeName, s.Node.CPU)
	}
	if got := derefOr(s.Node.Memory.WorkingSetBytes); got != fmt.Sprint(1048*1024) {
		t.Errorf("working set = %s, want %d (MemTotal - MemAvailable)", got, 1048*1024)
	}
	if s.Node.Network == nil || s.Node.Network.RxBytes != 0 || s.Node.Network.TxBytes != 7 || len(s.Node.Network.Interfaces) != 1 {
		t.Errorf("network = %+v, want eth0 only", s.Node.Network)
	}
	if s.Node.Fs == nil || s.Node.Fs.CapacityBytes == 0 {
		t.Errorf("fs = %+v", s.Node.Fs)
	}

	// 10 s later 15 s of busy CPU (1500 jiffies): 1.5 cores.
	m.advance(10 * time.Second)
	m.setProc(1500, 2048, 500, 4096)
	s = c.Summary(ctx)
	if got := derefOr(s.Node.CPU.UsageNanoCores); got != "1500000000" || s.Node.CPU.Window != 10*time.Second {
		t.Errorf("cpu = %s over %v, want 1500000000 over 10s", got, s.Node.CPU.Window)
	}
	if !s.Node.CPU.Time.Equal(m.clock()) {
		t.Errorf("cpu time = %v, want the sample's %v", s.Node.CPU.Time, m.clock())
	}
	if s.Node.Network.RxBytes != 4096 {
		t.Errorf("rx = %d, want 4096", s.Node.Network.RxBytes)
	}

	// Asked again within MinWindow: the same sample, no new reading.
	m.setProc(99999, 2048, 500, 4096)
	m.advance(500 * time.Millisecond)
	if again := c.Summary(ctx); derefOr(again.Node.CPU.UsageNanoCores) != "1500000000" {
		t.Errorf("a request within MinWindow resampled: %s", derefOr(again.Node.CPU.UsageNanoCores))
	}
}

func TestCollectorWindows(t *testing.T) {
	m := newFakeMachine(t)
	c := m.collector()
	ctx := context.Background()
	busy := uint64(0)
	// Samples every 10 s at one core (100 jiffies a second).
	for i := 0; i < 4; i++ {
		c.sample(ctx)
		m.advance(10 * time.Second)
		busy += 1000
		m.setProc(busy, 2048, 1000, 0)
	}
	// On demand 3 s after the last tick, at two cores since then.
	m.advance(3 * time.Second)
	m.setProc(busy+600, 2048, 1000, 0)
	s := c.Summary(ctx)
	// The oldest sample within 15 s is 13 s old: (10 s at 1 core + 3 s at 2) / 13 s.
	if s.Node.CPU.Window != 13*time.Second {
		t.Fatalf("window = %v, want 13s (the oldest sample within 1.5 intervals)", s.Node.CPU.Window)
	}
	if got, want := *s.Node.CPU.UsageNanoCores, uint64(1230769230); got != want { // 16e9 / 13
		t.Errorf("cpu = %d, want %d", got, want)
	}
	c.mu.Lock()
	n := len(c.samples)
	c.mu.Unlock()
	if n > 4 {
		t.Errorf("%d samples kept, want those younger than 25 s only", n)
	}
}

func TestCollectorContainers(t *testing.T) {
	m := newFakeMachine(t)
	c := m.collector()
	ctx := context.Background()
	m.addContainer("uid-web", "default", "web", "sb-web", "c-web-app", "app")
	m.addContainer("uid-web", "default", "web", "sb-web", "c-web-side", "sidecar")
	m.addContainer("uid-db", "prod", "db", "sb-db", "c-db", "db")
	m.setStats("c-web-app", 0, 10<<20)
	m.setStats("c-web-side", 0, 1<<20)
	m.setStats("c-db", 5e9, 100<<20)
	c.sample(ctx)

	m.advance(10 * time.Second)
	m.setStats("c-web-app", 2e9, 12<<20) // 200m
	m.setStats("c-web-side", 1e8, 1<<20) // 10m
	m.setStats("c-db", 1e9, 90<<20)      // counter went back: restarted in place
	m.mu.Lock()
	m.containers = append(m.containers, &runtime.ContainerStatus{ID: "c-exited", SandboxID: "sb-db", Name: "old", State: runtime.StateExited})
	m.containers = append(m.containers, &runtime.ContainerStatus{ID: "c-orphan", SandboxID: "sb-gone", Name: "x", State: runtime.StateRunning})
	m.mu.Unlock()
	s := c.Summary(ctx)

	type row struct{ pod, container, cpu, mem string }
	var got []row
	for _, p := range s.Pods {
		for _, ct := range p.Containers {
			got = append(got, row{p.PodRef.Namespace + "/" + p.PodRef.Name + "/" + p.PodRef.UID, ct.Name, derefOr(ct.CPU.UsageNanoCores), derefOr(ct.Memory.WorkingSetBytes)})
		}
	}
	want := []row{
		{"default/web/uid-web", "app", "200000000", fmt.Sprint(12 << 20)},
		{"default/web/uid-web", "sidecar", "10000000", fmt.Sprint(1 << 20)},
		{"prod/db/uid-db", "db", "<none>", fmt.Sprint(90 << 20)},
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("containers:\n got %v\nwant %v", got, want)
	}
	if w := s.Pods[0].Containers[0].CPU.Window; w != 10*time.Second {
		t.Errorf("container window = %v, want 10s", w)
	}

	// A container new in the latest sample has no rate until MinWindow has
	// passed since it was first seen.
	m.addContainer("uid-new", "default", "new", "sb-new", "c-new", "app")
	m.advance(2 * time.Second)
	m.setStats("c-new", 0, 1<<20)
	c.sample(ctx)
	m.advance(500 * time.Millisecond)
	m.setStats("c-new", 1e9, 1<<20)
	s = c.Summary(ctx) // stale by 500 ms < MinWindow: no fresh sample
	if ps := podByName(s, "new"); ps == nil || ps.Containers[0].CPU.UsageNanoCores != nil {
		t.Errorf("new pod right after its first sample: %+v, want it without a rate", ps)
	}
	m.advance(time.Second)
	m.setStats("c-new", 3e9, 1<<20)
	s = c.Summary(ctx) // 1.5 s after the last sample: samples on demand
	if ps := podByName(s, "new"); ps == nil || derefOr(ps.Containers[0].CPU.UsageNanoCores) != "2000000000" {
		t.Errorf("new pod 1.5 s later: %+v, want a 2-core rate", ps)
	}
}

func podByName(s *Summary, name string) *PodStats {
	for i := range s.Pods {
		if s.Pods[i].PodRef.Name == name {
			return &s.Pods[i]
		}
	}
	return nil
}

func TestCollectorServesSummary(t *testing.T) {
	m := newFakeMachine(t)
	c := m.collector()
	srv := httptest.NewServer(c)
	defer srv.Close()
	for _, tc := range []struct {
		method, path string
		code         int
	}{
		{http.MethodGet, SummaryPath, http.StatusOK},
		{http.MethodPost, SummaryPath, http.StatusMethodNotAllowed},
		{http.MethodGet, "/shoal/v1/node/stats/other", http.StatusNotFound},
	} {
		req, _ := http.NewRequest(tc.method, srv.URL+tc.path, nil)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		var s Summary
		err = json.NewDecoder(resp.Body).Decode(&s)
		resp.Body.Close()
		if resp.StatusCode != tc.code {
			t.Errorf("%s %s: %d, want %d", tc.method, tc.path, resp.StatusCode, tc.code)
		}
		if tc.code == http.StatusOK && (err != nil || s.Node.NodeName != "node-a" || s.Node.Memory == nil) {
			t.Errorf("summary %+v, %v", s, err)
		}
	}
}

func TestCollectorRunSamplesUntilCancelled(t *testing.T) {
	m := newFakeMachine(t)
	c := NewCollector(CollectorConfig{NodeName: "n", ProcRoot: m.root, Interval: 10 * time.Millisecond})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() { done <- c.Run(ctx) }()
	deadline := time.Now().Add(5 * time.Second)
	for {
		c.mu.Lock()
		n := len(c.samples)
		c.mu.Unlock()
		if n >= 3 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d samples after 5 s at a 10 ms interval", n)
		}
		time.Sleep(5 * time.Millisecond)
	}
	cancel()
	if err := <-done; err != nil {
		t.Errorf("Run returned %v after cancel, want nil", err)
	}
}

func TestCollectorConcurrentRequestsShareASample(t *testing.T) {
	m := newFakeMachine(t)
	c := m.collector()
	c.sample(context.Background())
	m.advance(5 * time.Second)
	var wg sync.WaitGroup
	for i := 0; i < 8; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c.Summary(context.Background())
		}()
	}
	wg.Wait()
	c.mu.Lock()
	n := len(c.samples)
	c.mu.Unlock()
	if n != 2 {
		t.Errorf("%d samples after 8 simultaneous requests on a stale history, want 2 (one taken on demand)", n)
	}
}

// containerRows lists a summary's containers as pod/container cpu mem.
func containerRows(s *Summary) []string {
	var rows []string
	for _, p := range s.Pods {
		for _, ct := range p.Containers {
			rows = append(rows, fmt.Sprintf("%s/%s/%s %s %s", p.PodRef.Namespace, p.PodRef.Name, ct.Name, derefOr(ct.CPU.UsageNanoCores), derefOr(ct.Memory.WorkingSetBytes)))
		}
	}
	return rows
}

// twoPods gives m a pod web (two containers) and a pod db.
func twoPods(m *fakeMachine) {
	m.addContainer("uid-web", "default", "web", "sb-web", "c-web-app", "app")
	m.addContainer("uid-web", "default", "web", "sb-web", "c-web-side", "sidecar")
	m.addContainer("uid-db", "prod", "db", "sb-db", "c-db", "db")
	m.setStats("c-web-app", 0, 10<<20)
	m.setStats("c-web-side", 0, 1<<20)
	m.setStats("c-db", 0, 100<<20)
}

// TestCollectorCallerGivesUp: the on-demand sample is shared, so the
// request that takes it giving up (a peer's timeout) must not leave a
// sample without pods for everyone else.
func TestCollectorCallerGivesUp(t *testing.T) {
	want := fmt.Sprint([]string{"default/web/app <none> 10485760", "default/web/sidecar <none> 1048576", "prod/db/db <none> 104857600"})
	for _, tc := range []struct {
		name string
		// first is the giving-up caller's ctx; during, when set, runs as
		// the runtime is listed.
		first  func() (context.Context, func())
		during bool
	}{
		{name: "ctx ended before the call", first: func() (context.Context, func()) {
			ctx, cancel := context.WithCancel(context.Background())
			cancel()
			return ctx, cancel
		}},
		{name: "ctx ends during the sample", during: true, first: func() (context.Context, func()) {
			return context.WithCancel(context.Background())
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m := newFakeMachine(t)
			twoPods(m)
			c := m.collector()
			ctx, cancel := tc.first()
			defer cancel()
			if tc.during {
				m.onList = cancel
			}
			c.Summary(ctx)
			m.onList = nil
			if got := fmt.Sprint(containerRows(c.Summary(context.Background()))); got != want {
				t.Errorf("summary after a caller gave up:\nexpected %s\n    seen %s", want, got)
			}
		})
	}
}

// TestCollectorKeepsLastGoodContainers: a container reading that fails is
// not reported as pods gone; a pod one of whose containers cannot be read
// is left out rather than under-counted.
func TestCollectorKeepsLastGoodContainers(t *testing.T) {
	m := newFakeMachine(t)
	twoPods(m)
	c := m.collector()
	ctx := context.Background()
	c.Summary(ctx)

	// The runtime fails: the last whole reading is reported.
	m.advance(5 * time.Second)
	m.mu.Lock()
	m.listErr = errors.New("containerd: connection refused")
	m.mu.Unlock()
	m.setStats("c-web-app", 1e9, 20<<20)
	want := []string{"default/web/app <none> 10485760", "default/web/sidecar <none> 1048576", "prod/db/db <none> 104857600"}
	if got := containerRows(c.Summary(ctx)); fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("runtime listing failed:\nexpected %v (the last whole reading)\n    seen %v", want, got)
	}

	// It answers again, but one of web's containers cannot be read: web is
	// left out, and db's rate runs from the last whole reading.
	m.advance(5 * time.Second)
	m.mu.Lock()
	m.listErr = nil
	m.statsErr = map[string]error{"c-web-side": errors.New("cgroup: read failed")}
	m.mu.Unlock()
	m.setStats("c-db", 5e9, 100<<20)
	want = []string{"prod/db/db 500000000 104857600"}
	if got := containerRows(c.Summary(ctx)); fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("one of web's containers unreadable:\nexpected %v\n    seen %v", want, got)
	}
}

// TestCollectorWaitersHonourTheirContext: a request waiting for another's
// sample gives up when its own ctx ends.
func TestCollectorWaitersHonourTheirContext(t *testing.T) {
	m := newFakeMachine(t)
	twoPods(m)
	c := m.collector()
	block, sampling := make(chan struct{}), make(chan struct{})
	m.block, m.onList = block, sync.OnceFunc(func() { close(sampling) })
	first := make(chan struct{})
	go func() {
		defer close(first)
		c.Summary(context.Background())
	}()
	<-sampling // the first request holds the sample
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	second := make(chan struct{})
	go func() {
		defer close(second)
		c.Summary(ctx)
	}()
	select {
	case <-second:
	case <-time.After(5 * time.Second):
		t.Error("a waiting request whose ctx ended after 50ms was still waiting 5s later")
	}
	close(block)
	<-first
	<-second
}
