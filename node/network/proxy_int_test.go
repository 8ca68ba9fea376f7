package network

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/shoal-project/shoal/runtime"
)

// TestServiceProxy runs the proxy for real. The outer part makes a node
// namespace, three pod namespaces and an "outside host" namespace joined to
// the node by a veth (192.168.79.0/24), and re-runs itself in the node
// namespace; the inner part attaches the pods with the real CNI plugin,
// runs a tiny TCP server in two of them that answers with its name, syncs
// Services and checks who answers from where.
func TestServiceProxy(t *testing.T) {
	if os.Getenv("SHOAL_PROXY_TEST_INNER") != "" {
		innerProxyTest(t)
		return
	}
	lab := requireNetnsLab(t)
	if _, err := exec.LookPath("nft"); err != nil {
		t.Skip("needs nft to inspect the rules")
	}
	node := lab.ns("node")
	ext := lab.ns("ext")
	pods := []string{lab.ns("pa"), lab.ns("pb"), lab.ns("pc")}
	lab.link(node, "eth0", "192.168.79.11/24", ext, "eth0", "192.168.79.100/24")
	// A node has a default route; here it leads to the outside host, so
	// the node's own connections to ClusterIPs have a route to take.
	lab.in(node, "ip", "route", "add", "default", "via", "192.168.79.100")
	lab.inner(node, "TestServiceProxy",
		"SHOAL_PROXY_TEST_INNER=1",
		"SHOAL_PROXY_TEST_PODS=/run/netns/"+strings.Join(pods, ",/run/netns/"),
		"SHOAL_PROXY_TEST_EXT=/run/netns/"+ext,
		"SHOAL_PROXY_TEST_STATE="+t.TempDir())
}

func innerProxyTest(t *testing.T) {
	pods := strings.Split(os.Getenv("SHOAL_PROXY_TEST_PODS"), ",")
	ext := os.Getenv("SHOAL_PROXY_TEST_EXT")
	fw, err := EnableForwarding()
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("bridge netfilter: %v", fw.BridgeNetfilter)

	c, err := NewCNI(CNIConfig{PodCIDR: "10.42.1.0/24", StateDir: os.Getenv("SHOAL_PROXY_TEST_STATE")})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	ips := make([]string, len(pods))
	for i, ns := range pods {
		ref := runtime.PodRef{Namespace: "default", Name: string(rune('a' + i)), UID: "uid"}
		if ips[i], err = c.Setup(ctx, "sandbox-"+ref.Name, ns, ref, nil); err != nil {
			t.Fatal(err)
		}
	}
	podA, podB, podC := pods[0], pods[1], pods[2]
	// Different target ports: the proxy must use each endpoint's own.
	serveName(t, podA, ":8080", "A")
	serveName(t, podB, ":8081", "B")

	// Another table the proxy must never touch.
	if out, err := exec.Command("nft", "add table ip keepme; add chain ip keepme c; add rule ip keepme c counter").CombinedOutput(); err != nil {
		t.Fatalf("nft: %v\n%s", err, out)
	}

	sp, err := NewServiceProxy(ProxyConfig{ClusterCIDR: "10.42.0.0/16", PodCIDR: "10.42.1.0/24"})
	if err != nil {
		t.Fatal(err)
	}
	both := []ProxyEndpoint{{IP: ips[0], Port: 8080}, {IP: ips[1], Port: 8081}}
	// A UDP Service whose endpoints the "UDP endpoint replaced" case swaps.
	serveNameUDP(t, podA, ":5353", "A")
	serveNameUDP(t, podA, ":5354", "A2")
	serveNameUDP(t, podB, ":5353", "B")
	udpEndpoints := []ProxyEndpoint{{IP: ips[0], Port: 5353}}
	state := func(web []ProxyEndpoint) ProxyState {
		return ProxyState{
			NodeAddresses: []string{"192.168.79.11"},
			Services: []ProxyService{
				{Namespace: "default", Name: "web", ClusterIPs: []string{"10.43.0.10"}, Type: ServiceTypeNodePort,
					Ports: []ProxyPort{{Name: "http", Protocol: "TCP", Port: 80, NodePort: 30080, Endpoints: web}}},
				{Namespace: "default", Name: "empty", ClusterIPs: []string{"10.43.0.11"},
					Ports: []ProxyPort{{Port: 80}}},
				{Namespace: "default", Name: "lb", ClusterIPs: []string{"10.43.0.12"}, Type: ServiceTypeLoadBalancer,
					Ports: []ProxyPort{{Port: 8000, NodePort: 30081, Endpoints: both}}},
				{Namespace: "default", Name: "self", ClusterIPs: []string{"10.43.0.13"},
					Ports: []ProxyPort{{Port: 80, Endpoints: both[:1]}}},
				{Namespace: "default", Name: "sticky", ClusterIPs: []string{"10.43.0.14"}, SessionAffinity: AffinityClientIP,
					Ports: []ProxyPort{{Port: 80, Endpoints: both}}},
				{Namespace: "default", Name: "brief", ClusterIPs: []string{"10.43.0.16"}, SessionAffinity: AffinityClientIP,
					SessionAffinityTimeout: time.Second, Ports: []ProxyPort{{Port: 80, Endpoints: both}}},
				{Namespace: "default", Name: "dns", ClusterIPs: []string{"10.43.0.15"},
					Ports: []ProxyPort{{Protocol: "UDP", Port: 53, Endpoints: udpEndpoints}}},
			},
		}
	}
	if err := sp.Sync(state(both)); err != nil {
		t.Fatal(err)
	}
	out, _ := exec.Command("nft", "list", "ruleset").CombinedOutput()
	t.Logf("nft list ruleset:\n%s", out)

	reachesBoth := func(from, addr string) {
		t.Helper()
		seen := askMany(t, from, addr, 40)
		if seen["A"] == 0 || seen["B"] == 0 || len(seen) != 2 {
			t.Fatalf("%s from %q: answers %v, want both A and B", addr, from, seen)
		}
		t.Logf("%s from %q: %v", addr, from, seen)
	}
	t.Run("ClusterIP from a pod", func(t *testing.T) { reachesBoth(podC, "10.43.0.10:80") })
	t.Run("ClusterIP from the node", func(t *testing.T) { reachesBoth("", "10.43.0.10:80") })
	t.Run("ClusterIP from an endpoint pod", func(t *testing.T) { reachesBoth(podB, "10.43.0.10:80") })
	t.Run("NodePort from the node", func(t *testing.T) { reachesBoth("", "192.168.79.11:30080") })
	t.Run("NodePort from a pod", func(t *testing.T) { reachesBoth(podC, "192.168.79.11:30080") })
	t.Run("NodePort from another host", func(t *testing.T) { reachesBoth(ext, "192.168.79.11:30080") })
	t.Run("LoadBalancer port on the node address", func(t *testing.T) { reachesBoth(ext, "192.168.79.11:8000") })
	t.Run("LoadBalancer NodePort", func(t *testing.T) { reachesBoth(ext, "192.168.79.11:30081") })
	t.Run("hairpin", func(t *testing.T) {
		if seen := askMany(t, podA, "10.43.0.13:80", 10); seen["A"] != 10 {
			t.Fatalf("pod A through its own Service: %v", seen)
		}
	})
	t.Run("affinity", func(t *testing.T) {
		sticky := map[string]string{}
		for _, from := range []string{podC, ""} {
			seen := askMany(t, from, "10.43.0.14:80", 20)
			if len(seen) != 1 {
				t.Fatalf("ClientIP affinity from %q: answers %v, want one endpoint", from, seen)
			}
			for name := range seen {
				sticky[from] = name
			}
		}
		// The endpoint's set holds pod C's address, with the 3h default.
		epIP := map[string]string{"A": ips[0] + "/8080", "B": ips[1] + "/8081"}[sticky[podC]]
		out, err := exec.Command("nft", "list", "set", "ip", "shoal", "aff-default/sticky/tcp/80/"+epIP).CombinedOutput()
		if err != nil || !strings.Contains(string(out), ips[2]+" timeout 3h expires") {
			t.Fatalf("client set of %s: %v\n%s", epIP, err, out)
		}
		// A rewrite of the table (another Service changed) keeps every
		// client where it was, and the sets keep their elements (a whole
		// table replace would empty them).
		if err := sp.Sync(state(both[:1])); err != nil {
			t.Fatal(err)
		}
		defer sp.Sync(state(both))
		out, err = exec.Command("nft", "list", "set", "ip", "shoal", "aff-default/sticky/tcp/80/"+epIP).CombinedOutput()
		if err != nil || !strings.Contains(string(out), ips[2]) {
			t.Fatalf("client set of %s after a rewrite: %v\n%s", epIP, err, out)
		}
		for _, from := range []string{podC, ""} {
			if seen := askMany(t, from, "10.43.0.14:80", 20); seen[sticky[from]] != 20 {
				t.Fatalf("after a table rewrite, %q reached %v, want only %s", from, seen, sticky[from])
			}
		}
	})
	t.Run("affinity expires", func(t *testing.T) {
		seen := askMany(t, podC, "10.43.0.16:80", 5)
		if len(seen) != 1 {
			t.Fatalf("ClientIP affinity with a 1s timeout: %v", seen)
		}
		set := "aff-default/brief/tcp/80/" + map[string]string{"A": ips[0] + "/8080", "B": ips[1] + "/8081"}[firstKey(seen)]
		list := func() string {
			out, _ := exec.Command("nft", "list", "set", "ip", "shoal", set).CombinedOutput()
			return string(out)
		}
		if !strings.Contains(list(), ips[2]+" timeout 1s expires") {
			t.Fatalf("client not recorded with a 1s timeout:\n%s", list())
		}
		time.Sleep(1500 * time.Millisecond)
		if out := list(); strings.Contains(out, ips[2]) {
			t.Fatalf("client still recorded after its timeout:\n%s", out)
		}
	})
	t.Run("no endpoints is refused", func(t *testing.T) {
		for _, from := range []string{podC, ""} {
			_, err := ask(from, "10.43.0.11:80")
			if !errors.Is(err, syscall.ECONNREFUSED) {
				t.Fatalf("Service without endpoints from %q: %v, want connection refused", from, err)
			}
		}
	})
	t.Run("endpoint removed", func(t *testing.T) {
		if err := sp.Sync(state(both[:1])); err != nil {
			t.Fatal(err)
		}
		for _, from := range []string{podC, "", ext} {
			addr := "10.43.0.10:80"
			if from == ext {
				addr = "192.168.79.11:30080"
			}
			if seen := askMany(t, from, addr, 20); seen["A"] != 20 {
				t.Fatalf("after removing B, %s from %q: %v", addr, from, seen)
			}
		}
		// And back.
		if err := sp.Sync(state(both)); err != nil {
			t.Fatal(err)
		}
		reachesBoth(podC, "10.43.0.10:80")
	})
	t.Run("UDP endpoint replaced", func(t *testing.T) {
		// One client socket, so every datagram has the same conntrack
		// tuple: after the swap its entry must not keep it on A.
		client := dialUDP(t, podC, "10.43.0.15:53")
		if got := client.ask(t); got != "A" {
			t.Fatalf("UDP Service with endpoint A answered %q", got)
		}
		udpEndpoints = []ProxyEndpoint{{IP: ips[1], Port: 5353}}
		if err := sp.Sync(state(both)); err != nil {
			t.Fatal(err)
		}
		if got := client.ask(t); got != "B" {
			t.Fatalf("after replacing A by B, the same client socket reached %q, want B (stale conntrack entry)", got)
		}
		// Same address, another target port: a different endpoint too.
		udpEndpoints = []ProxyEndpoint{{IP: ips[0], Port: 5353}}
		if err := sp.Sync(state(both)); err != nil {
			t.Fatal(err)
		}
		if got := client.ask(t); got != "A" {
			t.Fatalf("after replacing B by A, the client reached %q, want A", got)
		}
		udpEndpoints = []ProxyEndpoint{{IP: ips[0], Port: 5354}}
		if err := sp.Sync(state(both)); err != nil {
			t.Fatal(err)
		}
		if got := client.ask(t); got != "A2" {
			t.Fatalf("after moving A's target port from 5353 to 5354, the client reached %q, want A2 (stale conntrack entry)", got)
		}
	})
	t.Run("sync is idempotent", func(t *testing.T) {
		if err := sp.Sync(state(both)); err != nil {
			t.Fatal(err)
		}
		// Deleted behind the proxy's back: the next Sync brings it back.
		if out, err := exec.Command("nft", "delete", "table", "ip", "shoal").CombinedOutput(); err != nil {
			t.Fatalf("nft: %v\n%s", err, out)
		}
		if err := sp.Sync(state(both)); err != nil {
			t.Fatal(err)
		}
		reachesBoth(podC, "10.43.0.10:80")
	})
	t.Run("without bridge netfilter", func(t *testing.T) {
		// Bridge netfilter is per namespace: switch it off here only. The
		// reply of an endpoint to a client pod on the same bridge then skips
		// conntrack, unless Sync masquerades that traffic, which it must.
		if err := os.WriteFile(bridgeNFPath, []byte("0"), 0o644); err != nil {
			t.Skipf("cannot switch bridge netfilter off: %v", err)
		}
		defer os.WriteFile(bridgeNFPath, []byte("1"), 0o644)
		if err := sp.Sync(state(both)); err != nil {
			t.Fatal(err)
		}
		out, _ := exec.Command("nft", "list", "chain", "ip", "shoal", "masquerading").CombinedOutput()
		if !strings.Contains(string(out), "ct status dnat ip saddr 10.42.1.0/24 ip daddr 10.42.1.0/24 masquerade") {
			t.Fatalf("no same-node masquerade without bridge netfilter:\n%s", out)
		}
		reachesBoth(podC, "10.43.0.10:80")
		reachesBoth(podB, "10.43.0.10:80")
		if seen := askMany(t, podA, "10.43.0.13:80", 10); seen["A"] != 10 {
			t.Fatalf("hairpin without bridge netfilter: %v", seen)
		}
		os.WriteFile(bridgeNFPath, []byte("1"), 0o644)
		if err := sp.Sync(state(both)); err != nil {
			t.Fatal(err)
		}
	})
	t.Run("pod egress is masqueraded", func(t *testing.T) {
		// The outside host has no route to the pod network: it answers
		// the pod only if the pod's address was rewritten to the node's.
		serveName(t, ext, "192.168.79.100:9000", "EXT")
		if got, err := ask(podC, "192.168.79.100:9000"); err != nil || got != "EXT" {
			t.Fatalf("pod to an outside host: %q, %v", got, err)
		}
	})
	t.Run("close removes the table", func(t *testing.T) {
		if err := sp.Close(); err != nil {
			t.Fatal(err)
		}
		if err := sp.Close(); err != nil {
			t.Fatalf("second close: %v", err)
		}
		out, err := exec.Command("nft", "list", "tables").CombinedOutput()
		if err != nil || strings.Contains(string(out), "table ip shoal") {
			t.Fatalf("after Close: %v\n%s", err, out)
		}
		if !strings.Contains(string(out), "table ip keepme") {
			t.Fatalf("the proxy removed another table:\n%s", out)
		}
		if _, err := ask(podC, "10.43.0.10:80"); err == nil {
			t.Fatal("ClusterIP still answers after Close")
		}
	})
}

func firstKey(m map[string]int) string {
	for k := range m {
		return k
	}
	return ""
}
