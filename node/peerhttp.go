package node

import (
	"context"
	"crypto/tls"
	"net/http"
	"sync/atomic"

	apierrors "k8s.io/apimachinery/pkg/api/errors"

	"golang.org/x/sync/errgroup"

	"github.com/shoal-project/shoal/node/apiserver/wire"
	"github.com/shoal-project/shoal/node/resourcemetrics"
	"github.com/shoal-project/shoal/node/streaming"
	"github.com/shoal-project/shoal/runtime"
)

// The node-to-node HTTP the API serves on every peer: log and exec of any
// pod, proxied to the pod's node, and the metrics API, which fetches each
// node's figures from it; both over mutual TLS with the node certificate.

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
	wire.WriteStatus(w, apierrors.NewServiceUnavailable("this node runs no container runtime (yet)"))
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
