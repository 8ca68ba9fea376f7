package apiserver

import (
	"errors"
	"net/http"
	"slices"
	"strconv"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/shoal-project/shoal/consensus"
	"github.com/shoal-project/shoal/node/apiserver/wire"
)

// Finalizers the garbage collector understands, as in Kubernetes.
const (
	FinalizerOrphan     = metav1.FinalizerOrphanDependents
	FinalizerForeground = metav1.FinalizerDeleteDependents
	// FinalizerNamespace holds a namespace until its contents are gone.
	FinalizerNamespace = "kubernetes"
)

// deleteOptions reads DeleteOptions from the body or the query.
func deleteOptions(r *http.Request) (*metav1.DeleteOptions, error) {
	opts := &metav1.DeleteOptions{}
	body, err := readBody(r)
	if err != nil {
		return nil, err
	}
	if len(body) > 0 {
		if err := decodeInto(r, body, opts); err != nil {
			return nil, err
		}
	}
	qv := r.URL.Query()
	if p := qv.Get("propagationPolicy"); p != "" {
		pp := metav1.DeletionPropagation(p)
		opts.PropagationPolicy = &pp
	}
	if g := qv.Get("gracePeriodSeconds"); g != "" {
		n, err := strconv.ParseInt(g, 10, 64)
		if err != nil {
			return nil, badRequest("invalid gracePeriodSeconds %q", g)
		}
		opts.GracePeriodSeconds = &n
	}
	if opts.PropagationPolicy != nil {
		switch *opts.PropagationPolicy {
		case metav1.DeletePropagationBackground, metav1.DeletePropagationForeground, metav1.DeletePropagationOrphan:
		default:
			return nil, badRequest("propagationPolicy: Unsupported value: %q: supported values: \"Foreground\", \"Background\", \"Orphan\"", *opts.PropagationPolicy)
		}
	}
	if opts.OrphanDependents != nil && *opts.OrphanDependents {
		pp := metav1.DeletePropagationOrphan
		opts.PropagationPolicy = &pp
	}
	return opts, nil
}

// serveDelete answers DELETE on one object.
func (s *Server) serveDelete(w http.ResponseWriter, r *http.Request, q *request) error {
	opts, err := deleteOptions(r)
	if err != nil {
		return err
	}
	obj, gone, err := s.delete(r, q, q.name, opts)
	if err != nil {
		return err
	}
	// As kube-apiserver: 200 even when the object is only marked for
	// deletion, 202 only when the client asked orphanDependents=false.
	code := http.StatusOK
	if !gone && opts.OrphanDependents != nil && !*opts.OrphanDependents {
		code = http.StatusAccepted
	}
	s.writeObject(w, r, q.kind, code, obj.Raw, nil)
	return nil
}

// delete removes (or marks for deletion) one object. gone says whether the
// object no longer exists.
func (s *Server) delete(r *http.Request, q *request, name string, opts *metav1.DeleteOptions) (*consensus.Object, bool, error) {
	k := q.kind
	gr := k.GroupResource()
	current, err := s.getForWrite(r.Context(), q, name, 0)
	if err != nil {
		return nil, false, err
	}
	cmd := &consensus.Command{
		Op: consensus.OpDelete, Resource: k.StoreResource(), Namespace: q.namespace, Name: name,
		Time: s.now().UTC().Format(time.RFC3339),
	}
	if p := opts.Preconditions; p != nil {
		if p.UID != nil {
			cmd.UID = string(*p.UID)
		}
		if p.ResourceVersion != nil {
			n, err := strconv.ParseUint(*p.ResourceVersion, 10, 64)
			if err != nil {
				return nil, false, badRequest("invalid precondition resourceVersion %q", *p.ResourceVersion)
			}
			cmd.ResourceVersion = n
		}
	}
	typed, err := decodeStored(k, current.Raw)
	if err != nil {
		return nil, false, internalError(err)
	}
	switch gr.String() {
	case "pods":
		pod := typed.(*corev1.Pod)
		grace := int64(corev1.DefaultTerminationGracePeriodSeconds)
		if pod.Spec.TerminationGracePeriodSeconds != nil {
			grace = *pod.Spec.TerminationGracePeriodSeconds
		}
		if opts.GracePeriodSeconds != nil {
			grace = *opts.GracePeriodSeconds
		}
		// A pod that runs on a node is stopped by its kubelet, which removes
		// the object once the containers are gone.
		if pod.Spec.NodeName != "" && grace > 0 && pod.Status.Phase != corev1.PodSucceeded && pod.Status.Phase != corev1.PodFailed {
			cmd.Graceful = true
			cmd.GracePeriodSeconds = &grace
		}
	case "namespaces":
		// The namespace controller deletes the contents, then removes this
		// finalizer, which removes the namespace.
		if !isDryRun(r) {
			if current, err = s.addFinalizer(r, q, name, current, FinalizerNamespace); err != nil {
				return nil, false, err
			}
			cmd.ResourceVersion = 0
		}
	}
	if opts.PropagationPolicy != nil && !isDryRun(r) {
		fin := ""
		switch *opts.PropagationPolicy {
		case metav1.DeletePropagationOrphan:
			fin = FinalizerOrphan
		case metav1.DeletePropagationForeground:
			fin = FinalizerForeground
		}
		if fin != "" {
			current, err = s.addFinalizer(r, q, name, current, fin)
			if err != nil {
				return nil, false, err
			}
			if cmd.ResourceVersion != 0 {
				cmd.ResourceVersion = current.ResourceVersion
			}
		}
	}
	if isDryRun(r) {
		return current, false, nil
	}
	stored, err := s.prop.Propose(r.Context(), cmd)
	if err != nil {
		return nil, false, storeError(err, gr, name)
	}
	if stored, err = fromStore(k, stored); err != nil {
		return nil, false, internalError(err)
	}
	if err := s.readYourWrites(r.Context()); err != nil {
		return nil, false, err
	}
	_, err = s.store.Get(k.StoreResource(), q.namespace, name)
	return stored, errors.Is(err, consensus.ErrNotFound), nil
}

// addFinalizer records fin on the object before it is marked for deletion,
// so the garbage collector knows how to treat its dependents. A namespace
// also turns Terminating here, as kube-apiserver does when it sets the
// deletionTimestamp.
func (s *Server) addFinalizer(r *http.Request, q *request, name string, current *consensus.Object, fin string) (*consensus.Object, error) {
	k := q.kind
	typed, err := decodeStored(k, current.Raw)
	if err != nil {
		return nil, internalError(err)
	}
	meta := objectMeta(typed)
	changed := false
	if !slices.Contains(meta.Finalizers, fin) {
		meta.Finalizers = append(meta.Finalizers, fin)
		changed = true
	}
	if ns, ok := typed.(*corev1.Namespace); ok && ns.Status.Phase != corev1.NamespaceTerminating {
		ns.Status.Phase = corev1.NamespaceTerminating
		changed = true
	}
	if !changed {
		return current, nil
	}
	raw, err := toStore(k, typed)
	if err != nil {
		return nil, internalError(err)
	}
	// typed carries the stored status, and the resourceVersion precondition
	// keeps it current, so the status is written as is.
	stored, err := s.prop.Propose(r.Context(), &consensus.Command{
		Op: consensus.OpUpdate, Resource: k.StoreResource(), Namespace: q.namespace, Name: name,
		Object: raw, ResourceVersion: current.ResourceVersion,
	})
	if err != nil {
		return nil, storeError(err, k.GroupResource(), name)
	}
	if stored, err = fromStore(k, stored); err != nil {
		return nil, internalError(err)
	}
	return stored, nil
}

// serveDeleteCollection answers DELETE on a collection: every object that
// passes the selectors is deleted.
func (s *Server) serveDeleteCollection(w http.ResponseWriter, r *http.Request, q *request) error {
	f, err := parseFilter(r, q.kind)
	if err != nil {
		return err
	}
	opts, err := deleteOptions(r)
	if err != nil {
		return err
	}
	if err := s.readConsistency(r.Context(), r); err != nil {
		return err
	}
	items, _, _, err := s.list(q, f, "", 0)
	if err != nil {
		return err
	}
	for _, it := range items {
		qq := *q
		qq.namespace = it.obj.Namespace
		if _, _, err := s.delete(r, &qq, it.obj.Name, opts); err != nil && !isNotFound(err) {
			return err
		}
	}
	wire.WriteJSON(w, http.StatusOK, successStatus())
	return nil
}
