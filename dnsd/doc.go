// Package dnsd is shoal's embedded DNS server: every node runs one on its
// own address, and pods' resolv.conf points at it. It answers only its
// Clients (the pod network, the node, loopback); any other source gets
// REFUSED, so a node is no open resolver.
//
// It answers the Kubernetes DNS schema (dns-spec 1.1.0) for the cluster
// domain (default cluster.local) from a Resolver that the node feeds from its
// local store replica, and forwards every other name to the node's upstream
// resolvers:
//
//	<svc>.<ns>.svc.<domain>              A/AAAA: the ClusterIPs; headless: the ready endpoint IPs
//	                                     ExternalName: CNAME (in-cluster targets resolved too)
//	_<port>._<proto>.<svc>.<ns>.svc...   SRV for named ports, addresses in the additional section
//	<host>.<svc>.<ns>.svc.<domain>       A/AAAA of one headless endpoint
//	<a-b-c-d>.<ns>.pod.<domain>          A of a pod IP
//	<reversed ip>.in-addr.arpa           PTR of ClusterIPs and pod IPs
//
// Missing names are NXDOMAIN and existing names without records of the asked
// type are NODATA (NOERROR, empty answer), both with the zone's SOA in the
// authority section and a 5s negative TTL; in-cluster answers are
// authoritative and carry a 5s TTL.
//
// The package has three layers (coredns/consul style):
//
//   - Resolver (resolver.go): the narrow lookup interface; dnsd knows nothing
//     of raft, the API or the node.
//   - Handler (handler.go and the zone files): a pure function from a query
//     message to a response message. Failures become RCODEs in one place
//     (errors.go); a panic becomes SERVFAIL.
//   - Server (server.go, udp.go): TCP through miekg/dns; UDP through one
//     worker per SO_REUSEPORT socket (one per core) that reads and writes
//     in batches (recvmmsg/sendmmsg) and, for a Resolver that is
//     Versioned, keeps each answer packed until the version moves and
//     replays it with the client's ID and question: a repeated query is
//     neither decoded nor looked up, and allocates nothing. Truncation,
//     Ready and a bounded stop.
//
// Usage:
//
//	h := dnsd.NewHandler(resolver, dnsd.Config{
//		Domain:       "cluster.local",
//		ReverseZones: []netip.Prefix{podCIDR, serviceCIDR},
//		Settings:     dnsd.Settings{Upstreams: []string{"192.0.2.53"}},
//		Logger:       logger.With("component", "dnsd"),
//	})
//	srv := dnsd.NewServer(h, dnsd.ServerConfig{Addrs: []string{"10.42.0.1:53"}})
//	go func() { errc <- srv.Run(ctx) }()
//	<-srv.Ready()
//	...
//	srv.Reload(dnsd.Settings{Upstreams: newUpstreams}) // resolv.conf changed
package dnsd
