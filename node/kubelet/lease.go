package kubelet

import (
	"context"
	"fmt"
	"sync/atomic"
	"time"

	coordinationv1 "k8s.io/api/coordination/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
)

// The node's heartbeat, as in Kubernetes: a Lease named after the node in
// kube-node-lease, renewed every LeaseRenew. Gossip already tells whether
// the agent's process is alive; the lease tells whether its kubelet still
// works, so it is renewed only while the sync loop completes its passes
// (a pass lists the runtime's sandboxes: a hung containerd stops it).
// The node lifecycle controller marks a node whose lease stops moving
// NodeStatusUnknown.

// NodeLeaseNamespace holds the nodes' leases.
const NodeLeaseNamespace = "kube-node-lease"

// passClock records when the sync loop last finished a full pass.
type passClock struct{ unixNano atomic.Int64 }

func (p *passClock) mark(t time.Time) { p.unixNano.Store(t.UnixNano()) }

// since is how long ago the last pass ended (Run marks its start, so a
// runtime that hangs before the first pass stops the lease too).
func (p *passClock) since(now time.Time) time.Duration {
	return now.Sub(time.Unix(0, p.unixNano.Load()))
}

// renewLease keeps the node's lease fresh until ctx ends.
func (k *Kubelet) renewLease(ctx context.Context) {
	t := time.NewTicker(k.cfg.Tuning.LeaseRenew)
	defer t.Stop()
	stalled := false
	for {
		if age := k.passes.since(k.cfg.Now()); age > k.cfg.Tuning.LeaseDuration {
			if !stalled {
				k.log.Warn("kubelet sync loop stalled; node lease not renewed", "last_pass_ago", age.Round(time.Second))
			}
			stalled = true
		} else {
			if stalled {
				k.log.Info("kubelet sync loop running again; renewing the node lease")
			}
			stalled = false
			if err := k.writeLease(ctx); err != nil && ctx.Err() == nil {
				k.log.Warn("renew node lease", "error", err)
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// writeLease creates or renews the node's lease, within one renewal period.
func (k *Kubelet) writeLease(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, k.cfg.Tuning.LeaseRenew)
	defer cancel()
	leases := k.cfg.Client.CoordinationV1().Leases(NodeLeaseNamespace)
	now := metav1.NewMicroTime(k.cfg.Now())
	duration := int32(k.cfg.Tuning.LeaseDuration / time.Second)
	l, err := leases.Get(ctx, k.cfg.NodeName, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		l = &coordinationv1.Lease{
			ObjectMeta: metav1.ObjectMeta{Name: k.cfg.NodeName, Namespace: NodeLeaseNamespace},
			Spec: coordinationv1.LeaseSpec{
				HolderIdentity: ptr.To(k.cfg.NodeName), LeaseDurationSeconds: ptr.To(duration), RenewTime: &now,
			},
		}
		k.ownLease(ctx, l)
		if _, err := leases.Create(ctx, l, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
			return fmt.Errorf("create lease: %w", err)
		}
		return nil
	}
	if err != nil {
		return fmt.Errorf("read lease: %w", err)
	}
	l.Spec.HolderIdentity, l.Spec.LeaseDurationSeconds, l.Spec.RenewTime = ptr.To(k.cfg.NodeName), ptr.To(duration), &now
	if len(l.OwnerReferences) == 0 {
		k.ownLease(ctx, l) // the Node was not there when the lease was made
	}
	if _, err := leases.Update(ctx, l, metav1.UpdateOptions{}); err != nil {
		return fmt.Errorf("renew lease: %w", err)
	}
	return nil
}

// ownLease makes the Node the lease's owner, so the lease goes with it;
// without a Node yet it leaves the lease as it is.
func (k *Kubelet) ownLease(ctx context.Context, l *coordinationv1.Lease) {
	node, err := k.cfg.Client.CoreV1().Nodes().Get(ctx, k.cfg.NodeName, metav1.GetOptions{})
	if err != nil {
		return
	}
	l.OwnerReferences = []metav1.OwnerReference{{APIVersion: "v1", Kind: "Node", Name: node.Name, UID: node.UID}}
}
