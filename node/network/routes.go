package network

import (
	"errors"
	"fmt"
	"net"
	"os"
	"sort"
	"sync"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

// DefaultRouteProtocol tags the routes shoal makes (the rtm_protocol field,
// `proto 83` in `ip route`), so SyncRoutes replaces and removes only its
// own routes and leaves the rest of the routing table alone. 83 is not
// assigned in iproute2's rt_protos.
const DefaultRouteProtocol = 83

// RoutesConfig configures the routes between nodes' pod subnets.
type RoutesConfig struct {
	// Protocol tags shoal's routes (default DefaultRouteProtocol).
	Protocol int
	// ServiceCIDR, when set (e.g. 10.43.0.0/16), gets a route through the
	// pod bridge with the bridge's address as source, so the node's own
	// connections to ClusterIPs have a route even on a node with no
	// default route, and carry a pod-network source address that every
	// node can route back. The route appears once the bridge has its
	// address (the CNI plugin makes the bridge with the first pod), so
	// keep calling SyncRoutes.
	ServiceCIDR string
	// Bridge is the pod bridge (default "shoal0").
	Bridge string
}

// Routes keeps, on one node, a route to every other node's pod CIDR
// through that node's address ("host gateway" routing: the nodes must
// share a link, as on one LAN). It is level-triggered: each SyncRoutes
// makes shoal's routes exactly the given set.
type Routes struct {
	cfg     RoutesConfig
	service *net.IPNet
	mu      sync.Mutex
}

// NewRoutes checks cfg; it touches nothing until SyncRoutes.
func NewRoutes(cfg RoutesConfig) (*Routes, error) {
	if cfg.Protocol == 0 {
		cfg.Protocol = DefaultRouteProtocol
	}
	if cfg.Bridge == "" {
		cfg.Bridge = DefaultBridge
	}
	r := &Routes{cfg: cfg}
	if cfg.ServiceCIDR != "" {
		_, n, err := net.ParseCIDR(cfg.ServiceCIDR)
		if err != nil || n.IP.To4() == nil {
			return nil, fmt.Errorf("routes: service CIDR %q: want an IPv4 CIDR", cfg.ServiceCIDR)
		}
		r.service = n
	}
	return r, nil
}

// podRoute is one wanted route: dst through gw, or (gw nil) dst on dev
// with src.
type podRoute struct {
	dst *net.IPNet
	gw  net.IP
	dev int
	src net.IP
}

// planRoutes is the pure part of SyncRoutes: the routes to other nodes'
// pod CIDRs. own (this node's CIDR) and malformed entries are left out and
// reported.
func planRoutes(own string, peers map[string]string) (want []podRoute, bad []string) {
	_, ownNet, _ := net.ParseCIDR(own)
	for cidr, node := range peers {
		_, dst, err := net.ParseCIDR(cidr)
		gw := parseIPv4(node)
		if err != nil || dst.IP.To4() == nil || gw == nil {
			bad = append(bad, fmt.Sprintf("%s via %s", cidr, node))
			continue
		}
		if ownNet != nil && ownNet.String() == dst.String() {
			continue
		}
		want = append(want, podRoute{dst: dst, gw: gw})
	}
	sort.Slice(want, func(i, j int) bool { return want[i].dst.String() < want[j].dst.String() })
	sort.Strings(bad)
	return want, bad
}

// SyncRoutes makes shoal's routes exactly: for each entry of peers (pod
// CIDR -> that node's address) other than own (this node's pod CIDR), a
// route through the node, plus the Service CIDR route when configured.
// Routes of nodes that left are removed. Errors for single routes (a node
// address not on a shared link) are joined; the others are still made.
func (r *Routes) SyncRoutes(own string, peers map[string]string) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	want, bad := planRoutes(own, peers)
	var errs []error
	for _, b := range bad {
		errs = append(errs, fmt.Errorf("routes: bad entry %s", b))
	}
	if sr, ok := r.serviceRoute(own); ok {
		want = append(want, sr)
	}
	keep := map[string]bool{}
	for _, w := range want {
		rt := &netlink.Route{
			Dst: w.dst, Gw: w.gw, LinkIndex: w.dev, Src: w.src,
			Protocol: netlink.RouteProtocol(r.cfg.Protocol), Table: unix.RT_TABLE_MAIN,
		}
		if w.gw == nil {
			rt.Scope = netlink.SCOPE_LINK
		}
		if err := netlink.RouteReplace(rt); err != nil {
			errs = append(errs, fmt.Errorf("routes: %s: %w", w.dst, err))
			continue
		}
		keep[w.dst.String()] = true
	}
	existing, err := r.list()
	if err != nil {
		return errors.Join(append(errs, err)...)
	}
	for _, rt := range existing {
		if rt.Dst != nil && keep[rt.Dst.String()] {
			continue
		}
		if err := netlink.RouteDel(&rt); err != nil && !errors.Is(err, unix.ESRCH) {
			errs = append(errs, fmt.Errorf("routes: remove %s: %w", rt.Dst, err))
		}
	}
	return errors.Join(errs...)
}

// serviceRoute is the Service CIDR route through the bridge, when wanted
// and the bridge has its address in own.
func (r *Routes) serviceRoute(own string) (podRoute, bool) {
	if r.service == nil {
		return podRoute{}, false
	}
	_, ownNet, err := net.ParseCIDR(own)
	if err != nil {
		return podRoute{}, false
	}
	link, err := netlink.LinkByName(r.cfg.Bridge)
	if err != nil {
		return podRoute{}, false
	}
	addrs, err := netlink.AddrList(link, unix.AF_INET)
	if err != nil {
		return podRoute{}, false
	}
	for _, a := range addrs {
		if ownNet.Contains(a.IP) {
			return podRoute{dst: r.service, dev: link.Attrs().Index, src: a.IP.To4()}, true
		}
	}
	return podRoute{}, false
}

// list returns shoal's routes in the main table.
func (r *Routes) list() ([]netlink.Route, error) {
	rts, err := netlink.RouteListFiltered(unix.AF_INET,
		&netlink.Route{Protocol: netlink.RouteProtocol(r.cfg.Protocol), Table: unix.RT_TABLE_MAIN},
		netlink.RT_FILTER_PROTOCOL|netlink.RT_FILTER_TABLE)
	if err != nil {
		return nil, fmt.Errorf("routes: list: %w", err)
	}
	return rts, nil
}

// Close removes all of shoal's routes.
func (r *Routes) Close() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	rts, err := r.list()
	if err != nil {
		return err
	}
	var errs []error
	for _, rt := range rts {
		if err := netlink.RouteDel(&rt); err != nil && !errors.Is(err, unix.ESRCH) {
			errs = append(errs, fmt.Errorf("routes: remove %s: %w", rt.Dst, err))
		}
	}
	return errors.Join(errs...)
}

// Forwarding reports what EnableForwarding found.
type Forwarding struct {
	// BridgeNetfilter is true when bridged IPv4 traffic passes the IPv4
	// netfilter hooks (br_netfilter present and switched on). When false,
	// the Service proxy masquerades same-node pod-to-Service traffic
	// instead; hairpin still works through the bridge's hairpin mode.
	BridgeNetfilter bool
}

// EnableForwarding switches on what a node's pod network needs in the
// network namespace of the calling process: IPv4 forwarding, and bridge
// netfilter for IPv4 when the kernel has it (br_netfilter; shoal does not
// load kernel modules, so a modular kernel needs `modprobe br_netfilter`
// beforehand). Both settings are per network namespace.
func EnableForwarding() (Forwarding, error) {
	if err := writeSysctl("/proc/sys/net/ipv4/ip_forward", "1"); err != nil {
		return Forwarding{}, fmt.Errorf("enable IPv4 forwarding: %w", err)
	}
	if _, err := os.Stat(bridgeNFPath); err != nil {
		return Forwarding{}, nil
	}
	if err := writeSysctl(bridgeNFPath, "1"); err != nil {
		return Forwarding{}, fmt.Errorf("enable bridge netfilter: %w", err)
	}
	return Forwarding{BridgeNetfilter: bridgeNetfilterOn()}, nil
}

func writeSysctl(path, value string) error {
	cur, err := os.ReadFile(path)
	if err == nil && len(cur) > 0 && string(cur[:len(cur)-1]) == value {
		return nil
	}
	return os.WriteFile(path, []byte(value+"\n"), 0o644)
}
