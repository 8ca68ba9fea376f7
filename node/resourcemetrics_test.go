package node_test

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	metricsclient "k8s.io/metrics/pkg/client/clientset/versioned"

	"github.com/shoal-project/shoal/internal/testcluster"
)

// TestNodeMetricsFromEveryPeer: any peer answers metrics.k8s.io with every
// node's figures, fetched from each node over mutual TLS.
func TestNodeMetricsFromEveryPeer(t *testing.T) {
	c := testcluster.New(t, 3)
	want := make([]string, 0, len(c.Members))
	for _, m := range c.Members {
		want = append(want, m.Name)
	}
	sort.Strings(want)
	for i := range c.Members {
		mc, err := metricsclient.NewForConfig(c.RESTConfig(i))
		if err != nil {
			t.Fatal(err)
		}
		c.Eventually(30*time.Second, fmt.Sprintf("node metrics of every node through %s", c.Members[i].Name), func() error {
			list, err := mc.MetricsV1beta1().NodeMetricses().List(context.Background(), metav1.ListOptions{})
			if err != nil {
				return err
			}
			var got []string
			for _, m := range list.Items {
				cpu, mem := m.Usage.Cpu(), m.Usage.Memory()
				if mem.IsZero() || m.Window.Duration <= 0 || m.Timestamp.IsZero() {
					return fmt.Errorf("%s: cpu %v memory %v window %v timestamp %v", m.Name, cpu, mem, m.Window, m.Timestamp)
				}
				got = append(got, m.Name)
			}
			if strings.Join(got, ",") != strings.Join(want, ",") {
				return fmt.Errorf("nodes with metrics %q, want %q", got, want)
			}
			return nil
		})
	}
}
