package dnsd

import "net/netip"

// Resolver is what the handler knows of the cluster. The node implements it
// over its local store replica; dnsd never sees raft, the API or Kubernetes
// objects, only these small value types.
//
// Contract:
//   - Every method must be safe for concurrent use and must not block on the
//     network: it is called on the hot path of every in-cluster query.
//   - Returned values are owned by the caller for the duration of the query
//     and are never modified by dnsd, so an implementation may hand out
//     shared, immutable snapshots.
//   - Service returns ErrNotFound (possibly wrapped) when the namespace or the
//     Service does not exist; ErrNoData when the name exists but must be
//     answered without records; any other error becomes SERVFAIL.
type Resolver interface {
	// Service returns the Service namespace/name. Names arrive in lower case.
	Service(namespace, name string) (*Service, error)

	// PodIPExists reports whether a pod in namespace currently has the IP ip
	// (canonical netip text form). It backs the "verified" pod records
	// `<a-b-c-d>.<ns>.pod.<domain>`; see Config.PodRecords.
	PodIPExists(namespace, ip string) bool

	// ReverseLookup returns the name a PTR query for ip (canonical netip text
	// form) answers with: `<svc>.<ns>.svc` for a ClusterIP, `<a-b-c-d>.<ns>.pod`
	// or `<hostname>.<subdomain>.<ns>.svc` for a pod IP. A name without a
	// trailing dot is relative to the cluster domain (the handler appends it);
	// a name with a trailing dot is used as is. ok is false when the IP is
	// unknown.
	ReverseLookup(ip string) (name string, ok bool)

	// NamespaceExists reports whether the namespace exists. It decides between
	// NODATA (the empty non-terminal `<ns>.svc.<domain>` of an existing
	// namespace) and NXDOMAIN.
	NamespaceExists(namespace string) bool
}

// Versioned is a Resolver whose answers change only when its Version
// does. The server keeps packed answers of such a resolver and reuses them
// until the version moves (see answerCache); a Resolver without it is
// asked on every query.
//
// Contract: Version must be safe for concurrent use and cheap (an atomic
// load). It must move after every change a query could observe, once that
// change is visible to the Resolver's other methods, so that an answer
// computed after reading version v is never older than v.
type Versioned interface {
	Version() uint64
}

// ServiceType mirrors core/v1 Service.spec.type.
type ServiceType string

// The Service types. A headless Service is a ClusterIP Service whose
// ClusterIPs are empty or "None", exactly as in Kubernetes; see
// Service.Headless.
const (
	ServiceTypeClusterIP    ServiceType = "ClusterIP"
	ServiceTypeNodePort     ServiceType = "NodePort"
	ServiceTypeLoadBalancer ServiceType = "LoadBalancer"
	ServiceTypeExternalName ServiceType = "ExternalName"
)

// Service is the DNS view of a core/v1 Service.
type Service struct {
	// Type is spec.type; empty means ClusterIP.
	Type ServiceType
	// ClusterIPs is spec.clusterIPs (IPv4 and/or IPv6). Empty or ["None"]
	// makes the Service headless.
	ClusterIPs []string
	// ExternalName is spec.externalName, the CNAME target of an
	// ExternalName Service.
	ExternalName string
	// Ports is spec.ports. Only named ports get `_<port>._<proto>` SRV names.
	Ports []Port
	// Endpoints are the ready addresses of the Service's Endpoints. They are
	// only consulted for headless Services; not-ready addresses must be left
	// out by the Resolver.
	Endpoints []Endpoint
}

// Headless reports whether the Service has no cluster IP, so that its A and
// AAAA records are the ready endpoint IPs. ExternalName Services are never
// headless.
func (s *Service) Headless() bool {
	if s.Type == ServiceTypeExternalName {
		return false
	}
	for _, ip := range s.ClusterIPs {
		if ip != "" && ip != "None" {
			return false
		}
	}
	return true
}

// Port is one entry of spec.ports.
type Port struct {
	// Name is the port name; SRV records exist only for named ports.
	Name string
	// Protocol is "TCP", "UDP" or "SCTP"; empty means TCP.
	Protocol string
	// Port is the Service port.
	Port int32
}

// Endpoint is one ready address of a headless Service.
type Endpoint struct {
	// IP is the pod IP.
	IP string
	// Hostname is the endpoint hostname (pod spec.hostname when the pod's
	// spec.subdomain names this Service, as for StatefulSets). When set, the
	// endpoint gets the name `<hostname>.<svc>.<ns>.svc.<domain>`; otherwise
	// its dashed IP (or PodName, see Config.EndpointPodNames) is used.
	Hostname string
	// PodName is the name of the pod behind the address.
	PodName string
}

// addrs returns the parsed cluster IPs, skipping "None" and garbage.
func (s *Service) addrs() []netip.Addr {
	out := make([]netip.Addr, 0, len(s.ClusterIPs))
	for _, ip := range s.ClusterIPs {
		if a, err := netip.ParseAddr(ip); err == nil {
			out = append(out, a.Unmap())
		}
	}
	return out
}
