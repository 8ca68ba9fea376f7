package network

import (
	"fmt"
	"net"
	"sort"
	"strconv"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

// UDP has no connection to end, so conntrack keeps steering a client's
// datagrams to wherever the first one went: to an endpoint that is gone,
// or (for a Service that had no endpoints) nowhere. After each table
// change the proxy deletes the entries that now point the wrong way, as
// kube-proxy does; TCP needs none of this (a dead endpoint resets).

// udpTarget is an address and port where a UDP Service answers: a
// ClusterIP and port, or a node address and a NodePort or LoadBalancer
// port.
type udpTarget struct {
	ip   string
	port int32
}

// udpTargets maps each UDP target to its endpoints, as "IP:port" (empty
// when the Service has none). The port counts: an endpoint that keeps its
// address but changes its target port is a different endpoint.
type udpTargets map[udpTarget]map[string]bool

func (u udpTargets) add(ip net.IP, port int32, eps []endpoint) {
	t := udpTarget{ip.String(), port}
	set := u[t]
	if set == nil {
		set = map[string]bool{}
		u[t] = set
	}
	for _, ep := range eps {
		set[net.JoinHostPort(ep.ip.String(), strconv.Itoa(int(ep.port)))] = true
	}
}

// conntrackFlow says which entries to delete: those to target, and when
// endpoint ("IP:port") is set only those answered by that endpoint.
type conntrackFlow struct {
	target   udpTarget
	endpoint string
}

// MatchConntrackFlow makes a conntrackFlow a netlink filter. netlink's own
// ConntrackFilter cannot match the reply's source port, which tells
// apart two endpoints on one address.
func (f conntrackFlow) MatchConntrackFlow(fl *netlink.ConntrackFlow) bool {
	if fl.Forward.Protocol != unix.IPPROTO_UDP || int32(fl.Forward.DstPort) != f.target.port ||
		!fl.Forward.DstIP.Equal(net.ParseIP(f.target.ip)) {
		return false
	}
	if f.endpoint == "" {
		return true
	}
	host, port, err := net.SplitHostPort(f.endpoint)
	if err != nil {
		return false
	}
	return fl.Reverse.SrcIP.Equal(net.ParseIP(host)) && strconv.Itoa(int(fl.Reverse.SrcPort)) == port
}

func (f conntrackFlow) String() string {
	if f.endpoint == "" {
		return fmt.Sprintf("udp to %s:%d", f.target.ip, f.target.port)
	}
	return fmt.Sprintf("udp to %s:%d via %s", f.target.ip, f.target.port, f.endpoint)
}

// staleUDPFlows compares the UDP targets before and after a table change:
// a target that had no endpoints and now has some loses all its entries
// (they were rejected); an endpoint that left a target loses the entries
// it answered.
func staleUDPFlows(prev, cur udpTargets) []conntrackFlow {
	var flows []conntrackFlow
	for t, eps := range cur {
		if len(eps) > 0 && len(prev[t]) == 0 {
			flows = append(flows, conntrackFlow{target: t})
		}
	}
	for t, eps := range prev {
		if len(cur[t]) > 0 && len(prev[t]) == 0 {
			continue // already flushed whole above
		}
		for ep := range eps {
			if !cur[t][ep] {
				flows = append(flows, conntrackFlow{target: t, endpoint: ep})
			}
		}
	}
	sort.Slice(flows, func(i, j int) bool { return flows[i].String() < flows[j].String() })
	return flows
}

// deleteConntrack removes the entries of flows from this namespace's
// conntrack table and returns how many went.
func deleteConntrack(flows []conntrackFlow) (uint, error) {
	if len(flows) == 0 {
		return 0, nil
	}
	filters := make([]netlink.CustomConntrackFilter, 0, len(flows))
	for _, fl := range flows {
		filters = append(filters, fl)
	}
	n, err := netlink.ConntrackDeleteFilters(netlink.ConntrackTable, unix.AF_INET, filters...)
	if err != nil {
		return n, fmt.Errorf("delete conntrack entries: %w", err)
	}
	return n, nil
}
