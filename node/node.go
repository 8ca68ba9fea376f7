package node

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	goruntime "runtime"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"golang.org/x/sync/errgroup"

	"github.com/shoal-project/shoal/consensus"
	"github.com/shoal-project/shoal/internal/procfs"
	"github.com/shoal-project/shoal/internal/version"
	"github.com/shoal-project/shoal/node/apiserver"
	"github.com/shoal-project/shoal/node/follow"
	"github.com/shoal-project/shoal/node/identity"
	"github.com/shoal-project/shoal/node/membership"
	"github.com/shoal-project/shoal/node/metrics"
	"github.com/shoal-project/shoal/node/resourcemetrics"
	"github.com/shoal-project/shoal/node/streaming"
)

// RunAgent runs one shoal daemon until ctx is cancelled: the entry point of
// `shoal agent` and `shoal join`.
func RunAgent(ctx context.Context, cfg Config, logger *slog.Logger) error {
	n, err := New(cfg, logger)
	if err != nil {
		return err
	}
	return n.Run(ctx)
}

// Node is one running daemon. Fields are set as Run brings parts up; only
// Run and its shutdown touch them.
type Node struct {
	cfg Config
	log *slog.Logger

	opts      options
	ready     chan struct{}
	readyOnce sync.Once
	// nodeStreams serves log and exec of this node's pods once the runtime
	// is up.
	nodeStreams lateHandler
	// nodeStats serves this node's resource figures once its collector
	// runs.
	nodeStats lateHandler
	// crashed makes shutdown skip the gossip leave (Config.LeaveOnStop), so
	// that peers find the node dead as if it had crashed (tests).
	crashed atomic.Bool
	// servesIngress is set once the Ingress proxy listens on a port; the
	// node then announces membership.RoleIngress.
	servesIngress atomic.Bool
	// metrics is the node's Prometheus registry, served at /metrics.
	metrics *prometheus.Registry
	// progress prints the steps of a join for the person at the terminal.
	progress progress

	// Set during Run.
	cluster *identity.Cluster
	store   *consensus.Store
	cache   *follow.Shared // the typed caches of the store every part reads
	raft    *consensus.Raft
	gossip  *membership.Membership
	api     *apiserver.Server
	apiAddr string
}

// Option changes how New builds a node (tests).
type Option func(*options)

type options struct {
	// progress receives the join steps; nil means os.Stderr.
	progress io.Writer
}

// New checks cfg and fills the defaults that depend on the machine; it does
// no I/O.
func New(cfg Config, logger *slog.Logger, opts ...Option) (*Node, error) {
	if logger == nil {
		logger = slog.Default()
	}
	if cfg.AdvertiseAddr == "" {
		cfg.AdvertiseAddr = advertiseFor(cfg.BindAddr)
	}
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	// Peers compare this version before they write what older binaries
	// cannot read; one they cannot parse would hold every feature back.
	if _, err := version.Parse(version.Version); err != nil {
		return nil, fmt.Errorf("this binary's version (set at build with -ldflags -X): %w", err)
	}
	n := &Node{cfg: cfg, log: logger.With("node", cfg.Name), ready: make(chan struct{}), metrics: metrics.NewRegistry()}
	for _, o := range opts {
		o(&n.opts)
	}
	n.progress = progress{w: n.opts.progress}
	if n.progress.w == nil {
		n.progress.w = os.Stderr
	}
	return n, nil
}

// SimulateCrash makes the coming shutdown skip the gossip leave, so that
// peers see the node fail rather than leave. For tests.
func (n *Node) SimulateCrash() { n.crashed.Store(true) }

// Ready is closed once the node serves the API.
func (n *Node) Ready() <-chan struct{} { return n.ready }

// APIURL is the HTTPS address of this node's API.
func (n *Node) APIURL() string { return "https://" + hostPort(n.cfg.AdvertiseAddr, n.cfg.APIPort) }

// Cluster is the cluster identity (valid after Ready).
func (n *Node) Cluster() *identity.Cluster { return n.cluster }

// Raft is the consensus node (valid after Ready).
func (n *Node) Raft() *consensus.Raft { return n.raft }

// Store is the local replica (valid after Ready).
func (n *Node) Store() *consensus.Store { return n.store }

// Membership is the gossip view (valid after Ready).
func (n *Node) Membership() *membership.Membership { return n.gossip }

// Run brings the node up in dependency order (identity and gossip, raft,
// API, leader loops), serves until ctx is cancelled, then stops the parts
// in reverse order.
func (n *Node) Run(ctx context.Context) error {
	cfg := &n.cfg
	if err := checkNotLeft(cfg.DataDir); err != nil {
		return err
	}
	// A completed `shoal leave` ends the run as a signal would.
	ctx, stopRun := context.WithCancelCause(ctx)
	defer stopRun(nil)
	// Before raft and gossip start, so that go-metrics has its sink.
	metricsHandler := metrics.Handler(n.metrics)
	if err := os.MkdirAll(cfg.DataDir, 0o700); err != nil {
		return fmt.Errorf("create data dir: %w", err)
	}
	// Gossip starts as soon as the node knows the cluster's gossip key,
	// which a joining node learns from its token before it has the rest of
	// the identity.
	startGossip := func(key []byte) (identity.Gossip, error) {
		ml, err := membership.New(membership.Config{
			Name: cfg.Name, BindAddr: cfg.BindAddr, BindPort: cfg.GossipPort,
			AdvertiseAddr: cfg.AdvertiseAddr, AdvertisePort: cfg.GossipPort,
			Meta: n.meta(), SecretKey: key, Logger: n.log.With("component", "gossip"),
		})
		if err != nil {
			return nil, err
		}
		if err := ml.Start(); err != nil {
			return nil, fmt.Errorf("start gossip: %w", err)
		}
		n.gossip = ml
		return ml, nil
	}
	id, err := identity.Obtain(ctx, identity.ObtainConfig{
		DataDir: cfg.DataDir, Name: cfg.Name, Join: cfg.Join, Token: cfg.Token,
		StartGossip: startGossip, Logger: n.log, Progress: n.progress.printf,
	})
	if err != nil {
		return err
	}
	n.cluster = id.Cluster
	defer n.shutdown()

	ips := []net.IP{net.ParseIP(cfg.AdvertiseAddr)}
	if b := net.ParseIP(cfg.BindAddr); b != nil && !b.IsUnspecified() {
		ips = append(ips, b)
	}
	if err := identity.EnsureNodeCert(cfg.DataDir, cfg.Name, ips, n.cluster); err != nil {
		return fmt.Errorf("node certificate: %w", err)
	}
	serverTLS, clientTLS, err := n.cluster.NodeTLS(cfg.DataDir)
	if err != nil {
		return err
	}
	apiTLS, err := n.cluster.APIServerTLS(cfg.DataDir)
	if err != nil {
		return err
	}

	restored, err := seedRestored(cfg.DataDir, cfg.Name, hostPort(cfg.AdvertiseAddr, cfg.RaftPort), n.log.With("component", "raft"))
	if err != nil {
		return err
	}
	n.store = consensus.NewStore()
	n.cache = follow.NewShared(n.store, n.log.With("component", "follow"))
	n.raft, err = consensus.NewRaft(consensus.RaftConfig{
		NodeID: cfg.Name, DataDir: raftDir(cfg.DataDir),
		BindAddr: hostPort(cfg.BindAddr, cfg.RaftPort), AdvertiseAddr: hostPort(cfg.AdvertiseAddr, cfg.RaftPort),
		ServerTLS: serverTLS, ClientTLS: clientTLS, Bootstrap: id.Created,
		Logger: n.log.With("component", "raft"),
	}, n.store)
	if err != nil {
		n.raft = nil
		return fmt.Errorf("start raft: %w", err)
	}
	metrics.Register(n.metrics, metrics.NewRaftCollector(n.raft))
	metrics.Register(n.metrics, metrics.NewGossipCollector(n.gossip))

	apiListener, err := net.Listen("tcp", hostPort(cfg.BindAddr, cfg.APIPort))
	if err != nil {
		return fmt.Errorf("listen for the API: %w", err)
	}
	nodeTr := nodeTransport(clientTLS)
	authenticated := map[string]http.Handler{
		streaming.NodePathPrefix: &n.nodeStreams, resourcemetrics.SummaryPath: &n.nodeStats, "/metrics": metricsHandler,
		SnapshotPath: n.snapshotHandler(), LeavePath: n.leaveHandler(func() { stopRun(errLeft) }),
		profilingPath: profilingHandler(),
	}
	n.api = apiserver.New(apiserver.Config{
		Store: n.store, Proposer: n.raft, Logger: n.log.With("component", "apiserver"),
		Authenticate:    n.cluster.Authenticator(),
		Unauthenticated: map[string]http.Handler{"/shoal/v1/join": identity.JoinHandler(n.cluster)},
		Authenticated:   authenticated,
		Subresources:    n.streamingProxy(nodeTr).Handlers(),
		APIServices:     []apiserver.APIService{n.metricsAPI(nodeTr).APIService()},
		ServerAddress:   hostPort(cfg.AdvertiseAddr, cfg.APIPort),
		ServiceCIDR:     cfg.ServiceCIDR,
		Metrics:         n.metrics,
	})

	g, gctx := errgroup.WithContext(ctx)
	g.Go(func() error { return n.cache.Run(gctx) })
	g.Go(func() error { return n.api.Serve(gctx, apiListener, apiTLS) })
	g.Go(func() error { return n.runLeadership(gctx) })
	g.Go(func() error {
		return n.gossip.RunRejoin(gctx, membership.RejoinConfig{DataDir: cfg.DataDir, Join: cfg.Join, Joined: id.Joined})
	})
	g.Go(func() error {
		return n.gossip.RunReconnect(gctx, membership.DefaultReconnectInterval, membership.DefaultReconnectTimeout)
	})
	if id.Joined {
		g.Go(func() error { return n.reportRaftMembership(gctx) })
	}
	runsPods := cfg.RunPods
	if runsPods {
		g.Go(func() error { return n.runPods(gctx) })
	} else {
		n.runStats(gctx, g, nil) // node figures only
	}

	if err := WriteAgentInfo(cfg.DataDir, AgentInfo{
		Name: cfg.Name, AdvertiseAddr: cfg.AdvertiseAddr,
		GossipPort: cfg.GossipPort, RaftPort: cfg.RaftPort, APIPort: cfg.APIPort,
		ContainerdSocket:    podsOnly(runsPods, n.containerdSocket()),
		ContainerdNamespace: podsOnly(runsPods, ContainerdNamespace(cfg.Name)),
		RegistryMirrors:     cfg.RegistryMirrors,
	}); err != nil {
		n.log.Warn("record agent info", "error", err)
	}
	if restored != nil {
		n.progress.printf("cluster restored from the snapshot %s took at %s (index %d, %d objects)",
			restored.Info.Source, restored.Info.Created.Format(time.RFC3339), restored.Info.Index, restored.Objects)
	}
	if id.Created || restored != nil {
		n.progress.printf("cluster created; join others with:\n  shoal join %s --token %s",
			hostPort(cfg.AdvertiseAddr, cfg.GossipPort), n.cluster.JoinToken())
	}
	n.log.Info("node running", "api", n.APIURL(), "gossip", hostPort(cfg.AdvertiseAddr, cfg.GossipPort), "raft", hostPort(cfg.AdvertiseAddr, cfg.RaftPort))
	n.readyOnce.Do(func() { close(n.ready) })
	err = g.Wait()
	n.log.Info("node stopping")
	if errors.Is(err, context.Canceled) {
		err = nil
	}
	return err
}

// shutdown stops what outlives the errgroup, in the order peers need: the
// gossip leave first when configured (so peers hear of it at once), then
// raft, then gossip. Without a leave, peers see the node fail and keep it a
// voter for the grace period, long enough for a restart.
func (n *Node) shutdown() {
	if n.cfg.LeaveOnStop && !n.crashed.Load() {
		if err := n.gossip.Leave(2 * time.Second); err != nil {
			n.log.Warn("gossip leave", "error", err)
		}
	}
	if n.raft != nil {
		if err := n.raft.Shutdown(); err != nil {
			n.log.Warn("raft shutdown", "error", err)
		}
	}
	if err := n.gossip.Shutdown(); err != nil {
		n.log.Warn("gossip shutdown", "error", err)
	}
}

// roles are what the node tells others it does: every node may vote; a
// worker runs pods; an ingress node's Ingress proxy listens.
func (n *Node) roles() []string {
	roles := []string{membership.RoleVoterEligible}
	if n.cfg.RunPods {
		roles = append(roles, membership.RoleWorker)
	}
	if n.servesIngress.Load() {
		roles = append(roles, membership.RoleIngress)
	}
	return roles
}

func podsOnly(runsPods bool, v string) string {
	if runsPods {
		return v
	}
	return ""
}

// meta is what this node tells others through gossip.
func (n *Node) meta() membership.Meta {
	return membership.Meta{
		APIAddr:     hostPort(n.cfg.AdvertiseAddr, n.cfg.APIPort),
		RaftAddr:    hostPort(n.cfg.AdvertiseAddr, n.cfg.RaftPort),
		Roles:       n.roles(),
		CPU:         int64(goruntime.NumCPU()) * 1000,
		MemoryBytes: machineMemory(),
		Version:     version.Version,
	}
}

// advertiseFor picks the address others reach this node on: the bind
// address when it is specific, else the first non-loopback address.
func advertiseFor(bind string) string {
	if ip := net.ParseIP(bind); ip != nil && !ip.IsUnspecified() {
		return bind
	}
	addrs, err := net.InterfaceAddrs()
	if err == nil {
		for _, a := range addrs {
			if ipn, ok := a.(*net.IPNet); ok && !ipn.IP.IsLoopback() && ipn.IP.To4() != nil {
				return ipn.IP.String()
			}
		}
	}
	return "127.0.0.1"
}

// machineMemory is the machine's memory in bytes, or 0 when /proc cannot
// say (the Node then shows no memory capacity rather than a guess).
func machineMemory() int64 {
	m, err := procfs.FS{}.Meminfo()
	if err != nil {
		return 0
	}
	return int64(m.Total)
}

func hostPort(ip string, port int) string { return net.JoinHostPort(ip, strconv.Itoa(port)) }
