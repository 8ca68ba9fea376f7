package network

import (
	"fmt"
	"testing"
)

func targets(m map[string][]string) udpTargets {
	u := udpTargets{}
	for k, eps := range m {
		var ip string
		var port int32
		fmt.Sscanf(k, "%s %d", &ip, &port)
		set := map[string]bool{}
		for _, e := range eps {
			set[e] = true
		}
		u[udpTarget{ip, port}] = set
	}
	return u
}

func TestStaleUDPFlows(t *testing.T) {
	for _, tc := range []struct {
		name      string
		prev, cur map[string][]string
		want      string
	}{
		{"nothing changed",
			map[string][]string{"10.43.0.10 53": {"10.42.1.5:5353"}},
			map[string][]string{"10.43.0.10 53": {"10.42.1.5:5353"}}, "[]"},
		{"endpoint removed: its entries go",
			map[string][]string{"10.43.0.10 53": {"10.42.1.5:5353", "10.42.2.7:5353"}},
			map[string][]string{"10.43.0.10 53": {"10.42.2.7:5353"}}, "[udp to 10.43.0.10:53 via 10.42.1.5:5353]"},
		{"endpoint added: nothing to delete",
			map[string][]string{"10.43.0.10 53": {"10.42.1.5:5353"}},
			map[string][]string{"10.43.0.10 53": {"10.42.1.5:5353", "10.42.2.7:5353"}}, "[]"},
		{"first endpoint: every entry to the Service goes",
			map[string][]string{"10.43.0.10 53": nil},
			map[string][]string{"10.43.0.10 53": {"10.42.1.5:5353"}}, "[udp to 10.43.0.10:53]"},
		{"new Service with endpoints",
			map[string][]string{},
			map[string][]string{"192.168.1.10 30053": {"10.42.1.5:5353"}}, "[udp to 192.168.1.10:30053]"},
		{"Service deleted",
			map[string][]string{"10.43.0.10 53": {"10.42.1.5:5353"}, "192.168.1.10 30053": {"10.42.1.5:5353"}},
			map[string][]string{}, "[udp to 10.43.0.10:53 via 10.42.1.5:5353 udp to 192.168.1.10:30053 via 10.42.1.5:5353]"},
		{"same address, another port",
			map[string][]string{"10.43.0.10 53": {"10.42.1.5:5353"}},
			map[string][]string{"10.43.0.10 53": {"10.42.1.5:5354"}}, "[udp to 10.43.0.10:53 via 10.42.1.5:5353]"},
		{"endpoint replaced",
			map[string][]string{"10.43.0.10 53": {"10.42.1.5:5353"}},
			map[string][]string{"10.43.0.10 53": {"10.42.1.6:5353"}}, "[udp to 10.43.0.10:53 via 10.42.1.5:5353]"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := fmt.Sprint(staleUDPFlows(targets(tc.prev), targets(tc.cur))); got != tc.want {
				t.Errorf("stale flows = %s, want %s", got, tc.want)
			}
		})
	}
}

// The builder records where UDP Services answer (ClusterIP, NodePort on
// every node address) and nothing for TCP.
func TestRulesetUDPTargets(t *testing.T) {
	p, err := parseProxyConfig(ProxyConfig{})
	if err != nil {
		t.Fatal(err)
	}
	rs, _ := buildRuleset(p, ProxyState{
		NodeAddresses: []string{"192.168.1.10"},
		Services: []ProxyService{{Namespace: "default", Name: "dns", ClusterIPs: []string{"10.43.0.53"}, Type: ServiceTypeNodePort,
			Ports: []ProxyPort{
				{Name: "dns", Protocol: "UDP", Port: 53, NodePort: 30053, Endpoints: []ProxyEndpoint{{IP: "10.42.1.5", Port: 5353}}},
				{Name: "dns-tcp", Protocol: "TCP", Port: 53, NodePort: 30054, Endpoints: []ProxyEndpoint{{IP: "10.42.1.5", Port: 5353}}},
			}}},
	})
	want := targets(map[string][]string{"10.43.0.53 53": {"10.42.1.5:5353"}, "192.168.1.10 30053": {"10.42.1.5:5353"}})
	if fmt.Sprint(rs.udp) != fmt.Sprint(want) {
		t.Errorf("UDP targets = %v, want %v", rs.udp, want)
	}
}
