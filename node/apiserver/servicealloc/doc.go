// Package servicealloc gives Services their cluster IPs and node ports.
//
// A Service's cluster IP and node ports are store claims
// (consensus.Command.Claims) named "service-ip/<ip>" and "nodeport/<port>":
// the FSM gives each to one object, so every replica agrees on who holds
// what, and deleting the Service frees them. The API server picks free
// candidates from its local replica and, when a concurrent write took one
// first (consensus.ErrClaimed), picks again. There is no allocator state
// besides the store's claims, so nothing needs repair after a crash or a
// change of leader.
//
// As in Kubernetes, node ports are one space for all protocols, and ports of
// one Service with the same port number share their node port. The first
// host address of the range is kept for the "kubernetes" Service.
//
// Usage, in the API server's write path:
//
//	a := servicealloc.New(store, cfg.ServiceCIDR, cfg.NodePortRange)
//	al, err := a.Allocate(svc, oldSvc) // fills in spec.clusterIPs, nodePorts
//	al.SetClaims(cmd)                  // the claims travel with the write
//	if retry, err := al.RetryClaims(proposeErr, attempt, gr); retry { ... }
package servicealloc
