package replicaset

import (
	"context"
	"fmt"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	"github.com/shoal-project/shoal/internal/apitest"
	"github.com/shoal-project/shoal/node/controller/controllertest"
)

// BenchmarkScaleTo1000 scales a ReplicaSet from 0 to 1,000 replicas and
// measures until all 1,000 pods are committed to the store (no scheduler:
// only the controller's creates through the API). It reports pods/s.
func BenchmarkScaleTo1000(b *testing.B) {
	const n = 1000
	e := newRSEnv(b)
	e.Deps.Logger = apitest.Logger(b)
	c := e.startRS(0)
	var total time.Duration
	for i := 0; b.Loop(); i++ {
		b.StopTimer()
		ns := fmt.Sprintf("bench-%d", i)
		if _, err := e.CS.CoreV1().Namespaces().Create(e.Ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}, metav1.CreateOptions{}); err != nil {
			b.Fatal(err)
		}
		rs := controllertest.ReplicaSet("web", 0)
		rs.Namespace = ns
		if _, err := e.CS.AppsV1().ReplicaSets(ns).Create(e.Ctx, rs, metav1.CreateOptions{}); err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
		start := time.Now()
		patch := []byte(fmt.Sprintf(`{"spec":{"replicas":%d}}`, n))
		if _, err := e.CS.AppsV1().ReplicaSets(ns).Patch(e.Ctx, "web", types.MergePatchType, patch, metav1.PatchOptions{}); err != nil {
			b.Fatal(err)
		}
		ctx, cancel := context.WithTimeout(e.Ctx, 2*time.Minute)
		for {
			pods, _, _ := e.Store.List("pods", ns, "", 0)
			if len(pods) >= n {
				break
			}
			if err := e.Store.WaitIndex(ctx, e.Store.Index()+1); err != nil {
				cancel()
				b.Fatalf("%d of %d pods: %v", len(pods), n, err)
			}
		}
		cancel()
		total += time.Since(start)
	}
	b.ReportMetric(float64(n*b.N)/total.Seconds(), "pods/s")
	// The last creates are counted once their answers arrive; then no
	// namespace may have more than n pods.
	b.StopTimer()
	deadline := time.Now().Add(10 * time.Second)
	for c.creates.Load() < int64(n*b.N) && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	time.Sleep(100 * time.Millisecond)
	if got := c.creates.Load(); got != int64(n*b.N) {
		b.Errorf("%d creates, want %d", got, n*b.N)
	}
	for i := range b.N {
		if pods, _, _ := e.Store.List("pods", fmt.Sprintf("bench-%d", i), "", 0); len(pods) != n {
			b.Errorf("bench-%d: %d pods, want %d", i, len(pods), n)
		}
	}
}
