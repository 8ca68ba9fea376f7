// Package streaming serves the streaming pod subresources: log and exec.
//
// Two halves, one on each side of the node boundary:
//
//   - NodeServer runs on every node and serves the pods of that node under
//     /shoal/v1/node/pods/{namespace}/{name}/{log,exec}. It finds the
//     container through a Locate function (the kubelet knows which container
//     id backs a pod's container) and talks to the runtime.Runtime. Logs are
//     plain text, flushed per write when following. Exec speaks Kubernetes'
//     remote-command protocol: WebSocket (v5.channel.k8s.io, v4.channel.k8s.io
//     and v4.base64.channel.k8s.io) and, for clients that fall back, SPDY/3.1
//     (v5 and v4).
//
//   - Proxy is the API server's side: a wire.SubresourceHandler for
//     pods/log, pods/exec and pods/attach. It reads the pod from the local
//     store, checks and defaults the container as kube-apiserver does, then
//     serves the request with the local NodeServer when the pod is on this
//     node, or reverse-proxies it (upgrades included) to the pod's node.
//
// Wiring, in node/ (names outside this package are illustrative):
//
//	ns := streaming.NewNodeServer(streaming.NodeServerConfig{
//		Runtime: rt, Locate: kubelet.LocateContainer, Logger: log})
//	px := streaming.NewProxy(streaming.ProxyConfig{
//		Store: store, NodeAddr: apiBaseOf, Local: cfg.Name,
//		LocalHandler: ns, Transport: nodeTransport, Logger: log})
//	apiCfg.Authenticated = map[string]http.Handler{streaming.NodePathPrefix: ns}
//	apiCfg.Subresources = px.Handlers()
//
// The API server must hand the handlers a ResponseWriter that can Hijack
// (upgrades) and Flush (following logs). Exec sessions are hijacked
// connections: http.Server.Shutdown does not wait for them.
package streaming
