package streaming

import (
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"strconv"
	"strings"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime/schema"

	"github.com/shoal-project/shoal/node/apiserver/wire"
)

// podIPHeader carries the pod's address from the peer that received a
// proxy request to the pod's node (over mutual TLS, from a trusted peer).
const podIPHeader = "X-Shoal-Pod-Ip"

var servicesResource = schema.GroupResource{Resource: "services"}

// serveProxy answers pods/NAME[:PORT]/proxy/PATH and
// services/NAME[:PORT]/proxy/PATH: the request, with its method, query and
// body, goes to the pod (for a service, one ready pod it selects) on its
// node, which reaches the pod on its own bridge.
func (p *Proxy) serveProxy(w http.ResponseWriter, r *http.Request, resource, namespace, nameAndPort, rest string) {
	name, port := splitNamePort(nameAndPort)
	var pod *corev1.Pod
	var targetPort string
	var err error
	switch resource {
	case "pods":
		pod, err = p.pod(namespace, name)
		targetPort = port
	case "services":
		pod, targetPort, err = p.servicePod(namespace, name, port)
	default:
		err = apierrors.NewNotFound(schema.GroupResource{Resource: resource}, name)
	}
	if err != nil {
		wire.WriteStatus(w, err)
		return
	}
	portNum, err := resolvePort(pod, targetPort)
	if err != nil {
		wire.WriteStatus(w, err)
		return
	}
	if pod.Status.PodIP == "" || pod.Spec.NodeName == "" {
		wire.WriteStatus(w, apierrors.NewServiceUnavailable(fmt.Sprintf("pod %s has no address yet", pod.Name)))
		return
	}
	path := NodePathPrefix + url.PathEscape(namespace) + "/" + url.PathEscape(pod.Name) + "/proxy/" + strconv.Itoa(portNum) + "/" + rest
	r2 := r.Clone(r.Context())
	r2.Header.Set(podIPHeader, pod.Status.PodIP)
	if pod.Spec.NodeName == p.cfg.Local {
		r2.URL.Path, r2.URL.RawPath = path, ""
		r2.RequestURI = r2.URL.RequestURI()
		p.cfg.LocalHandler.ServeHTTP(w, r2)
		return
	}
	base, ok := p.cfg.NodeAddr(pod.Spec.NodeName)
	if !ok {
		wire.WriteStatus(w, apierrors.NewServiceUnavailable(fmt.Sprintf("node %q of pod %s is not reachable", pod.Spec.NodeName, pod.Name)))
		return
	}
	target, err := url.Parse(strings.TrimSuffix(base, "/") + path)
	if err != nil {
		wire.WriteStatus(w, apierrors.NewInternalError(err))
		return
	}
	target.RawQuery = r.URL.RawQuery
	p.rp.ServeHTTP(w, r2.WithContext(withTarget(r2.Context(), target)))
}

// splitNamePort reads NAME, NAME:PORT or SCHEME:NAME:PORT.
func splitNamePort(s string) (name, port string) {
	parts := strings.Split(s, ":")
	switch len(parts) {
	case 2:
		return parts[0], parts[1]
	case 3:
		return parts[1], parts[2]
	}
	return s, ""
}

// resolvePort turns a port number or name into the pod's port number; no
// port means the pod's first declared port, else 80.
func resolvePort(pod *corev1.Pod, port string) (int, error) {
	if n, err := strconv.Atoi(port); err == nil && n > 0 && n < 65536 {
		return n, nil
	}
	for _, c := range pod.Spec.Containers {
		for _, cp := range c.Ports {
			if port == "" || cp.Name == port {
				return int(cp.ContainerPort), nil
			}
		}
	}
	if port == "" {
		return 80, nil
	}
	return 0, apierrors.NewBadRequest(fmt.Sprintf("no port named %q in pod %s", port, pod.Name))
}

// servicePod picks a ready pod the service selects, and the target port
// that the service port (by number or name; empty: the first) maps to.
func (p *Proxy) servicePod(namespace, name, port string) (*corev1.Pod, string, error) {
	obj, err := p.cfg.Store.Get("services", namespace, name)
	if err != nil {
		return nil, "", apierrors.NewNotFound(servicesResource, name)
	}
	var svc corev1.Service
	if err := json.Unmarshal(obj.Raw, &svc); err != nil {
		return nil, "", apierrors.NewInternalError(err)
	}
	if len(svc.Spec.Ports) == 0 || len(svc.Spec.Selector) == 0 {
		return nil, "", apierrors.NewServiceUnavailable(fmt.Sprintf("no endpoints available for service %q", name))
	}
	sp := svc.Spec.Ports[0]
	if port != "" {
		found := false
		for _, cand := range svc.Spec.Ports {
			if cand.Name == port || strconv.Itoa(int(cand.Port)) == port {
				sp, found = cand, true
			}
		}
		if !found {
			return nil, "", apierrors.NewServiceUnavailable(fmt.Sprintf("no endpoints available for service %q", nameWithPort(name, port)))
		}
	}
	target := sp.TargetPort.String()
	if sp.TargetPort.IntVal == 0 && sp.TargetPort.StrVal == "" {
		target = strconv.Itoa(int(sp.Port))
	}
	sel := labels.SelectorFromSet(svc.Spec.Selector)
	pods, _, _ := p.cfg.Store.List("pods", namespace, "", 0)
	for _, o := range pods {
		if !sel.Matches(labels.Set(o.Labels)) {
			continue
		}
		var pod corev1.Pod
		if json.Unmarshal(o.Raw, &pod) != nil || pod.DeletionTimestamp != nil || pod.Status.PodIP == "" {
			continue
		}
		for _, c := range pod.Status.Conditions {
			if c.Type == corev1.PodReady && c.Status == corev1.ConditionTrue {
				return &pod, target, nil
			}
		}
	}
	return nil, "", apierrors.NewServiceUnavailable(fmt.Sprintf("no endpoints available for service %q", name))
}

func nameWithPort(name, port string) string { return name + ":" + port }

// serveNodeProxy is the node's end: it forwards to the pod's address on
// this node's pod network.
func (s *NodeServer) serveNodeProxy(w http.ResponseWriter, r *http.Request) {
	ip := net.ParseIP(r.Header.Get(podIPHeader))
	port, err := strconv.Atoi(r.PathValue("port"))
	if ip == nil || err != nil {
		wire.WriteStatus(w, apierrors.NewBadRequest("proxy: the pod's address and port are required"))
		return
	}
	target := &url.URL{Scheme: "http", Host: net.JoinHostPort(ip.String(), strconv.Itoa(port))}
	rp := &httputil.ReverseProxy{
		Rewrite: func(pr *httputil.ProxyRequest) {
			pr.Out.URL.Scheme, pr.Out.URL.Host = target.Scheme, target.Host
			pr.Out.URL.Path, pr.Out.URL.RawPath = "/"+r.PathValue("rest"), ""
			pr.Out.URL.RawQuery = r.URL.RawQuery
			pr.Out.Host = target.Host
			pr.Out.Header.Del(podIPHeader)
			pr.Out.Header.Del("Authorization")
		},
		FlushInterval: -1,
		ErrorHandler: func(w http.ResponseWriter, r *http.Request, err error) {
			wire.WriteStatus(w, apierrors.NewServiceUnavailable(fmt.Sprintf("error trying to reach service: %v", err)))
		},
	}
	rp.ServeHTTP(w, r)
}
