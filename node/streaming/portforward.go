package streaming

import (
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"

	gwebsocket "github.com/gorilla/websocket"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	pfconst "k8s.io/apimachinery/pkg/util/portforward"
	"k8s.io/client-go/tools/portforward"
	"k8s.io/streaming/pkg/httpstream"
	"k8s.io/streaming/pkg/httpstream/spdy"
	"k8s.io/streaming/pkg/httpstream/wsstream"

	"github.com/shoal-project/shoal/node/apiserver/wire"
)

// pods/portforward, as kubectl speaks it: a WebSocket whose subprotocol is
// SPDY/3.1+portforward.k8s.io and whose binary messages carry a SPDY/3.1
// session, or (the client's fallback) a plain SPDY/3.1 upgrade with
// X-Stream-Protocol-Version: portforward.k8s.io. Either way the client opens
// an error and a data stream per local connection, both with the headers
// port and requestID; the node dials podIP:port and relays the data stream.

// portForwardHandler serves pods/portforward in the API server.
type portForwardHandler struct{ p *Proxy }

// ServeSubresource implements wire.SubresourceHandler.
func (h portForwardHandler) ServeSubresource(w http.ResponseWriter, r *http.Request, resource, namespace, name, rest string) {
	h.p.servePortForward(w, r, resource, namespace, name, rest)
}

// servePortForward finds the pod and hands the upgrade request, with the
// pod's address, to the pod's node: the local NodeServer or, through the
// reverse proxy (which passes upgrades through), the node's API.
func (p *Proxy) servePortForward(w http.ResponseWriter, r *http.Request, resource, namespace, name, rest string) {
	if resource != "pods" || rest != "" {
		wire.WriteStatus(w, apierrors.NewNotFound(podsResource, name))
		return
	}
	if r.Method != http.MethodGet && r.Method != http.MethodPost {
		wire.WriteStatus(w, apierrors.NewMethodNotSupported(podsResource, r.Method))
		return
	}
	pod, err := p.pod(namespace, name)
	if err != nil {
		wire.WriteStatus(w, err)
		return
	}
	node := pod.Spec.NodeName
	if node == "" {
		wire.WriteStatus(w, apierrors.NewBadRequest(fmt.Sprintf("pod %s does not have a host assigned", name)))
		return
	}
	if pod.Status.PodIP == "" {
		wire.WriteStatus(w, apierrors.NewBadRequest(fmt.Sprintf("pod %s does not have an IP address yet", name)))
		return
	}
	path := NodePathPrefix + url.PathEscape(namespace) + "/" + url.PathEscape(name) + "/portforward"
	r2 := r.Clone(r.Context())
	r2.Header.Set(podIPHeader, pod.Status.PodIP)
	if node == p.cfg.Local {
		r2.URL.Path, r2.URL.RawPath = path, ""
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
	target.RawQuery = r.URL.RawQuery
	p.log.Debug("proxying to node", "subresource", "portforward", "namespace", namespace, "pod", name, "node", node)
	p.rp.ServeHTTP(w, r2.WithContext(withTarget(r2.Context(), target)))
}

// serveNodePortForward is the node's end: it upgrades the connection
// (WebSocket-tunnelled SPDY or plain SPDY) and relays each data stream to
// the pod's address on this node's pod network.
func (s *NodeServer) serveNodePortForward(w http.ResponseWriter, r *http.Request) {
	ip := net.ParseIP(r.Header.Get(podIPHeader))
	if ip == nil {
		wire.WriteStatus(w, apierrors.NewBadRequest("portforward: the pod's address is required"))
		return
	}
	fw := &portForwarder{
		log:      s.log.With("namespace", r.PathValue("namespace"), "pod", r.PathValue("name")),
		podName:  r.PathValue("name"),
		podIP:    ip,
		streams:  make(chan streamAndReply),
		done:     make(chan struct{}),
		dialAddr: net.JoinHostPort,
	}
	var conn httpstream.Connection
	if wsstream.IsWebSocketRequest(r) {
		if !slices.Contains(gwebsocket.Subprotocols(r), pfconst.WebsocketsSPDYTunnelingPortForwardV1) {
			// A 400 makes the client fall back to SPDY.
			wire.WriteStatus(w, apierrors.NewBadRequest(fmt.Sprintf("portforward: the WebSocket subprotocol must be %s", pfconst.WebsocketsSPDYTunnelingPortForwardV1)))
			return
		}
		up := gwebsocket.Upgrader{
			Subprotocols: []string{pfconst.WebsocketsSPDYTunnelingPortForwardV1},
			// The API server authorised the request; browsers' Origin
			// rules do not apply to kubectl (kube-apiserver does the same).
			CheckOrigin:     func(*http.Request) bool { return true },
			ReadBufferSize:  32 * 1024,
			WriteBufferSize: 32 * 1024,
		}
		ws, err := up.Upgrade(w, r, nil)
		if err != nil {
			s.log.Debug("portforward websocket handshake failed", "error", err)
			return // the Upgrader answered
		}
		conn, err = spdy.NewServerConnection(portforward.NewTunnelingConnection("server", ws), fw.newStream)
		if err != nil {
			s.log.Debug("portforward spdy over websocket", "error", err)
			return
		}
	} else {
		if _, err := httpstream.Handshake(r, w, []string{pfconst.PortForwardV1Name}); err != nil {
			s.log.Debug("portforward spdy handshake failed", "error", err)
			return
		}
		conn = spdy.NewResponseUpgrader().UpgradeResponse(w, r, fw.newStream)
		if conn == nil {
			return
		}
	}
	conn.SetIdleTimeout(s.cfg.IdleTimeout)
	fw.conn = conn
	fw.run()
}

// newStream accepts a stream that names its type, port and request, and
// hands it to run. It is called by the SPDY connection's reader.
func (fw *portForwarder) newStream(st httpstream.Stream, replySent <-chan struct{}) error {
	h := st.Headers()
	switch typ := h.Get(corev1.StreamType); typ {
	case corev1.StreamTypeError, corev1.StreamTypeData:
	default:
		return fmt.Errorf("invalid stream type %q", typ)
	}
	if _, err := parsePort(h.Get(corev1.PortHeader)); err != nil {
		return err
	}
	select {
	case fw.streams <- streamAndReply{Stream: st, replySent: replySent}:
		return nil
	case <-fw.done:
		return errors.New("the port-forward session is over")
	}
}

// parsePort reads a port header: 1 to 65535.
func parsePort(s string) (uint16, error) {
	if s == "" {
		return 0, errors.New("the port header is required")
	}
	n, err := strconv.ParseUint(s, 10, 16)
	if err != nil || n == 0 {
		return 0, fmt.Errorf("invalid port %q", s)
	}
	return uint16(n), nil
}
