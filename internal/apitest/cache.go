package apitest

import (
	"strconv"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/shoal-project/shoal/consensus"
	"github.com/shoal-project/shoal/node/follow"
)

// cacheChecks check, for each resource the parts follow, that the
// node's cache holds exactly the store's objects.
var cacheChecks = []func(*follow.Shared, *consensus.Store) bool{
	cacheHolds[corev1.Node]("nodes"),
	cacheHolds[corev1.Pod]("pods"),
	cacheHolds[corev1.Service]("services"),
	cacheHolds[corev1.Endpoints]("endpoints"),
	cacheHolds[corev1.Namespace]("namespaces"),
	cacheHolds[corev1.ReplicationController]("replicationcontrollers"),
	cacheHolds[discoveryv1.EndpointSlice]("endpointslices.discovery.k8s.io"),
	cacheHolds[networkingv1.Ingress]("ingresses.networking.k8s.io"),
	cacheHolds[networkingv1.IngressClass]("ingressclasses.networking.k8s.io"),
	cacheHolds[coordinationv1.Lease]("leases.coordination.k8s.io"),
	cacheHolds[appsv1.Deployment]("deployments.apps"),
	cacheHolds[appsv1.ReplicaSet]("replicasets.apps"),
}

// cacheHolds builds the check of one resource of Go type T.
func cacheHolds[T any, P interface {
	*T
	metav1.Object
}](resource string) func(*follow.Shared, *consensus.Store) bool {
	return func(c *follow.Shared, st *consensus.Store) bool {
		f := follow.For[T](c, resource)
		objs, _, _ := st.List(resource, "", "", 0)
		if !f.HasSynced() || len(f.List()) != len(objs) {
			return false
		}
		for _, o := range objs {
			got, ok := f.Get(o.Namespace, o.Name)
			if !ok || P(got).GetResourceVersion() != strconv.FormatUint(o.ResourceVersion, 10) {
				return false
			}
		}
		return true
	}
}

// Synced waits until the node's cache holds what the store holds, for
// every resource followed so far: a test that calls a Reconcile right
// after a write reads that write, as a controller woken by the write's
// event does.
func (e *Env) Synced() {
	e.TB.Helper()
	WaitCacheSynced(e.TB, e.Cache, e.Store)
}

// WaitCacheSynced waits until cache holds what st holds for every
// resource the parts follow.
func WaitCacheSynced(tb testing.TB, cache *follow.Shared, st *consensus.Store) {
	tb.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for i, holds := range cacheChecks {
		for !holds(cache, st) {
			if time.Now().After(deadline) {
				tb.Fatalf("cache check %d: not caught up with the store after 10s", i)
			}
			time.Sleep(time.Millisecond)
		}
	}
}
