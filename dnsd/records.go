package dnsd

import (
	"math/rand/v2"
	"net/netip"
	"strings"

	"github.com/miekg/dns"
)

// inZone reports whether the lower-case FQDN name is zone or below it.
func inZone(name, zone string) bool {
	if !strings.HasSuffix(name, zone) {
		return false
	}
	n := len(name) - len(zone)
	return n == 0 || zone == "." || name[n-1] == '.'
}

func (h *Handler) hdr(owner string, rrtype uint16) dns.RR_Header {
	return dns.RR_Header{Name: owner, Rrtype: rrtype, Class: dns.ClassINET, Ttl: h.ttl}
}

// newSOA builds the SOA of zone. Its TTL and MINIMUM are the record TTL, so
// negative answers are cached as briefly as positive ones (RFC 2308).
func (h *Handler) newSOA(zone string) dns.SOA {
	return dns.SOA{
		Hdr:     h.hdr(zone, dns.TypeSOA),
		Ns:      "ns.dns." + h.domain,
		Mbox:    "hostmaster." + h.domain,
		Serial:  1,
		Refresh: 7200,
		Retry:   1800,
		Expire:  86400,
		Minttl:  h.ttl,
	}
}

// newSOACopy returns a fresh copy of the cluster domain's SOA, so callers of
// Answer may modify what they get.
func (h *Handler) newSOACopy() *dns.SOA {
	s := h.soa
	return &s
}

// wantAddr reports whether a query of qtype asks for ip's address record.
func wantAddr(qtype uint16, ip netip.Addr) bool {
	switch qtype {
	case dns.TypeA:
		return ip.Is4()
	case dns.TypeAAAA:
		return ip.Is6()
	case dns.TypeANY:
		return true
	}
	return false
}

// addrRR returns the A or AAAA record of ip owned by owner.
func (h *Handler) addrRR(owner string, ip netip.Addr) dns.RR {
	if ip.Is4() {
		b := ip.As4()
		return &dns.A{Hdr: h.hdr(owner, dns.TypeA), A: b[:]}
	}
	b := ip.As16()
	return &dns.AAAA{Hdr: h.hdr(owner, dns.TypeAAAA), AAAA: b[:]}
}

// addrRRs returns the records of ips that qtype asks for.
func (h *Handler) addrRRs(owner string, qtype uint16, ips []netip.Addr) []dns.RR {
	var out []dns.RR
	for _, ip := range ips {
		if wantAddr(qtype, ip) {
			out = append(out, h.addrRR(owner, ip))
		}
	}
	return out
}

// dashed is the label form of an IP: 10-42-0-5, fd00--5.
func dashed(ip netip.Addr) string {
	s := ip.String()
	if ip.Is4() {
		return strings.ReplaceAll(s, ".", "-")
	}
	return strings.ReplaceAll(s, ":", "-")
}

// undash parses the label form of an IP.
func undash(label string) (netip.Addr, bool) {
	var s string
	if strings.Count(label, "-") == 3 && !strings.ContainsAny(label, "abcdef") {
		s = strings.ReplaceAll(label, "-", ".")
	} else {
		s = strings.ReplaceAll(label, "-", ":")
	}
	ip, err := netip.ParseAddr(s)
	if err != nil || ip.Zone() != "" {
		return netip.Addr{}, false
	}
	return ip.Unmap(), true
}

// shuffle spreads clients over the members of a multi-record set, like
// CoreDNS's loadbalance plugin: most clients use the first record.
func shuffle(rrs []dns.RR) {
	if len(rrs) > 1 {
		rand.Shuffle(len(rrs), func(i, j int) { rrs[i], rrs[j] = rrs[j], rrs[i] })
	}
}
