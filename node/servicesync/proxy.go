package servicesync

import (
	"context"
	"fmt"
	"log/slog"
	"slices"
	"time"

	corev1 "k8s.io/api/core/v1"

	"github.com/shoal-project/shoal/node/follow"
	"github.com/shoal-project/shoal/node/network"
)

// Proxy keeps the node's Service proxy and pod routes in step with the
// node's shared cache of Services, Endpoints and Nodes. Changes are applied
// within about Debounce of reaching the replica, and everything is
// re-applied every Resync, so rules changed behind the proxy's back heal.
type Proxy struct {
	Cache    *follow.Shared
	NodeName string
	// NodeIP is this node's address: NodePort and LoadBalancer ports
	// answer on it.
	NodeIP   string
	Proxy    Rules
	Routes   RouteTable
	Logger   *slog.Logger
	Resync   time.Duration // 0: 10s
	Debounce time.Duration // 0: 50ms
	// IngressPorts are the node's open Ingress proxy ports (80, 443): a
	// LoadBalancer Service on one of them takes that port of the node's
	// address before the Ingress proxy sees it, which is logged once per
	// Service and port.
	IngressPorts []int

	warned map[string]bool // "namespace/name:port" already warned about
}

// Rules programs the node's Service proxy: *network.ServiceProxy, or a
// fake in tests. Sync is called from one goroutine at a time.
type Rules interface {
	Sync(state network.ProxyState) error
}

// RouteTable programs the routes to the other nodes' pod CIDRs:
// *network.Routes, or a fake in tests.
type RouteTable interface {
	SyncRoutes(own string, peers map[string]string) error
}

var (
	_ Rules      = (*network.ServiceProxy)(nil)
	_ RouteTable = (*network.Routes)(nil)
)

// proxyCaches are the followers the proxy reads.
type proxyCaches struct {
	services  *follow.Follower[corev1.Service]
	endpoints *follow.Follower[corev1.Endpoints]
	nodes     *follow.Follower[corev1.Node]
}

// Run syncs until ctx is cancelled. It syncs first once the caches hold
// their first list: an empty cache would remove every Service's rules.
func (p *Proxy) Run(ctx context.Context) error {
	resync, debounce := p.Resync, p.Debounce
	if resync == 0 {
		resync = 10 * time.Second
	}
	if debounce == 0 {
		debounce = 50 * time.Millisecond
	}
	c := proxyCaches{
		services:  follow.For[corev1.Service](p.Cache, "services"),
		endpoints: follow.For[corev1.Endpoints](p.Cache, "endpoints"),
		nodes:     follow.For[corev1.Node](p.Cache, "nodes"),
	}
	changed := make(chan struct{}, 1)
	signal := func() {
		select {
		case changed <- struct{}{}:
		default:
		}
	}
	defer c.services.AddHandler(follow.OnAny[corev1.Service](signal))()
	defer c.endpoints.AddHandler(follow.OnAny[corev1.Endpoints](signal))()
	defer c.nodes.AddHandler(follow.OnAny[corev1.Node](signal))()
	if !follow.WaitReady(ctx, c.services, c.endpoints, c.nodes) {
		return nil
	}
	t := time.NewTicker(resync)
	defer t.Stop()
	for {
		if err := p.sync(c); err != nil {
			p.Logger.Warn("service proxy sync", "error", err)
		}
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		case <-changed:
			// Let a burst of changes (a Deployment's rollout) land before
			// the next sync.
			select {
			case <-ctx.Done():
				return nil
			case <-time.After(debounce):
			}
		}
	}
}

// sync applies the caches' current state once.
func (p *Proxy) sync(c proxyCaches) error {
	state := network.ProxyState{NodeAddresses: []string{p.NodeIP}}
	clashes := map[string]bool{}
	for _, svc := range c.services.List() {
		p.checkIngressPorts(svc, clashes)
		eps, _ := c.endpoints.Get(svc.Namespace, svc.Name) // nil: none
		state.Services = append(state.Services, network.ProxyServiceFromAPI(svc, eps))
	}
	p.warned = clashes
	if err := p.Proxy.Sync(state); err != nil {
		return fmt.Errorf("proxy: %w", err)
	}
	own, peers := "", map[string]string{}
	for _, n := range c.nodes.List() {
		if n.Spec.PodCIDR == "" {
			continue
		}
		if n.Name == p.NodeName {
			own = n.Spec.PodCIDR
			continue
		}
		for _, a := range n.Status.Addresses {
			if a.Type == corev1.NodeInternalIP {
				peers[n.Spec.PodCIDR] = a.Address
			}
		}
	}
	if err := p.Routes.SyncRoutes(own, peers); err != nil {
		return fmt.Errorf("routes: %w", err)
	}
	return nil
}

// checkIngressPorts adds to clashes each TCP port of a LoadBalancer
// Service that is one of the node's Ingress ports, warning the first time
// it is seen: the Service's nftables rules take that port of every node's
// address before the Ingress proxy does.
func (p *Proxy) checkIngressPorts(svc *corev1.Service, clashes map[string]bool) {
	if svc.Spec.Type != corev1.ServiceTypeLoadBalancer || len(p.IngressPorts) == 0 {
		return
	}
	for _, sp := range svc.Spec.Ports {
		if sp.Protocol != "" && sp.Protocol != corev1.ProtocolTCP || !slices.Contains(p.IngressPorts, int(sp.Port)) {
			continue
		}
		key := fmt.Sprintf("%s/%s:%d", svc.Namespace, svc.Name, sp.Port)
		clashes[key] = true
		if !p.warned[key] {
			p.Logger.Warn("a LoadBalancer Service takes an Ingress port of this node: Ingress requests to that port reach the Service, not the Ingress proxy",
				"service", svc.Namespace+"/"+svc.Name, "port", sp.Port)
		}
	}
}
