// Package network is a node's pod network: the CNI plugin that attaches
// pod sandboxes to the node's bridge with addresses from the node's pod
// CIDR (this file set), and, later, routes between nodes and the Service
// proxy. It knows nothing of raft or HTTP.
package network
