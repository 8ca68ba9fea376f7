package ingress

import (
	"fmt"
	"net"
	"slices"
	"strconv"
	"sync/atomic"

	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
)

// Lookup reads the objects Ingresses refer to. Each method returns nil
// when the object does not exist.
type Lookup interface {
	Service(namespace, name string) *corev1.Service
	Endpoints(namespace, name string) *corev1.Endpoints
	Secret(namespace, name string) *corev1.Secret
}

// backend is one Service port and the addresses that serve it.
type backend struct {
	// name is "namespace/service:port", for logs and errors.
	name string
	// addrs are the ready endpoints, "ip:port", sorted.
	addrs []string
	// why says why addrs is empty.
	why  string
	next atomic.Uint64
}

// pick returns the next address, round-robin.
func (b *backend) pick() (string, bool) {
	if len(b.addrs) == 0 {
		return "", false
	}
	n := b.next.Add(1) - 1
	return b.addrs[n%uint64(len(b.addrs))], true
}

// backendCache resolves each Service port once per Build, so the paths
// that share it share its round-robin position.
type backendCache struct {
	lookup        Lookup
	byName        map[string]*backend
	allowLoopback bool
}

func newBackendCache(l Lookup, allowLoopback bool) *backendCache {
	return &backendCache{lookup: l, byName: map[string]*backend{}, allowLoopback: allowLoopback}
}

// nodeLocal reports an address the proxy must never be sent to, whatever
// an Endpoints object says: unspecified, loopback, link-local (a cloud's
// metadata service) or multicast, as Kubernetes' ValidateNonSpecialIP
// refuses them in Endpoints (and multicast cannot take a connection).
func (c *backendCache) nodeLocal(ip net.IP) bool {
	return ip == nil || ip.IsUnspecified() || ip.IsLoopback() && !c.allowLoopback ||
		ip.IsLinkLocalUnicast() || ip.IsMulticast()
}

// get resolves a Service backend; nil for a resource backend, which shoal
// does not serve.
func (c *backendCache) get(namespace string, b *networkingv1.IngressBackend) *backend {
	if b.Service == nil {
		return nil
	}
	port := b.Service.Port.Name
	if port == "" {
		port = strconv.Itoa(int(b.Service.Port.Number))
	}
	name := namespace + "/" + b.Service.Name + ":" + port
	if be, ok := c.byName[name]; ok {
		return be
	}
	be := &backend{name: name}
	be.addrs, be.why = c.resolve(namespace, b.Service)
	c.byName[name] = be
	return be
}

// resolve finds the Service port and then, in the Service's Endpoints, the
// ready addresses and the port of the same name (the endpoints controller
// has already turned the targetPort, number or name, into a number).
func (c *backendCache) resolve(namespace string, sb *networkingv1.IngressServiceBackend) ([]string, string) {
	svc := c.lookup.Service(namespace, sb.Name)
	if svc == nil {
		return nil, fmt.Sprintf("service %s/%s not found", namespace, sb.Name)
	}
	var sp *corev1.ServicePort
	for i := range svc.Spec.Ports {
		p := &svc.Spec.Ports[i]
		if sb.Port.Name != "" && p.Name == sb.Port.Name || sb.Port.Name == "" && p.Port == sb.Port.Number {
			sp = p
			break
		}
	}
	if sp == nil {
		return nil, fmt.Sprintf("service %s/%s has no port %s", namespace, sb.Name, portString(sb.Port))
	}
	eps := c.lookup.Endpoints(namespace, sb.Name)
	if eps == nil {
		return nil, fmt.Sprintf("service %s/%s has no endpoints", namespace, sb.Name)
	}
	var addrs, skipped []string
	for _, s := range eps.Subsets {
		for _, ep := range s.Ports {
			if ep.Name != sp.Name || ep.Protocol != "" && ep.Protocol != corev1.ProtocolTCP {
				continue
			}
			for _, a := range s.Addresses {
				if c.nodeLocal(net.ParseIP(a.IP)) {
					skipped = append(skipped, a.IP)
					continue
				}
				addrs = append(addrs, net.JoinHostPort(a.IP, strconv.Itoa(int(ep.Port))))
			}
		}
	}
	if len(addrs) == 0 {
		if len(skipped) > 0 {
			return nil, fmt.Sprintf("service %s/%s has no ready endpoints but node-local addresses %v, which are never used", namespace, sb.Name, skipped)
		}
		return nil, fmt.Sprintf("service %s/%s has no ready endpoints", namespace, sb.Name)
	}
	slices.Sort(addrs)
	return slices.Compact(addrs), ""
}

func portString(p networkingv1.ServiceBackendPort) string {
	if p.Name != "" {
		return strconv.Quote(p.Name)
	}
	return strconv.Itoa(int(p.Number))
}
