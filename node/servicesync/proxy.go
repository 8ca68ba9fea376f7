package servicesync

import (
	"context"
	"fmt"
	"log/slog"
	"slices"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/client-go/kubernetes"

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
	NodeIP string
	// LocalDNS are the addresses where the node's DNS server answers
	// (network.ProxyState.LocalDNS).
	LocalDNS []string
	Proxy    Rules
	Routes   RouteTable
	Logger   *slog.Logger
	Resync   time.Duration // 0: 10s
	Debounce time.Duration // 0: 50ms
	// RetryMin and RetryMax bound the backoff after a failed sync
	// (0: 1s and 1m).
	RetryMin, RetryMax time.Duration
	// Client, when set, records the proxy's events on the Node and keeps
	// its ServiceProxyReady condition.
	Client kubernetes.Interface
	// IngressPorts are the node's open Ingress proxy ports (80, 443): a
	// LoadBalancer Service on one of them takes that port of the node's
	// address before the Ingress proxy sees it, which is logged once per
	// Service and port.
	IngressPorts []int

	warned map[string]bool // "namespace/name:port" already warned about
}

// Rules programs the node's Service proxy: *network.ServiceProxy, or a
// fake in tests. Sync is called from one goroutine at a time; Stale says
// whether the rules may differ from what the last Sync wrote.
type Rules interface {
	Sync(state network.ProxyState) error
	Stale() bool
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
// After that the rules are written when the caches change, and on each
// Resync only when the proxy says they may have drifted (Stale), so an
// idle node with many Services does no work. A failed sync is retried
// with a backoff (RetryMin doubling to RetryMax) and reported once per
// outage: a warning, a Warning event on the Node and the Node's
// ServiceProxyReady condition (see health.go).
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
	// Services and Endpoints make the rules; Nodes only the routes (their
	// status changes every minute, which must not rebuild 10,000
	// Services' rules).
	changed, nodesChanged := make(chan struct{}, 1), make(chan struct{}, 1)
	signal := func(ch chan struct{}) func() {
		return func() {
			select {
			case ch <- struct{}{}:
			default:
			}
		}
	}
	defer c.services.AddHandler(follow.OnAny[corev1.Service](signal(changed)))()
	defer c.endpoints.AddHandler(follow.OnAny[corev1.Endpoints](signal(changed)))()
	defer c.nodes.AddHandler(follow.OnAny[corev1.Node](signal(nodesChanged)))()
	if !follow.WaitReady(ctx, c.services, c.endpoints, c.nodes) {
		return nil
	}
	health := newProxyHealth(p)
	defer health.stop()
	t := time.NewTicker(resync)
	defer t.Stop()
	dirty := true
	var retry <-chan time.Time
	failures := 0
	for {
		if dirty || retry == nil && p.Proxy.Stale() {
			if err := p.syncRules(c); err != nil {
				failures++
				wait := p.backoff(failures)
				p.Logger.Warn("service proxy sync failed", "error", err, "failures", failures, "retryIn", wait)
				health.failed(ctx, err)
				retry = time.After(wait)
			} else {
				if failures > 0 {
					p.Logger.Info("service proxy sync recovered", "failures", failures)
				}
				health.synced(ctx)
				failures, retry = 0, nil
			}
			dirty = false
		}
		if err := p.syncRoutes(c); err != nil {
			p.Logger.Warn("pod routes sync", "error", err)
		}
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		case <-retry:
			retry, dirty = nil, true
		case <-nodesChanged:
		case <-changed:
			if retry != nil {
				continue // the retry carries this change too
			}
			dirty = true
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

// backoff is the wait before retry number n (from 1).
func (p *Proxy) backoff(n int) time.Duration {
	lo, hi := p.RetryMin, p.RetryMax
	if lo <= 0 {
		lo = time.Second
	}
	if hi <= 0 {
		hi = time.Minute
	}
	d := lo
	for i := 1; i < n && d < hi; i++ {
		d *= 2
	}
	return min(d, hi)
}

// syncRules programs the Services the caches hold.
func (p *Proxy) syncRules(c proxyCaches) error {
	state := network.ProxyState{NodeAddresses: []string{p.NodeIP}, LocalDNS: p.LocalDNS}
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
	return nil
}

// syncRoutes programs the routes to the other nodes' pod CIDRs.
func (p *Proxy) syncRoutes(c proxyCaches) error {
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
