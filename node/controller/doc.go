// Package controller is the shared core of the leader-only control loops:
// what every controller uses (Deps, NewRecorder, DiscardEvents), the
// level-triggered loop (Loop, with a Trigger that its cache handlers
// poke), the read-your-writes helpers over the node's shared cache
// (OwnWrites, AwaitCache), the pod and node helpers and labels that more
// than one controller reads, DefaultClusterCIDR, and the bootstrap of the
// system namespaces (EnsureNamespaces). The controllers live beside it, one
// package per kind:
//
//	deployment/     Deployments, rolled out through ReplicaSets
//	replicaset/     ReplicaSets and ReplicationControllers
//	nodelifecycle/  Nodes, their conditions, leases, pod CIDRs; eviction
//	endpoints/      Endpoints and EndpointSlices of Services
//	gc/             garbage collection and namespace finalization
//	ingress/        Ingress and LoadBalancer status, the IngressClass
//	controllertest/ the environment their tests run in
//
// Each controller reads the node's shared cache (Deps.Cache, node/follow)
// and writes through the Kubernetes API with client-go, the same path and
// the same validation as every other client. Every controller has Run(ctx)
// error, level-triggered: a full pass at start, then passes on cache or
// gossip events and on a periodic resync (Loop; the Deployment and
// ReplicaSet controllers queue keys for workers instead). node/leader.go
// starts them when this node leads and stops them when it no longer does.
package controller
