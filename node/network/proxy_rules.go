package network

import (
	"bytes"
	"fmt"
	"net"
	"sort"
	"strings"
	"time"

	"github.com/google/nftables"
	"github.com/google/nftables/binaryutil"
	"github.com/google/nftables/expr"
	"golang.org/x/sys/unix"
)

// The rules, in nft syntax (see proxy_rules_test.go for whole tables):
//
//	nat-prerouting, nat-output (dstnat):  jump services
//	nat-postrouting (srcnat):             jump masquerading
//	filter-input, -forward, -output:      ct state new jump no-endpoints
//	services:     ip daddr . meta l4proto . th dport vmap @service-ips
//	service-ips:  CLUSTERIP . tcp . P : goto svc-…
//	              NODEADDR . tcp . NODEPORT : goto ext-…
//	              NODEADDR . tcp . P : goto ext-…               (LoadBalancer)
//	no-endpoints: ip daddr . meta l4proto . th dport vmap @no-endpoint-services
//	no-endpoint-services: CLUSTERIP . tcp . P : goto reject-tcp (reset),
//	              CLUSTERIP . udp . P : goto reject-other (ICMP port unreachable)
//	svc-NS/NAME/PROTO/PORT:  ip saddr != CLUSTERCIDR meta mark set mark | MASQ
//	                         (ClientIP affinity: ip saddr @aff-… goto ep-…,
//	                          one rule per endpoint)
//	                         numgen random mod N == 0 goto ep-1
//	                         numgen random mod N-1 == 0 goto ep-2 …
//	                         goto ep-N
//	ext-NS/NAME/PROTO/PORT:  meta mark set mark | MASQ; goto svc-…
//	                         (Local policy: local endpoints only, no mark)
//	ep-NS/NAME/PROTO/PORT/IP/TPORT:
//	                         ip saddr IP meta mark set mark | MASQ   (hairpin)
//	                         (ClientIP affinity: update @aff-… { ip saddr timeout T })
//	                         dnat to IP:TPORT
//	masquerading: meta mark & MASQ != 0 meta mark set mark & ~MASQ masquerade
//	              ip saddr CLUSTERCIDR ip daddr != CLUSTERCIDR masquerade
//	              (without bridge netfilter also:
//	               ct status dnat ip saddr PODCIDR ip daddr PODCIDR masquerade)

// Base chain priorities: NAT at the standard dstnat/srcnat, the reject
// filters just before the default filter priority so they run before a
// host firewall that would drop the packet anyway.
const (
	prioDstNAT = -100
	prioSrcNAT = 100
	prioFilter = -1
)

// defaultAffinityTimeout is Kubernetes' default for
// sessionAffinityConfig.clientIP.timeoutSeconds.
const defaultAffinityTimeout = 10800 * time.Second

// ipsDstNAT is IPS_DST_NAT of the conntrack status bits.
const ipsDstNAT = 1 << 5

// proxyParams is a ProxyConfig parsed and defaulted.
type proxyParams struct {
	table       string
	clusterCIDR *net.IPNet
	podCIDR     *net.IPNet // may be nil
	mark        uint32
	// bridgeNF says bridged pod traffic passes the IPv4 hooks
	// (br_netfilter with bridge-nf-call-iptables=1). Without it a reply
	// from an endpoint to a client pod on the same bridge skips conntrack,
	// so same-node Service traffic between pods is masqueraded instead.
	bridgeNF bool
}

func parseProxyConfig(cfg ProxyConfig) (proxyParams, error) {
	p := proxyParams{table: cfg.Table, mark: cfg.MasqueradeMark, bridgeNF: true}
	if p.table == "" {
		p.table = "shoal"
	}
	if p.mark == 0 {
		p.mark = 0x4000
	}
	cluster := cfg.ClusterCIDR
	if cluster == "" {
		cluster = "10.42.0.0/16"
	}
	var err error
	if _, p.clusterCIDR, err = net.ParseCIDR(cluster); err != nil || p.clusterCIDR.IP.To4() == nil {
		return p, fmt.Errorf("service proxy: cluster CIDR %q: want an IPv4 CIDR", cluster)
	}
	if cfg.PodCIDR != "" {
		if _, p.podCIDR, err = net.ParseCIDR(cfg.PodCIDR); err != nil || p.podCIDR.IP.To4() == nil {
			return p, fmt.Errorf("service proxy: pod CIDR %q: want an IPv4 CIDR", cfg.PodCIDR)
		}
	}
	return p, nil
}

// parseIPv4 returns ip as a 4-byte address, or nil.
func parseIPv4(s string) net.IP {
	if ip := net.ParseIP(s); ip != nil {
		return ip.To4()
	}
	return nil
}

// buildRuleset is the pure heart of the proxy: the whole table for st.
// Entries that cannot be proxied (a bad address, an unknown protocol) are
// skipped and reported in warnings; they never stop the other Services.
func buildRuleset(p proxyParams, st ProxyState) (rs *ruleset, warnings []string) {
	b := &rulesetBuilder{p: p, udp: udpTargets{}}
	for _, a := range st.NodeAddresses {
		if ip := parseIPv4(a); ip != nil {
			b.nodeIPs = append(b.nodeIPs, ip)
		}
	}
	services := append([]ProxyService(nil), st.Services...)
	sort.SliceStable(services, func(i, j int) bool {
		if services[i].Namespace != services[j].Namespace {
			return services[i].Namespace < services[j].Namespace
		}
		return services[i].Name < services[j].Name
	})

	b.serviceIPs = newVerdictMap(serviceIPsMap)
	b.noEndpoints = newVerdictMap(noEndpointsMap)
	for _, svc := range services {
		b.service(svc)
	}

	nat := func(name, hook string, h *nftables.ChainHook, prio int32, r *nftRule) *nftChain {
		return &nftChain{name: name, base: &chainHook{typ: nftables.ChainTypeNAT, hook: h, hookName: hook, priority: prio},
			rules: []*nftRule{r}}
	}
	filter := func(name, hook string, h *nftables.ChainHook) *nftChain {
		return &nftChain{name: name, base: &chainHook{typ: nftables.ChainTypeFilter, hook: h, hookName: hook, priority: prioFilter},
			rules: []*nftRule{rule().ctNew().jump("no-endpoints")}}
	}
	rs = &ruleset{table: p.table, udp: b.udp, clientSets: b.clientSets, maps: []*verdictMap{b.serviceIPs, b.noEndpoints}}
	rs.chains = append(rs.chains,
		nat("nat-prerouting", "prerouting", nftables.ChainHookPrerouting, prioDstNAT, rule().jump("services")),
		nat("nat-output", "output", nftables.ChainHookOutput, prioDstNAT, rule().jump("services")),
		nat("nat-postrouting", "postrouting", nftables.ChainHookPostrouting, prioSrcNAT, rule().jump("masquerading")),
		filter("filter-input", "input", nftables.ChainHookInput),
		filter("filter-forward", "forward", nftables.ChainHookForward),
		filter("filter-output", "output", nftables.ChainHookOutput),
		b.masquerading(),
		&nftChain{name: "services", rules: []*nftRule{rule().lookupService(serviceIPsMap)}},
		&nftChain{name: "no-endpoints", rules: []*nftRule{rule().lookupService(noEndpointsMap)}},
		&nftChain{name: rejectTCPChain, rules: []*nftRule{rule().reject(l4protos["TCP"])}},
		&nftChain{name: rejectOtherChain, rules: []*nftRule{rule().reject(l4protos["UDP"])}},
	)
	rs.chains = append(rs.chains, b.extra...)
	if dns := localDNSChains(st.LocalDNS); dns != nil {
		rs.chains = append(rs.chains, dns...)
	}
	return rs, b.warnings
}

// prioRaw is the raw priority: before connection tracking.
const prioRaw = -300

// localDNSChains exempt traffic to and from the node's DNS server (UDP and
// TCP port 53 on addrs) from connection tracking, in both directions and
// on both paths a packet can take (prerouting for pods' queries and, with
// bridge netfilter, the bridged answers; output for the node's answers and
// its own queries). nil without addresses.
func localDNSChains(addrs []string) []*nftChain {
	var rules []*nftRule
	for _, a := range addrs {
		ip := parseIPv4(a)
		if ip == nil {
			continue
		}
		for _, p := range []l4proto{l4protos["UDP"], l4protos["TCP"]} {
			rules = append(rules, rule().daddr(ip).dport(p, 53).notrack(), rule().saddr(ip).sport(p, 53).notrack())
		}
	}
	if len(rules) == 0 {
		return nil
	}
	raw := func(name, hook string, h *nftables.ChainHook) *nftChain {
		return &nftChain{name: name, base: &chainHook{typ: nftables.ChainTypeFilter, hook: h, hookName: hook, priority: prioRaw},
			rules: rules}
	}
	return []*nftChain{
		raw("raw-prerouting", "prerouting", nftables.ChainHookPrerouting),
		raw("raw-output", "output", nftables.ChainHookOutput),
	}
}

type rulesetBuilder struct {
	p           proxyParams
	nodeIPs     []net.IP
	serviceIPs  *verdictMap
	noEndpoints *verdictMap
	extra       []*nftChain
	clientSets  []string
	udp         udpTargets
	warnings    []string
}

func (b *rulesetBuilder) warn(format string, args ...any) {
	b.warnings = append(b.warnings, fmt.Sprintf(format, args...))
}

func (b *rulesetBuilder) masquerading() *nftChain {
	c := &nftChain{name: "masquerading"}
	c.append(rule().hasMark(b.p.mark).clearMark(b.p.mark).masquerade())
	c.append(rule().saddrIn(b.p.clusterCIDR).daddrNotIn(b.p.clusterCIDR).masquerade())
	if !b.p.bridgeNF && b.p.podCIDR != nil {
		c.append(rule().ctStatusDNAT().saddrIn(b.p.podCIDR).daddrIn(b.p.podCIDR).masquerade())
	}
	return c
}

// ctStatusDNAT matches connections whose destination was rewritten.
func (r *nftRule) ctStatusDNAT() *nftRule {
	return r.add("ct status dnat",
		&expr.Ct{Register: 1, Key: expr.CtKeySTATUS},
		&expr.Bitwise{SourceRegister: 1, DestRegister: 1, Len: 4,
			Mask: binaryutil.NativeEndian.PutUint32(ipsDstNAT), Xor: make([]byte, 4)},
		&expr.Cmp{Op: expr.CmpOpNeq, Register: 1, Data: make([]byte, 4)})
}

func (b *rulesetBuilder) service(svc ProxyService) {
	id := svc.Namespace + "/" + svc.Name
	typ := svc.Type
	if typ == "" {
		typ = ServiceTypeClusterIP
	}
	switch typ {
	case ServiceTypeClusterIP, ServiceTypeNodePort, ServiceTypeLoadBalancer:
	case ServiceTypeExternalName:
		return
	default:
		b.warn("service %s: unknown type %q", id, svc.Type)
		return
	}
	var clusterIPs []net.IP
	for _, s := range svc.ClusterIPs {
		if s == "" || s == "None" {
			continue
		}
		if ip := parseIPv4(s); ip != nil {
			clusterIPs = append(clusterIPs, ip)
		} else if net.ParseIP(s) == nil {
			b.warn("service %s: bad cluster IP %q", id, s)
		}
	}
	external := typ == ServiceTypeNodePort || typ == ServiceTypeLoadBalancer
	if len(clusterIPs) == 0 && !external {
		return // headless
	}
	for _, port := range svc.Ports {
		b.servicePort(svc, id, typ, clusterIPs, port)
	}
}

func (b *rulesetBuilder) servicePort(svc ProxyService, id, typ string, clusterIPs []net.IP, port ProxyPort) {
	protoName := port.Protocol
	if protoName == "" {
		protoName = "TCP"
	}
	proto, ok := l4protos[protoName]
	if !ok {
		b.warn("service %s port %d: unknown protocol %q", id, port.Port, port.Protocol)
		return
	}
	if port.Port <= 0 || port.Port > 65535 || port.NodePort < 0 || port.NodePort > 65535 {
		b.warn("service %s: bad port %d (node port %d)", id, port.Port, port.NodePort)
		return
	}
	key := fmt.Sprintf("%s/%s/%d", id, proto.name, port.Port)

	eps := b.endpoints(id, port)
	// Where the Service answers: its ClusterIPs, and for NodePort and
	// LoadBalancer Services the node's addresses.
	type match struct {
		ip       net.IP
		port     int32
		external bool
	}
	var matches []match
	for _, ip := range clusterIPs {
		matches = append(matches, match{ip, port.Port, false})
	}
	if (typ == ServiceTypeNodePort || typ == ServiceTypeLoadBalancer) && port.NodePort > 0 {
		for _, ip := range b.nodeIPs {
			matches = append(matches, match{ip, port.NodePort, true})
		}
	}
	if typ == ServiceTypeLoadBalancer {
		for _, ip := range b.nodeIPs {
			matches = append(matches, match{ip, port.Port, true})
		}
	}
	if len(matches) == 0 {
		return
	}
	if proto.number == unix.IPPROTO_UDP {
		for _, m := range matches {
			b.udp.add(m.ip, m.port, eps)
		}
	}
	if len(eps) == 0 {
		reject := rejectOtherChain
		if proto.number == unix.IPPROTO_TCP {
			reject = rejectTCPChain
		}
		for _, m := range matches {
			if !b.noEndpoints.add(m.ip, proto, m.port, reject) {
				b.warn("service %s: %s %s:%d is already another Service's", id, proto.name, m.ip, m.port)
			}
		}
		return
	}

	affinity := svc.SessionAffinity == AffinityClientIP
	timeout := svc.SessionAffinityTimeout
	if timeout <= 0 {
		timeout = defaultAffinityTimeout
	}
	epChains := make([]string, len(eps))
	var local []string
	for i, ep := range eps {
		name := fmt.Sprintf("ep-%s/%s/%d", key, ep.ip, ep.port)
		epChains[i] = name
		c := &nftChain{name: name}
		c.append(rule().saddr(ep.ip).setMark(b.p.mark)) // hairpin: a pod reaching itself
		if affinity {
			set := clientSetOf(name)
			b.clientSets = append(b.clientSets, set)
			c.append(rule().recordClient(set, timeout))
		}
		c.append(rule().dnat(ep.ip, ep.port))
		b.extra = append(b.extra, c)
		if b.p.podCIDR != nil && b.p.podCIDR.Contains(ep.ip) {
			local = append(local, name)
		}
	}
	svcChain := &nftChain{name: "svc-" + key}
	svcChain.append(rule().saddrNotIn(b.p.clusterCIDR).setMark(b.p.mark))
	pick(svcChain, epChains, affinity)
	b.extra = append(b.extra, svcChain)

	var extChain string
	for _, m := range matches {
		if !m.external {
			b.claim(id, proto, m.ip, m.port, svcChain.name)
			continue
		}
		if extChain == "" {
			extChain = "ext-" + key
			c := &nftChain{name: extChain}
			switch {
			case svc.ExternalTrafficPolicy != TrafficPolicyLocal:
				c.append(rule().setMark(b.p.mark).goTo(svcChain.name))
			case len(local) == 0:
				c.append(rule().drop())
			default:
				pick(c, local, affinity)
			}
			b.extra = append(b.extra, c)
		}
		b.claim(id, proto, m.ip, m.port, extChain)
	}
}

// claim maps ip . proto . port to chain; a key another Service holds is
// left to it, with a warning.
func (b *rulesetBuilder) claim(id string, proto l4proto, ip net.IP, port int32, chain string) {
	if !b.serviceIPs.add(ip, proto, port, chain) {
		b.warn("service %s: %s %s:%d is already another Service's", id, proto.name, ip, port)
	}
}

// pick appends the load balancing over endpoint chains to c, as
// iptables' statistic rules do it: the first endpoint with probability
// 1/N, else the second with 1/(N-1), ..., else the last, which is uniform.
// (A numgen verdict map would do it in one rule, but each is an anonymous
// set, and the kernel finds sets by walking a list and names new
// anonymous ones by scanning it: with 10,000 Services programming took
// quadratic time.) With ClientIP affinity a client an endpoint served
// recently (its set remembers it) goes back to it first.
func pick(c *nftChain, chains []string, affinity bool) {
	if affinity {
		for _, ep := range chains {
			c.append(rule().saddrInSet(clientSetOf(ep)).goTo(ep))
		}
	}
	for i, ep := range chains {
		if left := len(chains) - i; left > 1 {
			c.append(rule().oneIn(left).goTo(ep))
		} else {
			c.append(rule().goTo(ep))
		}
	}
}

// clientSetOf names the affinity set of an endpoint chain.
func clientSetOf(epChain string) string { return "aff-" + strings.TrimPrefix(epChain, "ep-") }

type endpoint struct {
	ip   net.IP
	port int32
}

// endpoints are port's valid endpoints, sorted and without duplicates so
// the same state always gives the same table.
func (b *rulesetBuilder) endpoints(id string, port ProxyPort) []endpoint {
	seen := map[string]bool{}
	var eps []endpoint
	for _, e := range port.Endpoints {
		ip := parseIPv4(e.IP)
		if ip == nil || e.Port <= 0 || e.Port > 65535 {
			b.warn("service %s port %d: bad endpoint %s:%d", id, port.Port, e.IP, e.Port)
			continue
		}
		k := fmt.Sprintf("%s:%d", ip, e.Port)
		if seen[k] {
			continue
		}
		seen[k] = true
		eps = append(eps, endpoint{ip, e.Port})
	}
	sort.Slice(eps, func(i, j int) bool {
		if c := bytes.Compare(eps[i].ip, eps[j].ip); c != 0 {
			return c < 0
		}
		return eps[i].port < eps[j].port
	})
	return eps
}
