package node_test

import (
	"fmt"
	"sync"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	"github.com/shoal-project/shoal/internal/testcluster"
)

// TestMergePatchesUnderContention: merge patches without a resourceVersion
// are unconditional, so many writers patching one object at once through
// every peer all succeed, however often each loses a race (kube-apiserver
// retries them as long as the request lasts). A retry bound of 8 turned
// some into 409s, in a chaos run and here.
func TestMergePatchesUnderContention(t *testing.T) {
	c := testcluster.New(t, 3)
	ctx := t.Context()
	if _, err := c.Client(0).CoreV1().ConfigMaps("default").Create(ctx, configMap("hot", nil), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	const writers, each = 48, 5
	var wg sync.WaitGroup
	errs := make(chan error, writers*each)
	for w := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			cs := c.Client(w % 3)
			for i := range each {
				body := fmt.Sprintf(`{"data":{"w%d":"%d"}}`, w, i)
				if _, err := cs.CoreV1().ConfigMaps("default").Patch(ctx, "hot", types.MergePatchType, []byte(body), metav1.PatchOptions{}); err != nil {
					errs <- fmt.Errorf("writer %d patch %d: %w", w, i, err)
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	n := 0
	for err := range errs {
		if n++; n <= 3 {
			t.Error(err)
		}
	}
	if n > 0 {
		t.Fatalf("%d of %d unconditional patches failed, want none", n, writers*each)
	}
	cm, err := c.Client(1).CoreV1().ConfigMaps("default").Get(ctx, "hot", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for w := range writers {
		if got, want := cm.Data[fmt.Sprintf("w%d", w)], fmt.Sprint(each-1); got != want {
			t.Errorf("data w%d = %q, want %q (a writer's last patch lost)", w, got, want)
		}
	}
}
