package follow_test

import (
	"context"
	"encoding/json"
	"fmt"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/shoal-project/shoal/consensus"
	"github.com/shoal-project/shoal/node/follow"
)

// A controller follows pods, indexed by node, and wakes on any change.
func Example() {
	st := consensus.NewStore()
	for i, node := range []string{"n1", "n2", "n1"} {
		raw, _ := json.Marshal(&corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprint("p", i), Namespace: "default"}, Spec: corev1.PodSpec{NodeName: node}})
		if _, err := st.Apply(uint64(i+1), &consensus.Command{Op: consensus.OpCreate, Resource: "pods", Namespace: "default", Name: fmt.Sprint("p", i), Object: raw}); err != nil {
			panic(err)
		}
	}

	pods := follow.New[corev1.Pod](st, "pods", "", nil)
	pods.AddIndex("node", func(p *corev1.Pod) []string { return []string{p.Spec.NodeName} })
	changed := make(chan struct{}, 1)
	pods.AddHandler(follow.OnAny[corev1.Pod](func() {
		select {
		case changed <- struct{}{}:
		default:
		}
	}))
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); _ = pods.Run(ctx) }()
	defer func() { cancel(); <-done }() // Run stops its watcher and returns

	<-pods.Ready()
	for _, p := range pods.ByIndex("node", "n1") {
		fmt.Println(p.Name, p.Spec.NodeName) // shared: DeepCopy before changing
	}
	// Output:
	// p0 n1
	// p2 n1
}
