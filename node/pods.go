package node

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"os/exec"
	"path/filepath"
	"regexp"
	"sync/atomic"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"

	"golang.org/x/sync/errgroup"

	"github.com/shoal-project/shoal/dnsd"
	"github.com/shoal-project/shoal/node/apiserver"
	"github.com/shoal-project/shoal/node/ingress"
	"github.com/shoal-project/shoal/node/kubelet"
	"github.com/shoal-project/shoal/node/network"
	"github.com/shoal-project/shoal/node/resourcemetrics"
	"github.com/shoal-project/shoal/node/servicesync"
	"github.com/shoal-project/shoal/node/streaming"
	"github.com/shoal-project/shoal/runtime"
	ctrd "github.com/shoal-project/shoal/runtime/containerd"
)

// containerdNamespace is this node's containerd namespace: nodes sharing
// one containerd keep their images and containers apart.
func containerdNamespace(nodeName string) string {
	return "shoal-" + regexp.MustCompile(`[^a-zA-Z0-9._-]`).ReplaceAllString(nodeName, "-")
}

// containerdSocket is the socket the node uses: the one given, or its own
// supervised daemon's.
func (n *Node) containerdSocket() string {
	if n.cfg.ContainerdSocket != "" {
		return n.cfg.ContainerdSocket
	}
	return filepath.Join(n.cfg.DataDir, "containerd", "containerd.sock")
}

// imageFsDir is where the node's own containerd keeps its images, for the
// imagefs eviction signals; "" (the kubelet's filesystem) for a containerd
// the node does not run.
func (n *Node) imageFsDir() string {
	if n.cfg.ContainerdSocket != "" || n.opts.runtime != nil {
		return ""
	}
	return filepath.Join(n.cfg.DataDir, "containerd", "root")
}

// runContainerd supervises the node's private containerd until ctx ends.
// It returns at once when the node uses an existing containerd.
func (n *Node) runContainerd(ctx context.Context, ready chan<- error) error {
	if n.cfg.ContainerdSocket != "" {
		ready <- nil
		<-ctx.Done()
		return nil
	}
	if _, err := exec.LookPath("containerd"); err != nil {
		ready <- fmt.Errorf("containerd not found on PATH (install Debian's containerd and runc, or pass --containerd SOCKET): %w", err)
		<-ctx.Done()
		return nil
	}
	sup := ctrd.NewSupervisor(filepath.Join(n.cfg.DataDir, "containerd"), ctrd.WithSupervisorLogger(n.log.With("component", "containerd")))
	go func() {
		select {
		case <-sup.Ready():
			ready <- nil
		case <-ctx.Done():
		}
	}()
	return sup.Run(ctx)
}

// waitPodCIDR waits until the leader has given this node a pod CIDR.
func (n *Node) waitPodCIDR(ctx context.Context) (string, error) {
	for {
		if o, err := n.store.Get("nodes", "", n.cfg.Name); err == nil {
			var node corev1.Node
			if json.Unmarshal(o.Raw, &node) == nil && node.Spec.PodCIDR != "" {
				return node.Spec.PodCIDR, nil
			}
		}
		select {
		case <-ctx.Done():
			return "", ctx.Err()
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// newRuntime connects the container runtime, with the pod network on the
// node's pod CIDR.
func (n *Node) newRuntime(ctx context.Context, podCIDR string) (runtime.Runtime, error) {
	cni, err := network.NewCNI(network.CNIConfig{PodCIDR: podCIDR, StateDir: filepath.Join(n.cfg.DataDir, "cni")})
	if err != nil {
		return nil, err
	}
	rt, err := ctrd.New(ctx, ctrd.Options{
		Socket:    n.containerdSocket(),
		Namespace: containerdNamespace(n.cfg.Name),
		StateDir:  filepath.Join(n.cfg.DataDir, "pods"),
		Network:   cni,
		Mirrors:   n.cfg.RegistryMirrors,
		Logger:    n.log.With("component", "runtime"),
	})
	if err != nil {
		return nil, fmt.Errorf("connect containerd: %w", err)
	}
	return rt, nil
}

// runPods runs the node's pod side once the leader has given the node a
// pod CIDR: containerd (its own, supervised, unless --containerd names
// one), the pod network, the runtime and the kubelet, and it makes log and
// exec of this node's pods available to the streaming proxy.
func (n *Node) runPods(ctx context.Context) error {
	var rt runtime.Runtime = n.opts.runtime
	g, ctx := errgroup.WithContext(ctx)
	if rt == nil {
		ready := make(chan error, 1)
		g.Go(func() error { return n.runContainerd(ctx, ready) })
		select {
		case err := <-ready:
			if err != nil {
				n.log.Error("this node cannot run pods", "error", err)
				return g.Wait()
			}
		case <-ctx.Done():
			return g.Wait()
		}
		podCIDR, err := n.waitPodCIDR(ctx)
		if err != nil {
			return g.Wait()
		}
		crt, err := n.newRuntime(ctx, podCIDR)
		if err != nil {
			n.log.Error("this node cannot run pods", "error", err)
			return g.Wait()
		}
		defer crt.Close()
		rt = crt
		n.log.Info("container runtime connected", "pod_cidr", podCIDR, "containerd", n.containerdSocket())
	}
	client, err := n.selfClient()
	if err != nil {
		return err
	}
	var clusterDNS []string
	if n.opts.runtime == nil {
		// Real pods: the node's Service proxy, routes and DNS server.
		podCIDR, err := n.waitPodCIDR(ctx)
		if err != nil {
			return g.Wait()
		}
		if err := n.runServices(ctx, g, podCIDR); err != nil {
			n.log.Error("this node cannot serve Services", "error", err)
		} else {
			clusterDNS = []string{n.cfg.AdvertiseAddr}
		}
	}
	k := kubelet.New(kubelet.Config{
		NodeName: n.cfg.Name, Store: n.store, Client: client, Runtime: rt, ClusterDNS: clusterDNS,
		RootDir: filepath.Join(n.cfg.DataDir, "kubelet"), ClusterDomain: "cluster.local",
		NodeIP: n.cfg.AdvertiseAddr, Version: apiserver.Version.GitVersion,
		ImageFsDir: n.imageFsDir(),
		Logger:     n.log.With("component", "kubelet"), Metrics: n.metrics,
	})
	n.nodeStreams.set(streaming.NewNodeServer(streaming.NodeServerConfig{
		Runtime: rt, Locate: k.ContainerID, Logger: n.log.With("component", "streaming"),
	}))
	n.runStats(ctx, g, rt)
	g.Go(func() error { return k.Run(ctx) })
	return g.Wait()
}

// lateHandler serves with a handler set once the part behind it is up,
// and answers 503 until then, as a Status that clients (kubectl, a peer's
// metrics API) can read.
type lateHandler struct{ h atomic.Pointer[http.Handler] }

func (l *lateHandler) set(h http.Handler) { l.h.Store(&h) }

func (l *lateHandler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if h := l.h.Load(); h != nil {
		(*h).ServeHTTP(w, r)
		return
	}
	apiserver.WriteStatus(w, apierrors.NewServiceUnavailable("this node runs no container runtime (yet)"))
}

// nodeTransport reaches other nodes' APIs with this node's certificate.
func nodeTransport(clientTLS *tls.Config) *http.Transport {
	return &http.Transport{TLSClientConfig: clientTLS.Clone(), ForceAttemptHTTP2: true, MaxIdleConnsPerHost: 16}
}

// nodeAPIBase is a node's API base URL, from gossip.
func (n *Node) nodeAPIBase(name string) (string, bool) {
	for _, m := range n.gossip.Members() {
		if m.Name == name && m.Meta.APIAddr != "" {
			return "https://" + m.Meta.APIAddr, true
		}
	}
	return "", false
}

// streamingProxy serves pods/log and pods/exec on any peer: here for this
// node's pods, else through the pod's node, over mutual TLS.
func (n *Node) streamingProxy(nodeTr http.RoundTripper) *streaming.Proxy {
	return streaming.NewProxy(streaming.ProxyConfig{
		Store:        n.store,
		NodeAddr:     n.nodeAPIBase,
		Local:        n.cfg.Name,
		LocalHandler: &n.nodeStreams,
		Transport:    nodeTr,
		Logger:       n.log.With("component", "streaming"),
	})
}

// metricsAPI serves metrics.k8s.io on any peer from every node's figures,
// fetched over mutual TLS (this node's too: one path for all).
func (n *Node) metricsAPI(nodeTr http.RoundTripper) *resourcemetrics.API {
	return resourcemetrics.NewAPI(resourcemetrics.APIConfig{
		Store:     n.store,
		Summaries: &resourcemetrics.NodeClient{NodeAddr: n.nodeAPIBase, Transport: nodeTr},
		Logger:    n.log.With("component", "metrics"),
	})
}

// runStats samples this node's figures (and, with rt, its containers')
// in g, and serves them to the peers' metrics APIs.
func (n *Node) runStats(ctx context.Context, g *errgroup.Group, rt runtime.Runtime) {
	c := resourcemetrics.NewCollector(resourcemetrics.CollectorConfig{
		NodeName: n.cfg.Name, Runtime: rt, FsPath: n.cfg.DataDir, Logger: n.log.With("component", "stats"),
	})
	n.nodeStats.set(c)
	g.Go(func() error { return c.Run(ctx) })
}

// runServices starts what makes Services work on this node: forwarding,
// the nftables Service proxy and routes to the other nodes' pods (kept in
// step with the store), the DNS server pods use and the Ingress proxy, on
// the node's address.
func (n *Node) runServices(ctx context.Context, g *errgroup.Group, podCIDR string) error {
	if _, err := network.EnableForwarding(); err != nil {
		return err
	}
	routes, err := network.NewRoutes(network.RoutesConfig{ServiceCIDR: n.cfg.ServiceCIDR.String()})
	if err != nil {
		return err
	}
	proxy, err := network.NewServiceProxy(network.ProxyConfig{
		ClusterCIDR: n.cfg.ClusterCIDR.String(), PodCIDR: podCIDR, Logger: n.log.With("component", "proxy"),
	})
	if err != nil {
		return err
	}
	var ingressPorts []int
	for _, port := range []int{n.cfg.IngressHTTPPort, n.cfg.IngressHTTPSPort} {
		if port != 0 {
			ingressPorts = append(ingressPorts, port)
		}
	}
	sync := &servicesync.Proxy{Store: n.store, NodeName: n.cfg.Name, NodeIP: n.cfg.AdvertiseAddr,
		Proxy: proxy, Routes: routes, Logger: n.log.With("component", "proxy"), IngressPorts: ingressPorts}
	g.Go(func() error {
		err := sync.Run(ctx)
		proxy.Close()
		routes.Close()
		return err
	})

	upstreams, _ := dnsd.UpstreamsFromResolvConf("/etc/resolv.conf")
	var keep []string
	for _, u := range upstreams {
		if h, _, err := net.SplitHostPort(u); err == nil && h == n.cfg.AdvertiseAddr || u == n.cfg.AdvertiseAddr {
			continue // never forward to ourselves
		}
		keep = append(keep, u)
	}
	zones := []netip.Prefix{n.cfg.ClusterCIDR, n.cfg.ServiceCIDR}
	h := dnsd.NewHandler(&servicesync.Resolver{Store: n.store}, dnsd.Config{
		ReverseZones: zones, Settings: dnsd.Settings{Upstreams: keep}, Logger: n.log.With("component", "dnsd"),
	})
	srv := dnsd.NewServer(h, dnsd.ServerConfig{Addrs: []string{net.JoinHostPort(n.cfg.AdvertiseAddr, "53")}, Logger: n.log.With("component", "dnsd")})
	g.Go(func() error {
		if err := srv.Run(ctx); err != nil {
			n.log.Error("dns server", "error", err)
		}
		return nil
	})
	if n.cfg.IngressHTTPPort != 0 || n.cfg.IngressHTTPSPort != 0 {
		if err := n.runIngress(ctx, g); err != nil {
			n.log.Error("this node cannot serve Ingresses", "error", err)
		}
	}
	return nil
}

// runIngress starts the Ingress proxy on the node's address, its routing
// table kept in step with the store.
func (n *Node) runIngress(ctx context.Context, g *errgroup.Group) error {
	log := n.log.With("component", "ingress")
	srv, err := ingress.NewServer(ingress.Config{
		Addr: n.cfg.AdvertiseAddr, HTTPPort: n.cfg.IngressHTTPPort, HTTPSPort: n.cfg.IngressHTTPSPort, Logger: log,
	})
	if err != nil {
		return err
	}
	sync := &servicesync.Ingress{Store: n.store, Server: srv, Logger: log}
	g.Go(func() error { return srv.Run(ctx) })
	g.Go(func() error { return sync.Run(ctx) })
	// Once a listener is up the node announces that it serves Ingresses:
	// the Ingress status lists only such nodes' addresses.
	g.Go(func() error {
		select {
		case <-ctx.Done():
			return nil
		case <-srv.Ready():
		}
		if !srv.Serving() {
			log.Warn("no Ingress port could be opened; this node's address is left out of Ingress status")
			return nil
		}
		n.servesIngress.Store(true)
		if err := n.gossip.UpdateMeta(n.meta()); err != nil {
			log.Warn("announce the ingress role", "error", err)
		}
		return nil
	})
	return nil
}
