package apiserver

import (
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/runtime"

	"github.com/shoal-project/shoal/node/apiserver/servicealloc"
)

// Services get their cluster IPs and node ports from servicealloc, as store
// claims written with the Service itself.

// PortRange is an inclusive range of ports (Config.NodePortRange).
type PortRange = servicealloc.PortRange

// allocate assigns the cluster IPs and node ports obj (a Service) lacks,
// and checks the ones it asks for; old is the stored object on update.
// Other kinds need nothing: it returns nil, whose methods do nothing.
func (s *Server) allocate(obj, old runtime.Object) (*servicealloc.Allocation, error) {
	svc, ok := obj.(*corev1.Service)
	if !ok {
		return nil, nil
	}
	oldSvc, _ := old.(*corev1.Service)
	return s.services.Allocate(svc, oldSvc)
}
