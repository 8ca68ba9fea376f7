package cli

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
)

// leavePod is a pod of controller owner ("" for none) on nodeName.
func leavePod(name, owner, nodeName string, phase corev1.PodPhase) corev1.Pod {
	p := corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "default"},
		Spec:       corev1.PodSpec{NodeName: nodeName},
		Status:     corev1.PodStatus{Phase: phase},
	}
	if owner != "" {
		yes := true
		p.OwnerReferences = []metav1.OwnerReference{{APIVersion: "apps/v1", Kind: "ReplicaSet", Name: owner, UID: types.UID("uid-" + owner), Controller: &yes}}
	}
	return p
}

func TestReplacementWaits(t *testing.T) {
	const leaving = "node-a"
	run := corev1.PodRunning
	for _, tc := range []struct {
		name    string
		before  []corev1.Pod
		evicted []corev1.Pod
		want    map[string]int // controller -> pods wanted elsewhere
	}{
		{name: "nothing evicted", before: []corev1.Pod{leavePod("web-1", "web", "node-b", run)}, want: map[string]int{}},
		{
			name:    "all replicas on the leaving node",
			before:  []corev1.Pod{leavePod("web-1", "web", leaving, run), leavePod("web-2", "web", leaving, run)},
			evicted: []corev1.Pod{leavePod("web-1", "web", leaving, run), leavePod("web-2", "web", leaving, run)},
			want:    map[string]int{"replicaset.apps/web": 2},
		},
		{
			name: "replicas elsewhere count, pending and deleting ones there do not",
			before: []corev1.Pod{
				leavePod("web-1", "web", leaving, run), leavePod("web-2", "web", "node-b", run),
				leavePod("web-3", "web", "node-c", corev1.PodPending), deleting(leavePod("web-4", "web", "node-c", run)),
			},
			evicted: []corev1.Pod{leavePod("web-1", "web", leaving, run)},
			want:    map[string]int{"replicaset.apps/web": 2},
		},
		{
			name:    "unowned and finished pods are not waited for",
			evicted: []corev1.Pod{leavePod("bare", "", leaving, run), leavePod("job-1", "job", leaving, corev1.PodSucceeded)},
			want:    map[string]int{},
		},
		{
			name:    "two controllers",
			evicted: []corev1.Pod{leavePod("web-1", "web", leaving, run), leavePod("db-1", "db", leaving, corev1.PodPending)},
			want:    map[string]int{"replicaset.apps/web": 1, "replicaset.apps/db": 1},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := map[string]int{}
			for _, w := range replacementWaits(leaving, tc.before, tc.evicted) {
				got[w.String()] = w.Want
			}
			if len(got) != len(tc.want) {
				t.Fatalf("waits %v, want %v", got, tc.want)
			}
			for k, v := range tc.want {
				if got[k] != v {
					t.Fatalf("waits %v, want %v", got, tc.want)
				}
			}
		})
	}
}

func deleting(p corev1.Pod) corev1.Pod {
	now := metav1.Now()
	p.DeletionTimestamp = &now
	return p
}

func TestReplacementProgress(t *testing.T) {
	const leaving = "node-a"
	waits := replacementWaits(leaving, nil, []corev1.Pod{
		leavePod("web-1", "web", leaving, corev1.PodRunning), leavePod("web-2", "web", leaving, corev1.PodRunning),
	})
	for _, tc := range []struct {
		name string
		now  []corev1.Pod
		want string // "" when done
	}{
		{name: "none yet", now: []corev1.Pod{leavePod("web-3", "web", "", corev1.PodPending)},
			want: "waiting for the pods of replicaset.apps/web in default (0 of 2) to be Running on other nodes"},
		{name: "one running, one on the leaving node", now: []corev1.Pod{leavePod("web-3", "web", "node-b", corev1.PodRunning), leavePod("web-1", "web", leaving, corev1.PodRunning)},
			want: "(1 of 2)"},
		{name: "another controller's pods do not count", now: []corev1.Pod{leavePod("x-1", "x", "node-b", corev1.PodRunning), leavePod("x-2", "x", "node-b", corev1.PodRunning)},
			want: "(0 of 2)"},
		{name: "done", now: []corev1.Pod{leavePod("web-3", "web", "node-b", corev1.PodRunning), leavePod("web-4", "web", "node-c", corev1.PodRunning)}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := replacementProgress(leaving, tc.now, waits)
			if (tc.want == "") != (got == "") || !strings.Contains(got, tc.want) {
				t.Fatalf("progress %q, want %q", got, tc.want)
			}
		})
	}
}

// TestLeaveWithoutAgent: with no agent on the data dir, a node that left
// has nothing to do (a second `shoal leave`), any other is an error.
func TestLeaveWithoutAgent(t *testing.T) {
	left := t.TempDir()
	if err := os.WriteFile(filepath.Join(left, "left"), []byte(time.Now().UTC().Format(time.RFC3339)), 0o600); err != nil {
		t.Fatal(err)
	}
	ta := newTestApp(t, Deps{})
	if err := ta.run("leave", "--data-dir", left); err != nil {
		t.Fatalf("leave of a node that left: %v", err)
	}
	if !strings.Contains(ta.stdout.String(), "nothing left to do") {
		t.Fatalf("stdout %q", ta.stdout.String())
	}
	ta = newTestApp(t, Deps{})
	err := ta.run("leave", "--data-dir", t.TempDir())
	if err == nil || !strings.Contains(err.Error(), "no shoal agent is running") {
		t.Fatalf("leave without an agent: %v", err)
	}
	if err := ta.run("leave", "--data-dir", t.TempDir(), "--timeout", "0s"); err == nil || !strings.Contains(err.Error(), "--timeout") {
		t.Fatalf("leave --timeout 0s: %v", err)
	}
}
