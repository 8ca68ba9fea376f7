// Package wire holds what the API server and the handlers it mounts share
// on the wire: the Status and JSON writers, the Accept negotiation for
// Tables, kube-apiserver's answer to an unknown path, and the two handler
// contracts the API server takes from other packages (SubresourceHandler
// for pods/log, pods/exec and the proxies; APIService for group-versions
// such as metrics.k8s.io).
//
// It is a leaf: it must never import node/apiserver, so that node/streaming
// and node/resourcemetrics, which implement those contracts, need not pull
// in the whole API server (arch_test.go checks this).
//
//	func (h handler) ServeSubresource(w http.ResponseWriter, r *http.Request, resource, ns, name, rest string) {
//		if !found {
//			wire.WriteStatus(w, apierrors.NewNotFound(podsResource, name))
//			return
//		}
//		wire.WriteJSON(w, http.StatusOK, obj)
//	}
package wire
