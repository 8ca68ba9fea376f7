package resourcemetrics

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	metricsv1beta1 "k8s.io/metrics/pkg/apis/metrics/v1beta1"

	"github.com/shoal-project/shoal/consensus"
	"github.com/shoal-project/shoal/node/apiserver/wire"
)

// APIConfig holds what an API uses; Store and Summaries are required.
type APIConfig struct {
	// Store is read for nodes (readiness, labels) and pods (node, phase,
	// labels).
	Store *consensus.Store
	// Summaries fetches a node's figures (a NodeClient in a daemon).
	Summaries Summaries
	// NodeTimeout bounds each node's answer (0: DefaultNodeTimeout).
	NodeTimeout time.Duration
	Logger      *slog.Logger
	// Now is the clock; nil means time.Now.
	Now func() time.Time
}

// API serves metrics.k8s.io/v1beta1 on a peer: NodeMetrics and
// PodMetrics, read from the nodes' Summaries on each request.
type API struct {
	cfg APIConfig
	log *slog.Logger
}

var (
	nodeMetricsResource = metricsv1beta1.Resource("nodes")
	podMetricsResource  = metricsv1beta1.Resource("pods")
	// errors name the resources as metrics-server's storage does.
	nodeMetricsErrResource = metricsv1beta1.Resource("nodemetrics")
	podMetricsErrResource  = metricsv1beta1.Resource("podmetrics")
)

// NewAPI assembles the API; it does no I/O.
func NewAPI(cfg APIConfig) *API {
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.NodeTimeout <= 0 {
		cfg.NodeTimeout = DefaultNodeTimeout
	}
	return &API{cfg: cfg, log: cfg.Logger}
}

// APIService is the API for apiserver.Config.APIServices, with the
// resources metrics-server lists.
func (a *API) APIService() wire.APIService {
	verbs := metav1.Verbs{"get", "list"}
	return wire.APIService{
		GroupVersion: metricsv1beta1.SchemeGroupVersion,
		Resources: []metav1.APIResource{
			{Name: "nodes", Namespaced: false, Kind: "NodeMetrics", Verbs: verbs},
			{Name: "pods", Namespaced: true, Kind: "PodMetrics", Verbs: verbs},
		},
		Types: []runtime.Object{
			&metricsv1beta1.NodeMetrics{}, &metricsv1beta1.NodeMetricsList{},
			&metricsv1beta1.PodMetrics{}, &metricsv1beta1.PodMetricsList{},
		},
		Handler: a,
	}
}

var _ http.Handler = (*API)(nil)

// metricsRequest is one parsed request.
type metricsRequest struct {
	resource  schema.GroupResource
	namespace string // "" for nodes and for pods across namespaces
	name      string // "" for a list
	labels    labels.Selector
	fields    fields.Selector
}

// ServeHTTP answers GET /apis/metrics.k8s.io/v1beta1/nodes[/NAME],
// .../pods and .../namespaces/NS/pods[/NAME].
func (a *API) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	q, err := parseRequest(r)
	if err != nil {
		wire.WriteStatus(w, err)
		return
	}
	table := wire.WantsTable(r)
	includeObject := r.URL.Query().Get("includeObject")
	now := a.cfg.Now()
	switch {
	case q.resource == nodeMetricsResource && q.name != "":
		m, err := a.getNode(r, q.name, now)
		switch {
		case err != nil:
			wire.WriteStatus(w, err)
		case table:
			wire.WriteJSON(w, http.StatusOK, nodeTable([]metricsv1beta1.NodeMetrics{*m}, includeObject))
		default:
			wire.WriteJSON(w, http.StatusOK, withKind(m, "NodeMetrics"))
		}
	case q.resource == nodeMetricsResource:
		items := a.listNodes(r, q, now)
		if table {
			wire.WriteJSON(w, http.StatusOK, nodeTable(items, includeObject))
			return
		}
		wire.WriteJSON(w, http.StatusOK, &metricsv1beta1.NodeMetricsList{
			TypeMeta: metav1.TypeMeta{Kind: "NodeMetricsList", APIVersion: metricsv1beta1.SchemeGroupVersion.String()},
			Items:    items,
		})
	case q.name != "":
		m, err := a.getPod(r, q.namespace, q.name, now)
		switch {
		case err != nil:
			wire.WriteStatus(w, err)
		case table:
			wire.WriteJSON(w, http.StatusOK, podTable([]metricsv1beta1.PodMetrics{*m}, includeObject))
		default:
			wire.WriteJSON(w, http.StatusOK, withKind(m, "PodMetrics"))
		}
	default:
		items := a.listPods(r, q, now)
		if table {
			wire.WriteJSON(w, http.StatusOK, podTable(items, includeObject))
			return
		}
		wire.WriteJSON(w, http.StatusOK, &metricsv1beta1.PodMetricsList{
			TypeMeta: metav1.TypeMeta{Kind: "PodMetricsList", APIVersion: metricsv1beta1.SchemeGroupVersion.String()},
			Items:    items,
		})
	}
}

// parseRequest reads the path and the selectors. Only get and list are
// served, as by metrics-server.
func parseRequest(r *http.Request) (*metricsRequest, error) {
	prefix := "/apis/" + metricsv1beta1.SchemeGroupVersion.String() + "/"
	rest, ok := strings.CutPrefix(r.URL.Path, prefix)
	if !ok {
		return nil, wire.NotFoundPath()
	}
	parts := strings.Split(strings.Trim(rest, "/"), "/")
	q := &metricsRequest{labels: labels.Everything(), fields: fields.Everything()}
	switch {
	case parts[0] == "nodes" && len(parts) <= 2:
		q.resource = nodeMetricsResource
	case parts[0] == "pods" && len(parts) == 1:
		q.resource = podMetricsResource
	case parts[0] == "namespaces" && len(parts) >= 3 && len(parts) <= 4 && parts[2] == "pods" && parts[1] != "":
		q.resource, q.namespace = podMetricsResource, parts[1]
		parts = parts[2:]
	default:
		return nil, wire.NotFoundPath()
	}
	if len(parts) == 2 {
		q.name = parts[1]
	}
	if r.Method != http.MethodGet {
		return nil, apierrors.NewGenericServerResponse(http.StatusMethodNotAllowed, "", schema.GroupResource{}, "", "", 0, false)
	}
	qv := r.URL.Query()
	if v := qv.Get("watch"); v == "true" || v == "1" {
		return nil, apierrors.NewMethodNotSupported(q.resource, "watch")
	}
	if ls := qv.Get("labelSelector"); ls != "" {
		sel, err := labels.Parse(ls)
		if err != nil {
			return nil, apierrors.NewBadRequest(fmt.Sprintf("unable to parse requirement: %v", err))
		}
		q.labels = sel
	}
	if fs := qv.Get("fieldSelector"); fs != "" {
		sel, err := fields.ParseSelector(fs)
		if err != nil {
			return nil, apierrors.NewBadRequest(fmt.Sprintf("invalid field selector: %v", err))
		}
		q.fields = sel
	}
	return q, nil
}

// metaFields are the fields metrics-server filters on.
func metaFields(m *metav1.ObjectMeta) fields.Set {
	return fields.Set{"metadata.name": m.Name, "metadata.namespace": m.Namespace}
}

// listNodes reads the metrics of the Ready nodes the selectors pick.
func (a *API) listNodes(r *http.Request, q *metricsRequest, now time.Time) []metricsv1beta1.NodeMetrics {
	var nodes []*corev1.Node
	for _, n := range a.nodes() {
		if q.labels.Matches(labels.Set(n.Labels)) && q.fields.Matches(metaFields(&n.ObjectMeta)) {
			nodes = append(nodes, n)
		}
	}
	return a.nodeMetrics(r, nodes, now)
}

// getNode is one node's metrics: NotFound for an unknown node (as the
// node lister says) or one without figures (as metrics-server says).
func (a *API) getNode(r *http.Request, name string, now time.Time) (*metricsv1beta1.NodeMetrics, error) {
	obj, err := a.cfg.Store.Get("nodes", "", name)
	if errors.Is(err, consensus.ErrNotFound) {
		return nil, apierrors.NewNotFound(corev1.Resource("nodes"), name)
	}
	if err != nil {
		return nil, apierrors.NewInternalError(err)
	}
	var n corev1.Node
	if err := json.Unmarshal(obj.Raw, &n); err != nil {
		return nil, apierrors.NewInternalError(fmt.Errorf("decode node %s: %w", name, err))
	}
	items := a.nodeMetrics(r, []*corev1.Node{&n}, now)
	if len(items) == 0 {
		return nil, apierrors.NewNotFound(nodeMetricsErrResource, name)
	}
	return &items[0], nil
}

// nodeMetrics asks the Ready ones of nodes for their figures.
func (a *API) nodeMetrics(r *http.Request, nodes []*corev1.Node, now time.Time) []metricsv1beta1.NodeMetrics {
	var names []string
	for _, n := range nodes {
		if nodeReady(n) {
			names = append(names, n.Name)
		}
	}
	sums := fetchAll(r.Context(), a.cfg.Summaries, names, a.cfg.NodeTimeout, a.log)
	items := []metricsv1beta1.NodeMetrics{}
	for _, n := range nodes {
		if s, ok := sums[n.Name]; ok {
			if m, ok := toNodeMetrics(n, s, now); ok {
				items = append(items, m)
			}
		}
	}
	sortNodeMetrics(items)
	return items
}

// listPods reads the metrics of the running pods the namespace and
// selectors pick, in namespace and name order.
func (a *API) listPods(r *http.Request, q *metricsRequest, now time.Time) []metricsv1beta1.PodMetrics {
	// The store's List reads memory and has no error; with no limit
	// there is no continuation either.
	objs, _, _ := a.cfg.Store.List("pods", q.namespace, "", 0)
	var pods []*corev1.Pod
	for _, o := range objs {
		if !q.labels.Matches(labels.Set(o.Labels)) {
			continue
		}
		var p corev1.Pod
		if err := json.Unmarshal(o.Raw, &p); err != nil {
			a.log.Warn("decode stored pod", "namespace", o.Namespace, "pod", o.Name, "error", err)
			continue
		}
		if q.fields.Matches(metaFields(&p.ObjectMeta)) {
			pods = append(pods, &p)
		}
	}
	return a.podMetrics(r, pods, now)
}

// getPod is one pod's metrics: NotFound for an unknown pod, or in
// metrics-server's words (namespace/name) for one without figures.
func (a *API) getPod(r *http.Request, namespace, name string, now time.Time) (*metricsv1beta1.PodMetrics, error) {
	obj, err := a.cfg.Store.Get("pods", namespace, name)
	if errors.Is(err, consensus.ErrNotFound) {
		return nil, apierrors.NewNotFound(corev1.Resource("pods"), name)
	}
	if err != nil {
		return nil, apierrors.NewInternalError(err)
	}
	var p corev1.Pod
	if err := json.Unmarshal(obj.Raw, &p); err != nil {
		return nil, apierrors.NewInternalError(fmt.Errorf("decode pod %s/%s: %w", namespace, name, err))
	}
	items := a.podMetrics(r, []*corev1.Pod{&p}, now)
	if len(items) == 0 {
		return nil, apierrors.NewNotFound(podMetricsErrResource, namespace+"/"+name)
	}
	return &items[0], nil
}

// podMetrics asks the Ready nodes of the running ones of pods for their
// figures and matches them by namespace, name and uid.
func (a *API) podMetrics(r *http.Request, pods []*corev1.Pod, now time.Time) []metricsv1beta1.PodMetrics {
	ready := map[string]bool{}
	for _, n := range a.nodes() {
		ready[n.Name] = nodeReady(n)
	}
	var names []string
	seen := map[string]bool{}
	var running []*corev1.Pod
	for _, p := range pods {
		if p.Status.Phase != corev1.PodRunning || !ready[p.Spec.NodeName] {
			continue
		}
		running = append(running, p)
		if !seen[p.Spec.NodeName] {
			seen[p.Spec.NodeName] = true
			names = append(names, p.Spec.NodeName)
		}
	}
	sums := fetchAll(r.Context(), a.cfg.Summaries, names, a.cfg.NodeTimeout, a.log)
	byKey := map[string]*PodStats{}
	for _, s := range sums {
		for i := range s.Pods {
			ps := &s.Pods[i]
			byKey[ps.PodRef.Namespace+"/"+ps.PodRef.Name+"/"+ps.PodRef.UID] = ps
		}
	}
	items := []metricsv1beta1.PodMetrics{}
	for _, p := range running {
		ps, ok := byKey[p.Namespace+"/"+p.Name+"/"+string(p.UID)]
		if !ok {
			continue
		}
		if m, ok := toPodMetrics(p, ps, now); ok {
			items = append(items, m)
		}
	}
	return items
}

// nodes reads every Node from the store.
func (a *API) nodes() []*corev1.Node {
	objs, _, _ := a.cfg.Store.List("nodes", "", "", 0) // no error; see listPods
	out := make([]*corev1.Node, 0, len(objs))
	for _, o := range objs {
		var n corev1.Node
		if err := json.Unmarshal(o.Raw, &n); err != nil {
			a.log.Warn("decode stored node", "node_name", o.Name, "error", err)
			continue
		}
		out = append(out, &n)
	}
	return out
}

// nodeReady says whether the node's Ready condition is True: only those
// are asked, so that a dead node never holds up an answer.
func nodeReady(n *corev1.Node) bool {
	for _, c := range n.Status.Conditions {
		if c.Type == corev1.NodeReady {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}
