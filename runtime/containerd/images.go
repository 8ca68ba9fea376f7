package containerd

import (
	"context"
	"fmt"
	"io"
	"strings"

	containerd "github.com/containerd/containerd"
	"github.com/containerd/containerd/errdefs"
	"github.com/containerd/containerd/platforms"
	clog "github.com/containerd/log"
	"github.com/distribution/reference"
	"github.com/sirupsen/logrus"

	"github.com/shoal-project/shoal/runtime"
)

// PullImage pulls ref through the configured mirrors and unpacks it.
func (r *Runtime) PullImage(ctx context.Context, ref string, auth *runtime.RegistryAuth) (*runtime.Image, error) {
	return r.pull(r.nsctx(ctx), ref, auth)
}

// pull is PullImage with extra pull options (a progress tracker's image
// handler). ctx carries the namespace.
func (r *Runtime) pull(ctx context.Context, ref string, auth *runtime.RegistryAuth, extra ...containerd.RemoteOpt) (*runtime.Image, error) {
	name, err := normalize(ref)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", runtime.ErrImagePull, err)
	}
	res, err := r.resolver(auth)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", runtime.ErrImagePull, err)
	}
	r.log.Debug("pulling image", "image", name)
	// containerd's resolver logs through logrus; keep it out of shoal's output.
	ctx = clog.WithLogger(ctx, logrus.NewEntry(quietLogrus))
	opts := append([]containerd.RemoteOpt{
		containerd.WithResolver(res),
		containerd.WithPullUnpack,
		containerd.WithPullSnapshotter(r.snapshotter),
	}, extra...)
	img, err := r.client.Pull(ctx, name, opts...)
	if err != nil {
		return nil, fmt.Errorf("%w: %s: %w", runtime.ErrImagePull, name, err)
	}
	return r.describe(ctx, img)
}

// ImageStatus reports a local image by reference or by image ID
// ("sha256:<config digest>").
func (r *Runtime) ImageStatus(ctx context.Context, ref string) (*runtime.Image, error) {
	ctx = r.nsctx(ctx)
	img, err := r.findImage(ctx, ref)
	if err != nil {
		return nil, err
	}
	return r.describe(ctx, img)
}

// findImage looks ref up as a name, then as an image ID.
func (r *Runtime) findImage(ctx context.Context, ref string) (containerd.Image, error) {
	if strings.HasPrefix(ref, "sha256:") {
		all, err := r.ListImages(ctx)
		if err != nil {
			return nil, err
		}
		for _, im := range all {
			if im.ID == ref {
				return r.client.GetImage(ctx, im.Ref)
			}
		}
		return nil, fmt.Errorf("image %s: %w", ref, runtime.ErrNotFound)
	}
	name, err := normalize(ref)
	if err != nil {
		return nil, fmt.Errorf("image %s: %w", ref, err)
	}
	img, err := r.client.GetImage(ctx, name)
	if err != nil {
		return nil, notFound(err, "image "+name)
	}
	return img, nil
}

// ListImages lists the images of the node's namespace.
func (r *Runtime) ListImages(ctx context.Context) ([]*runtime.Image, error) {
	ctx = r.nsctx(ctx)
	imgs, err := r.client.ListImages(ctx)
	if err != nil {
		return nil, fmt.Errorf("list images: %w", err)
	}
	out := make([]*runtime.Image, 0, len(imgs))
	for _, img := range imgs {
		if strings.HasPrefix(img.Name(), "sha256:") || strings.Contains(img.Name(), "@sha256:") {
			continue // digest aliases made by import
		}
		d, err := r.describe(ctx, img)
		if err != nil {
			r.log.Debug("skipping unreadable image", "image", img.Name(), "error", err)
			continue
		}
		out = append(out, d)
	}
	return out, nil
}

// ImportImages loads an OCI or docker archive and unpacks its images.
func (r *Runtime) ImportImages(ctx context.Context, rd io.Reader) ([]*runtime.Image, error) {
	ctx = r.nsctx(ctx)
	ctx, done, err := r.client.WithLease(ctx)
	if err != nil {
		return nil, fmt.Errorf("import: %w", err)
	}
	defer done(context.WithoutCancel(ctx))
	imgs, err := r.client.Import(ctx, rd,
		containerd.WithImportPlatform(platforms.DefaultStrict()),
	)
	if err != nil {
		return nil, fmt.Errorf("import: %w", err)
	}
	out := make([]*runtime.Image, 0, len(imgs))
	for _, im := range imgs {
		img := containerd.NewImageWithPlatform(r.client, im, platforms.DefaultStrict())
		if err := img.Unpack(ctx, r.snapshotter); err != nil {
			return nil, fmt.Errorf("unpack %s: %w", im.Name, err)
		}
		d, err := r.describe(ctx, img)
		if err != nil {
			return nil, err
		}
		out = append(out, d)
	}
	return out, nil
}

// describe turns a containerd image into a runtime.Image.
func (r *Runtime) describe(ctx context.Context, img containerd.Image) (*runtime.Image, error) {
	cfg, err := img.Config(ctx)
	if err != nil {
		return nil, notFound(err, "image config of "+img.Name())
	}
	size, err := img.Size(ctx)
	if err != nil && !errdefs.IsNotFound(err) {
		return nil, fmt.Errorf("image size of %s: %w", img.Name(), err)
	}
	return &runtime.Image{
		Ref:    img.Name(),
		ID:     cfg.Digest.String(),
		Digest: img.Target().Digest.String(),
		Size:   size,
	}, nil
}

// imageStopSignal is the image's stop signal, SIGTERM by default.
func imageStopSignal(ctx context.Context, img containerd.Image) string {
	s, err := containerd.GetOCIStopSignal(ctx, img, "SIGTERM")
	if err != nil {
		return "SIGTERM"
	}
	return s
}

// normalize turns "busybox" into "docker.io/library/busybox:latest".
func normalize(ref string) (string, error) {
	n, err := reference.ParseDockerRef(ref)
	if err != nil {
		return "", fmt.Errorf("invalid image reference %q: %w", ref, err)
	}
	return n.String(), nil
}

// quietLogrus discards containerd's client-side logs.
var quietLogrus = func() *logrus.Logger {
	l := logrus.New()
	l.Out = io.Discard
	return l
}()
