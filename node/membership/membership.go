package membership

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/memberlist"
)

// Failure-detection tuning on top of memberlist.DefaultLANConfig. A node is
// probed about every ProbeInterval; a missed ack (direct and indirect, within
// ProbeTimeout) makes it Suspect, and it is declared Dead after the
// suspicion timeout: SuspicionMult * ProbeInterval (1.5 s below ten nodes),
// stretched up to SuspicionMaxTimeoutMult times that when few peers confirm.
// A dead node is thus declared within about 3-4 s in a small cluster, against
// 5-25 s with the stock LAN profile; shoal's node eviction timeout (10 s by
// default) comes on top, and the two together are what a lost machine's pods
// wait before they are replaced. memberlist's awareness (Lifeguard) stretches
// the timeouts of a node that is itself slow, so a busy node is not declared
// dead by mistake.
const (
	probeInterval           = 500 * time.Millisecond
	probeTimeout            = 400 * time.Millisecond
	suspicionMult           = 3
	suspicionMaxTimeoutMult = 2
	deadNodeReclaimTime     = 5 * time.Second
)

// Config configures a Membership. Only Name and SecretKey are required.
type Config struct {
	// Name is this node's unique name in the cluster.
	Name string
	// BindAddr is the address gossip listens on (TCP and UDP). Default
	// 0.0.0.0.
	BindAddr string
	// BindPort is the gossip port. 0 picks a free port (tests); the node
	// uses 7946.
	BindPort int
	// AdvertiseAddr is the address other members reach this one at.
	// Default: BindAddr when specific, else the machine's first private
	// address (memberlist's choice).
	AdvertiseAddr string
	// AdvertisePort is the port other members reach this one at. Default
	// BindPort.
	AdvertisePort int
	// Meta is the initial metadata this node publishes (UpdateMeta changes
	// it). Encoded, it must fit in 512 bytes.
	Meta Meta
	// SecretKey is the memberlist encryption key (16, 24 or 32 bytes; shoal
	// derives 32 from the cluster secret). Required: gossip is never sent in
	// the clear.
	SecretKey []byte
	// Logger receives memberlist's logs and this package's own; nil
	// discards them.
	Logger *slog.Logger
	// Transport replaces memberlist's UDP/TCP transport (tests use a
	// memberlist.MockNetwork); nil uses the network.
	Transport memberlist.Transport

	// gossipToTheDead overrides memberlist's GossipToTheDeadTime (30 s);
	// tests shorten it to reach "dead for good" quickly.
	gossipToTheDead time.Duration
}

// lifecycle is where a Membership is in its life:
//
//	created --Start--> started --Shutdown--> stopped
//	   |                                        ^
//	   +----------------Shutdown----------------+
type lifecycle int

const (
	created lifecycle = iota
	started
	stopped
)

// Membership is this node's view of the cluster through gossip. It keeps
// every member it has ever seen, with its current State, and wakes
// subscribers on any change. Its methods are safe for concurrent use.
type Membership struct {
	cfg    Config
	logger *slog.Logger
	now    func() time.Time
	// meta holds the encoded Meta; NodeMeta reads it without locking.
	meta atomic.Pointer[[]byte]

	mu      sync.Mutex
	state   lifecycle
	list    *memberlist.Memberlist
	curMeta Meta // the Meta last published, to re-encode with a leave intent
	members map[string]*Member
	subs    map[uint64]chan struct{}
	nextSub uint64
}

// New checks cfg and builds a Membership. It does no I/O: Start listens.
func New(cfg Config) (*Membership, error) {
	if cfg.Name == "" {
		return nil, errors.New("membership: Name is required")
	}
	switch len(cfg.SecretKey) {
	case 16, 24, 32:
	default:
		return nil, fmt.Errorf("membership: SecretKey must be 16, 24 or 32 bytes, got %d", len(cfg.SecretKey))
	}
	meta, err := encodeMeta(cfg.Meta, false)
	if err != nil {
		return nil, err
	}
	logger := cfg.Logger
	if logger == nil {
		logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	m := &Membership{
		cfg:     cfg,
		logger:  logger,
		now:     time.Now,
		curMeta: cfg.Meta,
		members: make(map[string]*Member),
		subs:    make(map[uint64]chan struct{}),
	}
	m.meta.Store(&meta)
	return m, nil
}

// memberlistConfig turns Config into memberlist's configuration.
func (m *Membership) memberlistConfig() *memberlist.Config {
	c := memberlist.DefaultLANConfig()
	c.Name = m.cfg.Name
	if m.cfg.BindAddr != "" {
		c.BindAddr = m.cfg.BindAddr
	}
	c.BindPort = m.cfg.BindPort
	c.AdvertiseAddr = m.cfg.AdvertiseAddr
	c.AdvertisePort = m.cfg.AdvertisePort
	if c.AdvertisePort == 0 {
		c.AdvertisePort = c.BindPort
	}
	c.SecretKey = append([]byte(nil), m.cfg.SecretKey...)
	c.Delegate = gossipDelegate{m}
	c.Events = eventDelegate{m}
	c.Logger = newMemberlistLogger(m.logger)
	c.Transport = m.cfg.Transport
	c.ProbeInterval = probeInterval
	c.ProbeTimeout = probeTimeout
	c.SuspicionMult = suspicionMult
	c.SuspicionMaxTimeoutMult = suspicionMaxTimeoutMult
	// A node that comes back at another address (a new DHCP lease, a new
	// port) keeps its name; memberlist's default (0) refuses such a node
	// for ever once it was declared dead.
	c.DeadNodeReclaimTime = deadNodeReclaimTime
	if m.cfg.gossipToTheDead > 0 {
		c.GossipToTheDeadTime = m.cfg.gossipToTheDead
	}
	return c
}

// Start creates the memberlist: it binds the gossip port and this node
// becomes a one-member cluster until Join.
func (m *Membership) Start() error {
	m.mu.Lock()
	switch m.state {
	case started:
		m.mu.Unlock()
		return errors.New("membership: already started")
	case stopped:
		m.mu.Unlock()
		return ErrShutdown
	}
	m.mu.Unlock()

	// memberlist.Create calls NotifyJoin for this node, which takes m.mu.
	list, err := memberlist.Create(m.memberlistConfig())
	if err != nil {
		return fmt.Errorf("start gossip on %s: %w", net.JoinHostPort(m.cfg.BindAddr, strconv.Itoa(m.cfg.BindPort)), err)
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.state != created { // Shutdown raced with Start
		_ = list.Shutdown()
		return ErrShutdown
	}
	m.list, m.state = list, started
	m.logger.Info("gossip started", "node_id", m.cfg.Name, "addr", list.LocalNode().Address())
	return nil
}

// started returns the memberlist, or why there is none.
func (m *Membership) started() (*memberlist.Memberlist, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	switch m.state {
	case created:
		return nil, ErrNotStarted
	case stopped:
		return nil, ErrShutdown
	}
	return m.list, nil
}

// Addr is this node's gossip address (host:port) as others see it, or ""
// before Start.
func (m *Membership) Addr() string {
	list, err := m.started()
	if err != nil {
		return ""
	}
	return list.LocalNode().Address()
}

// Join contacts the given gossip addresses (host:port) and merges this node
// into their cluster. It succeeds if at least one answered; it fails with
// ErrGossipKeyMismatch when they could not decrypt our messages (a wrong
// token), and with ctx's error when ctx ends first (the attempt then goes on
// in the background until memberlist's TCP timeout).
func (m *Membership) Join(ctx context.Context, addrs []string) error {
	list, err := m.started()
	if err != nil {
		return err
	}
	if len(addrs) == 0 {
		return errors.New("join: no addresses to join")
	}
	type result struct {
		n   int
		err error
	}
	done := make(chan result, 1)
	go func() {
		n, err := list.Join(addrs)
		done <- result{n, err}
	}()
	var r result
	select {
	case <-ctx.Done():
		return fmt.Errorf("join %s: %w", strings.Join(addrs, ", "), ctx.Err())
	case r = <-done:
	}
	if r.n > 0 {
		m.logger.Info("joined cluster", "node_id", m.cfg.Name, "contacted", r.n)
		return nil
	}
	if r.err == nil {
		return fmt.Errorf("join %s: no member answered", strings.Join(addrs, ", "))
	}
	if isKeyMismatch(r.err) {
		m.logger.Debug("join failed", "error", r.err)
		return ErrGossipKeyMismatch
	}
	return fmt.Errorf("join %s: %w", strings.Join(addrs, ", "), r.err)
}

// isKeyMismatch recognises memberlist's errors for undecryptable traffic:
// the remote answers a message it cannot decrypt with an error encrypted
// under its own key, which we then cannot decrypt either ("no installed keys
// could decrypt the message"); a cleartext peer gives "not encrypted".
func isKeyMismatch(err error) bool {
	s := strings.ToLower(err.Error())
	return strings.Contains(s, "decrypt") || strings.Contains(s, "not encrypted") || strings.Contains(s, "encryption")
}

// HealthScore is memberlist's awareness score of this node: 0 is healthy,
// higher means this node itself is slow to answer probes, and its failure
// detector waits longer before suspecting others. 0 before Start.
func (m *Membership) HealthScore() int {
	list, err := m.started()
	if err != nil {
		return 0
	}
	return list.GetHealthScore()
}

// Members returns every member ever seen, this node included, in no
// particular order. Dead and Left members stay, with Since telling how long.
// The slice and its Members are copies the caller owns.
func (m *Membership) Members() []Member {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := make([]Member, 0, len(m.members))
	for _, mem := range m.members {
		c := *mem
		c.Meta.Roles = append([]string(nil), mem.Meta.Roles...)
		out = append(out, c)
	}
	return out
}

// observe records what gossip says about node n: gone (NotifyLeave) or
// alive. Called by eventDelegate, under memberlist's node lock.
func (m *Membership) observe(n *memberlist.Node, gone bool) {
	w, err := decodeMeta(n.Meta)
	if err != nil {
		m.logger.Warn("undecodable node metadata", "node_id", n.Name, "error", err)
	}
	st := Alive
	if gone {
		st = Dead
		if w.Leaving {
			st = Left
		}
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	mem, ok := m.members[n.Name]
	if !ok {
		mem = &Member{Name: n.Name}
		m.members[n.Name] = mem
	}
	if !ok || mem.State != st {
		mem.State, mem.Since = st, m.now()
		m.logger.Debug("member state", "node_id", n.Name, "state", st.String())
	}
	mem.Addr = n.Address()
	if err == nil {
		mem.Meta = w.Meta
	}
	m.notifyLocked()
}

// Subscribe returns a channel that receives a value after any change to
// Members (join, leave, failure, metadata update). Notifications coalesce:
// the channel has room for one, and a full channel is not written to, so a
// slow reader sees one wake-up for many changes and must re-read Members.
// Membership never blocks on a subscriber. cancel stops delivery and closes
// the channel; it is idempotent. Nothing else closes the channel.
func (m *Membership) Subscribe() (<-chan struct{}, func()) {
	m.mu.Lock()
	defer m.mu.Unlock()
	id := m.nextSub
	m.nextSub++
	ch := make(chan struct{}, 1)
	m.subs[id] = ch
	var once sync.Once
	cancel := func() {
		once.Do(func() {
			m.mu.Lock()
			defer m.mu.Unlock()
			delete(m.subs, id)
			close(ch)
		})
	}
	return ch, cancel
}

// notifyLocked wakes every subscriber without blocking. m.mu must be held.
func (m *Membership) notifyLocked() {
	for _, ch := range m.subs {
		select {
		case ch <- struct{}{}:
		default:
		}
	}
}

// UpdateMeta publishes new metadata for this node and waits (up to a few
// seconds) for it to be broadcast.
func (m *Membership) UpdateMeta(meta Meta) error {
	b, err := encodeMeta(meta, false)
	if err != nil {
		return err
	}
	m.mu.Lock()
	m.curMeta = meta
	m.mu.Unlock()
	m.meta.Store(&b)
	list, err := m.started()
	if errors.Is(err, ErrNotStarted) {
		return nil // published at Start
	} else if err != nil {
		return err
	}
	if err := list.UpdateNode(5 * time.Second); err != nil {
		return fmt.Errorf("update node metadata: %w", err)
	}
	return nil
}

// Leave announces a graceful leave and waits up to timeout for it to spread;
// others then see this node as Left rather than Dead. It first publishes a
// leave intent in the node metadata (half the timeout at most, see wireMeta),
// then sends memberlist's leave. Shutdown must still be called afterwards.
func (m *Membership) Leave(timeout time.Duration) error {
	list, err := m.started()
	if err != nil {
		return err
	}
	m.mu.Lock()
	b, err := encodeMeta(m.curMeta, true)
	m.mu.Unlock()
	if err != nil {
		return err
	}
	m.meta.Store(&b)
	start := time.Now()
	if err := list.UpdateNode(timeout / 2); err != nil {
		m.logger.Warn("publishing leave intent failed; peers may see this node as dead", "error", err)
	}
	if err := list.Leave(max(timeout-time.Since(start), timeout/2)); err != nil {
		return fmt.Errorf("leave gossip: %w", err)
	}
	return nil
}

// Shutdown stops gossip without announcing anything (others will see this
// node fail unless Leave was called first). It is idempotent and safe before
// Start.
func (m *Membership) Shutdown() error {
	m.mu.Lock()
	list, st := m.list, m.state
	m.state = stopped
	m.mu.Unlock()
	if st != started {
		return nil
	}
	if err := list.Shutdown(); err != nil {
		return fmt.Errorf("shut down gossip: %w", err)
	}
	return nil
}
