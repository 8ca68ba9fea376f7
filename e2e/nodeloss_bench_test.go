package e2e

import (
	"fmt"
	"sort"
	"testing"
	"time"
)

// BenchmarkNodeLossRecovery measures the seconds from a node's death (its
// agent, containerd and containers killed with SIGKILL) to all of a
// deployment's pods Running and ready again on the other nodes, on three
// real nodes: the median of 5 runs. Run with `make bench BENCH=NodeLoss`
// (as root).
func BenchmarkNodeLossRecovery(b *testing.B) {
	var runs []float64
	for i := 0; i < 5; i++ {
		b.Run(fmt.Sprintf("run-%d", i), func(b *testing.B) {
			pc := startPodCluster(b, 3)
			victim := pc.deployFourAndPickVictim(b)
			start := time.Now()
			pc.killNode(victim)
			pc.deploymentReady(b, 4, pc.agents[victim].name, 120*time.Second)
			took := time.Since(start).Seconds()
			runs = append(runs, took)
			b.ReportMetric(took, "s-death-to-replaced")
		})
	}
	if len(runs) == 0 {
		b.Skip("no run")
	}
	sort.Float64s(runs)
	// A parent benchmark's own metrics are not printed: report the summary
	// as a sub-benchmark of its own.
	b.Run("median-of-5", func(b *testing.B) {
		b.ReportMetric(runs[len(runs)/2], "s-median-death-to-replaced")
		b.ReportMetric(runs[len(runs)-1], "s-max")
	})
}
