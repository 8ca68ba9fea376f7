// Package resourcemetrics is shoal's resource metrics pipeline: what the
// kubelet's summary API and metrics-server do together in Kubernetes, so
// that `kubectl top nodes` and `kubectl top pods` work against any peer.
//
// Two halves, one on each side of the node boundary:
//
//   - Collector runs on every node. Every Interval (10 s), and on demand
//     when a request finds the last sample older than MinWindow (1 s), it
//     reads the machine's busy CPU time (/proc/stat), memory (/proc/meminfo:
//     working set = MemTotal - MemAvailable), network counters (/proc/net/dev
//     of the node's namespace), the data directory's filesystem (statfs),
//     and each running container's cumulative CPU time and working set from
//     its cgroup (runtime.ContainerStats). It keeps the samples of the last
//     few intervals; a CPU usage is the average rate between the newest
//     sample and the oldest one at most 1.5 intervals before it, with that
//     window reported beside it. It serves the result as a Summary at
//     SummaryPath (JSON, field names after the kubelet's stats/v1alpha1).
//
//   - API runs on every peer and serves metrics.k8s.io/v1beta1 (NodeMetrics,
//     PodMetrics; get and list, label and metadata field selectors, Tables)
//     as a wire.APIService. Each request reads the nodes and pods from
//     the local replica, asks the Ready nodes concerned for their Summaries
//     in parallel, each within NodeTimeout, and leaves out the nodes that do
//     not answer, as metrics-server leaves out a kubelet it cannot scrape.
//     Pods are matched by namespace, name and uid; only Running pods whose
//     every container has a rate are reported. Errors are metrics-server's
//     (`podmetrics.metrics.k8s.io "default/web" not found`).
//
// Wiring, in node/ (names outside this package are illustrative):
//
//	c := resourcemetrics.NewCollector(resourcemetrics.CollectorConfig{
//		NodeName: name, Runtime: rt, FsPath: dataDir, Logger: log})
//	go c.Run(ctx)
//	api := resourcemetrics.NewAPI(resourcemetrics.APIConfig{Store: store,
//		Summaries: &resourcemetrics.NodeClient{NodeAddr: apiBaseOf, Transport: nodeTransport}})
//	apiCfg.Authenticated[resourcemetrics.SummaryPath] = c
//	apiCfg.APIServices = []apiserver.APIService{api.APIService()}
package resourcemetrics
