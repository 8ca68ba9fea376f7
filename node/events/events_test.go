package events

import (
	"context"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes/fake"
)

// TestRepeatsAggregate: the same event recorded three times is one Event
// with count 3, from the source given, as kubectl describe shows it.
func TestRepeatsAggregate(t *testing.T) {
	client := fake.NewSimpleClientset()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	rec := Run(ctx, client, Source{Component: "kubelet", Host: "n1"})
	pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: "default", UID: "u1"}}
	for range 3 {
		rec.Event(pod, corev1.EventTypeWarning, "BackOff", "Back-off restarting failed container")
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		list, err := client.CoreV1().Events("default").List(ctx, metav1.ListOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if len(list.Items) == 1 && list.Items[0].Count == 3 {
			ev := list.Items[0]
			if ev.Source.Component != "kubelet" || ev.Source.Host != "n1" || ev.InvolvedObject.Name != "web" || ev.Reason != "BackOff" {
				t.Fatalf("event = source %+v, object %s, reason %s; want kubelet/n1, web, BackOff", ev.Source, ev.InvolvedObject.Name, ev.Reason)
			}
			return
		}
		if time.Now().After(deadline) {
			var counts []int32
			for _, ev := range list.Items {
				counts = append(counts, ev.Count)
			}
			t.Fatalf("after 10s: %d events with counts %v, want 1 event with count 3", len(list.Items), counts)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
