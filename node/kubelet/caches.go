package kubelet

import (
	"context"
	"fmt"
	"strconv"
	"time"

	corev1 "k8s.io/api/core/v1"

	"github.com/shoal-project/shoal/node/follow"
)

// caches are the kubelet's views of the node's shared cache: every object
// is decoded once by the follow layer, whoever reads it. Cached objects are
// shared with the node's other parts: the kubelet reads them and copies a
// pod before a worker keeps it.
type caches struct {
	pods       *follow.Follower[corev1.Pod] // indexed by node
	configMaps *follow.Follower[corev1.ConfigMap]
	secrets    *follow.Follower[corev1.Secret]
	services   *follow.Follower[corev1.Service] // indexed by namespace, for the env
	nodes      *follow.Follower[corev1.Node]
}

func newCaches(shared *follow.Shared) caches {
	c := caches{
		pods:       follow.For[corev1.Pod](shared, "pods"),
		configMaps: follow.For[corev1.ConfigMap](shared, "configmaps"),
		secrets:    follow.For[corev1.Secret](shared, "secrets"),
		services:   follow.For[corev1.Service](shared, "services"),
		nodes:      follow.For[corev1.Node](shared, "nodes"),
	}
	c.pods.AddIndex(follow.IndexPodsByNode, follow.PodsByNode)
	c.services.AddIndex(follow.IndexByNamespace, follow.ByNamespace[corev1.Service])
	return c
}

// waitReady waits until every cache holds its first list, or ctx ends
// (false).
func (c caches) waitReady(ctx context.Context) bool {
	return follow.WaitReady(ctx, c.pods, c.configMaps, c.secrets, c.services, c.nodes)
}

// storedPod returns a copy of the cached pod, for a worker to keep and
// change; nil when it does not exist.
func (k *Kubelet) storedPod(namespace, name string) *corev1.Pod {
	p, ok := k.caches.pods.Get(namespace, name)
	if !ok {
		return nil
	}
	return p.DeepCopy()
}

// node returns this node's cached Node object, to read only; nil when it
// does not exist yet.
func (k *Kubelet) node() *corev1.Node {
	n, _ := k.caches.nodes.Get("", k.cfg.NodeName)
	return n
}

// hostIP is the node's InternalIP (else its ExternalIP).
func (k *Kubelet) hostIP() string {
	n := k.node()
	if n == nil {
		return ""
	}
	for _, a := range n.Status.Addresses {
		if a.Type == corev1.NodeInternalIP {
			return a.Address
		}
	}
	for _, a := range n.Status.Addresses {
		if a.Type == corev1.NodeExternalIP {
			return a.Address
		}
	}
	return ""
}

// objects reads configmaps and secrets from the cache.
func (k *Kubelet) objects() objects { return cacheObjects(k.caches) }

// cacheObjects reads configmaps and secrets from the cache. The objects it
// returns are shared: env and volumes only read them.
type cacheObjects caches

var _ objects = cacheObjects{}

// notFoundError words a missing object as the kubelet's managers do
// (`configmap "x" not found`) and matches errNotFound.
type notFoundError struct{ kind, name string }

func (e *notFoundError) Error() string { return fmt.Sprintf("%s %q not found", e.kind, e.name) }
func (e *notFoundError) Unwrap() error { return errNotFound }

func (c cacheObjects) configMap(namespace, name string) (*corev1.ConfigMap, error) {
	cm, ok := c.configMaps.Get(namespace, name)
	if !ok {
		return nil, &notFoundError{kind: "configmap", name: name}
	}
	return cm, nil
}

func (c cacheObjects) secret(namespace, name string) (*corev1.Secret, error) {
	s, ok := c.secrets.Get(namespace, name)
	if !ok {
		return nil, &notFoundError{kind: "secret", name: name}
	}
	return s, nil
}

// holdsBefore waits (up to a second) until the caches of what a pod refers
// to hold every object written before the pod at its resourceVersion. The
// caches are fed by separate watches, so a ConfigMap created just before
// its pod could otherwise be missing from one for a moment: a mount that
// fails, a Service's variables left out of the environment.
func (c *caches) holdsBefore(ctx context.Context, pod *corev1.Pod) {
	rv, _ := strconv.ParseUint(pod.ResourceVersion, 10, 64)
	follow.WaitHolds(ctx, rv, time.Second, c.configMaps, c.secrets, c.services)
}

// newerThan reports whether resourceVersion a is after b. Store
// resourceVersions are raft indexes; one that does not parse is never
// newer.
func newerThan(a, b string) bool {
	x, errA := strconv.ParseUint(a, 10, 64)
	y, errB := strconv.ParseUint(b, 10, 64)
	return errA == nil && errB == nil && x > y
}
