package registry

import (
	"fmt"

	appsv1 "k8s.io/api/apps/v1"
	autoscalingv1 "k8s.io/api/autoscaling/v1"
	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	eventsv1 "k8s.io/api/events/v1"
	networkingv1 "k8s.io/api/networking/v1"
	policyv1 "k8s.io/api/policy/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/runtime/serializer"
	utilruntime "k8s.io/apimachinery/pkg/util/runtime"
)

var (
	scheme = newScheme()
	codecs = serializer.NewCodecFactory(scheme)
)

func newScheme() *runtime.Scheme {
	s := runtime.NewScheme()
	// Unversioned meta types (Status, WatchEvent, ...) under "v1", as
	// client-go's scheme does, plus meta.k8s.io/v1 (Table,
	// PartialObjectMetadata).
	metav1.AddToGroupVersion(s, schema.GroupVersion{Version: "v1"})
	utilruntime.Must(metav1.AddMetaToScheme(s))
	utilruntime.Must(corev1.AddToScheme(s))
	utilruntime.Must(appsv1.AddToScheme(s))
	utilruntime.Must(autoscalingv1.AddToScheme(s))
	utilruntime.Must(policyv1.AddToScheme(s))
	utilruntime.Must(discoveryv1.AddToScheme(s))
	utilruntime.Must(networkingv1.AddToScheme(s))
	utilruntime.Must(coordinationv1.AddToScheme(s))
	utilruntime.Must(eventsv1.AddToScheme(s))
	return s
}

// Scheme returns the scheme with every served kind registered, plus
// autoscaling/v1 Scale, policy/v1 Eviction and the meta.k8s.io/v1 types.
// It is shared: callers must not register more types in it.
func Scheme() *runtime.Scheme { return scheme }

// Codecs returns the codec factory over Scheme (JSON, YAML, protobuf).
func Codecs() serializer.CodecFactory { return codecs }

func errWrongType(obj runtime.Object) error {
	return fmt.Errorf("unexpected object type %T", obj)
}
