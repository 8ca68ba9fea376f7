package scheduler

import (
	"context"
	"io"
	"log/slog"
	"math/rand/v2"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/shoal-project/shoal/node/follow"
)

// Deps is what a scheduler reads and writes through.
type Deps struct {
	// Cache is the node's shared cache of the store: the scheduler follows
	// its pods and nodes (and adds the pods-by-node index).
	Cache *follow.Shared
	// Client writes binds, Unschedulable conditions and events.
	Client kubernetes.Interface
	// Logger defaults to discarding.
	Logger *slog.Logger
	// Now is the clock of conditions and back-offs (events carry
	// client-go's); it defaults to time.Now.
	Now func() time.Time
}

// Option configures a Scheduler.
type Option func(*options)

type options struct {
	workers           int
	eventWorkers      int
	resync            time.Duration
	retry             time.Duration
	assumeTTL         time.Duration
	seed              *[2]uint64
	schedulerName     string
	percentageOfNodes int
	metrics           prometheus.Registerer
}

func defaultOptions() options {
	return options{
		workers:       32,
		eventWorkers:  8,
		resync:        10 * time.Second,
		retry:         30 * time.Second,
		assumeTTL:     30 * time.Second,
		schedulerName: corev1.DefaultSchedulerName,
	}
}

// WithWorkers sets how many binds (and status writes) are in flight at
// most (default 32). More workers bind faster while the API has idle
// cores; each one holds one connection to the API.
func WithWorkers(n int) Option {
	return func(o *options) {
		if n > 0 {
			o.workers = n
		}
	}
}

// WithEventWorkers sets how many events are written at once (default 8):
// the number of the node's event recorders the scheduler spreads its
// events over.
func WithEventWorkers(n int) Option {
	return func(o *options) {
		if n > 0 {
			o.eventWorkers = n
		}
	}
}

// WithResync sets how often a pass runs with no event (default 10s); it
// heals anything a missed event would have left behind.
func WithResync(d time.Duration) Option {
	return func(o *options) {
		if d > 0 {
			o.resync = d
		}
	}
}

// WithUnschedulableRetry sets how long an unschedulable pod waits before
// another try when no node changed and no pod freed resources (default
// 30s). Those changes retry it at once.
func WithUnschedulableRetry(d time.Duration) Option {
	return func(o *options) {
		if d > 0 {
			o.retry = d
		}
	}
}

// WithSeed makes tie-breaking between equally good nodes reproducible.
// Without it the scheduler picks at random.
func WithSeed(seed uint64) Option {
	return func(o *options) { o.seed = &[2]uint64{seed, seed ^ 0x9e3779b97f4a7c15} }
}

// WithSchedulerName sets the spec.schedulerName this scheduler serves
// (default "default-scheduler"; pods with none are served too) and the
// source of its events.
func WithSchedulerName(name string) Option {
	return func(o *options) {
		if name != "" {
			o.schedulerName = name
		}
	}
}

// WithPercentageOfNodesToScore sets the share of nodes a pod's search
// stops at once that many are feasible, as kube-scheduler's setting of
// that name: 0 (default) is adaptive (50% down to 5% as the cluster grows,
// never fewer than 100 nodes), 100 examines every node.
func WithPercentageOfNodesToScore(pct int) Option {
	return func(o *options) {
		if pct >= 0 && pct <= 100 {
			o.percentageOfNodes = pct
		}
	}
}

// WithMetrics registers the scheduler's metrics (attempts, their
// duration, pending pods) on reg. A scheduler built again on the same reg
// (after leadership came back) carries on the same counters.
func WithMetrics(reg prometheus.Registerer) Option {
	return func(o *options) { o.metrics = reg }
}

// Scheduler binds pending pods to nodes. Build it with New, then call Run
// once; after leadership is lost and regained, build a new one.
//
//	built --Run--> first pass --close(Ready)--> passing --ctx done--> stopped
type Scheduler struct {
	deps  Deps
	opts  options
	log   *slog.Logger
	now   func() time.Time
	cache *cache
	rec   *recorders // set by Run
	stats *schedulerMetrics

	// Owned by the loop goroutine.
	rnd       *rand.Rand
	nextStart int
	unsched   map[string]attempt
	feasible  []*nodeState

	jobs  chan job
	wake  chan struct{} // cap 1: something changed, run a pass
	ready chan struct{}

	// mu guards what the workers share with the loop.
	mu       sync.Mutex
	inflight map[string]*inflight // by pod key
	backoff  map[string]backoff   // by pod key: binds that failed
	failed   uint64               // writes that failed and released what they held
}

// attempt records an unschedulable verdict: the pod is not tried again
// until something in it changes.
type attempt struct {
	uid                       types.UID
	generation                int64
	nodeGen, freedGen, failed uint64
	at                        time.Time
}

// New assembles a scheduler over deps: it reads deps.Cache and writes
// through deps.Client. It does no I/O.
func New(deps Deps, opts ...Option) *Scheduler {
	o := defaultOptions()
	for _, opt := range opts {
		opt(&o)
	}
	log := deps.Logger
	if log == nil {
		log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	now := deps.Now
	if now == nil {
		now = time.Now
	}
	var src rand.Source
	if o.seed != nil {
		src = rand.NewPCG(o.seed[0], o.seed[1])
	} else {
		src = rand.NewPCG(rand.Uint64(), rand.Uint64())
	}
	return &Scheduler{
		deps:     deps,
		opts:     o,
		log:      log,
		now:      now,
		cache:    newCache(o.schedulerName),
		stats:    newSchedulerMetrics(o.metrics, o.schedulerName),
		rnd:      rand.New(src),
		unsched:  make(map[string]attempt),
		jobs:     make(chan job, 4*o.workers),
		wake:     make(chan struct{}, 1),
		ready:    make(chan struct{}),
		inflight: make(map[string]*inflight),
		backoff:  make(map[string]backoff),
	}
}

// Ready is closed once the first pass is done.
func (s *Scheduler) Ready() <-chan struct{} { return s.ready }

// Run schedules until ctx is cancelled, then waits for its writes in
// flight to end and returns nil.
func (s *Scheduler) Run(ctx context.Context) error {
	// client-go's recorders, as kube-scheduler's: repeats are aggregated,
	// bursts rate-limited, and recording never blocks a worker. They stop
	// after the workers, so the workers' last events are queued before.
	s.rec = newRecorders(s.deps.Client, s.opts.schedulerName, s.opts.eventWorkers)
	defer s.rec.stop()
	ctx, cancel := context.WithCancel(ctx)
	var wg sync.WaitGroup
	defer s.stats.setPending(0, 0, 0) // a follower has no queue
	defer wg.Wait()
	defer cancel()
	pods := follow.For[corev1.Pod](s.deps.Cache, "pods")
	pods.AddIndex(follow.IndexPodsByNode, follow.PodsByNode)
	nodes := follow.For[corev1.Node](s.deps.Cache, "nodes")
	// Subscribe before the first pass, so no change falls between the
	// cache's first state and the changes after it: a handler added late is
	// first shown every cached object, then each change.
	defer pods.AddHandler(s.cache.podHandler(s.poke))()
	defer nodes.AddHandler(s.cache.nodeHandler(s.poke))()
	for range s.opts.workers {
		wg.Go(func() { s.work(ctx) })
	}
	if !follow.WaitReady(ctx, pods, nodes) {
		return nil
	}
	t := time.NewTicker(s.opts.resync)
	defer t.Stop()
	first := true
	for {
		s.pass(ctx, pods)
		if first {
			close(s.ready)
			first = false
		}
		select {
		case <-ctx.Done():
			return nil
		case <-s.wake:
		case <-t.C:
		}
	}
}

// poke asks for a pass; it never blocks.
func (s *Scheduler) poke() {
	select {
	case s.wake <- struct{}{}:
	default:
	}
}
