package metrics

import (
	"sync"
	"time"

	gometrics "github.com/hashicorp/go-metrics"
	gmprom "github.com/hashicorp/go-metrics/prometheus"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
)

// goMetricsExpiry is how long a go-metrics figure that stopped changing is
// still served (a leader's replication timings after it stepped down): at
// least two scrape intervals.
const goMetricsExpiry = 2 * time.Minute

var (
	processOnce sync.Once
	process     *prometheus.Registry
)

// processGatherer is the process-wide registry: the Go runtime, the
// process, and go-metrics (raft's and memberlist's internals). The first
// call installs the global go-metrics sink.
func processGatherer() prometheus.Gatherer {
	processOnce.Do(func() {
		process = prometheus.NewRegistry()
		process.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
		sink, err := gmprom.NewPrometheusSinkFrom(gmprom.PrometheusOpts{
			Expiration: goMetricsExpiry, Registerer: process, Name: "shoal_go_metrics_sink",
		})
		if err != nil {
			return // the names clash: serve without raft's internals
		}
		cfg := gometrics.DefaultConfig("")
		cfg.EnableHostname = false       // the scraper labels the instance
		cfg.EnableRuntimeMetrics = false // the Go collector has them
		_, _ = gometrics.NewGlobal(cfg, sink)
	})
	return process
}
