package network

import (
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"
	"sync"

	"github.com/google/nftables"
)

// ServiceProxy implements Services on one node with nftables: DNAT of
// ClusterIP, NodePort and LoadBalancer traffic to ready endpoints, load
// balanced per connection, plus the masquerading the pod network needs.
//
// It owns one table (ip "shoal" by default) and nothing else. Sync is
// level-triggered: it computes the whole table from a ProxyState (a pure
// function, buildRuleset) and replaces the table in one netlink
// transaction, so there is never a moment without rules and a missed
// update heals on the next Sync. Existing connections keep their endpoint
// (conntrack remembers the translation); only new connections see a
// change.
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

	mu      sync.Mutex
	applied string // the table last written, in nft syntax
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

// Table is the name of the proxy's nftables table (family ip).
func (sp *ServiceProxy) Table() string { return sp.p.table }

// Sync makes the node's rules match st. It is cheap when nothing changed
// (the table is only rewritten when its contents differ or it has
// vanished), so callers may call it on every store event and on a timer.
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
	text := rs.String()
	conn, err := nftables.New()
	if err != nil {
		return fmt.Errorf("service proxy: netlink: %w", err)
	}
	if text == sp.applied {
		if _, err := conn.ListTableOfFamily(p.table, nftables.TableFamilyIPv4); err == nil {
			return nil
		}
	}
	existing, err := listTable(conn, p.table)
	if err != nil {
		return fmt.Errorf("service proxy: read table %s: %w", p.table, err)
	}
	if err := rs.queue(conn, existing); err != nil {
		return fmt.Errorf("service proxy: %w", err)
	}
	if err := conn.Flush(); err != nil && existing != nil {
		// The table holds something the update cannot change in place
		// (say, a chain of another type left by an older version):
		// replace it whole, forgetting the affinity sets.
		sp.log.Warn("service proxy: table update refused; replacing the table", "error", err)
		if err = rs.queue(conn, nil); err == nil {
			err = conn.Flush()
		}
		if err != nil {
			sp.applied = ""
			return fmt.Errorf("service proxy: write table %s: %w", p.table, err)
		}
	} else if err != nil {
		sp.applied = ""
		return fmt.Errorf("service proxy: write table %s: %w", p.table, err)
	}
	sp.applied = text
	sp.log.Debug("service proxy: rules written", "services", len(st.Services), "chains", len(rs.chains))
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
	sp.applied = ""
	sp.udp = nil
	return nil
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
