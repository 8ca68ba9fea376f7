package node

import (
	"context"
	"net"
	"net/netip"

	"golang.org/x/sync/errgroup"

	"github.com/shoal-project/shoal/dnsd"
	"github.com/shoal-project/shoal/node/ingress"
	"github.com/shoal-project/shoal/node/network"
	"github.com/shoal-project/shoal/node/servicesync"
)

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
	client, err := n.selfClient()
	if err != nil {
		return err
	}
	sync := &servicesync.Proxy{Cache: n.cache, NodeName: n.cfg.Name, NodeIP: n.cfg.AdvertiseAddr,
		Proxy: proxy, Routes: routes, Logger: n.log.With("component", "proxy"), IngressPorts: ingressPorts,
		Client: client, LocalDNS: []string{n.cfg.AdvertiseAddr}}
	g.Go(func() error {
		err := sync.Run(ctx)
		proxy.Close()
		routes.Close()
		return err
	})

	upstreams, err := dnsd.UpstreamsFromResolvConf("/etc/resolv.conf")
	if err != nil {
		n.log.Warn("dns: no upstreams; names outside the cluster are refused", "error", err)
	}
	keep := dnsd.UpstreamsExcept(upstreams, n.cfg.AdvertiseAddr)
	zones := []netip.Prefix{n.cfg.ClusterCIDR, n.cfg.ServiceCIDR}
	resolver := servicesync.NewResolver(n.cache)
	g.Go(func() error { return resolver.Run(ctx) })
	// Pods and the node itself are answered; anyone else who reaches the
	// node's address is refused (loopback is always served).
	clients := []netip.Prefix{n.cfg.ClusterCIDR}
	if self, err := netip.ParseAddr(n.cfg.AdvertiseAddr); err == nil {
		clients = append(clients, netip.PrefixFrom(self, self.BitLen()))
	}
	h := dnsd.NewHandler(resolver, dnsd.Config{
		ReverseZones: zones, Clients: clients, Settings: dnsd.Settings{Upstreams: keep}, Logger: n.log.With("component", "dnsd"),
	})
	srv := dnsd.NewServer(h, dnsd.ServerConfig{Addrs: []string{net.JoinHostPort(n.cfg.AdvertiseAddr, "53")}, Logger: n.log.With("component", "dnsd")})
	g.Go(func() error {
		// Until the caches have listed, every name would be NXDOMAIN,
		// which pods would cache: serve from the first full view.
		select {
		case <-ctx.Done():
			return nil
		case <-resolver.Ready():
		}
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
	sync := &servicesync.Ingress{Cache: n.cache, Server: srv, Logger: log}
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
