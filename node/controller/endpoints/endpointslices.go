package endpoints

import (
	"context"
	"errors"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/shoal-project/shoal/node/follow"
)

const (
	sliceManagedBy = "endpointslice-controller.k8s.io"
	// serviceNameLabel is how EndpointSlices name their Service.
	serviceNameLabel = discoveryv1.LabelServiceName
)

// sliceFor is the EndpointSlice of a service: the same pods as its
// Endpoints, with their ready/serving/terminating conditions. One slice per
// service (named after it) holds up to the 1,000 endpoints shoal expects
// per service.
func sliceFor(svc *corev1.Service, subsets []corev1.EndpointSubset) *discoveryv1.EndpointSlice {
	s := &discoveryv1.EndpointSlice{
		ObjectMeta: metav1.ObjectMeta{Name: svc.Name, Namespace: svc.Namespace, Labels: map[string]string{
			serviceNameLabel:           svc.Name,
			discoveryv1.LabelManagedBy: sliceManagedBy,
		}},
		AddressType: discoveryv1.AddressTypeIPv4,
	}
	yes, no := true, false
	seenPorts := map[string]bool{}
	for _, ss := range subsets {
		for _, p := range ss.Ports {
			key := p.Name + "/" + string(p.Protocol)
			if seenPorts[key] {
				continue
			}
			seenPorts[key] = true
			port, name, proto := p.Port, p.Name, p.Protocol
			s.Ports = append(s.Ports, discoveryv1.EndpointPort{Name: &name, Port: &port, Protocol: &proto, AppProtocol: p.AppProtocol})
		}
		add := func(a corev1.EndpointAddress, ready bool) {
			e := discoveryv1.Endpoint{Addresses: []string{a.IP}, NodeName: a.NodeName, TargetRef: a.TargetRef,
				Conditions: discoveryv1.EndpointConditions{Ready: &no, Serving: &no, Terminating: &no}}
			if ready {
				e.Conditions.Ready, e.Conditions.Serving = &yes, &yes
			}
			s.Endpoints = append(s.Endpoints, e)
		}
		for _, a := range ss.Addresses {
			add(a, true)
		}
		for _, a := range ss.NotReadyAddresses {
			add(a, false)
		}
	}
	return s
}

// syncSlice writes want when the stored slice differs.
func (c *Controller) syncSlice(ctx context.Context, slices *follow.Follower[discoveryv1.EndpointSlice], want *discoveryv1.EndpointSlice) error {
	cached, ok := slices.Get(want.Namespace, want.Name)
	if !ok {
		_, err := c.Client.DiscoveryV1().EndpointSlices(want.Namespace).Create(ctx, want, metav1.CreateOptions{})
		if apierrors.IsAlreadyExists(err) {
			return nil
		}
		return err
	}
	cur := cached.DeepCopy()
	if equality.Semantic.DeepEqual(cur.Endpoints, want.Endpoints) && equality.Semantic.DeepEqual(cur.Ports, want.Ports) && equality.Semantic.DeepEqual(cur.Labels, want.Labels) {
		return nil
	}
	cur.Endpoints, cur.Ports, cur.Labels, cur.AddressType = want.Endpoints, want.Ports, want.Labels, want.AddressType
	_, err := c.Client.DiscoveryV1().EndpointSlices(want.Namespace).Update(ctx, cur, metav1.UpdateOptions{})
	if apierrors.IsConflict(err) {
		return nil
	}
	return err
}

// removeStaleSlices deletes the slices this controller made for services
// that are gone.
func (c *Controller) removeStaleSlices(ctx context.Context, slices *follow.Follower[discoveryv1.EndpointSlice], wanted map[string]bool) error {
	var errs []error
	for _, o := range slices.List() {
		if wanted[o.Namespace+"/"+o.Name] || o.Labels[discoveryv1.LabelManagedBy] != sliceManagedBy {
			continue
		}
		err := c.Client.DiscoveryV1().EndpointSlices(o.Namespace).Delete(ctx, o.Name, metav1.DeleteOptions{})
		if err != nil && !apierrors.IsNotFound(err) {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}
