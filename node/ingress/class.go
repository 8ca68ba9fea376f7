package ingress

import (
	networkingv1 "k8s.io/api/networking/v1"
)

// ControllerName is spec.controller of the IngressClasses this data plane
// serves; ClassName is the class the cluster makes at bootstrap.
const (
	ControllerName = "shoal.io/ingress"
	ClassName      = "shoal"
)

// annotationIngressClass is the deprecated way to name an Ingress's class.
const annotationIngressClass = "kubernetes.io/ingress.class"

// Serves reports whether ing is shoal's to serve: its class (the
// spec.ingressClassName, else the deprecated kubernetes.io/ingress.class
// annotation) names an IngressClass of ControllerName, or it names none
// and one of shoal's classes is the cluster's default.
func Serves(classes []networkingv1.IngressClass, ing *networkingv1.Ingress) bool {
	ours := map[string]bool{}
	isDefault := false
	for _, c := range classes {
		if c.Spec.Controller != ControllerName {
			continue
		}
		ours[c.Name] = true
		if c.Annotations[networkingv1.AnnotationIsDefaultIngressClass] == "true" {
			isDefault = true
		}
	}
	if n := ing.Spec.IngressClassName; n != nil {
		return ours[*n]
	}
	if n, ok := ing.Annotations[annotationIngressClass]; ok {
		return ours[n]
	}
	return isDefault
}
