package scheduler

import (
	"context"
	"encoding/json"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	"github.com/shoal-project/shoal/consensus"
	"github.com/shoal-project/shoal/internal/apitest"
)

// parallel runs fn(0..n-1) on workers goroutines and returns the first error.
func parallel(n, workers int, fn func(i int) error) error {
	var (
		next     atomic.Int64
		wg       sync.WaitGroup
		firstErr error
		once     sync.Once
	)
	for range workers {
		wg.Go(func() {
			for {
				i := int(next.Add(1) - 1)
				if i >= n {
					return
				}
				if err := fn(i); err != nil {
					once.Do(func() { firstErr = err })
				}
			}
		})
	}
	wg.Wait()
	return firstErr
}

// boundView is the part of a stored pod the benchmark checks.
type boundView struct {
	Metadata struct {
		Name string `json:"name"`
	} `json:"metadata"`
	Spec struct {
		NodeName string `json:"nodeName"`
	} `json:"spec"`
	Status struct {
		Conditions []struct {
			Type   string `json:"type"`
			Status string `json:"status"`
		} `json:"conditions"`
	} `json:"status"`
}

func (v *boundView) done() bool {
	if v.Spec.NodeName == "" {
		return false
	}
	for _, c := range v.Status.Conditions {
		if c.Type == string(corev1.PodScheduled) && c.Status == string(corev1.ConditionTrue) {
			return true
		}
	}
	return false
}

// eventView is the part of a stored event the benchmark checks.
type eventView struct {
	InvolvedObject struct {
		Name string `json:"name"`
	} `json:"involvedObject"`
	Reason string `json:"reason"`
}

// waitBound returns once every pod in names is bound with
// PodScheduled=True in the store and has its Scheduled event, following
// the store's events from fromRV.
func waitBound(ctx context.Context, st *consensus.Store, fromRV uint64, names map[string]bool) error {
	pw, err := st.Watch("pods", "", fromRV)
	if err != nil {
		return err
	}
	defer pw.Stop()
	ew, err := st.Watch("events", "", fromRV)
	if err != nil {
		return err
	}
	defer ew.Stop()
	bound, events := map[string]bool{}, map[string]bool{}
	for len(bound) < len(names) || len(events) < len(names) {
		select {
		case <-ctx.Done():
			return fmt.Errorf("%d of %d pods bound, %d Scheduled events: %w", len(bound), len(names), len(events), ctx.Err())
		case ev, ok := <-pw.Events():
			if !ok {
				return fmt.Errorf("pod watch closed: %v", pw.Err())
			}
			var v boundView
			if err := json.Unmarshal(ev.Object.Raw, &v); err != nil {
				return err
			}
			if names[v.Metadata.Name] && v.done() {
				bound[v.Metadata.Name] = true
			}
		case ev, ok := <-ew.Events():
			if !ok {
				return fmt.Errorf("event watch closed: %v", ew.Err())
			}
			var v eventView
			if err := json.Unmarshal(ev.Object.Raw, &v); err != nil {
				return err
			}
			if names[v.InvolvedObject.Name] && v.Reason == "Scheduled" {
				events[v.InvolvedObject.Name] = true
			}
		}
	}
	return nil
}

// BenchmarkSchedule1000Nodes binds batches of 1,000 pending pods over
// 1,000 Ready nodes (Node objects only: no kubelets), through the real API
// path: client-go, the API server over loopback HTTP, LocalProposer and
// the store. Each iteration starts a fresh scheduler over a batch created
// beforehand and stops the clock once every pod is bound with
// PodScheduled=True in the store and its Scheduled event is written; it
// reports pods/s over all iterations, and the connections the API server
// accepted per pod.
//
// A bind is one POST pods/NAME/binding.
//
//   - binding: client-go's pool of 25 idle connections;
//   - binding-idle128: 128 idle connections, as the node wires its
//     leader loops' client (node/leader.go).
func BenchmarkSchedule1000Nodes(b *testing.B) {
	b.Run("binding", func(b *testing.B) { benchSchedule(b, nil) })
	b.Run("binding-idle128", func(b *testing.B) { benchSchedule(b, nil, apitest.WithIdleConns(128)) })
}

func benchSchedule(b *testing.B, opts []Option, envOpts ...apitest.Option) {
	const (
		nodes = 1000
		batch = 1000
	)
	e := newEnv(b, envOpts...)
	if err := parallel(nodes, 16, func(i int) error {
		n := testNode(fmt.Sprintf("node-%04d", i), "8", "32Gi", 110)
		_, err := e.CS.CoreV1().Nodes().Create(e.Ctx, n, metav1.CreateOptions{})
		return err
	}); err != nil {
		b.Fatal(err)
	}
	var (
		elapsed time.Duration
		conns   int64
	)
	b.ReportAllocs()
	b.ResetTimer()
	for iter := range b.N {
		b.StopTimer()
		names := make(map[string]bool, batch)
		for j := range batch {
			names[fmt.Sprintf("p-%d-%04d", iter, j)] = true
		}
		if err := parallel(batch, 16, func(j int) error {
			p := testPod(fmt.Sprintf("p-%d-%04d", iter, j), "100m", "128Mi", ownedBy(fmt.Sprintf("rs-%d", j%10)))
			p.UID = ""
			_, err := e.CS.CoreV1().Pods("default").Create(e.Ctx, p, metav1.CreateOptions{})
			return err
		}); err != nil {
			b.Fatal(err)
		}
		fromRV := e.Store.Index()
		ctx, cancel := context.WithCancel(e.Ctx)
		s := New(e.deps, opts...)
		runDone := make(chan error, 1)
		conns0 := e.Conns()
		b.StartTimer()
		start := time.Now()
		go func() { runDone <- s.Run(ctx) }()
		wctx, wcancel := context.WithTimeout(ctx, 2*time.Minute)
		err := waitBound(wctx, e.Store, fromRV, names)
		wcancel()
		elapsed += time.Since(start)
		b.StopTimer()
		conns += e.Conns() - conns0
		cancel()
		<-runDone
		if err != nil {
			b.Fatal(err)
		}
		// Free the nodes for the next batch, as kubelets would.
		if err := parallel(batch, 16, func(j int) error {
			return e.CS.CoreV1().Pods("default").Delete(e.Ctx, fmt.Sprintf("p-%d-%04d", iter, j), metav1.DeleteOptions{GracePeriodSeconds: ptr.To[int64](0)})
		}); err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
	}
	b.StopTimer()
	b.ReportMetric(float64(b.N*batch)/elapsed.Seconds(), "pods/s")
	b.ReportMetric(float64(conns)/float64(b.N*batch), "conns/pod")
}
