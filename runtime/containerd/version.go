package containerd

import (
	"context"
	"fmt"
)

// Version is "containerd://<daemon version>".
func (r *Runtime) Version(ctx context.Context) (string, error) {
	v, err := r.client.Version(r.nsctx(ctx))
	if err != nil {
		return "", fmt.Errorf("containerd version: %w", err)
	}
	return "containerd://" + v.Version, nil
}
