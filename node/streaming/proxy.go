package streaming

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httputil"
	"net/url"
	"strings"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"

	"github.com/shoal-project/shoal/consensus"
	"github.com/shoal-project/shoal/node/apiserver/wire"
)

// ProxyConfig holds what a Proxy uses; every field is required unless its
// comment says otherwise.
type ProxyConfig struct {
	// Store is read for the pod (its node and containers).
	Store *consensus.Store
	// NodeAddr returns the API base URL of a node ("https://10.0.0.2:6443"),
	// whose NodeServer is mounted at NodePathPrefix; ok is false when the
	// node is unknown.
	NodeAddr func(node string) (apiBaseURL string, ok bool)
	// Local is this node's name; LocalHandler (the NodeServer) serves the
	// pods bound to it, without a network hop.
	Local        string
	LocalHandler http.Handler
	// Transport reaches other nodes' APIs (mutual TLS). Upgrades (exec,
	// attach, port-forward over SPDY or WebSocket) need HTTP/1.1: an
	// *http.Transport given here is used as a copy that never negotiates
	// HTTP/2.
	Transport http.RoundTripper
	Logger    *slog.Logger
}

// Proxy serves pods/log, pods/exec and pods/attach in the API server, here
// or on the pod's node.
type Proxy struct {
	cfg ProxyConfig
	log *slog.Logger
	rp  *httputil.ReverseProxy
}

// NewProxy assembles the proxy; it does no I/O.
func NewProxy(cfg ProxyConfig) *Proxy {
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if t, ok := cfg.Transport.(*http.Transport); ok {
		cfg.Transport = http1Only(t)
	}
	p := &Proxy{cfg: cfg, log: cfg.Logger}
	p.rp = &httputil.ReverseProxy{
		Rewrite:   p.rewrite,
		Transport: cfg.Transport,
		// Flush every write: `logs -f` prints each line as it comes.
		FlushInterval: -1,
		ErrorLog:      slog.NewLogLogger(cfg.Logger.Handler(), slog.LevelDebug),
		ErrorHandler: func(w http.ResponseWriter, r *http.Request, err error) {
			p.log.Debug("proxy to node failed", "url", r.URL.String(), "error", err)
			wire.WriteStatus(w, apierrors.NewServiceUnavailable(fmt.Sprintf("error dialing backend: %v", err)))
		},
	}
	return p
}

// Handlers are the proxy's subresource handlers by name, for
// apiserver.Config.Subresources.
func (p *Proxy) Handlers() map[string]wire.SubresourceHandler {
	return map[string]wire.SubresourceHandler{
		"log":    subresource{p, "log"},
		"exec":   subresource{p, "exec"},
		"attach": subresource{p, "attach"},
		"proxy":  subresource{p, "proxy"},
		// portforward.go
		"portforward": portForwardHandler{p},
	}
}

// subresource binds a subresource name to the proxy.
type subresource struct {
	p    *Proxy
	name string
}

var _ wire.SubresourceHandler = subresource{}

// ServeSubresource implements wire.SubresourceHandler.
func (s subresource) ServeSubresource(w http.ResponseWriter, r *http.Request, resource, namespace, name, rest string) {
	s.p.serve(w, r, s.name, resource, namespace, name, rest)
}

func (p *Proxy) serve(w http.ResponseWriter, r *http.Request, sub, resource, namespace, name, rest string) {
	if sub == "proxy" {
		p.serveProxy(w, r, resource, namespace, name, rest)
		return
	}
	if resource != "pods" || rest != "" {
		wire.WriteStatus(w, apierrors.NewNotFound(podsResource, name))
		return
	}
	if sub == "attach" {
		wire.WriteStatus(w, apierrors.NewBadRequest("attach is not supported by shoal; use exec"))
		return
	}
	if sub == "log" && r.Method != http.MethodGet || sub == "exec" && r.Method != http.MethodGet && r.Method != http.MethodPost {
		wire.WriteStatus(w, apierrors.NewMethodNotSupported(podsResource, r.Method))
		return
	}
	pod, err := p.pod(namespace, name)
	if err != nil {
		wire.WriteStatus(w, err)
		return
	}
	q := r.URL.Query()
	container, err := podContainer(pod, q.Get("container"))
	if err != nil {
		wire.WriteStatus(w, err)
		return
	}
	q.Set("container", container)
	node := pod.Spec.NodeName
	if node == "" {
		wire.WriteStatus(w, apierrors.NewBadRequest(fmt.Sprintf("pod %s does not have a host assigned", name)))
		return
	}
	path := NodePathPrefix + url.PathEscape(namespace) + "/" + url.PathEscape(name) + "/" + sub

	if node == p.cfg.Local {
		r2 := r.Clone(r.Context())
		r2.URL.Path, r2.URL.RawPath, r2.URL.RawQuery = path, "", q.Encode()
		r2.RequestURI = r2.URL.RequestURI()
		p.cfg.LocalHandler.ServeHTTP(w, r2)
		return
	}
	base, ok := p.cfg.NodeAddr(node)
	if !ok {
		wire.WriteStatus(w, apierrors.NewServiceUnavailable(fmt.Sprintf("node %q of pod %s is not reachable", node, name)))
		return
	}
	target, err := url.Parse(strings.TrimSuffix(base, "/") + path)
	if err != nil {
		wire.WriteStatus(w, apierrors.NewInternalError(fmt.Errorf("node %q address %q: %w", node, base, err)))
		return
	}
	target.RawQuery = q.Encode()
	p.log.Debug("proxying to node", "subresource", sub, "namespace", namespace, "pod", name, "node", node)
	p.rp.ServeHTTP(w, r.WithContext(withTarget(r.Context(), target)))
}

// rewrite points the outgoing request at the node. The client's
// credentials stay here: the node trusts this node's client certificate.
// Upgrade, Connection, Sec-WebSocket-* and X-Stream-Protocol-Version pass
// through (ReverseProxy keeps the upgrade headers of an upgrade request).
func (p *Proxy) rewrite(pr *httputil.ProxyRequest) {
	target := targetFrom(pr.In.Context())
	pr.Out.URL = target
	pr.Out.Host = target.Host
	pr.Out.Header.Del("Authorization")
	pr.Out.Header.Del("Impersonate-User")
	pr.Out.Header.Del("Impersonate-Group")
	pr.SetXForwarded()
}

// pod reads the pod from the local store.
func (p *Proxy) pod(namespace, name string) (*corev1.Pod, error) {
	obj, err := p.cfg.Store.Get("pods", namespace, name)
	if errors.Is(err, consensus.ErrNotFound) {
		return nil, apierrors.NewNotFound(podsResource, name)
	}
	if err != nil {
		return nil, apierrors.NewInternalError(err)
	}
	var pod corev1.Pod
	if err := json.Unmarshal(obj.Raw, &pod); err != nil {
		return nil, apierrors.NewInternalError(fmt.Errorf("decode pod %s/%s: %w", namespace, name, err))
	}
	return &pod, nil
}

// podContainer checks container against the pod, or defaults it when the
// pod has one container, in kube-apiserver's words.
func podContainer(pod *corev1.Pod, container string) (string, error) {
	if container == "" {
		switch len(pod.Spec.Containers) {
		case 1:
			return pod.Spec.Containers[0].Name, nil
		case 0:
			return "", apierrors.NewBadRequest(fmt.Sprintf("a container name must be specified for pod %s", pod.Name))
		}
		msg := fmt.Sprintf("a container name must be specified for pod %s, choose one of: %s", pod.Name, containerNames(pod.Spec.Containers))
		if len(pod.Spec.InitContainers) > 0 {
			msg += fmt.Sprintf(" or one of the init containers: %s", containerNames(pod.Spec.InitContainers))
		}
		return "", apierrors.NewBadRequest(msg)
	}
	for _, list := range [][]corev1.Container{pod.Spec.Containers, pod.Spec.InitContainers} {
		for _, c := range list {
			if c.Name == container {
				return container, nil
			}
		}
	}
	for _, c := range pod.Spec.EphemeralContainers {
		if c.Name == container {
			return container, nil
		}
	}
	return "", apierrors.NewBadRequest(fmt.Sprintf("container %s is not valid for pod %s", container, pod.Name))
}

func containerNames(cs []corev1.Container) []string {
	names := make([]string, len(cs))
	for i, c := range cs {
		names[i] = c.Name
	}
	return names
}

type targetKey struct{}

func withTarget(ctx context.Context, u *url.URL) context.Context {
	return context.WithValue(ctx, targetKey{}, u)
}

func targetFrom(ctx context.Context) *url.URL {
	u, _ := ctx.Value(targetKey{}).(*url.URL)
	return u
}

// http1Only is a copy of t that speaks HTTP/1.1 only. Over HTTP/2 a request
// with an Upgrade header fails ("http2: invalid Upgrade request header"),
// which is what kubectl's SPDY exec and port-forward send.
func http1Only(t *http.Transport) *http.Transport {
	c := t.Clone()
	c.ForceAttemptHTTP2 = false
	c.TLSNextProto = map[string]func(string, *tls.Conn) http.RoundTripper{}
	if c.TLSClientConfig != nil {
		c.TLSClientConfig.NextProtos = nil
	}
	return c
}
