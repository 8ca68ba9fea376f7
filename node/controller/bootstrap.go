package controller

import (
	"context"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// SystemNamespaces exist from the cluster's first moment.
var SystemNamespaces = []string{"default", "kube-system", "kube-public", "kube-node-lease"}

// EnsureNamespaces creates the system namespaces that are missing,
// retrying until ctx ends.
func EnsureNamespaces(ctx context.Context, d Deps) error {
	for _, name := range SystemNamespaces {
		for {
			_, err := d.Client.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name}}, metav1.CreateOptions{})
			if err == nil || apierrors.IsAlreadyExists(err) {
				break
			}
			d.Logger.Debug("create namespace", "name", name, "error", err)
			select {
			case <-ctx.Done():
				return ctx.Err()
			case <-time.After(500 * time.Millisecond):
			}
		}
	}
	return nil
}
