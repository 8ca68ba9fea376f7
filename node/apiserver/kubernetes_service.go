package apiserver

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strconv"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"

	"github.com/shoal-project/shoal/node/apiserver/registry"
	"github.com/shoal-project/shoal/node/apiserver/servicealloc"
)

// The "kubernetes" Service in the "default" namespace, through which pods
// reach the API (client-go's in-cluster config reads its address from the
// KUBERNETES_SERVICE_HOST the kubelet derives from it).
const (
	kubernetesServiceNamespace = "default"
	kubernetesServiceName      = "kubernetes"
)

// kubernetesServiceRetry is how long EnsureKubernetesService waits before
// trying again, while the namespace is missing or the cluster has no
// leader.
const kubernetesServiceRetry = 500 * time.Millisecond

// EnsureKubernetesService creates the "kubernetes" Service in the
// "default" namespace when it is missing: ClusterIP
// servicealloc.KubernetesServiceIP (10.43.0.1 by default), port 443 named
// "https" to target port 6443 (the port of Config.ServerAddress when it has
// one), no selector. The leader calls it at bootstrap; it retries until the
// namespace exists or ctx ends, and returns nil once the Service exists (an
// existing one is left as is).
//
// The Service is created as any client's would be, by the same create path
// (defaulting, admission, validation, address allocation), as
// kube-apiserver's bootstrap controller creates it with a loopback client.
func (s *Server) EnsureKubernetesService(ctx context.Context) error {
	const namespace, name = kubernetesServiceNamespace, kubernetesServiceName
	k, ok := registry.Lookup("", "v1", "services")
	if !ok {
		return errors.New("apiserver: services are not registered")
	}
	for {
		err := s.createKubernetesService(ctx, k)
		switch {
		case err == nil, apierrors.IsAlreadyExists(err):
			return nil
		case apierrors.IsInvalid(err):
			return fmt.Errorf("create service %s/%s: %w%s", namespace, name, err, s.kubernetesIPHolder())
		case apierrors.IsInternalError(err) && s.services.Err() != nil:
			return fmt.Errorf("create service %s/%s: %w", namespace, name, err)
		}
		s.log.Debug("create kubernetes service", "error", err)
		select {
		case <-ctx.Done():
			return fmt.Errorf("create service %s/%s: %w (last error: %w)", namespace, name, ctx.Err(), err)
		case <-time.After(kubernetesServiceRetry):
		}
	}
}

// createKubernetesService creates the Service unless this replica already
// holds it: a GET first, as the bootstrap controller does, so that a new
// leader finding it in place writes nothing.
func (s *Server) createKubernetesService(ctx context.Context, k *registry.Kind) error {
	if _, err := s.store.Get("services", kubernetesServiceNamespace, kubernetesServiceName); err == nil {
		return apierrors.NewAlreadyExists(k.GroupResource(), kubernetesServiceName)
	}
	q := &request{kind: k, namespace: kubernetesServiceNamespace}
	_, err := s.create(ctx, q, s.kubernetesService(), false)
	return err
}

// kubernetesService is the Service as the API server asks for it.
func (s *Server) kubernetesService() *corev1.Service {
	target := 6443
	if _, port, err := net.SplitHostPort(s.cfg.ServerAddress); err == nil {
		if n, err := strconv.Atoi(port); err == nil && n > 0 && n < 65536 {
			target = n
		}
	}
	return &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{
			Name: kubernetesServiceName, Namespace: kubernetesServiceNamespace,
			Labels: map[string]string{"component": "apiserver", "provider": "kubernetes"},
		},
		Spec: corev1.ServiceSpec{
			Type:      corev1.ServiceTypeClusterIP,
			ClusterIP: servicealloc.KubernetesServiceIP(s.services.CIDR()).String(),
			Ports: []corev1.ServicePort{{
				Name: "https", Protocol: corev1.ProtocolTCP, Port: 443, TargetPort: intstr.FromInt32(int32(target)),
			}},
		},
	}
}

// kubernetesIPHolder names the object holding the kubernetes Service's
// address, for the error that explains why the Service cannot be made.
func (s *Server) kubernetesIPHolder() string {
	ip := servicealloc.KubernetesServiceIP(s.services.CIDR())
	if owner, ok := s.store.ClaimOwner(servicealloc.ClaimServiceIP + ip.String()); ok {
		return fmt.Sprintf(" (%s is held by %s)", ip, owner)
	}
	return ""
}
