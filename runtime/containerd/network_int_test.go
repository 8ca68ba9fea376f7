package containerd

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/shoal-project/shoal/runtime"
)

// recordingNetwork is a NetworkPlugin that only records calls and hands out
// an address; it touches no interface.
type recordingNetwork struct {
	mu    sync.Mutex
	calls []string
}

func (n *recordingNetwork) Setup(_ context.Context, id, netns string, pod runtime.PodRef, _ []runtime.PortMapping) (string, error) {
	n.mu.Lock()
	defer n.mu.Unlock()
	if !isNetNSMounted(netns) {
		n.calls = append(n.calls, "setup-without-netns")
	}
	n.calls = append(n.calls, "setup "+id+" "+pod.Name)
	return "10.42.0.7", nil
}

func (n *recordingNetwork) Teardown(_ context.Context, id, _ string, pod runtime.PodRef) error {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.calls = append(n.calls, "teardown "+id+" "+pod.Name)
	return nil
}

func TestNetworkPluginCalls(t *testing.T) {
	needDaemon(t)
	netw := &recordingNetwork{}
	rt := newNodeFactoryWith(func(o *Options) { o.Network = netw })(t)
	ctx := context.Background()
	sb, err := rt.RunSandbox(ctx, runtime.SandboxConfig{UID: "u-net", Namespace: "default", Name: "web", Hostname: "web",
		DNS: &runtime.DNSConfig{Servers: []string{"10.43.0.10"}, Searches: []string{"default.svc.cluster.local"}, Options: []string{"ndots:5"}}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = rt.RemoveSandbox(context.Background(), sb.ID) })
	if sb.IP != "10.42.0.7" {
		t.Errorf("IP = %q", sb.IP)
	}
	dir := filepath.Join(filepath.Dir(filepath.Dir(sb.NetNS)), "sandboxes", sb.ID)
	hosts, _ := os.ReadFile(filepath.Join(dir, "hosts"))
	resolv, _ := os.ReadFile(filepath.Join(dir, "resolv.conf"))
	if !strings.Contains(string(hosts), "10.42.0.7\tweb") {
		t.Errorf("hosts = %q", hosts)
	}
	if want := "search default.svc.cluster.local\nnameserver 10.43.0.10\noptions ndots:5\n"; string(resolv) != want {
		t.Errorf("resolv.conf = %q, want %q", resolv, want)
	}
	if err := rt.StopSandbox(ctx, sb.ID); err != nil {
		t.Fatal(err)
	}
	if err := rt.RemoveSandbox(ctx, sb.ID); err != nil {
		t.Fatal(err)
	}
	got := strings.Join(netw.calls, "|")
	if want := "setup " + sb.ID + " web|teardown " + sb.ID + " web"; got != want {
		t.Errorf("calls = %q, want %q", got, want)
	}
}
