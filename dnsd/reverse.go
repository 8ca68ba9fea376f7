package dnsd

import (
	"net/netip"
	"strconv"
	"strings"

	"github.com/miekg/dns"
)

const (
	arpa4 = "in-addr.arpa."
	arpa6 = "ip6.arpa."
)

// reverseZone is one in-addr.arpa/ip6.arpa zone dnsd is authoritative for.
type reverseZone struct {
	name string // "43.10.in-addr.arpa."
}

// reverseAnswer answers a name under in-addr.arpa or ip6.arpa. ok is false
// when the query is not dnsd's to answer and should be forwarded: the IP is
// unknown to the Resolver and outside every Config.ReverseZones prefix.
func (h *Handler) reverseAnswer(owner, name string, qtype uint16) (a answer, ok bool) {
	var fullLabels int
	switch {
	case inZone(name, arpa4):
		fullLabels = 4
	case inZone(name, arpa6):
		fullLabels = 32
	default:
		return answer{}, false
	}
	zone := h.reverseZoneFor(name)
	ip, nlabels, full := parseReverse(name)
	if full {
		if target, known := h.resolver.ReverseLookup(ip.String()); known {
			a = answer{auth: true, soa: h.reverseSOA(zone, name)}
			if qtype == dns.TypePTR || qtype == dns.TypeANY {
				if !strings.HasSuffix(target, ".") {
					target += "." + h.domain
				}
				a.rrs = []dns.RR{&dns.PTR{Hdr: h.hdr(owner, dns.TypePTR), Ptr: target}}
			}
			return a, true
		}
	}
	if zone == nil {
		return answer{}, false
	}
	a = answer{auth: true, soa: h.reverseSOA(zone, name)}
	switch {
	case name == zone.name && (qtype == dns.TypeSOA || qtype == dns.TypeANY):
		a.rrs = []dns.RR{a.soa}
	case full || nlabels >= fullLabels:
		a.err = ErrNotFound
	default:
		// An empty non-terminal on the way to addresses: NODATA, not
		// NXDOMAIN, which would deny everything below (RFC 8020).
		a.err = ErrNoData
	}
	return a, true
}

// reverseSOA is the SOA of zone, or for a PTR answered outside the
// configured zones, a SOA owned by the name's parent.
func (h *Handler) reverseSOA(zone *reverseZone, name string) *dns.SOA {
	owner := name
	if zone != nil {
		owner = zone.name
	} else if i := strings.IndexByte(name, '.'); i >= 0 {
		owner = name[i+1:]
	}
	s := h.newSOA(owner)
	return &s
}

// reverseZoneFor returns the most specific configured zone containing name.
func (h *Handler) reverseZoneFor(name string) *reverseZone {
	var best *reverseZone
	for i := range h.reverse {
		z := &h.reverse[i]
		if inZone(name, z.name) && (best == nil || len(z.name) > len(best.name)) {
			best = z
		}
	}
	return best
}

// parseReverse parses a lower-case reverse name. full is true when it
// names one whole address; nlabels counts its labels below the arpa zone.
func parseReverse(name string) (ip netip.Addr, nlabels int, full bool) {
	if rest, ok := strings.CutSuffix(name, "."+arpa4); ok {
		labels := strings.Split(rest, ".")
		if len(labels) != 4 {
			return netip.Addr{}, len(labels), false
		}
		var b [4]byte
		for i, l := range labels {
			n, err := strconv.ParseUint(l, 10, 8)
			if err != nil || (len(l) > 1 && l[0] == '0') {
				return netip.Addr{}, 4, false
			}
			b[3-i] = byte(n)
		}
		return netip.AddrFrom4(b), 4, true
	}
	if rest, ok := strings.CutSuffix(name, "."+arpa6); ok {
		labels := strings.Split(rest, ".")
		if len(labels) != 32 {
			return netip.Addr{}, len(labels), false
		}
		var b [16]byte
		for i, l := range labels {
			if len(l) != 1 {
				return netip.Addr{}, 32, false
			}
			n, err := strconv.ParseUint(l, 16, 8)
			if err != nil {
				return netip.Addr{}, 32, false
			}
			nib := 31 - i
			if nib%2 == 0 {
				b[nib/2] |= byte(n) << 4
			} else {
				b[nib/2] |= byte(n)
			}
		}
		return netip.AddrFrom16(b), 32, true
	}
	return netip.Addr{}, 0, false
}

// reverseZones turns CIDRs into reverse zone names. A prefix that does not
// end on a label boundary (8 bits for IPv4, 4 for IPv6) becomes the
// sub-zones at the next boundary: 10.42.0.0/15 is 42.10 and 43.10.
func reverseZones(prefixes []netip.Prefix) []reverseZone {
	var out []reverseZone
	var split func(p netip.Prefix)
	split = func(p netip.Prefix) {
		unit := 4
		if p.Addr().Is4() {
			unit = 8
		}
		if p.Bits()%unit == 0 {
			out = append(out, reverseZone{name: reverseZoneName(p)})
			return
		}
		lo := netip.PrefixFrom(p.Addr(), p.Bits()+1)
		b := p.Addr().AsSlice()
		b[p.Bits()/8] |= 0x80 >> (p.Bits() % 8)
		hiAddr, _ := netip.AddrFromSlice(b)
		split(lo)
		split(netip.PrefixFrom(hiAddr, p.Bits()+1))
	}
	for _, p := range prefixes {
		if !p.IsValid() {
			continue
		}
		if p.Addr().Is4In6() && p.Bits() >= 96 {
			p = netip.PrefixFrom(p.Addr().Unmap(), p.Bits()-96)
		}
		split(p.Masked())
	}
	return out
}

// reverseZoneName is the zone of a label-aligned prefix.
func reverseZoneName(p netip.Prefix) string {
	var sb strings.Builder
	b := p.Addr().AsSlice()
	if p.Addr().Is4() {
		for i := p.Bits()/8 - 1; i >= 0; i-- {
			sb.WriteString(strconv.Itoa(int(b[i])))
			sb.WriteByte('.')
		}
		sb.WriteString(arpa4)
		return sb.String()
	}
	const hex = "0123456789abcdef"
	for i := p.Bits()/4 - 1; i >= 0; i-- {
		n := b[i/2]
		if i%2 == 0 {
			n >>= 4
		}
		sb.WriteByte(hex[n&0xf])
		sb.WriteByte('.')
	}
	sb.WriteString(arpa6)
	return sb.String()
}
