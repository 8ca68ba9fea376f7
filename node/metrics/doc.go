// Package metrics holds a node's Prometheus registry and the collectors
// that more than one part shares: raft and gossip state, and the process.
//
// Every node has its own *prometheus.Registry (never the global default
// one): several nodes run in one test process, and each must show its own
// figures. The parts (apiserver, kubelet, scheduler) define their metrics
// beside their code and register them on the node's registry through
// Register, which hands back the collector already there when a part is
// built again (the scheduler, on every leadership gain).
//
// What is process-wide is gathered by every node's /metrics: the Go
// runtime and process collectors, and hashicorp/go-metrics, through which
// hashicorp/raft and memberlist report their internals (raft_commitTime,
// memberlist_gossip, ...). go-metrics has one global sink per process, so
// with several nodes in one process those figures mix; in production a
// process runs one node.
//
// Usage, in node/:
//
//	reg := metrics.NewRegistry()
//	reg.MustRegister(metrics.NewRaftCollector(raft), metrics.NewGossipCollector(gossip))
//	apiCfg.Metrics = reg
//	apiCfg.Authenticated["/metrics"] = metrics.Handler(reg)
package metrics
