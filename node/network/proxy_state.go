package network

import (
	"log/slog"
	"time"
)

// ProxyState is everything the Service proxy of one node acts on: a plain
// description the node computes from its store (Services, Endpoints, its
// own Node object). Sync makes the node's rules match it exactly.
type ProxyState struct {
	// NodeAddresses are this node's addresses (IPv4; others are ignored).
	// NodePorts answer on each of them, and so do the ports of
	// LoadBalancer Services ("reachable on every node's address at the
	// service port").
	NodeAddresses []string
	// LocalDNS are the addresses (IPv4) where the node's own DNS server
	// answers on port 53. Queries to them and their answers bypass
	// connection tracking, as NodeLocal DNSCache's NOTRACK rules do: each
	// query from a new port would otherwise make a conntrack entry and
	// pass the NAT chains, which cost more than answering it.
	LocalDNS []string
	// Services to proxy. ExternalName Services and headless ones (no
	// ClusterIP) need no rules and may be left out or kept in: they are
	// skipped.
	Services []ProxyService
}

// Service types and policies, spelled as in core/v1 so the node can convert
// with string(spec.Type).
const (
	ServiceTypeClusterIP    = "ClusterIP"
	ServiceTypeNodePort     = "NodePort"
	ServiceTypeLoadBalancer = "LoadBalancer"
	ServiceTypeExternalName = "ExternalName"

	TrafficPolicyCluster = "Cluster"
	TrafficPolicyLocal   = "Local"

	AffinityNone     = "None"
	AffinityClientIP = "ClientIP"
)

// ProxyService is one Service as the proxy sees it.
type ProxyService struct {
	Namespace string
	Name      string
	// ClusterIPs are spec.clusterIPs; "None", empty and IPv6 entries are
	// ignored.
	ClusterIPs []string
	// Type is spec.type: ClusterIP (the default when empty), NodePort,
	// LoadBalancer or ExternalName (skipped).
	Type string
	// ExternalTrafficPolicy is spec.externalTrafficPolicy for NodePort and
	// LoadBalancer traffic: Cluster (default: any ready endpoint, the
	// client address is masqueraded) or Local (only endpoints in this
	// node's pod CIDR, the client address is kept, dropped when there are
	// none here).
	ExternalTrafficPolicy string
	// SessionAffinity is spec.sessionAffinity: None (default: a random
	// endpoint per connection) or ClientIP (a hash of the client address
	// picks the endpoint).
	SessionAffinity string
	// SessionAffinityTimeout is spec.sessionAffinityConfig.clientIP.
	// timeoutSeconds. It is not enforced: with the hash a client keeps its
	// endpoint for as long as the Service's ready endpoints stay the same,
	// however idle it is (see DESIGN notes in proxy.go).
	SessionAffinityTimeout time.Duration
	Ports                  []ProxyPort
}

// ProxyPort is one port of a Service with the endpoints that serve it.
type ProxyPort struct {
	// Name is the port's name (may be empty for a single-port Service).
	Name string
	// Protocol is TCP (default when empty), UDP or SCTP.
	Protocol string
	// Port is the Service port, on the ClusterIPs (and, for LoadBalancer,
	// on the node addresses).
	Port int32
	// NodePort is the node port (0: none).
	NodePort int32
	// Endpoints are the ready endpoints of this port, with the target port
	// already resolved for each one (a named targetPort may be a different
	// number on each pod). Not-ready endpoints must be left out.
	Endpoints []ProxyEndpoint
}

// ProxyEndpoint is one ready endpoint of a Service port.
type ProxyEndpoint struct {
	IP   string
	Port int32
}

// ProxyConfig configures a node's Service proxy.
type ProxyConfig struct {
	// ClusterCIDR is the pod network of the whole cluster (default
	// 10.42.0.0/16). Pod traffic leaving it is masqueraded; traffic to a
	// ClusterIP from outside it (the node itself, other hosts) is
	// masqueraded so replies come back through this node.
	ClusterCIDR string
	// PodCIDR is this node's pod subnet, e.g. 10.42.3.0/24. It tells which
	// endpoints are local (ExternalTrafficPolicy Local) and scopes the
	// masquerade that replaces bridge netfilter when the kernel lacks it.
	// Optional: without it Local Services have no local endpoints.
	PodCIDR string
	// Table is the name of shoal's nftables table in the ip family
	// (default "shoal"). The proxy never touches any other table.
	Table string
	// MasqueradeMark is the packet mark bit that flags connections to
	// masquerade on the way out (default 0x4000, kube-proxy's). It must
	// not collide with marks other software on the node uses.
	MasqueradeMark uint32
	// Logger gets warnings about Services that cannot be proxied (default:
	// discard).
	Logger *slog.Logger
}
