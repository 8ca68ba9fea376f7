package apiserver

import (
	"strings"
	"testing"

	policyv1 "k8s.io/api/policy/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
)

// TestEviction evicts pods through pods/NAME/eviction as kubectl drain does
// (client-go sends the Eviction as protobuf): a pod on a node is marked for
// deletion with the eviction's grace period (its kubelet stops it), an
// unbound one is gone at once, and the errors are kube-apiserver's.
func TestEviction(t *testing.T) {
	grace := int64(7)
	for _, tc := range []struct {
		name     string
		node     string // the pod's node; "" for unbound
		evict    string // the pod evicted; default the pod
		evName   string // Eviction's metadata.name; default evict
		opts     *metav1.DeleteOptions
		wantErr  func(error) bool
		wantMsg  string
		wantGone bool
		wantMark bool // deletionTimestamp set, grace from opts
	}{
		{name: "bound pod is marked for deletion", node: "node-a", opts: &metav1.DeleteOptions{GracePeriodSeconds: &grace}, wantMark: true},
		{name: "unbound pod is gone", wantGone: true},
		{name: "missing pod", evict: "missing", wantErr: apierrors.IsNotFound},
		{name: "uid precondition", node: "node-a", opts: &metav1.DeleteOptions{Preconditions: &metav1.Preconditions{UID: func() *types.UID { u := types.UID("not-its-uid"); return &u }()}}, wantErr: apierrors.IsConflict},
		{name: "name mismatch", node: "node-a", evName: "other", wantErr: apierrors.IsBadRequest, wantMsg: "does not match"},
		{name: "dry run keeps the pod", node: "node-a", opts: &metav1.DeleteOptions{DryRun: []string{metav1.DryRunAll}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newTestEnv(t)
			pods := e.cs.CoreV1().Pods("default")
			if _, err := pods.Create(e.ctx, testPod("web", tc.node, nil), metav1.CreateOptions{}); err != nil {
				t.Fatal(err)
			}
			evict := tc.evict
			if evict == "" {
				evict = "web"
			}
			evName := tc.evName
			if evName == "" {
				evName = evict
			}
			// The URL names evict; the body may name another pod.
			err := e.cs.CoreV1().RESTClient().Post().Namespace("default").Resource("pods").Name(evict).SubResource("eviction").
				Body(&policyv1.Eviction{TypeMeta: metav1.TypeMeta{APIVersion: "policy/v1", Kind: "Eviction"},
					ObjectMeta: metav1.ObjectMeta{Name: evName, Namespace: "default"}, DeleteOptions: tc.opts}).
				Do(e.ctx).Error()
			if tc.wantErr != nil {
				if !tc.wantErr(err) || !strings.Contains(errString(err), tc.wantMsg) {
					t.Fatalf("evict: got %v, want another error (%q)", err, tc.wantMsg)
				}
				if _, err := pods.Get(e.ctx, "web", metav1.GetOptions{}); err != nil {
					t.Fatalf("a refused eviction removed the pod: %v", err)
				}
				return
			}
			if err != nil {
				t.Fatalf("evict: %v", err)
			}
			got, err := pods.Get(e.ctx, "web", metav1.GetOptions{})
			switch {
			case tc.wantGone:
				if !apierrors.IsNotFound(err) {
					t.Fatalf("after eviction: got %v, %v; want the pod gone", got, err)
				}
			case tc.wantMark:
				if err != nil || got.DeletionTimestamp == nil || got.DeletionGracePeriodSeconds == nil || *got.DeletionGracePeriodSeconds != grace {
					t.Fatalf("after eviction: %v, %+v; want deletionTimestamp and grace %d", err, got.ObjectMeta, grace)
				}
			default:
				if err != nil || got.DeletionTimestamp != nil {
					t.Fatalf("after a dry-run eviction: %v, %+v; want the pod untouched", err, got.ObjectMeta)
				}
			}
		})
	}
}

func errString(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}
