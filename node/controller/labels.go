package controller

// Labels that show each node's gossip state and raft role, so that
// `get nodes -o wide` (and -l) tells who leads, and IngressLabel
// ("serving") on the nodes whose Ingress proxy listens, as their gossip
// metadata announces (membership.RoleIngress): the Ingress status lists
// only those.
const (
	GossipStateLabel = "shoal.io/gossip"
	RaftRoleLabel    = "shoal.io/raft-role"
	IngressLabel     = "shoal.io/ingress"
	IngressServing   = "serving"
)

// ControlPlaneRole labels and taints the members that run no pods.
const ControlPlaneRole = "node-role.kubernetes.io/control-plane"
