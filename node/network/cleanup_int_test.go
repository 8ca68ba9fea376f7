package network

import (
	"os"
	"os/exec"
	"reflect"
	"strings"
	"testing"
)

// TestRemoveHostNetwork: in a test namespace holding what a node makes (the
// bridge, a route tagged proto 83, the proxy's table) and what it does not
// (a static route, another table, another bridge), RemoveHostNetwork
// removes only the former, and a second run finds nothing.
func TestRemoveHostNetwork(t *testing.T) {
	if os.Getenv("SHOAL_CLEANUP_TEST_INNER") != "" {
		innerRemoveHostNetwork(t)
		return
	}
	lab := requireNetnsLab(t)
	if _, err := exec.LookPath("nft"); err != nil {
		t.Skip("needs nft (the nftables package) to set the namespace up")
	}
	ns := lab.ns("n1")
	lab.in(ns, "ip", "link", "add", "eth0", "type", "veth", "peer", "name", "eth1")
	lab.in(ns, "ip", "addr", "add", "192.168.81.1/24", "dev", "eth0")
	lab.in(ns, "ip", "link", "set", "eth0", "up")
	lab.in(ns, "ip", "link", "add", DefaultBridge, "type", "bridge")
	lab.in(ns, "ip", "link", "add", "other0", "type", "bridge")
	lab.in(ns, "ip", "route", "add", "10.42.7.0/24", "via", "192.168.81.7", "proto", "83")
	lab.in(ns, "ip", "route", "add", "10.99.0.0/24", "via", "192.168.81.9", "proto", "static")
	lab.in(ns, "nft", "add", "table", "ip", "shoal")
	lab.in(ns, "nft", "add", "table", "ip", "someone-else")
	lab.inner(ns, "TestRemoveHostNetwork", "SHOAL_CLEANUP_TEST_INNER=1")

	links := lab.in(ns, "ip", "-o", "link", "show")
	if strings.Contains(links, DefaultBridge) || !strings.Contains(links, "other0") {
		t.Errorf("links after the clean-up:\n%s", links)
	}
	routes := lab.in(ns, "ip", "route", "show")
	if strings.Contains(routes, "10.42.7.0") || !strings.Contains(routes, "10.99.0.0/24") {
		t.Errorf("routes after the clean-up:\n%s", routes)
	}
	tables := lab.in(ns, "nft", "list", "tables")
	if strings.Contains(tables, "table ip shoal\n") || !strings.Contains(tables, "someone-else") {
		t.Errorf("tables after the clean-up:\n%s", tables)
	}
}

func innerRemoveHostNetwork(t *testing.T) {
	did, err := RemoveHostNetwork()
	if err != nil {
		t.Fatalf("first run: %v", err)
	}
	want := []string{"route 10.42.7.0/24 (proto 83)", "nftables table ip shoal", "bridge " + DefaultBridge}
	if !reflect.DeepEqual(did, want) {
		t.Fatalf("first run removed %q, want %q", did, want)
	}
	did, err = RemoveHostNetwork()
	if err != nil || len(did) != 0 {
		t.Fatalf("second run: removed %q, %v; want nothing", did, err)
	}
}
