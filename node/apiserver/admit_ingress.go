package apiserver

import (
	"encoding/json"
	"fmt"

	networkingv1 "k8s.io/api/networking/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
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
// Two default classes make the create fail.
func (s *Server) defaultIngressClass(ing *networkingv1.Ingress) error {
	if ing.Spec.IngressClassName != nil {
		return nil
	}
	if _, ok := ing.Annotations[registry.AnnotationIngressClass]; ok {
		return nil
	}
	classes, _, _ := s.store.List("ingressclasses.networking.k8s.io", "", "", 0)
	var defaults []string
	for _, o := range classes {
		var c networkingv1.IngressClass
		if json.Unmarshal(o.Raw, &c) == nil && c.Annotations[networkingv1.AnnotationIsDefaultIngressClass] == "true" {
			defaults = append(defaults, c.Name)
		}
	}
	switch len(defaults) {
	case 0:
		return nil
	case 1:
		ing.Spec.IngressClassName = &defaults[0]
		return nil
	}
	err := apierrors.NewInternalError(fmt.Errorf("%d default IngressClasses were found, only 1 allowed", len(defaults)))
	return apierrors.NewForbidden(networkingv1.Resource("ingresses"), ing.Name, err)
}
