package servicealloc

import (
	"fmt"
	"net/netip"
	"strconv"
	"strings"
)

// Claim name prefixes.
const (
	ClaimServiceIP = "service-ip/"
	ClaimNodePort  = "nodeport/"
)

// Defaults for the API server's ServiceCIDR and NodePortRange. The node's
// wiring (routes, DNS zones) reads DefaultServiceCIDR from here so that it
// need not import the API server.
var (
	DefaultServiceCIDR   = netip.MustParsePrefix("10.43.0.0/16")
	DefaultNodePortRange = PortRange{First: 30000, Last: 32767}
)

// PortRange is an inclusive range of ports.
type PortRange struct{ First, Last int32 }

// String is "First-Last", as Kubernetes prints a port range.
func (r PortRange) String() string { return fmt.Sprintf("%d-%d", r.First, r.Last) }

// Contains says whether p is in the range.
func (r PortRange) Contains(p int32) bool { return p >= r.First && p <= r.Last }

// ParsePortRange reads "30000-32767".
func ParsePortRange(s string) (PortRange, error) {
	a, b, ok := strings.Cut(s, "-")
	first, err1 := strconv.ParseInt(strings.TrimSpace(a), 10, 32)
	last, err2 := strconv.ParseInt(strings.TrimSpace(b), 10, 32)
	if !ok || err1 != nil || err2 != nil || first < 1 || last > 65535 || first > last {
		return PortRange{}, fmt.Errorf("invalid port range %q: want FIRST-LAST within 1-65535", s)
	}
	return PortRange{First: int32(first), Last: int32(last)}, nil
}

// KubernetesServiceIP is the address of the "kubernetes" Service: the first
// host address of the service CIDR (10.43.0.1 for 10.43.0.0/16).
func KubernetesServiceIP(cidr netip.Prefix) netip.Addr {
	return cidr.Masked().Addr().Next()
}

func nodePortClaim(p int32) string { return ClaimNodePort + strconv.Itoa(int(p)) }

func ipv4Uint(ip netip.Addr) uint32 {
	b := ip.As4()
	return uint32(b[0])<<24 | uint32(b[1])<<16 | uint32(b[2])<<8 | uint32(b[3])
}

func uintIPv4(v uint32) netip.Addr {
	return netip.AddrFrom4([4]byte{byte(v >> 24), byte(v >> 16), byte(v >> 8), byte(v)})
}
