package apiserver

import (
	"net/http"

	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"

	"github.com/shoal-project/shoal/consensus"
	"github.com/shoal-project/shoal/node/apiserver/registry"
)

// storedObject is a stored object and, once needed, its decoded form.
type storedObject struct {
	obj   *consensus.Object
	typed runtime.Object
}

func (so *storedObject) decode(k *registry.Kind) (runtime.Object, error) {
	if so.typed == nil {
		t, err := decodeStored(k, so.obj.Raw)
		if err != nil {
			return nil, err
		}
		so.typed = t
	}
	return so.typed, nil
}

// filter is a request's label and field selectors.
type filter struct {
	kind   *registry.Kind
	labels labels.Selector
	fields fields.Selector
}

// parseFilter reads labelSelector and fieldSelector, refusing field labels
// the kind does not support, as Kubernetes does.
func parseFilter(r *http.Request, k *registry.Kind) (*filter, error) {
	f := &filter{kind: k, labels: labels.Everything(), fields: fields.Everything()}
	qv := r.URL.Query()
	if ls := qv.Get("labelSelector"); ls != "" {
		sel, err := labels.Parse(ls)
		if err != nil {
			return nil, badRequest("unable to parse requirement: %v", err)
		}
		f.labels = sel
	}
	if fs := qv.Get("fieldSelector"); fs != "" {
		sel, err := fields.ParseSelector(fs)
		if err != nil {
			return nil, badRequest("invalid field selector: %v", err)
		}
		supported := k.Fields(k.New())
		for _, req := range sel.Requirements() {
			if _, ok := supported[req.Field]; !ok {
				return nil, badRequest("field label not supported: %s", req.Field)
			}
		}
		f.fields = sel
	}
	return f, nil
}

// matches says whether so passes the filter.
func (f *filter) matches(so *storedObject) bool {
	if !f.labels.Empty() && !f.labels.Matches(labels.Set(so.obj.Labels)) {
		return false
	}
	if f.fields.Empty() {
		return true
	}
	t, err := so.decode(f.kind)
	if err != nil {
		return false
	}
	return f.fields.Matches(f.kind.Fields(t))
}

// singleName is the name an exact metadata.name=X selector asks for.
func (f *filter) singleName() (string, bool) {
	return f.fields.RequiresExactMatch("metadata.name")
}
