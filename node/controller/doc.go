// Package controller holds the leader-only control loops: node lifecycle
// (Node objects, Ready with its heartbeat and taints from gossip and the
// node lease, the kubelet's conditions turned Unknown when it is lost) and eviction of a lost node's
// pods, Deployments, ReplicaSets and ReplicationControllers, Endpoints,
// namespace finalization and garbage collection. Each loop reads the local replica of the store (the leader's
// is current) and writes through the Kubernetes API with client-go, the
// same path and the same validation as every other client.
//
// Every controller has Run(ctx) error, level-triggered: a full pass at
// start, then passes on store or gossip events and on a periodic resync.
package controller
