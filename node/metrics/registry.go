package metrics

import (
	"errors"
	"fmt"
	"log/slog"
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
// with different labels or another type) are programming errors the
// metrics tests catch; c is then returned unregistered rather than
// stopping the node, and the error is logged (on slog's default logger:
// parts register before they have their own) so that missing metrics can
// be traced.
func Register[C prometheus.Collector](reg prometheus.Registerer, c C) C {
	if reg == nil {
		return c
	}
	err := reg.Register(c)
	if err == nil {
		return c
	}
	var dup prometheus.AlreadyRegisteredError
	if errors.As(err, &dup) {
		if existing, ok := dup.ExistingCollector.(C); ok {
			return existing
		}
	}
	slog.Error("metrics collector left unregistered", "collector", fmt.Sprintf("%T", c), "metrics", describe(c), "error", err)
	return c
}

// describe lists the descriptors of c, for a log.
func describe(c prometheus.Collector) []string {
	ch := make(chan *prometheus.Desc)
	go func() {
		defer close(ch)
		c.Describe(ch)
	}()
	var out []string
	for d := range ch {
		out = append(out, d.String())
	}
	return out
}

// Handler serves node's metrics and the process-wide ones in the
// Prometheus text exposition format (or what the scraper negotiates).
// A collector that fails leaves its metrics out; the rest are served.
func Handler(node prometheus.Gatherer) http.Handler {
	return promhttp.HandlerFor(prometheus.Gatherers{processGatherer(), node}, promhttp.HandlerOpts{
		ErrorHandling: promhttp.ContinueOnError,
	})
}
