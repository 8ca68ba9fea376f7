package containerd

import (
	"context"
	"sync"
	"time"

	containerd "github.com/containerd/containerd"
	"github.com/containerd/containerd/content"
	"github.com/containerd/containerd/images"
	"github.com/containerd/containerd/remotes"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/shoal-project/shoal/runtime"
)

// LayerProgress is how far the download of one layer of a pull has come.
type LayerProgress struct {
	// Digest is the layer's blob digest ("sha256:...").
	Digest string
	// Offset is how many bytes are in; Size is the layer's size.
	Offset, Size int64
	// Done says the layer is fully in the content store.
	Done bool
}

// PullImageReporting pulls like PullImage and, while it runs, calls report
// every interval with the progress of each layer seen so far (in manifest
// order), and once more at the end. report runs on another goroutine than
// the caller's, never concurrently with itself, and not after the return.
func (r *Runtime) PullImageReporting(ctx context.Context, ref string, auth *runtime.RegistryAuth, every time.Duration, report func([]LayerProgress)) (*runtime.Image, error) {
	ctx = r.nsctx(ctx)
	tr := &layerTracker{cs: r.client.ContentStore()}
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		t := time.NewTicker(every)
		defer t.Stop()
		for {
			select {
			case <-stop:
				return
			case <-t.C:
				report(tr.progress(ctx))
			}
		}
	}()
	img, err := r.pull(ctx, ref, auth, containerd.WithImageHandler(images.HandlerFunc(tr.see)))
	close(stop)
	wg.Wait()
	if err == nil {
		report(tr.progress(ctx))
	}
	return img, err
}

// layerTracker records the layers a pull dispatches and reads their
// progress from the content store's active ingests.
type layerTracker struct {
	cs     content.Store
	mu     sync.Mutex
	layers []ocispec.Descriptor
	seen   map[string]bool
}

// see is an image handler: it notes each layer as the pull reaches it.
func (tr *layerTracker) see(_ context.Context, desc ocispec.Descriptor) ([]ocispec.Descriptor, error) {
	if !images.IsLayerType(desc.MediaType) {
		return nil, nil
	}
	tr.mu.Lock()
	defer tr.mu.Unlock()
	if tr.seen == nil {
		tr.seen = map[string]bool{}
	}
	if d := desc.Digest.String(); !tr.seen[d] {
		tr.seen[d] = true
		tr.layers = append(tr.layers, desc)
	}
	return nil, nil
}

// progress is each layer's state: an active ingest gives its offset, a
// blob already in the store is done, anything else has not started.
func (tr *layerTracker) progress(ctx context.Context) []LayerProgress {
	tr.mu.Lock()
	layers := append([]ocispec.Descriptor(nil), tr.layers...)
	tr.mu.Unlock()
	active := map[string]content.Status{}
	if statuses, err := tr.cs.ListStatuses(ctx); err == nil {
		for _, st := range statuses {
			active[st.Ref] = st
		}
	}
	out := make([]LayerProgress, 0, len(layers))
	for _, desc := range layers {
		p := LayerProgress{Digest: desc.Digest.String(), Size: desc.Size}
		if st, ok := active[remotes.MakeRefKey(ctx, desc)]; ok {
			p.Offset = st.Offset
		} else if _, err := tr.cs.Info(ctx, desc.Digest); err == nil {
			p.Offset, p.Done = desc.Size, true
		}
		out = append(out, p)
	}
	return out
}
