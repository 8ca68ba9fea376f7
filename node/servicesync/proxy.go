package servicesync

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"slices"
	"time"

	corev1 "k8s.io/api/core/v1"

	"github.com/shoal-project/shoal/consensus"
	"github.com/shoal-project/shoal/node/network"
)

// Proxy keeps the node's Service proxy and pod routes in step with the
// store. Changes are applied within about 50 ms of reaching the replica,
// and everything is re-applied every Resync, so a missed event heals.
type Proxy struct {
	Store    *consensus.Store
	NodeName string
	// NodeIP is this node's address: NodePort and LoadBalancer ports
	// answer on it.
	NodeIP   string
	Proxy    *network.ServiceProxy
	Routes   *network.Routes
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

// Run syncs until ctx is cancelled.
func (p *Proxy) Run(ctx context.Context) error {
	resync, debounce := p.Resync, p.Debounce
	if resync == 0 {
		resync = 10 * time.Second
	}
	if debounce == 0 {
		debounce = 50 * time.Millisecond
	}
	t := time.NewTicker(resync)
	defer t.Stop()
	for {
		ws, err := p.watch()
		if err != nil {
			return err
		}
		p.syncLogged()
		closed := false
		for !closed {
			select {
			case <-ctx.Done():
				stopAll(ws)
				return nil
			case <-t.C:
			case _, ok := <-ws[0].Events():
				closed = !ok
			case _, ok := <-ws[1].Events():
				closed = !ok
			case _, ok := <-ws[2].Events():
				closed = !ok
			}
			select {
			case <-ctx.Done():
				stopAll(ws)
				return nil
			case <-time.After(debounce):
			}
			p.syncLogged()
		}
		stopAll(ws)
	}
}

func (p *Proxy) watch() ([]*consensus.Watcher, error) {
	var ws []*consensus.Watcher
	for _, r := range []string{"services", "endpoints", "nodes"} {
		w, err := p.Store.Watch(r, "", 0)
		if err != nil {
			stopAll(ws)
			return nil, fmt.Errorf("watch %s: %w", r, err)
		}
		ws = append(ws, w)
	}
	return ws, nil
}

func stopAll(ws []*consensus.Watcher) {
	for _, w := range ws {
		w.Stop()
	}
}

func (p *Proxy) syncLogged() {
	if err := p.Sync(); err != nil {
		p.Logger.Warn("service proxy sync", "error", err)
	}
}

// Sync applies the store's current state once.
func (p *Proxy) Sync() error {
	state := network.ProxyState{NodeAddresses: []string{p.NodeIP}}
	svcs, _, _ := p.Store.List("services", "", "", 0)
	clashes := map[string]bool{}
	for _, o := range svcs {
		var svc corev1.Service
		if json.Unmarshal(o.Raw, &svc) != nil {
			continue
		}
		p.checkIngressPorts(&svc, clashes)
		var eps *corev1.Endpoints
		if eo, err := p.Store.Get("endpoints", svc.Namespace, svc.Name); err == nil {
			eps = &corev1.Endpoints{}
			if json.Unmarshal(eo.Raw, eps) != nil {
				eps = nil
			}
		}
		state.Services = append(state.Services, network.ProxyServiceFromAPI(&svc, eps))
	}
	p.warned = clashes
	if err := p.Proxy.Sync(state); err != nil {
		return fmt.Errorf("proxy: %w", err)
	}
	own, peers := "", map[string]string{}
	nodes, _, _ := p.Store.List("nodes", "", "", 0)
	for _, o := range nodes {
		var n corev1.Node
		if json.Unmarshal(o.Raw, &n) != nil || n.Spec.PodCIDR == "" {
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
