package servicesync

import (
	"context"
	"io"
	"log/slog"
	"maps"
	"reflect"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/shoal-project/shoal/consensus"
	"github.com/shoal-project/shoal/node/network"
)

// fakeNet records what the proxy last programmed.
type fakeNet struct {
	mu    sync.Mutex
	state network.ProxyState
	own   string
	peers map[string]string
	syncs int
	first int // Services in the first sync
}

func (f *fakeNet) Sync(st network.ProxyState) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.syncs == 0 {
		f.first = len(st.Services)
	}
	f.state, f.syncs = st, f.syncs+1
	return nil
}

func (f *fakeNet) Stale() bool { return false }

func (f *fakeNet) SyncRoutes(own string, peers map[string]string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.own, f.peers = own, maps.Clone(peers)
	return nil
}

// TestProxyFollowsStore: the proxy programs what the store holds, first
// once the caches have listed (never an empty table at start), then after
// each change of a Service, its Endpoints or a Node.
func TestProxyFollowsStore(t *testing.T) {
	st := consensus.NewStore()
	w := &storeWriter{tb: t, st: st}
	node := func(name, cidr, ip string) *corev1.Node {
		return &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: name}, Spec: corev1.NodeSpec{PodCIDR: cidr},
			Status: corev1.NodeStatus{Addresses: []corev1.NodeAddress{{Type: corev1.NodeInternalIP, Address: ip}}}}
	}
	web := clusterIPService("default", "web", "10.43.0.7")
	webEps := readyEndpoints("default", "web", "10.42.0.5")
	w.create("services", "default", "web", web)
	w.create("endpoints", "default", "web", webEps)
	w.create("nodes", "", "n1", node("n1", "10.42.0.0/24", "192.0.2.1"))
	w.create("nodes", "", "n2", node("n2", "10.42.1.0/24", "192.0.2.2"))

	fn := &fakeNet{}
	p := &Proxy{Cache: runCache(t, st), NodeName: "n1", NodeIP: "192.0.2.1", Proxy: fn, Routes: fn,
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil)), Debounce: time.Millisecond, Resync: time.Hour}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- p.Run(ctx) }()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Error(err)
		}
	}()

	want := func(what string, peers map[string]string, svcs ...network.ProxyService) {
		t.Helper()
		ws := network.ProxyState{NodeAddresses: []string{"192.0.2.1"}, Services: svcs}
		deadline := time.Now().Add(5 * time.Second)
		for {
			fn.mu.Lock()
			ok := fn.syncs > 0 && reflect.DeepEqual(fn.state, ws) && fn.own == "10.42.0.0/24" && reflect.DeepEqual(fn.peers, peers)
			got, own, gotPeers := fn.state, fn.own, fn.peers
			fn.mu.Unlock()
			if ok {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s: programmed %+v, routes %q %v; want %+v, routes 10.42.0.0/24 %v", what, got, own, gotPeers, ws, peers)
			}
			time.Sleep(5 * time.Millisecond)
		}
	}
	twoNodes := map[string]string{"10.42.1.0/24": "192.0.2.2"}
	want("first sync", twoNodes, network.ProxyServiceFromAPI(web, webEps))
	fn.mu.Lock()
	if fn.first != 1 {
		t.Errorf("the first sync programmed %d Services, want the store's 1", fn.first)
	}
	fn.mu.Unlock()

	webEps2 := readyEndpoints("default", "web", "10.42.0.5", "10.42.1.7")
	w.update("endpoints", "default", "web", webEps2)
	want("an endpoint added", twoNodes, network.ProxyServiceFromAPI(web, webEps2))

	db := clusterIPService("default", "db", "10.43.0.9")
	w.create("services", "default", "db", db)
	w.delete("nodes", "", "n2")
	want("a Service without Endpoints added, a node gone", map[string]string{},
		network.ProxyServiceFromAPI(db, nil), network.ProxyServiceFromAPI(web, webEps2))

	w.delete("services", "default", "web")
	want("a Service deleted", map[string]string{}, network.ProxyServiceFromAPI(db, nil))
}
