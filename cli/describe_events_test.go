package cli

import (
	"context"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
)

// TestDescribeShowsEvents: describe lists the object's events, as kubectl
// does, through the events field selectors of shoal's API server.
func TestDescribeShowsEvents(t *testing.T) {
	cs, ta, run := realAPIApp(t)
	ctx := context.Background()
	pod, err := cs.CoreV1().Pods("default").Create(ctx, testPod("web", nil), metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	// Minutes old, so the AGE column reads the same for the whole test.
	then := metav1.NewTime(time.Now().Add(-5 * time.Minute))
	// The second event is another pod's of the same name, an earlier one.
	for _, e := range []struct {
		name, reason string
		uid          types.UID
	}{{"web.1", "Scheduled", pod.UID}, {"web.2", "Killing", "uid-of-an-earlier-web"}} {
		ev := &corev1.Event{
			ObjectMeta:     metav1.ObjectMeta{Name: e.name},
			InvolvedObject: corev1.ObjectReference{Kind: "Pod", Namespace: "default", Name: "web", UID: e.uid, APIVersion: "v1"},
			Reason:         e.reason, Message: "Successfully assigned default/web to node-a", Type: corev1.EventTypeNormal,
			Source: corev1.EventSource{Component: "default-scheduler"}, FirstTimestamp: then, LastTimestamp: then, Count: 1,
		}
		if _, err := cs.CoreV1().Events("default").Create(ctx, ev, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	if err := run("describe", "pod", "web"); err != nil {
		t.Fatal(err)
	}
	out := ta.stdout.String()
	i := strings.Index(out, "Events:\n")
	if i < 0 {
		t.Fatalf("no Events section:\n%s", out)
	}
	events := lines(out[i+len("Events:\n"):])
	want := []string{"Type Reason Age From Message", "---- ------ ---- ---- -------", "Normal Scheduled 5m default-scheduler Successfully assigned default/web to node-a"}
	if strings.Join(events, "\n") != strings.Join(want, "\n") {
		t.Errorf("events:\n%s\nwant\n%s", strings.Join(events, "\n"), strings.Join(want, "\n"))
	}
}
