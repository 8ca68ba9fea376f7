// Package nodelifecycle keeps the Node objects of a cluster: one per
// gossip member, with the Ready condition, its heartbeat and readiness
// taints following gossip and the node lease (Controller), a /24 pod CIDR
// handed out at registration, the kubelet's conditions turned Unknown when
// it is lost, and the eviction of a lost node's pods (Eviction). It reads
// Nodes, Leases and pods from the node's shared cache.
package nodelifecycle
