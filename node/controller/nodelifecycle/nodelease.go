package nodelifecycle

import (
	"sync"
	"time"

	coordinationv1 "k8s.io/api/coordination/v1"

	"github.com/shoal-project/shoal/node/follow"
)

// Node leases, as Kubernetes' node lifecycle controller reads them: each
// kubelet renews a Lease named after its node in kube-node-lease (see
// node/kubelet/lease.go). A node whose gossip says alive but whose lease
// has not moved for the grace period has a kubelet that stopped working;
// its Ready condition turns Unknown. The controller trusts its own clock,
// not the renew time the kubelet wrote: it notes when it saw each lease
// change (a new resourceVersion), so clock skew between machines does not
// matter, and a new leader gives every lease a full grace period.

const (
	nodeLeaseNamespace = "kube-node-lease"
	nodeLeaseResource  = "leases.coordination.k8s.io"
	// DefaultNodeLeaseGrace is Kubernetes' node-monitor-grace-period.
	DefaultNodeLeaseGrace = 40 * time.Second
)

// leaseWatch remembers when each node's lease last changed.
type leaseWatch struct {
	mu   sync.Mutex
	seen map[string]leaseSeen
}

type leaseSeen struct {
	version string // resourceVersion
	at      time.Time
}

// stale reports whether node has a lease that has not changed for longer
// than grace, as observed at now; a node without a lease (it runs no
// kubelet) is never stale.
func (w *leaseWatch) stale(leases *follow.Follower[coordinationv1.Lease], node string, now time.Time, grace time.Duration) bool {
	obj, ok := leases.Get(nodeLeaseNamespace, node)
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.seen == nil {
		w.seen = map[string]leaseSeen{}
	}
	if !ok {
		delete(w.seen, node)
		return false
	}
	last, ok := w.seen[node]
	if !ok || last.version != obj.ResourceVersion {
		w.seen[node] = leaseSeen{version: obj.ResourceVersion, at: now}
		return false
	}
	return now.Sub(last.at) > grace
}
