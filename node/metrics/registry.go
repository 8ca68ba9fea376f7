package metrics

import (
	"errors"
	"net/http"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// NewRegistry is a fresh registry for one node's collectors.
func NewRegistry() *prometheus.Registry { return prometheus.NewRegistry() }

// Register registers c on reg and returns it; when an equal collector is
// registered already (a part built again on the same node), it returns
// that one instead, so counters carry on. A nil reg leaves c unregistered:
// the part counts for nobody. Other registration errors (a name clash
// with different labels) are programming errors the metrics tests catch;
// c is then returned unregistered rather than stopping the node.
func Register[C prometheus.Collector](reg prometheus.Registerer, c C) C {
	if reg == nil {
		return c
	}
	err := reg.Register(c)
	var dup prometheus.AlreadyRegisteredError
	if errors.As(err, &dup) {
		if existing, ok := dup.ExistingCollector.(C); ok {
			return existing
		}
	}
	return c
}

// Handler serves node's metrics and the process-wide ones in the
// Prometheus text exposition format (or what the scraper negotiates).
// A collector that fails leaves its metrics out; the rest are served.
func Handler(node prometheus.Gatherer) http.Handler {
	return promhttp.HandlerFor(prometheus.Gatherers{processGatherer(), node}, promhttp.HandlerOpts{
		ErrorHandling: promhttp.ContinueOnError,
	})
}
