// Package servicesync makes a node's Services work from its local replica
// of the store, like kube-proxy and CoreDNS's kubernetes plugin. Every part
// reads the node's shared follow caches (package follow), decoding nothing
// itself: Proxy follows Services, Endpoints and Nodes and programs the
// node's nftables Service proxy and its routes to other nodes' pod CIDRs
// (package network); Resolver keeps a DNS view of each Service and answers
// dnsd's questions about Services and pods from it and the caches'
// indexes; Ingress rebuilds the Ingress proxy's routing table (package
// ingress). It joins the store and the network parts so that neither has
// to know the other.
package servicesync
