// Package replicaset keeps spec.replicas pods running for every
// ReplicaSet (Controller) and every ReplicationController
// (ReplicationManager), as kube-controller-manager does, both through one
// replica manager over the node's shared cache: slow-start creates,
// ordered deletes, adoption and release, expectations and status.
package replicaset
