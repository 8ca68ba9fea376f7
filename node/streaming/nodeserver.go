package streaming

import (
	"log/slog"
	"net/http"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"

	"github.com/shoal-project/shoal/node/apiserver/wire"
	"github.com/shoal-project/shoal/runtime"
)

// NodePathPrefix is where a NodeServer serves; the full paths are
// NodePathPrefix + "{namespace}/{name}/log" and ".../exec".
const NodePathPrefix = "/shoal/v1/node/pods/"

// DefaultIdleTimeout closes an exec session on which nothing moved for this
// long (kubelet's streaming idle timeout).
const DefaultIdleTimeout = 4 * time.Hour

// NodeServerConfig holds what a NodeServer uses. Runtime and Locate are
// required.
type NodeServerConfig struct {
	// Runtime runs this node's containers.
	Runtime runtime.Runtime
	// Locate returns the runtime id of a pod's container on this node:
	// with previous, the one that ran before the current one (for
	// `logs --previous`). container may be "" when the caller did not name
	// one (the Proxy always does). Errors wrapping runtime.ErrNotFound or
	// runtime.ErrNotRunning become 400s in Kubernetes' words; an error that
	// is an apierrors.APIStatus is answered as it is.
	Locate func(namespace, pod, container string, previous bool) (containerID string, err error)
	Logger *slog.Logger
	// IdleTimeout ends an exec session idle that long; 0 means
	// DefaultIdleTimeout.
	IdleTimeout time.Duration
	// Now is the clock for sinceSeconds; nil means time.Now.
	Now func() time.Time
}

// NodeServer serves log and exec for the pods of this node.
type NodeServer struct {
	cfg NodeServerConfig
	log *slog.Logger
	mux *http.ServeMux
}

var _ http.Handler = (*NodeServer)(nil)

// NewNodeServer assembles the node server; it does no I/O.
func NewNodeServer(cfg NodeServerConfig) *NodeServer {
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.IdleTimeout == 0 {
		cfg.IdleTimeout = DefaultIdleTimeout
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	s := &NodeServer{cfg: cfg, log: cfg.Logger, mux: http.NewServeMux()}
	s.mux.HandleFunc("GET "+NodePathPrefix+"{namespace}/{name}/log", s.serveLog)
	s.mux.HandleFunc("GET "+NodePathPrefix+"{namespace}/{name}/exec", s.serveExec)
	s.mux.HandleFunc("POST "+NodePathPrefix+"{namespace}/{name}/exec", s.serveExec)
	s.mux.HandleFunc(NodePathPrefix+"{namespace}/{name}/proxy/{port}/{rest...}", s.serveNodeProxy)
	s.mux.HandleFunc("GET "+NodePathPrefix+"{namespace}/{name}/portforward", s.serveNodePortForward)
	s.mux.HandleFunc("POST "+NodePathPrefix+"{namespace}/{name}/portforward", s.serveNodePortForward)
	s.mux.HandleFunc(NodePathPrefix, func(w http.ResponseWriter, r *http.Request) {
		wire.WriteStatus(w, apierrors.NewNotFound(podsResource, ""))
	})
	return s
}

// ServeHTTP implements http.Handler.
func (s *NodeServer) ServeHTTP(w http.ResponseWriter, r *http.Request) { s.mux.ServeHTTP(w, r) }

// locate finds the container and translates the runtime's sentinels into
// the answers kubelet gives.
func (s *NodeServer) locate(namespace, pod, container string, previous bool) (string, error) {
	id, err := s.cfg.Locate(namespace, pod, container, previous)
	if err != nil {
		return "", s.runtimeError(err, pod, container, previous)
	}
	return id, nil
}
