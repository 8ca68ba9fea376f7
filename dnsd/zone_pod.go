package dnsd

import "github.com/miekg/dns"

// podZone answers the pod zone. labels are the lower-case labels left of
// "pod.<domain>":
//
//	[]               pod.<domain>                 empty non-terminal
//	[ns]             <ns>.pod.<domain>            NODATA if the namespace exists
//	[a-b-c-d ns]     <a-b-c-d>.<ns>.pod.<domain>  A (AAAA for fd00--1 style)
func (h *Handler) podZone(owner string, labels []string, qtype uint16) ([]dns.RR, error) {
	switch len(labels) {
	case 0:
		return nil, ErrNoData
	case 1:
		if h.resolver.NamespaceExists(labels[0]) {
			return nil, ErrNoData
		}
		return nil, ErrNotFound
	case 2:
		if h.cfg.PodRecords == PodsDisabled {
			return nil, ErrNotFound
		}
		ip, ok := undash(labels[0])
		if !ok {
			return nil, ErrNotFound
		}
		if h.cfg.PodRecords == PodsVerified && !h.resolver.PodIPExists(labels[1], ip.String()) {
			return nil, ErrNotFound
		}
		if !wantAddr(qtype, ip) {
			return nil, ErrNoData
		}
		return []dns.RR{h.addrRR(owner, ip)}, nil
	}
	return nil, ErrNotFound
}
