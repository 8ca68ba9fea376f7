package servicealloc

import (
	"fmt"
	"math/rand/v2"
	"net/netip"
)

// ClaimOwners says who holds a store claim; *consensus.Store is one. The
// allocator only reads claims: they are taken by the write that carries
// them, in the FSM.
type ClaimOwners interface {
	ClaimOwner(claim string) (owner string, ok bool)
}

// Allocator hands out cluster IPs from a CIDR and node ports from a range.
// It holds no state of its own: what is taken is what the store's claims
// say, so one Allocator per API server is safe to share between requests.
type Allocator struct {
	claims ClaimOwners
	cidr   netip.Prefix
	base   uint32 // the network address
	size   uint64 // addresses in the CIDR, network and broadcast included
	ports  PortRange
	err    error // a configuration error, reported on every allocation
}

// New is the allocator for cidr and ports; the zero values mean
// DefaultServiceCIDR and DefaultNodePortRange. A range it cannot serve
// (see Check) is not fatal here: Err reports it, and every allocation fails
// with it, so that the API keeps serving everything but Services.
func New(claims ClaimOwners, cidr netip.Prefix, ports PortRange) *Allocator {
	cidr, ports = withDefaults(cidr, ports)
	a := &Allocator{claims: claims, cidr: cidr.Masked(), ports: ports, err: Check(cidr, ports)}
	if a.err == nil {
		a.base = ipv4Uint(a.cidr.Addr())
		a.size = 1 << (32 - cidr.Bits())
	}
	return a
}

// Check says whether an Allocator can serve cidr and ports (the zero values
// meaning the defaults): an IPv4 CIDR of at least a /29 and ports within
// 1-65535. Flag validation calls it so that a bad --service-cidr stops the
// daemon at start rather than failing the first Service.
func Check(cidr netip.Prefix, ports PortRange) error {
	cidr, ports = withDefaults(cidr, ports)
	switch {
	case !cidr.Addr().Is4():
		return fmt.Errorf("service CIDR %s: only IPv4 service CIDRs are supported", cidr)
	case cidr.Bits() > 29:
		return fmt.Errorf("service CIDR %s: too small, want at most /29", cidr)
	case ports.First < 1 || ports.Last > 65535 || ports.First > ports.Last:
		return fmt.Errorf("node port range %s is not valid", ports)
	}
	return nil
}

func withDefaults(cidr netip.Prefix, ports PortRange) (netip.Prefix, PortRange) {
	if !cidr.IsValid() {
		cidr = DefaultServiceCIDR
	}
	if ports == (PortRange{}) {
		ports = DefaultNodePortRange
	}
	return cidr, ports
}

// Err is the configuration error that stops every allocation, or nil.
func (a *Allocator) Err() error { return a.err }

// CIDR is the range cluster IPs come from.
func (a *Allocator) CIDR() netip.Prefix { return a.cidr }

// Ports is the range node ports come from.
func (a *Allocator) Ports() PortRange { return a.ports }

// inRange says whether ip is a host address of the CIDR (neither the
// network nor the broadcast address).
func (a *Allocator) inRange(ip netip.Addr) bool {
	if !ip.Is4() || !a.cidr.Contains(ip) {
		return false
	}
	off := uint64(ipv4Uint(ip) - a.base)
	return off > 0 && off < a.size-1
}

// takenBy says whether claim is held by an object other than owner.
func (a *Allocator) takenBy(claim, owner string) bool {
	o, ok := a.claims.ClaimOwner(claim)
	return ok && o != owner
}

// nextIP picks a free address at random, skipping the first host address
// (the kubernetes Service's). Random, not sequential, so that concurrent
// writers on different peers rarely race for the same address.
func (a *Allocator) nextIP(owner string) (netip.Addr, bool) {
	n := a.size - 3 // host addresses after the first
	start := rand.Uint64N(n)
	for i := range n {
		ip := uintIPv4(a.base + 2 + uint32((start+i)%n))
		if !a.takenBy(ClaimServiceIP+ip.String(), owner) {
			return ip, true
		}
	}
	return netip.Addr{}, false
}

// nextPort picks a free node port at random that is not in used.
func (a *Allocator) nextPort(owner string, used map[int32]bool) (int32, bool) {
	n := a.ports.Last - a.ports.First + 1
	start := rand.Int32N(n)
	for i := range n {
		p := a.ports.First + (start+i)%n
		if !used[p] && !a.takenBy(nodePortClaim(p), owner) {
			return p, true
		}
	}
	return 0, false
}
