package dnsd

import (
	"log/slog"
	"net/netip"
	"time"
)

// PodRecordMode says how `<a-b-c-d>.<ns>.pod.<domain>` names are answered.
type PodRecordMode string

// The pod record modes, named after CoreDNS's kubernetes plugin.
const (
	// PodsVerified answers only when Resolver.PodIPExists confirms a pod in
	// that namespace has the IP; NXDOMAIN otherwise. The default.
	PodsVerified PodRecordMode = "verified"
	// PodsInsecure answers any well-formed dashed IP without a lookup, as
	// kube-dns did.
	PodsInsecure PodRecordMode = "insecure"
	// PodsDisabled answers NXDOMAIN for every pod name.
	PodsDisabled PodRecordMode = "disabled"
)

// Defaults used by NewHandler for zero Config fields.
const (
	// DefaultDomain is the cluster domain, as in Kubernetes.
	DefaultDomain = "cluster.local"
	// DefaultTTL is the TTL of in-cluster records and of negative answers.
	DefaultTTL = 5 * time.Second
	// DefaultForwardTimeout bounds one exchange with one upstream.
	DefaultForwardTimeout = 2 * time.Second
	// DefaultUDPSize is the EDNS0 payload size dnsd advertises and the most
	// it sends over UDP (DNS flag day 2020: no IP fragmentation).
	DefaultUDPSize = 1232
)

// Config is the handler's static configuration. Zero fields take the
// defaults above. Settings that may change while serving live in Settings.
type Config struct {
	// Domain is the cluster domain, default "cluster.local". Names under it
	// are answered from the Resolver and never forwarded.
	Domain string
	// TTL of every in-cluster record and of the SOA (and so the negative
	// caching time), default 5s. Small, so answers follow the store quickly.
	TTL time.Duration
	// PodRecords selects how pod A records are answered, default PodsVerified.
	PodRecords PodRecordMode
	// EndpointPodNames names headless endpoints without a hostname after
	// their pod (`<pod>.<svc>.<ns>.svc`) instead of their dashed IP, like
	// CoreDNS's endpoint_pod_names option. Default false.
	EndpointPodNames bool
	// ReverseZones are the CIDRs (pod and service networks) for which dnsd is
	// authoritative in in-addr.arpa/ip6.arpa: an unknown IP inside them is
	// NXDOMAIN. PTR queries for other IPs are answered when the Resolver
	// knows the IP and forwarded otherwise.
	ReverseZones []netip.Prefix
	// UDPSize is the EDNS0 payload size advertised in answers and the upper
	// bound of a UDP answer, default DefaultUDPSize. Clients without EDNS0
	// get at most 512 bytes; anything larger is truncated with TC set.
	UDPSize uint16
	// Clients are the sources dnsd answers: the node's pod network and the
	// node's own addresses. A query from any other source is REFUSED, for
	// cluster names and for recursion alike: a node is no open resolver
	// (a tool for amplification attacks) and no directory of the cluster's
	// Services for whoever reaches its address. Empty means loopback only.
	Clients []netip.Prefix
	// Settings are the initial hot-reloadable settings (see Handler.Reload).
	Settings Settings
	// Forwarder, when set, replaces the upstream forwarder built from
	// Settings.Upstreams (tests, or a custom transport). Reload keeps it
	// only if Settings.Upstreams stays empty.
	Forwarder Forwarder
	// Logger receives per-request debug logs and recovered panics; nil
	// discards.
	Logger *slog.Logger
}

// Settings are the handler settings that may change while it serves. They
// are swapped atomically by Handler.Reload; a query sees either the old or
// the new settings, never a mix.
type Settings struct {
	// Upstreams are the resolvers names outside the cluster domain are
	// forwarded to, "host" or "host:port" (port 53 by default), tried in
	// order. Empty: such queries are answered REFUSED. Never list dnsd's own
	// address here, that would loop.
	Upstreams []string
	// ForwardTimeout bounds one exchange with one upstream, default
	// DefaultForwardTimeout.
	ForwardTimeout time.Duration
}

func (c Config) withDefaults() Config {
	if c.Domain == "" {
		c.Domain = DefaultDomain
	}
	if c.TTL <= 0 {
		c.TTL = DefaultTTL
	}
	if c.PodRecords == "" {
		c.PodRecords = PodsVerified
	}
	if c.UDPSize < 512 {
		c.UDPSize = DefaultUDPSize
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	return c
}
