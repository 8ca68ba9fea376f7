package network

import (
	"fmt"
	"net"
	"sort"
	"strings"
)

// The two verdict maps that find a Service by destination address,
// protocol and port. A map lookup costs the same for 10 Services as for
// 10,000, where a chain of rules is walked one by one; and a Service added
// or removed is one element, not a rewrite of a long chain.
const (
	// serviceIPsMap sends a packet for a Service with ready endpoints to
	// its chain (ClusterIPs, and the node's addresses for NodePorts and
	// LoadBalancer ports).
	serviceIPsMap = "service-ips"
	// noEndpointsMap sends a packet for a Service without ready endpoints
	// to a reject chain.
	noEndpointsMap = "no-endpoint-services"
)

// The reject chains no-endpoint-services points to.
const (
	rejectTCPChain   = "reject-tcp"
	rejectOtherChain = "reject-other"
)

// mapElem is one element of a verdict map: key -> goto chain.
type mapElem struct {
	key   []byte // ip . proto . port, 12 bytes
	text  string // the key in nft syntax, e.g. 10.43.0.10 . tcp . 80
	chain string
}

// verdictMap is a named map from a Service key to a chain.
type verdictMap struct {
	name  string
	elems map[string]mapElem // by text
}

func newVerdictMap(name string) *verdictMap {
	return &verdictMap{name: name, elems: map[string]mapElem{}}
}

// add puts ip . proto . port -> chain in the map; false when the key is
// taken (the first Service to claim an address and port keeps it, as the
// first of two rules would).
func (m *verdictMap) add(ip net.IP, p l4proto, port int32, chain string) bool {
	text := fmt.Sprintf("%s . %s . %d", ip, p.name, port)
	if _, taken := m.elems[text]; taken {
		return false
	}
	m.elems[text] = mapElem{key: serviceKey(ip, p, port), text: text, chain: chain}
	return true
}

// sorted returns the elements in the order nft would list them (by key
// text here, which is stable).
func (m *verdictMap) sorted() []mapElem {
	out := make([]mapElem, 0, len(m.elems))
	for _, e := range m.elems {
		out = append(out, e)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].text < out[j].text })
	return out
}

// ruleset is the whole of shoal's table.
type ruleset struct {
	table  string
	chains []*nftChain
	maps   []*verdictMap
	// clientSets are named sets of client addresses with timeouts
	// (ClientIP affinity). Unlike chains they keep their elements when the
	// table is rewritten.
	clientSets []string
	// udp is where UDP Services answer, for the conntrack clean-up; it is
	// not part of the table.
	udp udpTargets
}

// String renders the table in nft syntax (close to `nft list table`).
func (rs *ruleset) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "table ip %s {\n", rs.table)
	for _, m := range rs.maps {
		fmt.Fprintf(&b, "\tmap %s {\n\t\ttype ipv4_addr . inet_proto . inet_service : verdict\n", m.name)
		if els := m.sorted(); len(els) > 0 {
			b.WriteString("\t\telements = { ")
			for i, e := range els {
				if i > 0 {
					b.WriteString(",\n\t\t\t     ")
				}
				fmt.Fprintf(&b, "%s : goto %s", e.text, e.chain)
			}
			b.WriteString(" }\n")
		}
		b.WriteString("\t}\n\n")
	}
	for _, name := range rs.clientSets {
		fmt.Fprintf(&b, "\tset %s {\n\t\ttype ipv4_addr\n\t\tflags dynamic,timeout\n\t}\n\n", name)
	}
	for i, c := range rs.chains {
		if i > 0 {
			b.WriteString("\n")
		}
		b.WriteString(c.render())
	}
	b.WriteString("}\n")
	return b.String()
}
