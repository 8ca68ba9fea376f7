package node

import (
	"context"
	"encoding/json"
	"errors"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/shoal-project/shoal/consensus"
	"github.com/shoal-project/shoal/node/follow"
)

// TestWaitPodCIDR: the wait ends when the leader gives this node (not
// another) a pod CIDR, without polling the store, and when ctx ends.
func TestWaitPodCIDR(t *testing.T) {
	store := consensus.NewStore()
	n := &Node{cfg: Config{Name: "n1"}, store: store, cache: follow.NewShared(store, nil)}
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Add(1)
	go func() { defer wg.Done(); _ = n.cache.Run(ctx) }()
	defer func() { cancel(); wg.Wait() }()

	var idx uint64
	put := func(op consensus.Op, name, podCIDR string) {
		t.Helper()
		raw, err := json.Marshal(&corev1.Node{
			TypeMeta:   metav1.TypeMeta{APIVersion: "v1", Kind: "Node"},
			ObjectMeta: metav1.ObjectMeta{Name: name},
			Spec:       corev1.NodeSpec{PodCIDR: podCIDR},
		})
		if err != nil {
			t.Fatal(err)
		}
		idx++
		if _, err := store.Apply(idx, &consensus.Command{Op: op, Resource: "nodes", Name: name, Object: raw, UID: "uid-" + name, Time: "2026-01-01T00:00:00Z"}); err != nil {
			t.Fatal(err)
		}
	}
	put(consensus.OpCreate, "n1", "")
	put(consensus.OpCreate, "n2", "")

	type result struct {
		cidr string
		err  error
	}
	done := make(chan result, 1)
	go func() {
		cidr, err := n.waitPodCIDR(ctx)
		done <- result{cidr, err}
	}()
	put(consensus.OpUpdate, "n2", "10.42.1.0/24")
	select {
	case r := <-done:
		t.Fatalf("returned %+v before this node had a pod CIDR", r)
	case <-time.After(200 * time.Millisecond):
	}
	put(consensus.OpUpdate, "n1", "10.42.2.0/24")
	select {
	case r := <-done:
		if r.err != nil || r.cidr != "10.42.2.0/24" {
			t.Fatalf("waitPodCIDR = %q, %v; want 10.42.2.0/24", r.cidr, r.err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("waitPodCIDR did not see the pod CIDR")
	}
	// Already set: at once.
	if cidr, err := n.waitPodCIDR(ctx); err != nil || cidr != "10.42.2.0/24" {
		t.Fatalf("second wait = %q, %v", cidr, err)
	}

	other := &Node{cfg: Config{Name: "n3"}, store: store, cache: n.cache}
	short, stop := context.WithTimeout(ctx, 100*time.Millisecond)
	defer stop()
	if _, err := other.waitPodCIDR(short); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("wait for a node that never gets a CIDR: %v, want the context's error", err)
	}
}
