package apiserver

import (
	"k8s.io/apimachinery/pkg/runtime"

	"github.com/shoal-project/shoal/consensus"
	"github.com/shoal-project/shoal/node/apiserver/registry"
)

// A kind that is another version of a stored kind (registry.Kind.StoredAs:
// events.k8s.io/v1 Event of core/v1 Event) keeps its objects under the
// stored kind's resource. They are converted where they cross the store:
// every read (get, list, watch) through fromStore, every write through
// toStore, so the handlers in between see only the version the client
// asked for, and both versions see the same objects.

// fromStore returns o as clients of k see it. For most kinds that is o.
func fromStore(k *registry.Kind, o *consensus.Object) (*consensus.Object, error) {
	if o == nil || k.StoredAs == nil {
		return o, nil
	}
	typed, err := decodeStored(k.Stored(), o.Raw)
	if err != nil {
		return nil, err
	}
	raw, err := encodeObject(k, k.StoredAs.FromStored(typed))
	if err != nil {
		return nil, err
	}
	out := *o
	out.Raw = raw
	return &out, nil
}

// toStore encodes obj, an object of k, as the store keeps it.
func toStore(k *registry.Kind, obj runtime.Object) ([]byte, error) {
	if k.StoredAs == nil {
		return encodeObject(k, obj)
	}
	return encodeObject(k.Stored(), k.StoredAs.ToStored(obj))
}

// fromStoreEvent converts both states of a watch event.
func fromStoreEvent(k *registry.Kind, ev consensus.Event) (consensus.Event, error) {
	if k.StoredAs == nil {
		return ev, nil
	}
	var err error
	if ev.Object, err = fromStore(k, ev.Object); err != nil {
		return ev, err
	}
	ev.Prev, err = fromStore(k, ev.Prev)
	return ev, err
}
