package node

import (
	"context"
	"net/http"
	"sync"

	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"

	"github.com/shoal-project/shoal/node/controller"
	"github.com/shoal-project/shoal/node/controller/deployment"
	"github.com/shoal-project/shoal/node/controller/endpoints"
	"github.com/shoal-project/shoal/node/controller/gc"
	"github.com/shoal-project/shoal/node/controller/ingress"
	"github.com/shoal-project/shoal/node/controller/nodelifecycle"
	"github.com/shoal-project/shoal/node/controller/replicaset"
	"github.com/shoal-project/shoal/node/scheduler"
)

// runLeadership follows raft leadership: onLeader starts every leader-only
// loop under one child context, losing leadership cancels it and waits for
// them all. Nowhere else asks whether this node leads.
func (n *Node) runLeadership(ctx context.Context) error {
	var (
		cancel context.CancelFunc
		wg     sync.WaitGroup
	)
	stop := func() {
		if cancel != nil {
			cancel()
			wg.Wait()
			cancel = nil
			n.log.Info("leader loops stopped")
		}
	}
	defer stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case leading := <-n.raft.LeaderChanges():
			if leading && cancel == nil {
				cancel = n.onLeader(ctx, &wg)
			} else if !leading {
				stop()
			}
		}
	}
}

// onLeader starts the leader-only loops under a child of ctx and returns
// what stops them.
func (n *Node) onLeader(parent context.Context, wg *sync.WaitGroup) context.CancelFunc {
	ctx, cancel := context.WithCancel(parent)
	n.log.Info("became leader; starting leader loops")
	deps, err := n.controllerDeps()
	if err != nil {
		n.log.Error("leader loops not started", "error", err)
		return cancel
	}
	loops := map[string]func(context.Context) error{
		"voters":               n.runVoters,
		"feature-gate":         n.runFeatureGate,
		"namespaces-bootstrap": func(ctx context.Context) error { return controller.EnsureNamespaces(ctx, deps.named("bootstrap")) },
		"node-lifecycle":       (&nodelifecycle.Controller{Deps: deps.named("node-lifecycle"), Members: n.gossip, RaftRoles: n.raft.Roles, ClusterCIDR: n.cfg.ClusterCIDR.String()}).Run,
		"namespace-controller": (&gc.Namespaces{Deps: deps.named("namespaces")}).Run,
		"garbage-collector":    (&gc.Collector{Deps: deps.named("gc")}).Run,
		"endpoints":            (&endpoints.Controller{Deps: deps.named("endpoints")}).Run,
		"load-balancers":       (&ingress.LoadBalancers{Deps: deps.named("load-balancers")}).Run,
		"ingress-class":        func(ctx context.Context) error { return ingress.EnsureClass(ctx, deps.named("bootstrap")) },
		"ingress-status":       (&ingress.Status{Deps: deps.named("ingress-status")}).Run,
		"kubernetes-service":   n.api.EnsureKubernetesService,
		"deployment":           deployment.New(deps.named("deployment")).Run,
		"replicaset":           replicaset.New(deps.named("replicaset")).Run,
		"replication":          replicaset.NewReplication(deps.named("replication")).Run,
		"eviction":             nodelifecycle.NewEviction(deps.named("eviction"), n.cfg.NodeEvictionTimeout).Run,
		"scheduler":            scheduler.New(scheduler.Deps{Cache: deps.Cache, Client: deps.Client, Logger: deps.named("scheduler").Logger}, scheduler.WithMetrics(n.metrics)).Run,
	}
	for name, run := range loops {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := run(ctx); err != nil && ctx.Err() == nil {
				n.log.Error("leader loop failed", "loop", name, "error", err)
			}
		}()
	}
	return cancel
}

// selfRESTConfig reaches this node's own API over loopback TLS, as the
// admin: controllers and the kubelet write through the same path as every
// client, and read their own writes in the local replica.
func (n *Node) selfRESTConfig() *rest.Config {
	return &rest.Config{
		Host:            "https://" + hostPort(loopbackFor(n.cfg.BindAddr), n.cfg.APIPort),
		BearerToken:     n.cluster.AdminToken(),
		TLSClientConfig: rest.TLSClientConfig{CAData: n.cluster.CACertPEM},
		QPS:             500,
		Burst:           1000,
		UserAgent:       "shoal/" + n.cfg.Name,
		// The scheduler and controllers keep many requests in flight;
		// client-go's pool of 25 idle connections would make most of them
		// open a new TLS connection.
		WrapTransport: func(rt http.RoundTripper) http.RoundTripper {
			if t, ok := rt.(*http.Transport); ok {
				t = t.Clone()
				t.MaxIdleConnsPerHost = 128
				return t
			}
			return rt
		},
	}
}

// selfClient is a clientset for this node's own API.
func (n *Node) selfClient() (kubernetes.Interface, error) {
	return kubernetes.NewForConfig(n.selfRESTConfig())
}

// controllerDeps builds what the leader-only loops use.
func (n *Node) controllerDeps() (ctrlDeps, error) {
	cfg := n.selfRESTConfig()
	client, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return ctrlDeps{}, err
	}
	dyn, err := dynamic.NewForConfig(cfg)
	if err != nil {
		return ctrlDeps{}, err
	}
	return ctrlDeps{controller.Deps{Store: n.store, Cache: n.cache, Client: client, Dynamic: dyn, Logger: n.log}}, nil
}

type ctrlDeps struct{ controller.Deps }

func (d ctrlDeps) named(name string) controller.Deps {
	c := d.Deps
	c.Logger = c.Logger.With("component", name)
	return c
}

// loopbackFor is the address this node reaches its own API on.
func loopbackFor(bind string) string {
	if bind == "0.0.0.0" || bind == "::" || bind == "" {
		return "127.0.0.1"
	}
	return bind
}
