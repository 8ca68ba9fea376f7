package containerd

import (
	"context"
	"sync"
	"testing"
	"time"
)

func TestPullImageReporting(t *testing.T) {
	needDaemon(t)
	img := busyboxImage(t)
	layers, err := img.Layers()
	must(t, err)
	wantDigest, err := layers[0].Digest()
	must(t, err)
	wantSize, err := layers[0].Size()
	must(t, err)
	regURL := serveRegistry(t, img)
	rt := newNodeFactory(map[string]string{"example.invalid": regURL})(t).(*Runtime)

	var mu sync.Mutex
	var reports [][]LayerProgress
	got, err := rt.PullImageReporting(context.Background(), "example.invalid/test/busybox:1", nil, 5*time.Millisecond, func(p []LayerProgress) {
		mu.Lock()
		defer mu.Unlock()
		reports = append(reports, p)
	})
	if err != nil {
		t.Fatal(err)
	}
	if got.Ref != "example.invalid/test/busybox:1" {
		t.Errorf("pulled %+v", got)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(reports) == 0 {
		t.Fatal("no progress reported")
	}
	last := reports[len(reports)-1]
	if want := (LayerProgress{Digest: wantDigest.String(), Offset: wantSize, Size: wantSize, Done: true}); len(last) != 1 || last[0] != want {
		t.Errorf("last report %+v, want [%+v]", last, want)
	}
	for _, r := range reports {
		for _, l := range r {
			if l.Offset < 0 || l.Offset > l.Size {
				t.Errorf("report %+v: offset outside 0..size", r)
			}
		}
	}
}
