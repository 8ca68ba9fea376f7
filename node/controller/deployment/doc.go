// Package deployment rolls Deployments out through ReplicaSets, as
// kube-controller-manager's deployment controller does (see Controller).
// It reads Deployments, ReplicaSets and pods from the node's shared cache;
// the pods themselves are the ReplicaSet controller's business.
package deployment
