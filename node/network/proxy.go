package network

import (
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/google/nftables"
	"github.com/mdlayher/netlink"
	"golang.org/x/sys/unix"
)

// ServiceProxy implements Services on one node with nftables: DNAT of
// ClusterIP, NodePort and LoadBalancer traffic to ready endpoints, load
// balanced per connection, plus the masquerading the pod network needs.
//
// It owns one table (ip "shoal" by default) and nothing else. Sync is
// level-triggered: it computes the whole table from a ProxyState (a pure
// function, buildRuleset) and sends the kernel only what differs from the
// table it last wrote, in transactions ordered so that each leaves a
// working table (proxy_apply.go); a missed update heals on the next Sync.
// Services are found through verdict maps keyed by address, protocol and
// port, so a packet's cost and an update's size do not grow with the
// number of Services. Existing connections keep their endpoint (conntrack
// remembers the translation); only new connections see a change.
//
// Design notes:
//   - Load balancing is `numgen random mod N` into a verdict map of
//     per-endpoint chains. ClientIP affinity is kube-proxy's: each
//     endpoint chain records the client in a named set with a timeout
//     (sessionAffinityConfig.clientIP.timeoutSeconds, default 3h), and the
//     Service chain sends a client found in an endpoint's set back there.
//     A rewrite keeps the table and its sets (chains are flushed and
//     refilled), so clients stay put across changes elsewhere and across
//     new endpoints.
//   - Masquerade: traffic reaching a Service through a node address
//     (NodePort, LoadBalancer, policy Cluster), traffic to a ClusterIP from
//     outside the cluster CIDR (the node itself, other hosts), and a pod
//     reaching itself through its Service (hairpin, which also needs the
//     bridge port's hairpin mode that the CNI config sets). Pod traffic
//     leaving the cluster CIDR is masqueraded too.
//   - Same-node pod -> Service -> pod replies cross the bridge without the
//     node routing them; the reverse translation then needs bridge
//     netfilter (net.bridge.bridge-nf-call-iptables=1, which EnableForwarding
//     sets). When it is off or missing, Sync adds a masquerade for DNATed
//     traffic inside this node's pod CIDR so replies come back through the
//     node (the endpoint then sees the bridge address as the client).
//   - A Service port with no ready endpoints is rejected (TCP reset, ICMP
//     port unreachable otherwise) in filter chains, like kube-proxy.
//   - The node needs a route that covers the Service CIDR (a default route
//     is enough) for its own connections to ClusterIPs; Routes can add one
//     through the pod bridge.
type ServiceProxy struct {
	p   proxyParams
	log *slog.Logger

	mu sync.Mutex
	// applied is the table as the last Sync wrote it (nil: unknown, read
	// the kernel), gen the ruleset generation right after.
	applied *tableState
	gen     uint32
	udp     udpTargets
}

// NewServiceProxy checks cfg; it touches nothing until Sync.
func NewServiceProxy(cfg ProxyConfig) (*ServiceProxy, error) {
	p, err := parseProxyConfig(cfg)
	if err != nil {
		return nil, err
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	return &ServiceProxy{p: p, log: log}, nil
}

// dial opens a netlink connection whose buffers hold a whole batch and
// its acknowledgements.
func (sp *ServiceProxy) dial() (*nftables.Conn, error) {
	conn, err := nftables.New(nftables.WithSockOptions(raiseBuffers))
	if err != nil {
		return nil, fmt.Errorf("netlink: %w", err)
	}
	return conn, nil
}

// Table is the name of the proxy's nftables table (family ip).
func (sp *ServiceProxy) Table() string { return sp.p.table }

// Sync makes the node's rules match st. Only what differs from the last
// Sync is sent to the kernel (see proxy_apply.go), in batches that fit its
// message limits, so it is cheap when little changed. Before trusting what
// it last wrote it asks the kernel whether anything changed nftables since
// (the ruleset generation); if so it reads the table's chains and map keys
// again, so a table, chain or element removed behind its back comes back.
// Services that cannot be proxied are logged and skipped; the error is
// about talking to the kernel.
func (sp *ServiceProxy) Sync(st ProxyState) error {
	sp.mu.Lock()
	defer sp.mu.Unlock()
	p := sp.p
	p.bridgeNF = bridgeNetfilterOn()
	rs, warnings := buildRuleset(p, st)
	for _, w := range warnings {
		sp.log.Warn("service proxy: skipped", "reason", w)
	}
	start := time.Now()
	cur, replace, err := sp.current()
	if err != nil {
		sp.applied = nil
		return fmt.Errorf("service proxy: read table %s: %w", p.table, err)
	}
	var ops []op
	if replace {
		ops = replaceOps(rs)
	} else {
		ops = planSync(cur, rs)
	}
	batches, err := applyOps(sp.dial, p.table, ops)
	if err != nil && !replace {
		// What the kernel holds is no longer what the proxy thinks (or it
		// refuses the update, say a chain of another type left by an older
		// version): replace the table whole, forgetting the affinity sets.
		sp.log.Warn("service proxy: table update refused; replacing the table", "error", err)
		ops = replaceOps(rs)
		batches, err = applyOps(sp.dial, p.table, ops)
	}
	if err != nil {
		sp.applied = nil
		return fmt.Errorf("service proxy: write table %s: %w", p.table, err)
	}
	sp.applied = stateOf(rs)
	sp.gen, _ = rulesetGeneration()
	if len(ops) > 0 {
		sp.log.Debug("service proxy: rules written", "services", len(st.Services), "changes", len(ops),
			"transactions", batches, "took", time.Since(start))
	}
	// Only after the new rules are in: a datagram arriving between the
	// delete and the write would recreate a stale entry.
	if sp.udp != nil {
		flows := staleUDPFlows(sp.udp, rs.udp)
		if n, err := deleteConntrack(flows); err != nil {
			sp.log.Warn("service proxy: conntrack clean-up", "flows", len(flows), "error", err)
		} else if n > 0 {
			sp.log.Debug("service proxy: stale UDP conntrack entries deleted", "entries", n, "flows", len(flows))
		}
	}
	sp.udp = rs.udp
	return nil
}

// Stale says whether the table may differ from what the last Sync wrote:
// that Sync failed, or something changed nftables since. A caller whose
// state did not change needs to Sync only then.
func (sp *ServiceProxy) Stale() bool {
	sp.mu.Lock()
	defer sp.mu.Unlock()
	if sp.applied == nil {
		return true
	}
	gen, err := rulesetGeneration()
	return err != nil || gen != sp.gen
}

// current is what the table holds: what the proxy wrote last when nothing
// changed nftables since, otherwise what the kernel shows, with the rules
// the proxy knows it wrote kept for the chains still there. replace is
// true when the table cannot be updated in place.
func (sp *ServiceProxy) current() (cur *tableState, replace bool, err error) {
	if sp.applied != nil {
		if gen, err := rulesetGeneration(); err == nil && gen == sp.gen {
			return sp.applied, false, nil
		}
	}
	conn, err := sp.dial()
	if err != nil {
		return nil, false, err
	}
	kernel, ok, err := readTable(conn, sp.p.table)
	if err != nil || !ok {
		return nil, !ok, err
	}
	if kernel == nil {
		return nil, false, nil
	}
	if sp.applied != nil {
		kernel.keepKnown(sp.applied)
	}
	return kernel, false, nil
}

// Close deletes the proxy's table. It is idempotent; Sync may be called
// again afterwards and brings the table back.
func (sp *ServiceProxy) Close() error {
	sp.mu.Lock()
	defer sp.mu.Unlock()
	conn, err := nftables.New()
	if err != nil {
		return fmt.Errorf("service proxy: netlink: %w", err)
	}
	t := &nftables.Table{Name: sp.p.table, Family: nftables.TableFamilyIPv4}
	conn.AddTable(t) // so the delete cannot fail when it is already gone
	conn.DelTable(t)
	if err := conn.Flush(); err != nil {
		return fmt.Errorf("service proxy: delete table %s: %w", sp.p.table, err)
	}
	sp.applied = nil
	sp.udp = nil
	return nil
}

// raiseBuffers makes a netlink socket's buffers socketBuffer bytes: with
// the FORCE options, which root may use past net.core.[rw]mem_max (a
// fresh machine's 208 KiB would not hold a batch), else as far as the
// limits allow.
func raiseBuffers(c *netlink.Conn) error {
	raw, err := c.SyscallConn()
	if err != nil {
		return nil // not a real socket (tests)
	}
	return raw.Control(func(fd uintptr) {
		for _, o := range [][2]int{{unix.SO_RCVBUFFORCE, unix.SO_RCVBUF}, {unix.SO_SNDBUFFORCE, unix.SO_SNDBUF}} {
			if unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, o[0], socketBuffer) != nil {
				_ = unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, o[1], socketBuffer)
			}
		}
	})
}

// bridgeNFPath is where bridge netfilter's switch for IPv4 lives (per
// network namespace in current kernels).
const bridgeNFPath = "/proc/sys/net/bridge/bridge-nf-call-iptables"

// bridgeNetfilterOn reports whether bridged IPv4 traffic passes the IPv4
// netfilter hooks in this network namespace.
func bridgeNetfilterOn() bool {
	b, err := os.ReadFile(bridgeNFPath)
	if err != nil {
		return false
	}
	return strings.TrimSpace(string(b)) == "1"
}
