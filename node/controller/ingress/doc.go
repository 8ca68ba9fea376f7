// Package ingress publishes where a shoal cluster answers from outside:
// the status of Ingresses of shoal's class and of LoadBalancer Services
// (the addresses of the Ready nodes that serve them), and shoal's
// IngressClass, made once in the cluster's life. The data plane is
// node/ingress (imported here as ingressproxy).
package ingress
