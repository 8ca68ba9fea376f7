package network

import (
	"fmt"
	"net"
	"strings"
	"time"

	"github.com/google/nftables"
	"github.com/google/nftables/binaryutil"
	"github.com/google/nftables/expr"
	"golang.org/x/sys/unix"
)

// This file is a small rule builder: every method appends both the
// netlink expressions the kernel runs and the nft syntax a person reads
// (and the unit tests compare), so the two cannot drift apart. Only the
// subset the Service proxy needs is here, all in the ip family.

// nftRule is one rule under construction.
type nftRule struct {
	text  []string
	exprs []expr.Any
}

func rule() *nftRule { return &nftRule{} }

func (r *nftRule) add(text string, exprs ...expr.Any) *nftRule {
	r.text = append(r.text, text)
	r.exprs = append(r.exprs, exprs...)
	return r
}

// String is the rule in nft syntax.
func (r *nftRule) String() string {
	return strings.Join(r.text, " ")
}

// Offsets into the IPv4 header and the transport header.
const (
	ipv4SaddrOffset = 12
	ipv4DaddrOffset = 16
	thDportOffset   = 2
)

func loadIPv4(offset uint32) *expr.Payload {
	return &expr.Payload{DestRegister: 1, Base: expr.PayloadBaseNetworkHeader, Offset: offset, Len: 4}
}

// addr matches the source or destination address against ip.
func (r *nftRule) addr(field string, offset uint32, ip net.IP, neq bool) *nftRule {
	op, sym := expr.CmpOpEq, ""
	if neq {
		op, sym = expr.CmpOpNeq, "!= "
	}
	return r.add(fmt.Sprintf("ip %s %s%s", field, sym, ip),
		loadIPv4(offset),
		&expr.Cmp{Op: op, Register: 1, Data: ip.To4()})
}

// prefix matches the source or destination address against a subnet.
func (r *nftRule) prefix(field string, offset uint32, n *net.IPNet, neq bool) *nftRule {
	op, sym := expr.CmpOpEq, ""
	if neq {
		op, sym = expr.CmpOpNeq, "!= "
	}
	return r.add(fmt.Sprintf("ip %s %s%s", field, sym, n),
		loadIPv4(offset),
		&expr.Bitwise{SourceRegister: 1, DestRegister: 1, Len: 4, Mask: []byte(n.Mask), Xor: make([]byte, 4)},
		&expr.Cmp{Op: op, Register: 1, Data: n.IP.To4()})
}

func (r *nftRule) daddr(ip net.IP) *nftRule { return r.addr("daddr", ipv4DaddrOffset, ip, false) }
func (r *nftRule) saddr(ip net.IP) *nftRule { return r.addr("saddr", ipv4SaddrOffset, ip, false) }
func (r *nftRule) saddrIn(n *net.IPNet) *nftRule {
	return r.prefix("saddr", ipv4SaddrOffset, n, false)
}
func (r *nftRule) saddrNotIn(n *net.IPNet) *nftRule {
	return r.prefix("saddr", ipv4SaddrOffset, n, true)
}
func (r *nftRule) daddrIn(n *net.IPNet) *nftRule {
	return r.prefix("daddr", ipv4DaddrOffset, n, false)
}
func (r *nftRule) daddrNotIn(n *net.IPNet) *nftRule {
	return r.prefix("daddr", ipv4DaddrOffset, n, true)
}

// dport matches the transport protocol and the destination port.
func (r *nftRule) dport(p l4proto, port int32) *nftRule {
	return r.add(fmt.Sprintf("%s dport %d", p.name, port),
		&expr.Meta{Key: expr.MetaKeyL4PROTO, Register: 1},
		&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: []byte{p.number}},
		&expr.Payload{DestRegister: 1, Base: expr.PayloadBaseTransportHeader, Offset: thDportOffset, Len: 2},
		&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: binaryutil.BigEndian.PutUint16(uint16(port))})
}

// sport matches the transport protocol and the source port.
func (r *nftRule) sport(p l4proto, port int32) *nftRule {
	return r.add(fmt.Sprintf("%s sport %d", p.name, port),
		&expr.Meta{Key: expr.MetaKeyL4PROTO, Register: 1},
		&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: []byte{p.number}},
		&expr.Payload{DestRegister: 1, Base: expr.PayloadBaseTransportHeader, Offset: 0, Len: 2},
		&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: binaryutil.BigEndian.PutUint16(uint16(port))})
}

// notrack exempts the packet from connection tracking (and so from NAT).
func (r *nftRule) notrack() *nftRule { return r.add("notrack", &expr.Notrack{}) }

// ctNew matches the first packet of a connection.
func (r *nftRule) ctNew() *nftRule {
	return r.add("ct state new",
		&expr.Ct{Register: 1, Key: expr.CtKeySTATE},
		&expr.Bitwise{SourceRegister: 1, DestRegister: 1, Len: 4,
			Mask: binaryutil.NativeEndian.PutUint32(expr.CtStateBitNEW), Xor: make([]byte, 4)},
		&expr.Cmp{Op: expr.CmpOpNeq, Register: 1, Data: make([]byte, 4)})
}

// setMark ORs bit into the packet mark.
func (r *nftRule) setMark(bit uint32) *nftRule {
	return r.add(fmt.Sprintf("meta mark set mark | %#x", bit),
		&expr.Meta{Key: expr.MetaKeyMARK, Register: 1},
		&expr.Bitwise{SourceRegister: 1, DestRegister: 1, Len: 4,
			Mask: binaryutil.NativeEndian.PutUint32(^bit), Xor: binaryutil.NativeEndian.PutUint32(bit)},
		&expr.Meta{Key: expr.MetaKeyMARK, SourceRegister: true, Register: 1})
}

// hasMark matches packets whose mark has bit set.
func (r *nftRule) hasMark(bit uint32) *nftRule {
	return r.add(fmt.Sprintf("meta mark & %#x != 0", bit),
		&expr.Meta{Key: expr.MetaKeyMARK, Register: 1},
		&expr.Bitwise{SourceRegister: 1, DestRegister: 1, Len: 4,
			Mask: binaryutil.NativeEndian.PutUint32(bit), Xor: make([]byte, 4)},
		&expr.Cmp{Op: expr.CmpOpNeq, Register: 1, Data: make([]byte, 4)})
}

// clearMark removes bit from the packet mark (so a packet that is
// masqueraded once does not carry the bit on, say, into a tunnel).
func (r *nftRule) clearMark(bit uint32) *nftRule {
	return r.add(fmt.Sprintf("meta mark set mark & %#x", ^bit),
		&expr.Meta{Key: expr.MetaKeyMARK, Register: 1},
		&expr.Bitwise{SourceRegister: 1, DestRegister: 1, Len: 4,
			Mask: binaryutil.NativeEndian.PutUint32(^bit), Xor: make([]byte, 4)},
		&expr.Meta{Key: expr.MetaKeyMARK, SourceRegister: true, Register: 1})
}

// dnat rewrites the destination to ip:port.
func (r *nftRule) dnat(ip net.IP, port int32) *nftRule {
	return r.add(fmt.Sprintf("dnat to %s:%d", ip, port),
		&expr.Immediate{Register: 1, Data: ip.To4()},
		&expr.Immediate{Register: 2, Data: binaryutil.BigEndian.PutUint16(uint16(port))},
		&expr.NAT{Type: expr.NATTypeDestNAT, Family: unix.NFPROTO_IPV4,
			RegAddrMin: 1, RegAddrMax: 1, RegProtoMin: 2, RegProtoMax: 2, Specified: true})
}

// masquerade picks the source port at random (kube-proxy's --random-fully):
// keeping the client's port makes new connections from one address collide
// with ones still in TIME_WAIT, and their SYNs are lost.
func (r *nftRule) masquerade() *nftRule {
	return r.add("masquerade fully-random", &expr.Masq{FullyRandom: true})
}

// reject answers a TCP connection with a reset and anything else with an
// ICMP port unreachable, like kube-proxy for a Service with no endpoints.
func (r *nftRule) reject(p l4proto) *nftRule {
	if p.number == unix.IPPROTO_TCP {
		return r.add("reject with tcp reset", &expr.Reject{Type: unix.NFT_REJECT_TCP_RST})
	}
	return r.add("reject", &expr.Reject{Type: unix.NFT_REJECT_ICMP_UNREACH, Code: 3 /* port unreachable */})
}

func (r *nftRule) verdict(kind expr.VerdictKind, chain, text string) *nftRule {
	return r.add(text, &expr.Verdict{Kind: kind, Chain: chain})
}

func (r *nftRule) jump(chain string) *nftRule {
	return r.verdict(expr.VerdictJump, chain, "jump "+chain)
}
func (r *nftRule) goTo(chain string) *nftRule {
	return r.verdict(expr.VerdictGoto, chain, "goto "+chain)
}
func (r *nftRule) drop() *nftRule { return r.verdict(expr.VerdictDrop, "", "drop") }

// oneIn matches with probability 1/n: a fresh random number per packet
// (only a connection's first packet reaches the NAT chains).
func (r *nftRule) oneIn(n int) *nftRule {
	return r.add(fmt.Sprintf("numgen random mod %d == 0", n),
		&expr.Numgen{Register: 1, Type: unix.NFT_NG_RANDOM, Modulus: uint32(n)},
		&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: make([]byte, 4)})
}

// recordClient adds (or refreshes) the packet's source address in the
// named set, expiring after timeout.
func (r *nftRule) recordClient(set string, timeout time.Duration) *nftRule {
	return r.add(fmt.Sprintf("update @%s { ip saddr timeout %s }", set, nftDuration(timeout)),
		loadIPv4(ipv4SaddrOffset),
		&expr.Dynset{SrcRegKey: 1, SetName: set, Operation: unix.NFT_DYNSET_OP_UPDATE, Timeout: timeout})
}

// saddrInSet matches packets whose source address is in the named set.
func (r *nftRule) saddrInSet(set string) *nftRule {
	return r.add("ip saddr @"+set, loadIPv4(ipv4SaddrOffset), &expr.Lookup{SourceRegister: 1, SetName: set})
}

// nftDuration writes d as nft does (e.g. 3h, 10s).
func nftDuration(d time.Duration) string {
	s := int64(d / time.Second)
	switch {
	case s > 0 && s%3600 == 0:
		return fmt.Sprintf("%dh", s/3600)
	case s > 0 && s%60 == 0:
		return fmt.Sprintf("%dm", s/60)
	}
	return fmt.Sprintf("%ds", s)
}

// l4proto is a transport protocol a Service port can use.
type l4proto struct {
	name   string
	number byte
}

var l4protos = map[string]l4proto{
	"TCP":  {"tcp", unix.IPPROTO_TCP},
	"UDP":  {"udp", unix.IPPROTO_UDP},
	"SCTP": {"sctp", unix.IPPROTO_SCTP},
}

// chainHook makes a chain a base chain.
type chainHook struct {
	typ      nftables.ChainType
	hook     *nftables.ChainHook
	hookName string
	priority int32
}

// nftChain is one chain and its rules, in order.
type nftChain struct {
	name  string
	base  *chainHook
	rules []*nftRule
}

func (c *nftChain) append(r *nftRule) { c.rules = append(c.rules, r) }

// render is the chain in nft syntax, as `nft list` indents it inside a
// table. Two chains with the same rendering hold the same rules.
func (c *nftChain) render() string {
	var b strings.Builder
	fmt.Fprintf(&b, "\tchain %s {\n", c.name)
	if c.base != nil {
		fmt.Fprintf(&b, "\t\ttype %s hook %s priority %d; policy accept;\n", c.base.typ, c.base.hookName, c.base.priority)
	}
	for _, r := range c.rules {
		fmt.Fprintf(&b, "\t\t%s\n", r)
	}
	b.WriteString("\t}\n")
	return b.String()
}

// Registers for the concatenated key ip daddr . meta l4proto . th dport:
// each field takes one 32-bit register, the kernel zero-pads the short
// ones, so a map key is 12 bytes.
const (
	reg32Daddr = 8 // NFT_REG32_00
	reg32Proto = 9
	reg32Dport = 10
)

// serviceKeyType is the key of the Service maps.
var serviceKeyType = nftables.MustConcatSetType(nftables.TypeIPAddr, nftables.TypeInetProto, nftables.TypeInetService)

// serviceKey is the map key for ip . proto . port.
func serviceKey(ip net.IP, p l4proto, port int32) []byte {
	k := make([]byte, 12)
	copy(k, ip.To4())
	k[4] = p.number
	k[8], k[9] = byte(port>>8), byte(port)
	return k
}

// lookupService jumps by the map: ip daddr . meta l4proto . th dport vmap
// @name. A packet whose key is not in the map goes on to the next rule.
func (r *nftRule) lookupService(mapName string) *nftRule {
	return r.add("ip daddr . meta l4proto . th dport vmap @"+mapName,
		&expr.Payload{DestRegister: reg32Daddr, Base: expr.PayloadBaseNetworkHeader, Offset: ipv4DaddrOffset, Len: 4},
		&expr.Meta{Key: expr.MetaKeyL4PROTO, Register: reg32Proto},
		&expr.Payload{DestRegister: reg32Dport, Base: expr.PayloadBaseTransportHeader, Offset: thDportOffset, Len: 2},
		&expr.Lookup{SourceRegister: reg32Daddr, SetName: mapName, IsDestRegSet: true, DestRegister: 0})
}
