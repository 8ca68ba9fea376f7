package network

import (
	"math/rand"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/google/nftables"
	"github.com/mdlayher/netlink"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
)

// The rule builder is pure: these tests need no root and no kernel.

func build(t *testing.T, cfg ProxyConfig, st ProxyState) (string, []string) {
	t.Helper()
	p, err := parseProxyConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	rs, warnings := buildRuleset(p, st)
	// Every rule must also go through the netlink encoding, as a table
	// made from nothing, as one replaced, and as an update of a table that
	// has other chains, sets and map elements.
	dial := func() (*nftables.Conn, error) { return nftables.New(nftables.WithTestDial(ackAll)) }
	gone := net.IPv4(10, 43, 9, 9)
	cur := &tableState{
		chains: map[string]string{"services": unknownContent, "ep-gone": unknownContent},
		maps: map[string]map[string]mapElem{serviceIPsMap: {"10.43.9.9 . tcp . 80": {
			key: serviceKey(gone, l4protos["TCP"], 80), text: "10.43.9.9 . tcp . 80", chain: unknownContent}}},
		sets: map[string]bool{"aff-gone": true},
	}
	for _, ops := range [][]op{planSync(nil, rs), replaceOps(rs), planSync(cur, rs)} {
		if _, err := applyOps(dial, rs.table, ops); err != nil {
			t.Fatalf("encode: %v", err)
		}
	}
	return rs.String(), warnings
}

// ackAll stands for the kernel: it acknowledges every request.
func ackAll(req []netlink.Message) ([]netlink.Message, error) {
	var acks []netlink.Message
	for _, m := range req {
		if m.Header.Flags&netlink.Acknowledge != 0 {
			acks = append(acks, netlink.Message{
				Header: netlink.Header{Length: 4, Type: netlink.Error, Sequence: m.Header.Sequence, PID: m.Header.PID},
				Data:   []byte{0, 0, 0, 0},
			})
		}
	}
	return acks, nil
}

// chain returns the rules of one chain from a rendered table.
func chain(t *testing.T, table, name string) string {
	t.Helper()
	start := strings.Index(table, "\tchain "+name+" {\n")
	if start < 0 {
		t.Fatalf("no chain %s in\n%s", name, table)
	}
	rest := table[start+len("\tchain "+name+" {\n"):]
	return rest[:strings.Index(rest, "\t}\n")]
}

func lines(s ...string) string {
	var b strings.Builder
	for _, l := range s {
		b.WriteString("\t\t" + l + "\n")
	}
	return b.String()
}

func wantChain(t *testing.T, table, name string, want ...string) {
	t.Helper()
	if got := chain(t, table, name); got != lines(want...) {
		t.Errorf("chain %s:\n%s\nwant:\n%s", name, got, lines(want...))
	}
}

// wantMap checks the elements of a verdict map in a rendered table, in
// order ("KEY : goto CHAIN").
func wantMap(t *testing.T, table, name string, want ...string) {
	t.Helper()
	start := strings.Index(table, "\tmap "+name+" {\n")
	if start < 0 {
		t.Fatalf("no map %s in\n%s", name, table)
	}
	block := table[start:]
	block = block[:strings.Index(block, "\t}\n")]
	var got []string
	if i := strings.Index(block, "elements = { "); i >= 0 {
		els := strings.TrimSuffix(strings.TrimSpace(block[i+len("elements = { "):]), " }")
		for _, e := range strings.Split(els, ",") {
			got = append(got, strings.TrimSpace(e))
		}
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("map %s:\n%s\nwant:\n%s", name, strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

var webService = ProxyService{
	Namespace: "default", Name: "web", ClusterIPs: []string{"10.43.0.10"},
	Ports: []ProxyPort{{Name: "http", Protocol: "TCP", Port: 80, Endpoints: []ProxyEndpoint{
		{IP: "10.42.2.5", Port: 8080}, {IP: "10.42.1.5", Port: 8080},
	}}},
}

func TestRulesClusterIP(t *testing.T) {
	got, warnings := build(t, ProxyConfig{}, ProxyState{Services: []ProxyService{webService}})
	if len(warnings) > 0 {
		t.Errorf("warnings: %v", warnings)
	}
	want := `table ip shoal {
	map service-ips {
		type ipv4_addr . inet_proto . inet_service : verdict
		elements = { 10.43.0.10 . tcp . 80 : goto svc-default/web/tcp/80 }
	}

	map no-endpoint-services {
		type ipv4_addr . inet_proto . inet_service : verdict
	}

	chain nat-prerouting {
		type nat hook prerouting priority -100; policy accept;
		jump services
	}

	chain nat-output {
		type nat hook output priority -100; policy accept;
		jump services
	}

	chain nat-postrouting {
		type nat hook postrouting priority 100; policy accept;
		jump masquerading
	}

	chain filter-input {
		type filter hook input priority -1; policy accept;
		ct state new jump no-endpoints
	}

	chain filter-forward {
		type filter hook forward priority -1; policy accept;
		ct state new jump no-endpoints
	}

	chain filter-output {
		type filter hook output priority -1; policy accept;
		ct state new jump no-endpoints
	}

	chain masquerading {
		meta mark & 0x4000 != 0 meta mark set mark & 0xffffbfff masquerade fully-random
		ip saddr 10.42.0.0/16 ip daddr != 10.42.0.0/16 masquerade fully-random
	}

	chain services {
		ip daddr . meta l4proto . th dport vmap @service-ips
	}

	chain no-endpoints {
		ip daddr . meta l4proto . th dport vmap @no-endpoint-services
	}

	chain reject-tcp {
		reject with tcp reset
	}

	chain reject-other {
		reject
	}

	chain ep-default/web/tcp/80/10.42.1.5/8080 {
		ip saddr 10.42.1.5 meta mark set mark | 0x4000
		dnat to 10.42.1.5:8080
	}

	chain ep-default/web/tcp/80/10.42.2.5/8080 {
		ip saddr 10.42.2.5 meta mark set mark | 0x4000
		dnat to 10.42.2.5:8080
	}

	chain svc-default/web/tcp/80 {
		ip saddr != 10.42.0.0/16 meta mark set mark | 0x4000
		numgen random mod 2 == 0 goto ep-default/web/tcp/80/10.42.1.5/8080
		goto ep-default/web/tcp/80/10.42.2.5/8080
	}
}
`
	if got != want {
		t.Errorf("table:\n%s\nwant:\n%s", got, want)
	}
}

func TestRulesNodePort(t *testing.T) {
	svc := webService
	svc.Type = ServiceTypeNodePort
	svc.Ports = []ProxyPort{svc.Ports[0]}
	svc.Ports[0].NodePort = 30080
	got, _ := build(t, ProxyConfig{}, ProxyState{NodeAddresses: []string{"192.168.1.10", "fd00::1", "192.168.2.10"}, Services: []ProxyService{svc}})
	wantMap(t, got, "service-ips",
		"10.43.0.10 . tcp . 80 : goto svc-default/web/tcp/80",
		"192.168.1.10 . tcp . 30080 : goto ext-default/web/tcp/80",
		"192.168.2.10 . tcp . 30080 : goto ext-default/web/tcp/80")
	wantChain(t, got, "ext-default/web/tcp/80", "meta mark set mark | 0x4000 goto svc-default/web/tcp/80")
}

func TestRulesLoadBalancer(t *testing.T) {
	svc := webService
	svc.Type = ServiceTypeLoadBalancer
	svc.Ports = []ProxyPort{svc.Ports[0]}
	svc.Ports[0].NodePort = 31000
	got, _ := build(t, ProxyConfig{}, ProxyState{NodeAddresses: []string{"192.168.1.10"}, Services: []ProxyService{svc}})
	wantMap(t, got, "service-ips",
		"10.43.0.10 . tcp . 80 : goto svc-default/web/tcp/80",
		"192.168.1.10 . tcp . 31000 : goto ext-default/web/tcp/80",
		"192.168.1.10 . tcp . 80 : goto ext-default/web/tcp/80")
}

func TestRulesNoEndpoints(t *testing.T) {
	svc := ProxyService{Namespace: "ns", Name: "dns", ClusterIPs: []string{"10.43.0.53"}, Type: ServiceTypeNodePort,
		Ports: []ProxyPort{{Name: "dns", Protocol: "UDP", Port: 53, NodePort: 30053}, {Name: "dns-tcp", Port: 53}}}
	got, _ := build(t, ProxyConfig{}, ProxyState{NodeAddresses: []string{"192.168.1.10"}, Services: []ProxyService{svc}})
	wantMap(t, got, "service-ips")
	wantMap(t, got, "no-endpoint-services",
		"10.43.0.53 . tcp . 53 : goto reject-tcp",
		"10.43.0.53 . udp . 53 : goto reject-other",
		"192.168.1.10 . udp . 30053 : goto reject-other")
	wantChain(t, got, "reject-tcp", "reject with tcp reset")
	wantChain(t, got, "reject-other", "reject")
	if strings.Contains(got, "svc-ns/dns") {
		t.Errorf("service chain for a Service without endpoints:\n%s", got)
	}
}

func TestRulesAffinity(t *testing.T) {
	for _, tc := range []struct {
		name    string
		timeout time.Duration
		want    string
	}{
		{"default timeout", 0, "3h"},
		{"timeout from the Service", 90 * time.Second, "90s"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			svc := webService
			svc.SessionAffinity = AffinityClientIP
			svc.SessionAffinityTimeout = tc.timeout
			got, _ := build(t, ProxyConfig{}, ProxyState{Services: []ProxyService{svc}})
			wantChain(t, got, "svc-default/web/tcp/80",
				"ip saddr != 10.42.0.0/16 meta mark set mark | 0x4000",
				"ip saddr @aff-default/web/tcp/80/10.42.1.5/8080 goto ep-default/web/tcp/80/10.42.1.5/8080",
				"ip saddr @aff-default/web/tcp/80/10.42.2.5/8080 goto ep-default/web/tcp/80/10.42.2.5/8080",
				"numgen random mod 2 == 0 goto ep-default/web/tcp/80/10.42.1.5/8080",
				"goto ep-default/web/tcp/80/10.42.2.5/8080")
			wantChain(t, got, "ep-default/web/tcp/80/10.42.1.5/8080",
				"ip saddr 10.42.1.5 meta mark set mark | 0x4000",
				"update @aff-default/web/tcp/80/10.42.1.5/8080 { ip saddr timeout "+tc.want+" }",
				"dnat to 10.42.1.5:8080")
			if !strings.Contains(got, "\tset aff-default/web/tcp/80/10.42.2.5/8080 {\n\t\ttype ipv4_addr\n\t\tflags dynamic,timeout\n\t}") {
				t.Errorf("no client set for the second endpoint in\n%s", got)
			}
		})
	}
	// Without affinity there are no sets.
	got, _ := build(t, ProxyConfig{}, ProxyState{Services: []ProxyService{webService}})
	if strings.Contains(got, "aff-") {
		t.Errorf("client sets without affinity:\n%s", got)
	}
}

func TestRulesSeveralPorts(t *testing.T) {
	svc := ProxyService{Namespace: "default", Name: "app", ClusterIPs: []string{"10.43.0.20"}, Ports: []ProxyPort{
		{Name: "http", Port: 80, Endpoints: []ProxyEndpoint{{IP: "10.42.1.5", Port: 8080}}},
		{Name: "metrics", Port: 9100, Endpoints: []ProxyEndpoint{{IP: "10.42.1.5", Port: 9100}}},
		{Name: "dns", Protocol: "UDP", Port: 80, Endpoints: []ProxyEndpoint{{IP: "10.42.1.5", Port: 5353}}},
	}}
	got, _ := build(t, ProxyConfig{}, ProxyState{Services: []ProxyService{svc}})
	wantMap(t, got, "service-ips",
		"10.43.0.20 . tcp . 80 : goto svc-default/app/tcp/80",
		"10.43.0.20 . tcp . 9100 : goto svc-default/app/tcp/9100",
		"10.43.0.20 . udp . 80 : goto svc-default/app/udp/80")
	wantChain(t, got, "ep-default/app/udp/80/10.42.1.5/5353",
		"ip saddr 10.42.1.5 meta mark set mark | 0x4000",
		"dnat to 10.42.1.5:5353")
}

func TestRulesNamedTargetPort(t *testing.T) {
	// Two pods name their container port "web" with different numbers;
	// the Endpoints controller resolved each into its own subset.
	svc := &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: "web"},
		Spec: corev1.ServiceSpec{
			Type: corev1.ServiceTypeClusterIP, ClusterIP: "10.43.0.10", ClusterIPs: []string{"10.43.0.10"},
			Ports: []corev1.ServicePort{
				{Name: "http", Protocol: corev1.ProtocolTCP, Port: 80, TargetPort: intstr.FromString("web")},
				{Name: "admin", Protocol: corev1.ProtocolTCP, Port: 81, TargetPort: intstr.FromInt32(9000)},
			},
		},
	}
	eps := &corev1.Endpoints{
		ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: "web"},
		Subsets: []corev1.EndpointSubset{
			{Addresses: []corev1.EndpointAddress{{IP: "10.42.1.5"}}, NotReadyAddresses: []corev1.EndpointAddress{{IP: "10.42.1.9"}},
				Ports: []corev1.EndpointPort{{Name: "http", Port: 8080}, {Name: "admin", Port: 9000}}},
			{Addresses: []corev1.EndpointAddress{{IP: "10.42.2.5"}},
				Ports: []corev1.EndpointPort{{Name: "admin", Port: 9000}, {Name: "http", Port: 8081}}},
		},
	}
	ps := ProxyServiceFromAPI(svc, eps)
	if n := len(ps.Ports[0].Endpoints); n != 2 {
		t.Fatalf("http endpoints: %+v (the not-ready address must be left out)", ps.Ports[0].Endpoints)
	}
	got, _ := build(t, ProxyConfig{}, ProxyState{Services: []ProxyService{ps}})
	wantChain(t, got, "svc-default/web/tcp/80",
		"ip saddr != 10.42.0.0/16 meta mark set mark | 0x4000",
		"numgen random mod 2 == 0 goto ep-default/web/tcp/80/10.42.1.5/8080",
		"goto ep-default/web/tcp/80/10.42.2.5/8081")
	wantChain(t, got, "ep-default/web/tcp/80/10.42.2.5/8081",
		"ip saddr 10.42.2.5 meta mark set mark | 0x4000",
		"dnat to 10.42.2.5:8081")
	wantChain(t, got, "svc-default/web/tcp/81",
		"ip saddr != 10.42.0.0/16 meta mark set mark | 0x4000",
		"numgen random mod 2 == 0 goto ep-default/web/tcp/81/10.42.1.5/9000",
		"goto ep-default/web/tcp/81/10.42.2.5/9000")

	// A single-port Service with hand-written, unnamed Endpoints ports.
	single := &corev1.Service{ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: "one"},
		Spec: corev1.ServiceSpec{ClusterIPs: []string{"10.43.0.11"}, Ports: []corev1.ServicePort{{Name: "x", Port: 80}}}}
	one := ProxyServiceFromAPI(single, &corev1.Endpoints{Subsets: []corev1.EndpointSubset{{
		Addresses: []corev1.EndpointAddress{{IP: "10.42.1.7"}}, Ports: []corev1.EndpointPort{{Port: 8080}}}}})
	if e := one.Ports[0].Endpoints; len(e) != 1 || e[0] != (ProxyEndpoint{IP: "10.42.1.7", Port: 8080}) {
		t.Fatalf("single port: %+v", e)
	}
	if p := ProxyServiceFromAPI(single, nil).Ports[0]; p.Protocol != "TCP" || len(p.Endpoints) != 0 {
		t.Fatalf("no Endpoints yet: %+v", p)
	}
}

func TestRulesExternalTrafficPolicyLocal(t *testing.T) {
	svc := webService
	svc.Type = ServiceTypeNodePort
	svc.ExternalTrafficPolicy = TrafficPolicyLocal
	svc.Ports = []ProxyPort{svc.Ports[0]}
	svc.Ports[0].NodePort = 30080
	st := ProxyState{NodeAddresses: []string{"192.168.1.10"}, Services: []ProxyService{svc}}
	got, _ := build(t, ProxyConfig{PodCIDR: "10.42.2.0/24"}, st)
	wantChain(t, got, "ext-default/web/tcp/80",
		"goto ep-default/web/tcp/80/10.42.2.5/8080")
	got, _ = build(t, ProxyConfig{PodCIDR: "10.42.3.0/24"}, st)
	wantChain(t, got, "ext-default/web/tcp/80", "drop")
}

func TestRulesSkipped(t *testing.T) {
	st := ProxyState{Services: []ProxyService{
		{Namespace: "a", Name: "headless", ClusterIPs: []string{"None"}, Ports: []ProxyPort{{Port: 80, Endpoints: webService.Ports[0].Endpoints}}},
		{Namespace: "a", Name: "ext", Type: ServiceTypeExternalName},
		{Namespace: "a", Name: "badip", ClusterIPs: []string{"10.43.0.300"}, Ports: []ProxyPort{{Port: 80}}},
		{Namespace: "a", Name: "badproto", ClusterIPs: []string{"10.43.0.30"}, Ports: []ProxyPort{{Port: 80, Protocol: "ICMP"}}},
		{Namespace: "a", Name: "badep", ClusterIPs: []string{"10.43.0.31"}, Ports: []ProxyPort{{Port: 80, Endpoints: []ProxyEndpoint{{IP: "x", Port: 1}}}}},
		webService,
	}}
	got, warnings := build(t, ProxyConfig{}, st)
	if len(warnings) != 3 {
		t.Errorf("warnings: %q, want 3 (bad IP, protocol, endpoint)", warnings)
	}
	wantMap(t, got, "service-ips", "10.43.0.10 . tcp . 80 : goto svc-default/web/tcp/80")
	wantMap(t, got, "no-endpoint-services", "10.43.0.31 . tcp . 80 : goto reject-tcp")
}

func TestRulesMasquerading(t *testing.T) {
	p, err := parseProxyConfig(ProxyConfig{ClusterCIDR: "10.50.0.0/16", PodCIDR: "10.50.4.0/24", MasqueradeMark: 0x100, Table: "t"})
	if err != nil {
		t.Fatal(err)
	}
	p.bridgeNF = false
	rs, _ := buildRuleset(p, ProxyState{})
	got := rs.String()
	if !strings.HasPrefix(got, "table ip t {") {
		t.Errorf("table name: %s", got)
	}
	wantChain(t, got, "masquerading",
		"meta mark & 0x100 != 0 meta mark set mark & 0xfffffeff masquerade fully-random",
		"ip saddr 10.50.0.0/16 ip daddr != 10.50.0.0/16 masquerade fully-random",
		"ct status dnat ip saddr 10.50.4.0/24 ip daddr 10.50.4.0/24 masquerade fully-random")
	for _, bad := range []ProxyConfig{{ClusterCIDR: "10.42.0.0"}, {PodCIDR: "fd00::/64"}} {
		if _, err := NewServiceProxy(bad); err == nil {
			t.Errorf("NewServiceProxy(%+v): no error", bad)
		}
	}
}

func TestRulesDeterministic(t *testing.T) {
	var svcs []ProxyService
	for i := 0; i < 20; i++ {
		s := webService
		s.Name = string(rune('a' + i))
		s.Ports = []ProxyPort{{Port: 80, Endpoints: []ProxyEndpoint{{IP: "10.42.1.5", Port: 1}, {IP: "10.42.1.6", Port: 1}, {IP: "10.42.1.5", Port: 1}}}}
		svcs = append(svcs, s)
	}
	first, _ := build(t, ProxyConfig{}, ProxyState{Services: svcs})
	for i := 0; i < 5; i++ {
		rand.Shuffle(len(svcs), func(a, b int) { svcs[a], svcs[b] = svcs[b], svcs[a] })
		for _, s := range svcs {
			e := s.Ports[0].Endpoints
			rand.Shuffle(len(e), func(a, b int) { e[a], e[b] = e[b], e[a] })
		}
		if got, _ := build(t, ProxyConfig{}, ProxyState{Services: svcs}); got != first {
			t.Fatalf("the same state in another order gave another table")
		}
	}
	if strings.Count(first, "dnat to") != 40 {
		t.Errorf("duplicate endpoints not merged: %d dnat rules", strings.Count(first, "dnat to"))
	}
}

func TestRulesLocalDNSNotTracked(t *testing.T) {
	got, _ := build(t, ProxyConfig{}, ProxyState{LocalDNS: []string{"192.168.1.10", "fd00::53"}})
	for _, c := range []struct{ name, hook string }{{"raw-prerouting", "prerouting"}, {"raw-output", "output"}} {
		wantChain(t, got, c.name,
			"type filter hook "+c.hook+" priority -300; policy accept;",
			"ip daddr 192.168.1.10 udp dport 53 notrack",
			"ip saddr 192.168.1.10 udp sport 53 notrack",
			"ip daddr 192.168.1.10 tcp dport 53 notrack",
			"ip saddr 192.168.1.10 tcp sport 53 notrack")
	}
	if got, _ := build(t, ProxyConfig{}, ProxyState{}); strings.Contains(got, "raw-") {
		t.Errorf("raw chains without a local DNS address:\n%s", got)
	}
}
