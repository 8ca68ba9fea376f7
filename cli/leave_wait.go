package cli

import (
	"context"
	"fmt"
	"io"
	"sort"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes"
)

// replacementWait is what `shoal leave` waits for before the node leaves:
// want Running pods of one controller on other nodes.
type replacementWait struct {
	Namespace string
	Owner     metav1.OwnerReference
	Want      int
}

// String names the controller as kubectl does: "replicaset.apps/web-5d4f".
func (w replacementWait) String() string {
	gk := schema.FromAPIVersionAndKind(w.Owner.APIVersion, w.Owner.Kind).GroupKind()
	return kindString(gk) + "/" + w.Owner.Name
}

// replacementWaits says, for each controller that owned an evicted pod
// that had not finished, how many of its pods must run on other nodes:
// those that ran there before the drain plus the evicted ones. Pods no
// controller owns are not recreated (--force deleted them), so nothing
// waits for them.
func replacementWaits(nodeName string, before, evicted []corev1.Pod) []replacementWait {
	waits := map[types.UID]*replacementWait{}
	var order []types.UID
	for _, p := range evicted {
		ref := metav1.GetControllerOf(&p)
		if ref == nil || finished(&p) {
			continue
		}
		w, ok := waits[ref.UID]
		if !ok {
			w = &replacementWait{Namespace: p.Namespace, Owner: *ref}
			waits[ref.UID] = w
			order = append(order, ref.UID)
			w.Want = runningElsewhere(nodeName, before, *w)
		}
		w.Want++
	}
	out := make([]replacementWait, 0, len(order))
	for _, uid := range order {
		out = append(out, *waits[uid])
	}
	sort.Slice(out, func(i, j int) bool { return out[i].String() < out[j].String() })
	return out
}

func finished(p *corev1.Pod) bool {
	return p.Status.Phase == corev1.PodSucceeded || p.Status.Phase == corev1.PodFailed
}

// runningElsewhere counts w's controller's pods that are Running on a
// node other than nodeName and not being deleted.
func runningElsewhere(nodeName string, pods []corev1.Pod, w replacementWait) int {
	n := 0
	for i := range pods {
		p := &pods[i]
		ref := metav1.GetControllerOf(p)
		if ref == nil || ref.UID != w.Owner.UID || p.Namespace != w.Namespace {
			continue
		}
		if p.Spec.NodeName != "" && p.Spec.NodeName != nodeName && p.DeletionTimestamp == nil && p.Status.Phase == corev1.PodRunning {
			n++
		}
	}
	return n
}

// replacementProgress is one line of the wait, "" when every controller
// has its pods.
func replacementProgress(nodeName string, pods []corev1.Pod, waits []replacementWait) string {
	var pending []string
	for _, w := range waits {
		if got := runningElsewhere(nodeName, pods, w); got < w.Want {
			pending = append(pending, fmt.Sprintf("%s in %s (%d of %d)", w, w.Namespace, got, w.Want))
		}
	}
	if len(pending) == 0 {
		return ""
	}
	return "waiting for the pods of " + strings.Join(pending, ", ") + " to be Running on other nodes"
}

// waitReplacements polls the pods until every wait is met, printing each
// change of the progress line. A list a second is a small price for a
// one-off command and needs no watch bookkeeping.
func waitReplacements(ctx context.Context, cs kubernetes.Interface, nodeName string, waits []replacementWait, out io.Writer) error {
	if len(waits) == 0 {
		return nil
	}
	t := time.NewTicker(time.Second)
	defer t.Stop()
	last := ""
	for {
		list, err := cs.CoreV1().Pods("").List(ctx, metav1.ListOptions{})
		if err != nil && ctx.Err() == nil {
			return fmt.Errorf("list pods: %w", err)
		}
		if err == nil {
			line := replacementProgress(nodeName, list.Items, waits)
			if line == "" {
				names := make([]string, len(waits))
				for i, w := range waits {
					names[i] = w.String()
				}
				fmt.Fprintf(out, "pods Running on other nodes: %s\n", strings.Join(names, ", "))
				return nil
			}
			if line != last {
				fmt.Fprintln(out, line)
				last = line
			}
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("timed out %s; the node stays cordoned and in the cluster", last)
		case <-t.C:
		}
	}
}
