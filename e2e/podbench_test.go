package e2e

import (
	"context"
	"fmt"
	"sort"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"
)

// BenchmarkPodStartLatency measures, on one real node (containerd, runc,
// CNI) in a test network namespace, the time from create to Running for 30
// pods created at once, with the image already present: p50 and p99.
// Run with `make bench BENCH=PodStartLatency` (as root).
func BenchmarkPodStartLatency(b *testing.B) {
	pc := startPodCluster(b, 1)
	cfg, err := clientcmd.BuildConfigFromFlags("", pc.kubeconfig)
	if err != nil {
		b.Fatal(err)
	}
	cfg.Dial = dialIn(pc.lab.nodes[0])
	cfg.QPS, cfg.Burst = -1, 0
	cs := kubernetes.NewForConfigOrDie(cfg)
	ctx := context.Background()
	pod := func(name string) *corev1.Pod {
		return &corev1.Pod{
			ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "default"},
			Spec: corev1.PodSpec{Containers: []corev1.Container{{
				Name: "app", Image: "busybox", ImagePullPolicy: corev1.PullIfNotPresent,
				Command: []string{"sleep", "3600"},
			}}},
		}
	}
	// Warm up: the image is pulled once.
	if _, err := cs.CoreV1().Pods("default").Create(ctx, pod("warm-up"), metav1.CreateOptions{}); err != nil {
		b.Fatal(err)
	}
	waitRunning(b, cs, "warm-up")

	const n = 30
	var (
		mu   sync.Mutex
		lat  []time.Duration
		wg   sync.WaitGroup
		errs = make(chan error, n)
	)
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			name := fmt.Sprintf("bench-%02d", i)
			start := time.Now()
			if _, err := cs.CoreV1().Pods("default").Create(ctx, pod(name), metav1.CreateOptions{}); err != nil {
				errs <- err
				return
			}
			waitRunning(b, cs, name)
			mu.Lock()
			lat = append(lat, time.Since(start))
			mu.Unlock()
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		b.Fatal(err)
	}
	sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
	q := func(p float64) float64 { return lat[int(p*float64(len(lat)-1))].Seconds() }
	b.ReportMetric(q(0.5), "s-p50-create-to-running")
	b.ReportMetric(q(0.99), "s-p99-create-to-running")
}

// waitRunning watches one pod until its phase is Running.
func waitRunning(b testing.TB, cs kubernetes.Interface, name string) {
	ctx, cancel := context.WithTimeout(context.Background(), 120*time.Second)
	defer cancel()
	w, err := cs.CoreV1().Pods("default").Watch(ctx, metav1.ListOptions{FieldSelector: fields.OneTermEqualSelector("metadata.name", name).String()})
	if err != nil {
		b.Error(err)
		return
	}
	defer w.Stop()
	for ev := range w.ResultChan() {
		if p, ok := ev.Object.(*corev1.Pod); ok && p.Status.Phase == corev1.PodRunning {
			return
		}
	}
	b.Errorf("pod %s not Running within 120s", name)
}
