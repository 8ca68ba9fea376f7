package endpoints

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	"github.com/shoal-project/shoal/node/controller"
	"github.com/shoal-project/shoal/node/follow"
)

const (
	sliceManagedBy = "endpointslice-controller.k8s.io"
	// serviceNameLabel is how EndpointSlices name their Service.
	serviceNameLabel = discoveryv1.LabelServiceName
	// maxEndpointsPerSlice is kube-controller-manager's default
	// --max-endpoints-per-slice.
	maxEndpointsPerSlice = 100
)

// sliceWrites is what the slice side of the controller remembers of its
// own writes between passes, so that a pass on a cache that has not yet
// seen them neither creates a slice twice nor counts a deleted one.
type sliceWrites struct {
	wrote controller.OwnWrites
	mu    sync.Mutex
	// deleted are the slices ("namespace/name") deleted and their uids,
	// until the cache no longer holds them.
	deleted map[string]types.UID
}

// awaitSlices waits (bounded) until the slices' cache holds the slices
// written, and forgets the deletes it shows.
func (w *sliceWrites) awaitSlices(ctx context.Context, f *follow.Follower[discoveryv1.EndpointSlice]) {
	controller.AwaitCache(ctx, func() bool { return w.wrote.SeenBy(f.ResourceVersion()) })
	w.mu.Lock()
	defer w.mu.Unlock()
	for key, uid := range w.deleted {
		ns, name, _ := strings.Cut(key, "/")
		if s, ok := f.Get(ns, name); !ok || s.UID != uid {
			delete(w.deleted, key)
		}
	}
}

func (w *sliceWrites) isDeleted(s *discoveryv1.EndpointSlice) bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	uid, ok := w.deleted[follow.Key(s.Namespace, s.Name)]
	return ok && uid == s.UID
}

func (w *sliceWrites) noteDeleted(s *discoveryv1.EndpointSlice) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.deleted == nil {
		w.deleted = map[string]types.UID{}
	}
	w.deleted[follow.Key(s.Namespace, s.Name)] = s.UID
}

// portMapping is the endpoints of a service that share one set of
// resolved ports (one subset of its Endpoints): Kubernetes keeps each in
// slices of its own.
type portMapping struct {
	ports     []discoveryv1.EndpointPort
	endpoints []discoveryv1.Endpoint
}

// slicePortMappings converts a service's subsets into its slices'
// content, keyed by slicePortsKey: the same pods as its Endpoints, with
// their ready/serving/terminating conditions.
func slicePortMappings(subsets []corev1.EndpointSubset) map[string]*portMapping {
	out := map[string]*portMapping{}
	for _, ss := range subsets {
		m := &portMapping{ports: []discoveryv1.EndpointPort{}}
		for _, p := range ss.Ports {
			port, name, proto := p.Port, p.Name, p.Protocol
			m.ports = append(m.ports, discoveryv1.EndpointPort{Name: &name, Port: &port, Protocol: &proto, AppProtocol: p.AppProtocol})
		}
		add := func(a corev1.EndpointAddress, ready bool) {
			e := discoveryv1.Endpoint{Addresses: []string{a.IP}, NodeName: a.NodeName, TargetRef: a.TargetRef,
				Conditions: discoveryv1.EndpointConditions{Ready: &ready, Serving: &ready, Terminating: new(bool)}}
			if a.Hostname != "" {
				// Kubernetes' slices carry it too; dnsd's headless names
				// come from it.
				e.Hostname = &a.Hostname
			}
			m.endpoints = append(m.endpoints, e)
		}
		for _, a := range ss.Addresses {
			add(a, true)
		}
		for _, a := range ss.NotReadyAddresses {
			add(a, false)
		}
		key := slicePortsKey(m.ports)
		if prev := out[key]; prev != nil { // subsets differ in appProtocol only
			prev.endpoints = append(prev.endpoints, m.endpoints...)
			continue
		}
		out[key] = m
	}
	return out
}

// slicePortsKey names a set of slice ports: name, protocol and number.
func slicePortsKey(ports []discoveryv1.EndpointPort) string {
	s := ""
	for _, p := range ports {
		name, proto, port := "", corev1.ProtocolTCP, int32(0)
		if p.Name != nil {
			name = *p.Name
		}
		if p.Protocol != nil {
			proto = *p.Protocol
		}
		if p.Port != nil {
			port = *p.Port
		}
		s += fmt.Sprintf("%s/%s/%d,", name, proto, port)
	}
	return s
}

// endpointKey names an endpoint within a port mapping: its address and
// its pod (host-network pods of one node share the address).
func endpointKey(e *discoveryv1.Endpoint) string {
	k := ""
	if len(e.Addresses) > 0 {
		k = e.Addresses[0]
	}
	if r := e.TargetRef; r != nil {
		k += "/" + r.Namespace + "/" + r.Name
	}
	return k
}

// newSlice is an empty slice of svc with ports, named by the API server
// from "<service>-".
func newSlice(svc *corev1.Service, ports []discoveryv1.EndpointPort) *discoveryv1.EndpointSlice {
	return &discoveryv1.EndpointSlice{
		ObjectMeta: metav1.ObjectMeta{
			GenerateName:    svc.Name + "-",
			Namespace:       svc.Namespace,
			Labels:          sliceLabels(svc),
			OwnerReferences: []metav1.OwnerReference{sliceOwner(svc)},
		},
		AddressType: discoveryv1.AddressTypeIPv4,
		Ports:       ports,
	}
}

func sliceLabels(svc *corev1.Service) map[string]string {
	return map[string]string{serviceNameLabel: svc.Name, discoveryv1.LabelManagedBy: sliceManagedBy}
}

func sliceOwner(svc *corev1.Service) metav1.OwnerReference {
	yes := true
	return metav1.OwnerReference{APIVersion: "v1", Kind: "Service", Name: svc.Name, UID: svc.UID, Controller: &yes, BlockOwnerDeletion: &yes}
}

// ownedBy reports whether s is a slice of svc (and not of an older
// Service of the same name) that this controller may update.
func ownedBy(s *discoveryv1.EndpointSlice, svc *corev1.Service) bool {
	if s.AddressType != discoveryv1.AddressTypeIPv4 {
		return false
	}
	for _, r := range s.OwnerReferences {
		if r.UID == svc.UID && r.Kind == "Service" && r.Controller != nil && *r.Controller {
			return true
		}
	}
	return false
}

// slicePlan is what one pass writes for one service.
type slicePlan struct {
	create, update, remove []*discoveryv1.EndpointSlice
}

// planSlices computes the writes that turn a service's existing slices
// into its desired endpoints, as Kubernetes' EndpointSlice reconciler
// does: an existing slice keeps the endpoints still desired and is
// written only when one of them changed or left; new endpoints fill the
// slices being written anyway (fullest first), then the fullest unchanged
// slice that has room for all of them, then new slices of at most
// maxEndpointsPerSlice; a slice left empty is deleted, except one empty
// placeholder for a service without endpoints.
func planSlices(svc *corev1.Service, subsets []corev1.EndpointSubset, existing []*discoveryv1.EndpointSlice) slicePlan {
	var plan slicePlan
	mappings := slicePortMappings(subsets)
	byMapping := map[string][]*discoveryv1.EndpointSlice{}
	for _, s := range existing {
		key := slicePortsKey(s.Ports)
		if !ownedBy(s, svc) || mappings[key] == nil {
			plan.remove = append(plan.remove, s)
			continue
		}
		byMapping[key] = append(byMapping[key], s)
	}
	keys := make([]string, 0, len(mappings))
	for k := range mappings {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, key := range keys {
		p := planMapping(svc, mappings[key], byMapping[key])
		plan.create = append(plan.create, p.create...)
		plan.update = append(plan.update, p.update...)
		plan.remove = append(plan.remove, p.remove...)
	}
	// A service without endpoints keeps one empty slice, as in Kubernetes.
	if len(existing) == len(plan.remove) && len(plan.create) == 0 {
		placeholder := newSlice(svc, []discoveryv1.EndpointPort{})
		if len(plan.remove) == 1 && isPlaceholderOf(plan.remove[0], svc) {
			plan.remove = nil
		} else {
			plan.create = append(plan.create, placeholder)
		}
	}
	// A slice to delete and one to create make one update instead.
	for i := 0; i < len(plan.remove) && len(plan.create) > 0; {
		old := plan.remove[i]
		if !ownedBy(old, svc) {
			i++
			continue
		}
		s := plan.create[len(plan.create)-1]
		plan.create = plan.create[:len(plan.create)-1]
		u := old.DeepCopy()
		u.Labels, u.OwnerReferences, u.Ports, u.Endpoints = s.Labels, s.OwnerReferences, s.Ports, s.Endpoints
		plan.update = append(plan.update, u)
		plan.remove = slices.Delete(plan.remove, i, i+1)
	}
	return plan
}

// isPlaceholderOf reports whether s is svc's empty placeholder as written.
func isPlaceholderOf(s *discoveryv1.EndpointSlice, svc *corev1.Service) bool {
	return ownedBy(s, svc) && len(s.Endpoints) == 0 && len(s.Ports) == 0 && sliceMetaCurrent(s, svc)
}

// sliceMetaCurrent reports whether s carries the labels and owner this
// controller writes.
func sliceMetaCurrent(s *discoveryv1.EndpointSlice, svc *corev1.Service) bool {
	return equality.Semantic.DeepEqual(s.Labels, sliceLabels(svc)) && len(s.OwnerReferences) == 1 &&
		equality.Semantic.DeepEqual(s.OwnerReferences[0], sliceOwner(svc))
}

// planMapping plans the slices of one port mapping.
func planMapping(svc *corev1.Service, m *portMapping, existing []*discoveryv1.EndpointSlice) slicePlan {
	var plan slicePlan
	want := make(map[string]*discoveryv1.Endpoint, len(m.endpoints))
	for i := range m.endpoints {
		want[endpointKey(&m.endpoints[i])] = &m.endpoints[i]
	}
	var unchanged []*discoveryv1.EndpointSlice
	for _, s := range existing {
		changed := !sliceMetaCurrent(s, svc) || !equality.Semantic.DeepEqual(s.Ports, m.ports)
		kept := make([]discoveryv1.Endpoint, 0, len(s.Endpoints))
		for i := range s.Endpoints {
			k := endpointKey(&s.Endpoints[i])
			w, ok := want[k]
			if !ok || len(kept) == maxEndpointsPerSlice {
				changed = true // gone, placed in another slice, or over the cap
				continue
			}
			if !equality.Semantic.DeepEqual(*w, s.Endpoints[i]) {
				changed = true
			}
			kept = append(kept, *w)
			delete(want, k)
		}
		switch {
		case len(kept) == 0:
			plan.remove = append(plan.remove, s)
		case changed:
			u := s.DeepCopy()
			u.Labels, u.OwnerReferences, u.Ports, u.Endpoints = sliceLabels(svc), []metav1.OwnerReference{sliceOwner(svc)}, m.ports, kept
			plan.update = append(plan.update, u)
		default:
			unchanged = append(unchanged, s)
		}
	}
	// The endpoints no slice holds yet, in the order they were computed.
	var rest []discoveryv1.Endpoint
	for i := range m.endpoints {
		if _, ok := want[endpointKey(&m.endpoints[i])]; ok {
			rest = append(rest, m.endpoints[i])
		}
	}
	// First into the slices written anyway, fullest first.
	fullestFirst := func(a, b *discoveryv1.EndpointSlice) int { return len(b.Endpoints) - len(a.Endpoints) }
	slices.SortStableFunc(plan.update, fullestFirst)
	for _, s := range plan.update {
		n := min(maxEndpointsPerSlice-len(s.Endpoints), len(rest))
		s.Endpoints = append(s.Endpoints, rest[:n]...)
		rest = rest[n:]
	}
	slices.SortStableFunc(unchanged, fullestFirst)
	for len(rest) > 0 {
		var fill *discoveryv1.EndpointSlice
		if len(rest) < maxEndpointsPerSlice {
			// The fullest unchanged slice with room for all that is left.
			for i, s := range unchanged {
				if len(s.Endpoints)+len(rest) <= maxEndpointsPerSlice {
					fill = s.DeepCopy()
					unchanged = slices.Delete(unchanged, i, i+1)
					plan.update = append(plan.update, fill)
					break
				}
			}
		}
		if fill == nil {
			fill = newSlice(svc, m.ports)
			plan.create = append(plan.create, fill)
		}
		n := min(maxEndpointsPerSlice-len(fill.Endpoints), len(rest))
		fill.Endpoints = append(fill.Endpoints, rest[:n]...)
		rest = rest[n:]
	}
	return plan
}

// syncSlices writes the plan for svc's slices: creates, then updates,
// then deletes, so that an endpoint moved between slices is never
// missing from all of them.
func (c *Controller) syncSlices(ctx context.Context, svc *corev1.Service, subsets []corev1.EndpointSubset, existing []*discoveryv1.EndpointSlice) error {
	plan := planSlices(svc, subsets, existing)
	api := c.Client.DiscoveryV1().EndpointSlices(svc.Namespace)
	var errs []error
	for _, s := range plan.create {
		created, err := api.Create(ctx, s, metav1.CreateOptions{})
		if err != nil {
			errs = append(errs, err)
			continue
		}
		c.wroteSlices.wrote.Note(created.ResourceVersion)
	}
	for _, s := range plan.update {
		updated, err := api.Update(ctx, s, metav1.UpdateOptions{})
		switch {
		case apierrors.IsConflict(err) || apierrors.IsNotFound(err):
			// The next pass sees the newer object.
		case err != nil:
			errs = append(errs, err)
		default:
			c.wroteSlices.wrote.Note(updated.ResourceVersion)
		}
	}
	for _, s := range plan.remove {
		if err := c.deleteSlice(ctx, s); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

func (c *Controller) deleteSlice(ctx context.Context, s *discoveryv1.EndpointSlice) error {
	uid := s.UID
	err := c.Client.DiscoveryV1().EndpointSlices(s.Namespace).Delete(ctx, s.Name, metav1.DeleteOptions{Preconditions: &metav1.Preconditions{UID: &uid}})
	if err != nil && !apierrors.IsNotFound(err) && !apierrors.IsConflict(err) {
		return fmt.Errorf("delete endpointslice %s/%s: %w", s.Namespace, s.Name, err)
	}
	c.wroteSlices.noteDeleted(s)
	return nil
}

// managedSlices are the cached slices of service namespace/name this
// controller manages, without those it deleted.
func (c *Controller) managedSlices(f *follow.Follower[discoveryv1.EndpointSlice], namespace, name string) []*discoveryv1.EndpointSlice {
	var out []*discoveryv1.EndpointSlice
	for _, s := range f.ByIndex(follow.IndexSlicesByService, follow.Key(namespace, name)) {
		if s.Labels[discoveryv1.LabelManagedBy] == sliceManagedBy && !c.wroteSlices.isDeleted(s) {
			out = append(out, s)
		}
	}
	return out
}

// removeStaleSlices deletes the slices this controller made for services
// that are gone (or no longer have a selector).
func (c *Controller) removeStaleSlices(ctx context.Context, f *follow.Follower[discoveryv1.EndpointSlice], wanted map[string]bool) error {
	var errs []error
	for _, s := range f.List() {
		if s.Labels[discoveryv1.LabelManagedBy] != sliceManagedBy || wanted[follow.Key(s.Namespace, s.Labels[serviceNameLabel])] || c.wroteSlices.isDeleted(s) {
			continue
		}
		if err := c.deleteSlice(ctx, s); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}
