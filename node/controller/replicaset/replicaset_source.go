package replicaset

import (
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"

	"github.com/shoal-project/shoal/node/follow"
)

// replicaSource reads the controllers of one replica kind from the node's
// cache, seen as ReplicaSets: the ReplicaSet and the ReplicationController
// managers share everything else.
type replicaSource interface {
	Ready() <-chan struct{}
	// get returns namespace/name as a ReplicaSet and as the stored type,
	// both copies of the cached object (a sync may change them).
	get(ns, name string) (rs *appsv1.ReplicaSet, orig runtime.Object, ok bool, err error)
	// keys lists every controller as namespace/name.
	keys() []string
	// ownersIn returns the controllers of ns with a valid selector,
	// reusing the entries of cache made at the same resourceVersion.
	ownersIn(ns string, cache *ownerCache) []replicaOwner
	// watch calls fn with the key of every controller that changes, and
	// deleted for one that is gone; remove stops it.
	watch(fn func(key string, deleted bool)) (remove func())
}

// cachedReplicas is a replicaSource over the follower of Go type T.
type cachedReplicas[T any, P interface {
	*T
	metav1.Object
}] struct {
	f *follow.Follower[T]
	// toRS converts a cached object into copies: it must not change it.
	toRS func(*T) (*appsv1.ReplicaSet, runtime.Object, error)
}

func newCachedReplicas[T any, P interface {
	*T
	metav1.Object
}](c *follow.Shared, resource string, toRS func(*T) (*appsv1.ReplicaSet, runtime.Object, error)) *cachedReplicas[T, P] {
	f := follow.For[T](c, resource)
	f.AddIndex(follow.IndexByNamespace, follow.ByNamespace[T, P])
	return &cachedReplicas[T, P]{f: f, toRS: toRS}
}

func (s *cachedReplicas[T, P]) Ready() <-chan struct{} { return s.f.Ready() }

func (s *cachedReplicas[T, P]) get(ns, name string) (*appsv1.ReplicaSet, runtime.Object, bool, error) {
	obj, ok := s.f.Get(ns, name)
	if !ok {
		return nil, nil, false, nil
	}
	rs, orig, err := s.toRS(obj)
	return rs, orig, true, err
}

func (s *cachedReplicas[T, P]) keys() []string {
	objs := s.f.List()
	out := make([]string, len(objs))
	for i, o := range objs {
		out[i] = follow.Key(P(o).GetNamespace(), P(o).GetName())
	}
	return out
}

func (s *cachedReplicas[T, P]) ownersIn(ns string, c *ownerCache) []replicaOwner {
	objs := s.f.ByIndex(follow.IndexByNamespace, ns)
	out := make([]replicaOwner, 0, len(objs))
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, o := range objs {
		meta := P(o)
		key := follow.Key(meta.GetNamespace(), meta.GetName())
		if e, ok := c.m[key]; ok && e.rv == meta.GetResourceVersion() {
			out = append(out, e)
			continue
		}
		rs, _, err := s.toRS(o)
		if err != nil {
			continue
		}
		sel, err := metav1.LabelSelectorAsSelector(rs.Spec.Selector)
		if err != nil {
			continue
		}
		e := replicaOwner{rv: meta.GetResourceVersion(), name: meta.GetName(), uid: rs.UID, selector: sel}
		if p := controllerRef(&rs.ObjectMeta); p != nil {
			e.parent = p.UID
		}
		c.m[key] = e
		out = append(out, e)
	}
	return out
}

func (s *cachedReplicas[T, P]) watch(fn func(key string, deleted bool)) (remove func()) {
	key := func(o *T) string { return follow.Key(P(o).GetNamespace(), P(o).GetName()) }
	return s.f.AddHandler(follow.Handler[T]{
		Add:    func(o *T) { fn(key(o), false) },
		Update: func(_, o *T) { fn(key(o), false) },
		Delete: func(o *T) { fn(key(o), true) },
	})
}

// replicaSetsFrom and replicationControllersFrom are the sources of the
// two replica kinds.
func replicaSetsFrom(c *follow.Shared) replicaSource {
	return newCachedReplicas[appsv1.ReplicaSet](c, "replicasets.apps", func(rs *appsv1.ReplicaSet) (*appsv1.ReplicaSet, runtime.Object, error) {
		cp := rs.DeepCopy()
		return cp, cp, nil
	})
}

func replicationControllersFrom(c *follow.Shared) replicaSource {
	return newCachedReplicas[corev1.ReplicationController](c, "replicationcontrollers", func(rc *corev1.ReplicationController) (*appsv1.ReplicaSet, runtime.Object, error) {
		cp := rc.DeepCopy()
		rs, err := replicaSetFromRC(cp)
		return rs, cp, err
	})
}
