package network

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/shoal-project/shoal/runtime"
)

func TestPlanRoutes(t *testing.T) {
	want, bad := planRoutes("10.42.1.0/24", map[string]string{
		"10.42.1.0/24": "192.168.1.1", // this node
		"10.42.3.0/24": "192.168.1.3",
		"10.42.2.0/24": "192.168.1.2",
		"10.42.4.0/24": "not-an-ip",
		"garbage":      "192.168.1.5",
	})
	var got []string
	for _, r := range want {
		got = append(got, r.dst.String()+" via "+r.gw.String())
	}
	if !reflect.DeepEqual(got, []string{"10.42.2.0/24 via 192.168.1.2", "10.42.3.0/24 via 192.168.1.3"}) {
		t.Errorf("routes: %q", got)
	}
	if !reflect.DeepEqual(bad, []string{"10.42.4.0/24 via not-an-ip", "garbage via 192.168.1.5"}) {
		t.Errorf("bad: %q", bad)
	}
}

// TestRoutesBetweenNodes makes two node namespaces joined by a veth
// (192.168.80.0/24), a pod namespace behind each (attached with the real
// CNI plugin, pod CIDRs 10.42.1.0/24 and 10.42.2.0/24), runs SyncRoutes in
// each node and checks the pods reach each other by pod IP, a ClusterIP on
// node 1 reaches the pod on node 2, and a node that leaves loses its route.
func TestRoutesBetweenNodes(t *testing.T) {
	if step := os.Getenv("SHOAL_ROUTES_TEST_STEP"); step != "" {
		innerRoutesTest(t, step)
		return
	}
	lab := requireNetnsLab(t)
	n1, n2 := lab.ns("n1"), lab.ns("n2")
	p1, p2 := lab.ns("p1"), lab.ns("p2")
	lab.link(n1, "eth0", "192.168.80.1/24", n2, "eth0", "192.168.80.2/24")
	state := t.TempDir()
	// A route shoal did not make, which SyncRoutes must leave alone.
	lab.in(n1, "ip", "route", "add", "10.99.0.0/24", "via", "192.168.80.2", "proto", "static")
	run := func(node, pod, cidr, step string, env ...string) {
		lab.inner(node, "TestRoutesBetweenNodes", append(env, "SHOAL_ROUTES_TEST_STEP="+step,
			"SHOAL_ROUTES_TEST_POD=/run/netns/"+pod, "SHOAL_ROUTES_TEST_CIDR="+cidr,
			"SHOAL_ROUTES_TEST_STATE="+filepath.Join(state, node))...)
	}
	run(n1, p1, "10.42.1.0/24", "join")
	run(n2, p2, "10.42.2.0/24", "join")
	ip1 := readFile(t, filepath.Join(state, n1, "podip"))
	ip2 := readFile(t, filepath.Join(state, n2, "podip"))
	run(n1, p1, "10.42.1.0/24", "proxy", "SHOAL_ROUTES_TEST_ENDPOINT="+ip2)

	routes := lab.in(n1, "ip", "route", "show")
	t.Logf("node 1 routes:\n%s", routes)
	for _, want := range []string{
		"10.42.2.0/24 via 192.168.80.2 dev eth0 proto 83",
		"10.43.0.0/16 dev shoal0 proto 83 scope link src 10.42.1.1",
		"10.99.0.0/24 via 192.168.80.2 dev eth0 proto static",
	} {
		if !strings.Contains(routes, want) {
			t.Errorf("node 1 has no route %q", want)
		}
	}
	if strings.Contains(routes, "10.42.9.0/24") {
		t.Errorf("node 1 kept a stale shoal route")
	}

	// Traffic starts in the pod namespaces (and node 1's), never here.
	serveName(t, "/run/netns/"+p2, ":8080", "pod2")
	serveName(t, "/run/netns/"+p1, ":8080", "pod1")
	if got, err := ask("/run/netns/"+p1, ip2+":8080"); err != nil || got != "pod2" {
		t.Fatalf("pod 1 -> pod 2 (%s): %q, %v", ip2, got, err)
	}
	if got, err := ask("/run/netns/"+p2, ip1+":8080"); err != nil || got != "pod1" {
		t.Fatalf("pod 2 -> pod 1 (%s): %q, %v", ip1, got, err)
	}
	// Node 1's proxy sends its ClusterIP to the pod on node 2, from a pod
	// and from node 1 itself (which has no default route: the Service
	// CIDR route through the bridge carries it).
	for _, from := range []string{p1, n1} {
		if got, err := ask("/run/netns/"+from, "10.43.0.10:80"); err != nil || got != "pod2" {
			t.Fatalf("ClusterIP on node 1 from %s: %q, %v", from, got, err)
		}
	}

	// Node 2 leaves: node 1 drops its route, and nothing else.
	run(n1, p1, "10.42.1.0/24", "leave")
	routes = lab.in(n1, "ip", "route", "show")
	if strings.Contains(routes, "10.42.2.0/24") || !strings.Contains(routes, "10.99.0.0/24") {
		t.Fatalf("after node 2 left, node 1 routes:\n%s", routes)
	}
	if _, err := ask("/run/netns/"+p1, ip2+":8080"); err == nil {
		t.Fatal("pod 2 still reachable after its node left")
	}
	run(n1, p1, "10.42.1.0/24", "close")
	if routes = lab.in(n1, "ip", "route", "show", "proto", "83"); strings.TrimSpace(routes) != "" {
		t.Fatalf("after Close, shoal routes left:\n%s", routes)
	}
}

func readFile(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return strings.TrimSpace(string(b))
}

func innerRoutesTest(t *testing.T, step string) {
	state, cidr := os.Getenv("SHOAL_ROUTES_TEST_STATE"), os.Getenv("SHOAL_ROUTES_TEST_CIDR")
	r, err := NewRoutes(RoutesConfig{ServiceCIDR: "10.43.0.0/16"})
	if err != nil {
		t.Fatal(err)
	}
	peers := map[string]string{"10.42.1.0/24": "192.168.80.1", "10.42.2.0/24": "192.168.80.2"}
	switch step {
	case "join":
		fw, err := EnableForwarding()
		if err != nil {
			t.Fatal(err)
		}
		t.Logf("forwarding on, bridge netfilter %v", fw.BridgeNetfilter)
		c, err := NewCNI(CNIConfig{PodCIDR: cidr, StateDir: state})
		if err != nil {
			t.Fatal(err)
		}
		ip, err := c.Setup(context.Background(), "sandbox", os.Getenv("SHOAL_ROUTES_TEST_POD"), runtime.PodRef{Namespace: "default", Name: "p", UID: "u"}, nil)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(state, "podip"), []byte(ip), 0o600); err != nil {
			t.Fatal(err)
		}
		// A route of a node that left while this one was down.
		if out, err := exec.Command("ip", "route", "add", "10.42.9.0/24", "via", "192.168.80.2", "proto", "83").CombinedOutput(); err != nil {
			t.Fatalf("%v: %s", err, out)
		}
		if err := r.SyncRoutes(cidr, peers); err != nil {
			t.Fatal(err)
		}
		if err := r.SyncRoutes(cidr, peers); err != nil {
			t.Fatalf("second sync: %v", err)
		}
	case "proxy":
		// Node 1 proxies a ClusterIP to the pod on node 2.
		sp, err := NewServiceProxy(ProxyConfig{PodCIDR: cidr})
		if err != nil {
			t.Fatal(err)
		}
		ep := ProxyEndpoint{IP: os.Getenv("SHOAL_ROUTES_TEST_ENDPOINT"), Port: 8080}
		if err := sp.Sync(ProxyState{Services: []ProxyService{{Namespace: "default", Name: "remote",
			ClusterIPs: []string{"10.43.0.10"}, Ports: []ProxyPort{{Port: 80, Endpoints: []ProxyEndpoint{ep}}}}}}); err != nil {
			t.Fatal(err)
		}
	case "leave":
		delete(peers, "10.42.2.0/24")
		if err := r.SyncRoutes(cidr, peers); err != nil {
			t.Fatal(err)
		}
	case "close":
		if err := r.Close(); err != nil {
			t.Fatal(err)
		}
	}
}
