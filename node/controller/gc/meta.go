package gc

import (
	"encoding/json"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"

	"github.com/shoal-project/shoal/consensus"
	"github.com/shoal-project/shoal/node/apiserver/registry"
)

// metaOf decodes only the metadata of a stored object.
func metaOf(o *consensus.Object) (*metav1.ObjectMeta, error) {
	var m struct {
		Metadata metav1.ObjectMeta `json:"metadata"`
	}
	if err := json.Unmarshal(o.Raw, &m); err != nil {
		return nil, err
	}
	return &m.Metadata, nil
}

// kindOf finds the registry kind of a store resource string.
func kindOf(resource string) (*registry.Kind, bool) {
	for _, k := range registry.All() {
		if k.GroupResource().String() == resource {
			return k, true
		}
	}
	return nil, false
}

func gvr(k *registry.Kind) schema.GroupVersionResource {
	return schema.GroupVersionResource{Group: k.Group, Version: k.Version, Resource: k.Resource}
}
