package consensus

import "strings"

// Object is one stored API object as the store holds it. Objects are
// immutable once published: readers may keep and share them; writers build a
// new Object for every change.
type Object struct {
	// Resource is the group-resource string, e.g. "pods" or "deployments.apps".
	Resource string
	// Namespace is empty for cluster-scoped resources.
	Namespace string
	Name      string
	// ResourceVersion is the raft index of the last change to the object.
	ResourceVersion uint64
	// UID is metadata.uid.
	UID string
	// Labels are metadata.labels, decoded once so selectors need not parse Raw.
	Labels map[string]string
	// Raw is the object's JSON with metadata.resourceVersion equal to
	// ResourceVersion (as a decimal string).
	Raw []byte
}

// Key is the object's store key: resource/namespace/name.
func (o *Object) Key() string { return ObjectKey(o.Resource, o.Namespace, o.Name) }

// ObjectKey builds the store key of an object. Cluster-scoped objects have an
// empty namespace segment.
func ObjectKey(resource, namespace, name string) string {
	var b strings.Builder
	b.Grow(len(resource) + len(namespace) + len(name) + 2)
	b.WriteString(resource)
	b.WriteByte('/')
	b.WriteString(namespace)
	b.WriteByte('/')
	b.WriteString(name)
	return b.String()
}
