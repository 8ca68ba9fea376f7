package dnsd

import (
	"fmt"
	"net/netip"
	"strings"

	"github.com/miekg/dns"
)

// The svc zone, after the Kubernetes DNS spec (dns-spec.md, schema 1.1.0).
// labels are the lower-case labels left of "svc.<domain>":
//
//	[]                          svc.<domain>                  empty non-terminal
//	[ns]                        <ns>.svc.<domain>             NODATA if the namespace exists
//	[svc ns]                    <svc>.<ns>.svc.<domain>       A/AAAA, SRV for all ports, CNAME
//	[_proto svc ns]             _tcp.<svc>.<ns>.svc...        empty non-terminal of the SRV names
//	[host svc ns]               <host>.<svc>.<ns>.svc...      A/AAAA of one headless endpoint
//	[_port _proto svc ns]       _http._tcp.<svc>.<ns>.svc...  SRV of one named port
//
// Anything else is NXDOMAIN, which is what makes search-path expansions such
// as example.com.default.svc.cluster.local fail fast.
func (h *Handler) svcZone(owner string, labels []string, qtype uint16, depth int) (rrs, extra []dns.RR, err error) {
	switch len(labels) {
	case 0:
		return nil, nil, ErrNoData
	case 1:
		if h.resolver.NamespaceExists(labels[0]) {
			return nil, nil, ErrNoData
		}
		return nil, nil, ErrNotFound
	case 2:
		svc, err := h.service(labels[1], labels[0])
		if err != nil {
			return nil, nil, err
		}
		return h.serviceRecords(owner, labels[1], labels[0], svc, qtype, depth)
	case 3:
		svc, err := h.service(labels[2], labels[1])
		if err != nil {
			return nil, nil, err
		}
		if strings.HasPrefix(labels[0], "_") {
			if len(svc.namedPorts("", labels[0][1:])) == 0 {
				return nil, nil, ErrNotFound
			}
			return nil, nil, ErrNoData
		}
		return h.endpointRecords(owner, labels[0], svc, qtype)
	case 4:
		if !strings.HasPrefix(labels[0], "_") || !strings.HasPrefix(labels[1], "_") {
			return nil, nil, ErrNotFound
		}
		svc, err := h.service(labels[3], labels[2])
		if err != nil {
			return nil, nil, err
		}
		ports := svc.namedPorts(labels[0][1:], labels[1][1:])
		if len(ports) == 0 {
			return nil, nil, ErrNotFound
		}
		if qtype != dns.TypeSRV && qtype != dns.TypeANY {
			return nil, nil, ErrNoData
		}
		return h.srvRecords(owner, labels[3], labels[2], svc, ports)
	}
	return nil, nil, ErrNotFound
}

// service asks the Resolver, turning a nil Service into ErrNotFound.
func (h *Handler) service(ns, name string) (*Service, error) {
	svc, err := h.resolver.Service(ns, name)
	if err != nil {
		return nil, err
	}
	if svc == nil {
		return nil, ErrNotFound
	}
	return svc, nil
}

// serviceRecords answers `<svc>.<ns>.svc.<domain>`.
func (h *Handler) serviceRecords(owner, ns, name string, svc *Service, qtype uint16, depth int) (rrs, extra []dns.RR, err error) {
	if svc.Type == ServiceTypeExternalName {
		return h.externalName(owner, svc, qtype, depth)
	}
	if qtype == dns.TypeSRV {
		return h.srvRecords(owner, ns, name, svc, svc.Ports)
	}
	if !svc.Headless() {
		return h.addrRRs(owner, qtype, svc.addrs()), nil, nil
	}
	for _, ep := range svc.Endpoints {
		if ip, err := netip.ParseAddr(ep.IP); err == nil && wantAddr(qtype, ip.Unmap()) {
			rrs = append(rrs, h.addrRR(owner, ip.Unmap()))
		}
	}
	rrs = dedupe(rrs)
	shuffle(rrs)
	return rrs, nil, nil
}

// externalName answers an ExternalName Service with a CNAME. When the target
// is itself in the cluster domain its records are appended, as a recursive
// resolver would; an external target is left to the client's resolver.
func (h *Handler) externalName(owner string, svc *Service, qtype uint16, depth int) (rrs, extra []dns.RR, err error) {
	if svc.ExternalName == "" {
		return nil, nil, ErrNoData
	}
	target := dns.Fqdn(svc.ExternalName)
	cname := &dns.CNAME{Hdr: h.hdr(owner, dns.TypeCNAME), Target: target}
	rrs = []dns.RR{cname}
	lower := strings.ToLower(target)
	if qtype == dns.TypeCNAME || !inZone(lower, h.domain) {
		return rrs, nil, nil
	}
	if depth >= maxChase {
		return nil, nil, fmt.Errorf("%w: CNAME chain longer than %d at %s", errLoop, maxChase, target)
	}
	sub := h.cluster(lower, lower, qtype, depth+1)
	// RFC 6604: the RCODE is that of the last name in the chain.
	return append(rrs, sub.rrs...), sub.extra, sub.err
}

// endpointRecords answers `<host>.<svc>.<ns>.svc.<domain>` for a headless
// Service endpoint.
func (h *Handler) endpointRecords(owner, host string, svc *Service, qtype uint16) (rrs, extra []dns.RR, err error) {
	if !svc.Headless() {
		return nil, nil, ErrNotFound
	}
	found := false
	for _, ep := range svc.Endpoints {
		ip, perr := netip.ParseAddr(ep.IP)
		if perr != nil || h.endpointHost(ep, ip) != host {
			continue
		}
		found = true
		if ip = ip.Unmap(); wantAddr(qtype, ip) {
			rrs = append(rrs, h.addrRR(owner, ip))
		}
	}
	if !found {
		return nil, nil, ErrNotFound
	}
	return dedupe(rrs), nil, nil
}

// srvRecords answers SRV for ports of a Service: targets are the Service
// name with its cluster IPs in the additional section, or for a headless
// Service one target per ready endpoint with its address; for an
// ExternalName Service, the external name.
func (h *Handler) srvRecords(owner, ns, name string, svc *Service, ports []Port) (rrs, extra []dns.RR, err error) {
	svcName := name + "." + ns + ".svc." + h.domain
	type target struct {
		name string
		ips  []netip.Addr
	}
	var targets []target
	switch {
	case svc.Type == ServiceTypeExternalName:
		if svc.ExternalName == "" {
			return nil, nil, ErrNoData
		}
		targets = []target{{name: dns.Fqdn(svc.ExternalName)}}
	case !svc.Headless():
		targets = []target{{name: svcName, ips: svc.addrs()}}
	default:
		idx := map[string]int{}
		for _, ep := range svc.Endpoints {
			ip, perr := netip.ParseAddr(ep.IP)
			if perr != nil {
				continue
			}
			ip = ip.Unmap()
			host := h.endpointHost(ep, ip) + "." + svcName
			if i, ok := idx[host]; ok {
				targets[i].ips = append(targets[i].ips, ip)
				continue
			}
			idx[host] = len(targets)
			targets = append(targets, target{name: host, ips: []netip.Addr{ip}})
		}
	}
	n := len(targets) * len(ports)
	if n == 0 {
		return nil, nil, ErrNoData
	}
	weight := uint16(max(100/n, 1))
	for _, t := range targets {
		for _, p := range ports {
			rrs = append(rrs, &dns.SRV{
				Hdr:      h.hdr(owner, dns.TypeSRV),
				Priority: 0,
				Weight:   weight,
				Port:     uint16(p.Port),
				Target:   t.name,
			})
		}
		for _, ip := range t.ips {
			extra = append(extra, h.addrRR(t.name, ip))
		}
	}
	shuffle(rrs)
	return rrs, dedupe(extra), nil
}

// endpointHost is the first label of a headless endpoint's own name.
func (h *Handler) endpointHost(ep Endpoint, ip netip.Addr) string {
	switch {
	case ep.Hostname != "":
		return strings.ToLower(ep.Hostname)
	case h.cfg.EndpointPodNames && ep.PodName != "":
		return strings.ToLower(ep.PodName)
	}
	return dashed(ip.Unmap())
}

// namedPorts returns the named ports matching the port name (any when
// empty) and protocol label (tcp, udp, sctp; case-insensitive).
func (s *Service) namedPorts(name, proto string) []Port {
	var out []Port
	for _, p := range s.Ports {
		if p.Name == "" {
			continue
		}
		pp := p.Protocol
		if pp == "" {
			pp = "TCP"
		}
		if !strings.EqualFold(pp, proto) || (name != "" && !strings.EqualFold(p.Name, name)) {
			continue
		}
		out = append(out, p)
	}
	return out
}

// dedupe drops repeated address records (the same IP listed twice by a
// Resolver); other records pass through.
func dedupe(rrs []dns.RR) []dns.RR {
	if len(rrs) < 2 {
		return rrs
	}
	type key struct {
		owner string
		ip    netip.Addr
	}
	seen := make(map[key]struct{}, len(rrs))
	out := rrs[:0]
	for _, rr := range rrs {
		var k key
		switch r := rr.(type) {
		case *dns.A:
			ip, _ := netip.AddrFromSlice(r.A)
			k = key{r.Hdr.Name, ip.Unmap()}
		case *dns.AAAA:
			ip, _ := netip.AddrFromSlice(r.AAAA)
			k = key{r.Hdr.Name, ip}
		default:
			out = append(out, rr)
			continue
		}
		if _, dup := seen[k]; dup {
			continue
		}
		seen[k] = struct{}{}
		out = append(out, rr)
	}
	return out
}
