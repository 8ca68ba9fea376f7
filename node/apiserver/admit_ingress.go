package apiserver

import (
	"encoding/json"
	"sort"

	networkingv1 "k8s.io/api/networking/v1"
	"k8s.io/apimachinery/pkg/runtime"

	"github.com/shoal-project/shoal/node/apiserver/registry"
)

// admit is the mutating admission of a create, between defaulting and
// validation, as kube-apiserver runs its admission plugins.
func (s *Server) admit(obj runtime.Object) error {
	if ing, ok := obj.(*networkingv1.Ingress); ok {
		return s.defaultIngressClass(ing)
	}
	return nil
}

// defaultIngressClass is Kubernetes' DefaultIngressClass admission plugin:
// an Ingress created with neither spec.ingressClassName nor the
// kubernetes.io/ingress.class annotation gets the class annotated
// ingressclass.kubernetes.io/is-default-class: "true", when there is one.
// Of several default classes the newest wins (then the first by name), as
// in kube-apiserver since 1.29: a second default class must not stop
// every class-less Ingress from being created.
func (s *Server) defaultIngressClass(ing *networkingv1.Ingress) error {
	if ing.Spec.IngressClassName != nil {
		return nil
	}
	if _, ok := ing.Annotations[registry.AnnotationIngressClass]; ok {
		return nil
	}
	classes, _, _ := s.store.List("ingressclasses.networking.k8s.io", "", "", 0)
	var defaults []networkingv1.IngressClass
	for _, o := range classes {
		var c networkingv1.IngressClass
		if json.Unmarshal(o.Raw, &c) == nil && c.Annotations[networkingv1.AnnotationIsDefaultIngressClass] == "true" {
			defaults = append(defaults, c)
		}
	}
	if len(defaults) == 0 {
		return nil
	}
	sort.Slice(defaults, func(i, j int) bool {
		a, b := defaults[i].CreationTimestamp, defaults[j].CreationTimestamp
		if !a.Equal(&b) {
			return b.Before(&a)
		}
		return defaults[i].Name < defaults[j].Name
	})
	if len(defaults) > 1 {
		s.log.Debug("several default IngressClasses; choosing the newest", "count", len(defaults), "class", defaults[0].Name)
	}
	ing.Spec.IngressClassName = &defaults[0].Name
	return nil
}
