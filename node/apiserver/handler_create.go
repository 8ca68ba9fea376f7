package apiserver

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"strconv"
	"time"

	"github.com/google/uuid"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	utilrand "k8s.io/apimachinery/pkg/util/rand"
	"k8s.io/apimachinery/pkg/util/validation/field"

	"github.com/shoal-project/shoal/consensus"
	"github.com/shoal-project/shoal/node/apiserver/registry"
)

// serveCreate answers POST on a collection.
func (s *Server) serveCreate(w http.ResponseWriter, r *http.Request, q *request) error {
	body, err := readBody(r)
	if err != nil {
		return err
	}
	obj, err := decodeObject(r, q.kind, body)
	if err != nil {
		return err
	}
	created, err := s.create(r.Context(), q, obj, isDryRun(r))
	if err != nil {
		return err
	}
	// obj is what was stored, typed: the answer need not decode it again.
	typed := obj
	if q.kind.StoredAs != nil || isDryRun(r) {
		typed = nil
	}
	s.writeObject(w, r, q.kind, http.StatusCreated, created, typed)
	return nil
}

// create defaults, admits, validates, allocates and stores obj, retrying a
// generated name that happens to be taken. It returns the stored JSON (with
// dryRun, what would be stored). It is the one create path: the API's POST
// and the server's own objects (the kubernetes Service) both go through it,
// as kube-apiserver creates its own objects with a loopback client.
func (s *Server) create(ctx context.Context, q *request, obj runtime.Object, dryRun bool) ([]byte, error) {
	k := q.kind
	meta := objectMeta(obj)
	if k.Namespaced {
		if meta.Namespace == "" {
			meta.Namespace = q.namespace
		}
		if q.namespace != "" && meta.Namespace != q.namespace {
			return nil, badRequest("the namespace of the provided object does not match the namespace sent on the request")
		}
	} else {
		meta.Namespace = ""
	}
	// Server-owned fields are ignored on create, as Kubernetes does.
	meta.UID = ""
	meta.ResourceVersion = ""
	meta.Generation = 0
	meta.CreationTimestamp = metav1.Time{}
	meta.DeletionTimestamp = nil
	meta.DeletionGracePeriodSeconds = nil
	meta.ManagedFields = nil
	generated := meta.Name == "" && meta.GenerateName != ""
	if generated {
		meta.Name = generateName(meta.GenerateName)
	}
	if k.Default != nil {
		k.Default(obj)
	}
	if err := s.admit(obj); err != nil {
		return nil, err
	}
	if k.PrepareForCreate != nil {
		k.PrepareForCreate(obj)
	}
	if errs := s.validate(k, obj, nil); len(errs) > 0 {
		return nil, invalid(k.GVK().GroupKind(), meta.Name, errs)
	}
	if k.Namespaced {
		if err := s.checkNamespace(ctx, meta.Namespace); err != nil {
			return nil, err
		}
	}
	// Cluster IPs and node ports, claimed in the store with the object.
	alloc, err := s.allocate(obj, nil)
	if err != nil {
		return nil, err
	}
	if dryRun {
		// As kube-apiserver: what would be stored, with the server-owned
		// fields the store would fill (uid, creationTimestamp, generation)
		// but no resourceVersion.
		meta.UID = types.UID(uuid.NewString())
		meta.CreationTimestamp = metav1.NewTime(s.now().UTC().Truncate(time.Second))
		meta.Generation = 1
		return encodeObject(k, obj)
	}
	for attempt := 0; ; attempt++ {
		raw, err := toStore(k, obj)
		if err != nil {
			return nil, internalError(err)
		}
		created := metav1.NewTime(s.now().UTC().Truncate(time.Second))
		cmd := &consensus.Command{
			Op: consensus.OpCreate, Resource: k.StoreResource(),
			Namespace: meta.Namespace, Name: meta.Name, Object: raw,
			UID: uuid.NewString(), Time: created.Format(time.RFC3339),
		}
		alloc.SetClaims(cmd)
		stored, err := s.prop.Propose(ctx, cmd)
		if generated && errors.Is(err, consensus.ErrAlreadyExists) && attempt < 8 {
			meta.Name = generateName(meta.GenerateName)
			continue
		}
		retry, err := alloc.RetryClaims(err, attempt, k.GroupResource())
		if retry {
			continue
		}
		if err != nil {
			return nil, storeError(err, k.GroupResource(), meta.Name)
		}
		// obj becomes what was stored, as the store stamped it
		// (consensus.OpCreate), for an answer built from it (writeObject).
		meta.UID = types.UID(stored.UID)
		meta.ResourceVersion = strconv.FormatUint(stored.ResourceVersion, 10)
		meta.CreationTimestamp = created
		meta.Generation = 1
		if stored, err = fromStore(k, stored); err != nil {
			return nil, internalError(err)
		}
		return stored.Raw, nil
	}
}

// validate runs the kind's validation; name rules come from the kind too.
func (s *Server) validate(k *registry.Kind, obj, old runtime.Object) field.ErrorList {
	if k.Validate == nil {
		return nil
	}
	return k.Validate(obj, old)
}

// checkNamespace refuses writes into a namespace that does not exist or is
// being deleted, in Kubernetes' words.
func (s *Server) checkNamespace(ctx context.Context, ns string) error {
	obj, err := s.store.Get("namespaces", "", ns)
	if errors.Is(err, consensus.ErrNotFound) {
		// This replica may not have seen the namespace yet.
		if err := s.prop.ConsistentRead(ctx); err != nil {
			return storeError(err, schema.GroupResource{Resource: "namespaces"}, ns)
		}
		obj, err = s.store.Get("namespaces", "", ns)
	}
	if errors.Is(err, consensus.ErrNotFound) {
		return apierrors.NewNotFound(schema.GroupResource{Resource: "namespaces"}, ns)
	}
	if err != nil {
		return storeError(err, schema.GroupResource{Resource: "namespaces"}, ns)
	}
	if s.isTerminating(obj) {
		return apierrors.NewForbidden(schema.GroupResource{Resource: "namespaces"}, ns,
			errors.New("unable to create new content in namespace "+ns+" because it is being terminated"))
	}
	return nil
}

// namespaceState is what checkNamespace read of one stored Namespace.
type namespaceState struct {
	obj         *consensus.Object
	terminating bool
}

// isTerminating reports whether the stored Namespace ns has a
// deletionTimestamp, decoding it only when it changed: every create in a
// namespace asks.
func (s *Server) isTerminating(ns *consensus.Object) bool {
	if v, ok := s.terminating.Load(ns.Name); ok {
		if st := v.(namespaceState); st.obj == ns {
			return st.terminating
		}
	}
	t := hasDeletionTimestamp(ns.Raw)
	s.terminating.Store(ns.Name, namespaceState{obj: ns, terminating: t})
	return t
}

func generateName(base string) string {
	const maxNameLength = 63
	const randomLength = 5
	if len(base) > maxNameLength-randomLength {
		base = base[:maxNameLength-randomLength]
	}
	return base + utilrand.String(randomLength)
}

func isDryRun(r *http.Request) bool {
	for _, v := range r.URL.Query()["dryRun"] {
		if v == "All" {
			return true
		}
	}
	return false
}

func objectMeta(obj runtime.Object) *metav1.ObjectMeta {
	return obj.(metav1.ObjectMetaAccessor).GetObjectMeta().(*metav1.ObjectMeta)
}

// hasDeletionTimestamp peeks at metadata.deletionTimestamp without decoding
// the whole object.
func hasDeletionTimestamp(raw []byte) bool {
	var m struct {
		Metadata struct {
			DeletionTimestamp *string `json:"deletionTimestamp"`
		} `json:"metadata"`
	}
	if err := json.Unmarshal(raw, &m); err != nil {
		return false
	}
	return m.Metadata.DeletionTimestamp != nil
}
