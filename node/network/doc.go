// Package network is a node's pod network. It knows nothing of raft or
// HTTP: the node computes plain descriptions from its store and hands them
// in.
//
//   - CNI (cni.go) attaches pod sandboxes to the node's bridge ("shoal0")
//     with addresses from the node's pod CIDR, through the standard bridge
//     and host-local plugins.
//   - Routes (routes.go) keeps a route to every other node's pod CIDR
//     through that node's address, tagged `proto 83` so only shoal's routes
//     are replaced or removed, plus an optional route for the Service CIDR
//     through the bridge; EnableForwarding switches on IPv4 forwarding and
//     bridge netfilter.
//   - ServiceProxy (proxy*.go) implements Services with one nftables table
//     ("ip shoal"), rebuilt whole from a ProxyState by a pure function and
//     swapped in one transaction.
//
// Usage on a node:
//
//	fw, _ := network.EnableForwarding()
//	routes, _ := network.NewRoutes(network.RoutesConfig{ServiceCIDR: "10.43.0.0/16"})
//	proxy, _ := network.NewServiceProxy(network.ProxyConfig{PodCIDR: podCIDR})
//	// on every change of Nodes, Services or Endpoints, and on a timer:
//	routes.SyncRoutes(podCIDR, peers) // pod CIDR -> node address
//	proxy.Sync(state)                 // built with ProxyServiceFromAPI
//	// on shutdown:
//	proxy.Close(); routes.Close()
package network
