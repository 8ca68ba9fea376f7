package endpoints

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strconv"
	"time"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"

	"github.com/shoal-project/shoal/node/controller"
	"github.com/shoal-project/shoal/node/follow"
)

// Controller keeps an Endpoints object for every Service with a selector:
// the addresses of the pods it selects, ready ones apart from the others,
// with each service port's targetPort resolved against the pod (a named
// targetPort may map to different numbers on different pods), as
// Kubernetes' endpoints controller does; and the Service's EndpointSlices,
// as its EndpointSlice controller does (endpointslices.go).
type Controller struct {
	controller.Deps
	// Resync is how often a full pass runs without events (0: 30s; a
	// pass reads every Service).
	Resync time.Duration

	// wroteSlices remembers the slices this controller wrote, for the
	// next pass on a cache that may not hold them yet.
	wroteSlices sliceWrites
}

// Run reconciles until ctx is cancelled: a full pass on every change to
// services, pods or endpoints, and on a timer.
func (c *Controller) Run(ctx context.Context) error {
	resync := c.Resync
	if resync == 0 {
		resync = 30 * time.Second
	}
	f := c.followers()
	// The slices follow the endpoints: their changes need no pass.
	trig := controller.NewTrigger()
	defer trig.PokeOn(controller.Changes(f.services), controller.Changes(f.pods), controller.Changes(f.endpoints))()
	if !follow.WaitReady(ctx, f.services, f.pods, f.endpoints, f.slices) {
		return nil
	}
	return controller.Loop(ctx, controller.LoopConfig{
		Name:   "endpoints controller",
		Logger: c.Logger,
		Wake:   trig.C(),
		Resync: resync,
		// Let a burst of changes (a rollout) land before the pass.
		Settle:    20 * time.Millisecond,
		Reconcile: c.Reconcile,
	})
}

// endpointsFollowers are the node's caches the controller reads.
type endpointsFollowers struct {
	services  *follow.Follower[corev1.Service]
	pods      *follow.Follower[corev1.Pod]
	endpoints *follow.Follower[corev1.Endpoints]
	slices    *follow.Follower[discoveryv1.EndpointSlice]
}

func (c *Controller) followers() endpointsFollowers {
	f := endpointsFollowers{
		services:  follow.For[corev1.Service](c.Cache, "services"),
		pods:      follow.For[corev1.Pod](c.Cache, "pods"),
		endpoints: follow.For[corev1.Endpoints](c.Cache, "endpoints"),
		slices:    follow.For[discoveryv1.EndpointSlice](c.Cache, "endpointslices.discovery.k8s.io"),
	}
	f.pods.AddIndex(follow.IndexByNamespace, follow.ByNamespace[corev1.Pod])
	f.slices.AddIndex(follow.IndexSlicesByService, follow.SlicesByService)
	return f
}

// Reconcile makes one pass over every service, as the node's cache holds
// them.
func (c *Controller) Reconcile(ctx context.Context) error {
	f := c.followers()
	c.wroteSlices.awaitSlices(ctx, f.slices)
	// The pods and Endpoints written before the newest Service must be in
	// their caches, or a new Service's Endpoints are first written short of
	// pods that were already there.
	follow.WaitHolds(ctx, f.services.ResourceVersion()+1, time.Second, f.pods, f.endpoints)
	wanted := map[string]bool{}
	podsByNS := map[string][]corev1.Pod{}
	var errs []error
	for _, svc := range f.services.List() {
		if svc.Spec.Selector == nil || svc.Spec.Type == corev1.ServiceTypeExternalName {
			continue // endpoints of selector-less services are the user's
		}
		wanted[follow.Key(svc.Namespace, svc.Name)] = true
		pods, ok := podsByNS[svc.Namespace]
		if !ok {
			pods = podsIn(f.pods, svc.Namespace)
			podsByNS[svc.Namespace] = pods
		}
		subsets := EndpointsFor(svc, pods)
		if err := c.sync(ctx, f.endpoints, svc, subsets); err != nil {
			errs = append(errs, fmt.Errorf("endpoints %s/%s: %w", svc.Namespace, svc.Name, err))
		}
		if err := c.syncSlices(ctx, svc, subsets, c.managedSlices(f.slices, svc.Namespace, svc.Name)); err != nil {
			errs = append(errs, fmt.Errorf("endpointslices of %s/%s: %w", svc.Namespace, svc.Name, err))
		}
	}
	// Endpoints this controller made for services that are gone.
	for _, ep := range f.endpoints.List() {
		if wanted[follow.Key(ep.Namespace, ep.Name)] || ep.Labels[managedByLabel] != managedBy {
			continue
		}
		err := c.Client.CoreV1().Endpoints(ep.Namespace).Delete(ctx, ep.Name, metav1.DeleteOptions{})
		if err != nil && !apierrors.IsNotFound(err) {
			errs = append(errs, err)
		}
	}
	if err := c.removeStaleSlices(ctx, f.slices, wanted); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

const (
	managedByLabel = "endpoints.kubernetes.io/managed-by"
	managedBy      = "endpoint-controller"
)

// podsIn copies the cached pods of namespace ns (shallow copies:
// EndpointsFor only reads them).
func podsIn(pods *follow.Follower[corev1.Pod], ns string) []corev1.Pod {
	cached := pods.ByIndex(follow.IndexByNamespace, ns)
	out := make([]corev1.Pod, 0, len(cached))
	for _, p := range cached {
		out = append(out, *p)
	}
	return out
}

// sync writes want when the stored Endpoints differ.
func (c *Controller) sync(ctx context.Context, eps *follow.Follower[corev1.Endpoints], svc *corev1.Service, want []corev1.EndpointSubset) error {
	labelsWant := map[string]string{managedByLabel: managedBy}
	for k, v := range svc.Labels {
		labelsWant[k] = v
	}
	if svc.Spec.ClusterIP == corev1.ClusterIPNone {
		labelsWant[corev1.IsHeadlessService] = ""
	}
	cached, ok := eps.Get(svc.Namespace, svc.Name)
	if !ok {
		ep := &corev1.Endpoints{ObjectMeta: metav1.ObjectMeta{Name: svc.Name, Namespace: svc.Namespace, Labels: labelsWant}, Subsets: want}
		_, err := c.Client.CoreV1().Endpoints(svc.Namespace).Create(ctx, ep, metav1.CreateOptions{})
		if apierrors.IsAlreadyExists(err) {
			return nil
		}
		return err
	}
	cur := cached.DeepCopy()
	if equality.Semantic.DeepEqual(cur.Subsets, want) && equality.Semantic.DeepEqual(cur.Labels, labelsWant) {
		return nil
	}
	cur.Subsets, cur.Labels = want, labelsWant
	_, err := c.Client.CoreV1().Endpoints(svc.Namespace).Update(ctx, cur, metav1.UpdateOptions{})
	if apierrors.IsConflict(err) {
		return nil // the next pass sees the newer object
	}
	return err
}

// EndpointsFor computes a service's subsets from the pods: one subset per
// distinct set of resolved ports, addresses sorted by IP, ready pods in
// addresses and the others in notReadyAddresses. Pods without an IP, being
// deleted or finished are left out.
func EndpointsFor(svc *corev1.Service, pods []corev1.Pod) []corev1.EndpointSubset {
	sel := labels.SelectorFromSet(svc.Spec.Selector)
	type group struct {
		ports           []corev1.EndpointPort
		ready, notReady []corev1.EndpointAddress
	}
	groups := map[string]*group{}
	var order []string
	for i := range pods {
		p := &pods[i]
		if p.Namespace != svc.Namespace || !sel.Matches(labels.Set(p.Labels)) || p.Status.PodIP == "" ||
			p.DeletionTimestamp != nil || p.Status.Phase == corev1.PodSucceeded || p.Status.Phase == corev1.PodFailed {
			continue
		}
		ports, ok := resolvePorts(svc, p)
		if !ok {
			continue
		}
		key := portsKey(ports)
		g := groups[key]
		if g == nil {
			g = &group{ports: ports}
			groups[key] = g
			order = append(order, key)
		}
		nodeName := p.Spec.NodeName
		addr := corev1.EndpointAddress{IP: p.Status.PodIP, NodeName: &nodeName, Hostname: endpointHostname(svc, p),
			TargetRef: &corev1.ObjectReference{Kind: "Pod", Namespace: p.Namespace, Name: p.Name, UID: p.UID}}
		if controller.PodReady(p) || svc.Spec.PublishNotReadyAddresses {
			g.ready = append(g.ready, addr)
		} else {
			g.notReady = append(g.notReady, addr)
		}
	}
	sort.Strings(order)
	var out []corev1.EndpointSubset
	for _, key := range order {
		g := groups[key]
		byIP := func(a []corev1.EndpointAddress) { sort.Slice(a, func(i, j int) bool { return a[i].IP < a[j].IP }) }
		byIP(g.ready)
		byIP(g.notReady)
		out = append(out, corev1.EndpointSubset{Addresses: g.ready, NotReadyAddresses: g.notReady, Ports: g.ports})
	}
	return out
}

// endpointHostname is the hostname an endpoint of svc carries for pod p,
// as Kubernetes' endpoints and EndpointSlice controllers set it: the pod's
// spec.hostname when its spec.subdomain names svc in the pod's own
// namespace. dnsd answers `<hostname>.<svc>.<ns>.svc` from it (the names a
// StatefulSet's pods get through their headless Service); any other pod's
// endpoint has none, so the name is its dashed IP.
func endpointHostname(svc *corev1.Service, p *corev1.Pod) string {
	if p.Spec.Hostname != "" && p.Spec.Subdomain == svc.Name && p.Namespace == svc.Namespace {
		return p.Spec.Hostname
	}
	return ""
}

// resolvePorts maps each service port to the pod's port; a named
// targetPort the pod lacks leaves the pod out, as in Kubernetes.
func resolvePorts(svc *corev1.Service, p *corev1.Pod) ([]corev1.EndpointPort, bool) {
	var out []corev1.EndpointPort
	for _, sp := range svc.Spec.Ports {
		port := sp.TargetPort.IntVal
		if sp.TargetPort.StrVal != "" {
			port = 0
			for _, c := range p.Spec.Containers {
				for _, cp := range c.Ports {
					if cp.Name == sp.TargetPort.StrVal && (cp.Protocol == sp.Protocol || cp.Protocol == "" && sp.Protocol == corev1.ProtocolTCP) {
						port = cp.ContainerPort
					}
				}
			}
			if port == 0 {
				return nil, false
			}
		}
		if port == 0 {
			port = sp.Port
		}
		proto := sp.Protocol
		if proto == "" {
			proto = corev1.ProtocolTCP
		}
		out = append(out, corev1.EndpointPort{Name: sp.Name, Port: port, Protocol: proto, AppProtocol: sp.AppProtocol})
	}
	return out, true
}

func portsKey(ports []corev1.EndpointPort) string {
	s := ""
	for _, p := range ports {
		s += p.Name + "/" + string(p.Protocol) + "/" + strconv.Itoa(int(p.Port)) + ","
	}
	return s
}
