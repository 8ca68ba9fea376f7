package e2e

import (
	"context"
	"fmt"
	"os"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"
)

// BenchmarkAPICreates measures creates through a 3-voter cluster of real
// shoal processes: sequentially through one follower, then with 64
// concurrent writers spread over the three peers, until the store holds
// 10,000 objects; then each daemon's resident memory. Run with
// `make bench BENCH=APICreates` (b.N is ignored: the workload is fixed).
func BenchmarkAPICreates(b *testing.B) {
	c := startCluster(b, 3)
	clients := make([]kubernetes.Interface, len(c.agents))
	for i, a := range c.agents {
		cfg, err := clientcmd.BuildConfigFromFlags(a.apiURL(), c.kubeconfig)
		if err != nil {
			b.Fatal(err)
		}
		cfg.QPS, cfg.Burst = -1, 0
		clients[i] = kubernetes.NewForConfigOrDie(cfg)
	}
	ctx := context.Background()
	create := func(cs kubernetes.Interface, name string) (time.Duration, error) {
		cm := &corev1.ConfigMap{
			ObjectMeta: metav1.ObjectMeta{Name: name, Labels: map[string]string{"bench": "creates"}},
			Data:       map[string]string{"payload": strings.Repeat("x", 256)},
		}
		start := time.Now()
		_, err := cs.CoreV1().ConfigMaps("default").Create(ctx, cm, metav1.CreateOptions{})
		return time.Since(start), err
	}

	const sequential = 1000
	lat := make([]time.Duration, 0, sequential)
	start := time.Now()
	for i := 0; i < sequential; i++ {
		d, err := create(clients[1], fmt.Sprintf("seq-%05d", i))
		if err != nil {
			b.Fatal(err)
		}
		lat = append(lat, d)
	}
	report(b, "seq", sequential, time.Since(start), lat)

	const writers, total = 64, 10000 - sequential
	var (
		mu   sync.Mutex
		all  = make([]time.Duration, 0, total)
		wg   sync.WaitGroup
		errs = make(chan error, writers)
	)
	start = time.Now()
	for w := 0; w < writers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			cs := clients[w%len(clients)]
			var mine []time.Duration
			for i := w; i < total; i += writers {
				d, err := create(cs, fmt.Sprintf("par-%05d", i))
				if err != nil {
					errs <- err
					return
				}
				mine = append(mine, d)
			}
			mu.Lock()
			all = append(all, mine...)
			mu.Unlock()
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		b.Fatal(err)
	}
	report(b, "par64", total, time.Since(start), all)

	for _, a := range c.agents {
		rss := residentMB(a.cmd.Process.Pid)
		b.ReportMetric(rss, "MB-rss-"+a.name)
	}
}

func report(b *testing.B, label string, n int, elapsed time.Duration, lat []time.Duration) {
	sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
	p := func(q float64) float64 { return float64(lat[int(q*float64(len(lat)-1))].Microseconds()) / 1000 }
	b.ReportMetric(float64(n)/elapsed.Seconds(), "creates/s-"+label)
	b.ReportMetric(p(0.50), "ms-p50-"+label)
	b.ReportMetric(p(0.99), "ms-p99-"+label)
}

// residentMB reads VmRSS of a process.
func residentMB(pid int) float64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return -1
	}
	for _, line := range strings.Split(string(b), "\n") {
		if f := strings.Fields(line); len(f) >= 2 && f[0] == "VmRSS:" {
			kb, _ := strconv.ParseFloat(f[1], 64)
			return kb / 1024
		}
	}
	return -1
}
