package containerd

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"syscall"
	"time"

	containerd "github.com/containerd/containerd"
	"github.com/containerd/containerd/errdefs"
	"github.com/containerd/containerd/images"
	"github.com/containerd/containerd/namespaces"
)

// purgeTaskWait bounds the wait for a killed task to exit.
const purgeTaskWait = 10 * time.Second

// Purge removes everything of one containerd namespace from the containerd
// at socket (`shoal reset`): each container's task is killed and deleted
// first (its shim exits, runc removes its cgroup and unmounts its rootfs),
// then the container with its snapshot, then every image, then the
// namespace. It returns one line per thing removed; a namespace that does
// not exist is nothing to do. It goes on past single failures and returns
// them joined.
func Purge(ctx context.Context, socket, namespace string) ([]string, error) {
	client, err := dial(socket, namespace)
	if err != nil {
		return nil, fmt.Errorf("purge: connect containerd at %s: %w", socket, err)
	}
	defer client.Close()
	ctx = namespaces.WithNamespace(ctx, namespace)
	nss, err := client.NamespaceService().List(ctx)
	if err != nil {
		return nil, fmt.Errorf("purge: list containerd namespaces: %w", err)
	}
	if !slices.Contains(nss, namespace) {
		return nil, nil
	}
	var did []string
	var errs []error
	ctrs, err := client.Containers(ctx)
	if err != nil {
		errs = append(errs, fmt.Errorf("purge: list containers: %w", err))
	}
	for _, c := range ctrs {
		if task, err := c.Task(ctx, nil); err == nil {
			if err := purgeTask(ctx, task); err != nil {
				errs = append(errs, fmt.Errorf("purge: task %s: %w", c.ID(), err))
			} else {
				did = append(did, "task "+c.ID())
			}
		} else if !errdefs.IsNotFound(err) {
			errs = append(errs, fmt.Errorf("purge: task %s: %w", c.ID(), err))
		}
		if err := c.Delete(ctx, containerd.WithSnapshotCleanup); err != nil && !errdefs.IsNotFound(err) {
			errs = append(errs, fmt.Errorf("purge: container %s: %w", c.ID(), err))
			continue
		}
		did = append(did, "container "+c.ID())
	}
	imgs, err := client.ImageService().List(ctx)
	if err != nil {
		errs = append(errs, fmt.Errorf("purge: list images: %w", err))
	}
	for _, img := range imgs {
		if err := client.ImageService().Delete(ctx, img.Name, images.SynchronousDelete()); err != nil && !errdefs.IsNotFound(err) {
			errs = append(errs, fmt.Errorf("purge: image %s: %w", img.Name, err))
			continue
		}
		did = append(did, "image "+img.Name)
	}
	if err := client.NamespaceService().Delete(ctx, namespace); err != nil && !errdefs.IsNotFound(err) {
		errs = append(errs, fmt.Errorf("purge: namespace %s: %w", namespace, err))
	} else if err == nil {
		did = append(did, "containerd namespace "+namespace)
	}
	return did, errors.Join(errs...)
}

// purgeTask kills every process of a task, waits a bounded time for it to
// exit and deletes it.
func purgeTask(ctx context.Context, task containerd.Task) error {
	exited, err := task.Wait(ctx)
	if err != nil && !errdefs.IsNotFound(err) {
		return fmt.Errorf("wait: %w", err)
	}
	if err == nil {
		if err := task.Kill(ctx, syscall.SIGKILL, containerd.WithKillAll); err != nil && !errdefs.IsNotFound(err) && !errdefs.IsFailedPrecondition(err) {
			return fmt.Errorf("kill: %w", err)
		}
		select {
		case <-exited:
		case <-time.After(purgeTaskWait):
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	if _, err := task.Delete(ctx, containerd.WithProcessKill); err != nil && !errdefs.IsNotFound(err) {
		return fmt.Errorf("delete: %w", err)
	}
	return nil
}
