package controller

// DefaultClusterCIDR is the pod network of the whole cluster; each node
// gets a /24 of it.
const DefaultClusterCIDR = "10.42.0.0/16"
