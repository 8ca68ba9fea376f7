package apiserver

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strconv"
	"time"

	"github.com/google/uuid"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/apimachinery/pkg/util/validation/field"

	"github.com/shoal-project/shoal/consensus"
	"github.com/shoal-project/shoal/node/apiserver/registry"
	"github.com/shoal-project/shoal/node/apiserver/servicealloc"
)

// EnsureKubernetesService creates the "kubernetes" Service in the
// "default" namespace when it is missing: ClusterIP KubernetesServiceIP
// (10.43.0.1 by default), port 443 named "https" to target port 6443 (the
// port of Config.ServerAddress when it has one), no selector. The leader
// calls it at bootstrap; it retries until the namespace exists or ctx ends,
// and returns nil once the Service exists (an existing one is left as is).
func (s *Server) EnsureKubernetesService(ctx context.Context) error {
	const namespace, name = "default", "kubernetes"
	k, ok := registry.Lookup("", "v1", "services")
	if !ok {
		return errors.New("apiserver: services are not registered")
	}
	for {
		err := s.createKubernetesService(ctx, k, namespace, name)
		switch {
		case err == nil, apierrors.IsAlreadyExists(err):
			return nil
		case apierrors.IsInvalid(err), apierrors.IsInternalError(err) && s.services.Err() != nil:
			return fmt.Errorf("create service %s/%s: %w", namespace, name, err)
		}
		s.log.Debug("create kubernetes service", "error", err)
		select {
		case <-ctx.Done():
			return fmt.Errorf("create service %s/%s: %w (last error: %v)", namespace, name, ctx.Err(), err)
		case <-time.After(500 * time.Millisecond):
		}
	}
}

func (s *Server) createKubernetesService(ctx context.Context, k *registry.Kind, namespace, name string) error {
	if _, err := s.store.Get("services", namespace, name); err == nil {
		return apierrors.NewAlreadyExists(k.GroupResource(), name)
	}
	if err := s.checkNamespace(ctx, namespace); err != nil {
		return err
	}
	target := 6443
	if _, port, err := net.SplitHostPort(s.cfg.ServerAddress); err == nil {
		if n, err := strconv.Atoi(port); err == nil && n > 0 && n < 65536 {
			target = n
		}
	}
	svc := &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{
			Name: name, Namespace: namespace,
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
	k.Default(svc)
	k.PrepareForCreate(svc)
	if errs := s.validate(k, svc, nil); len(errs) > 0 {
		return invalid(k.GVK().GroupKind(), name, errs)
	}
	al, err := s.allocate(svc, nil)
	if err != nil {
		return err
	}
	raw, err := encodeObject(k, svc)
	if err != nil {
		return internalError(err)
	}
	cmd := &consensus.Command{
		Op: consensus.OpCreate, Resource: k.GroupResource().String(), Namespace: namespace, Name: name,
		Object: raw, UID: uuid.NewString(), Time: s.now().UTC().Format(time.RFC3339),
	}
	al.SetClaims(cmd)
	if _, err := s.prop.Propose(ctx, cmd); err != nil {
		if errors.Is(err, consensus.ErrClaimed) {
			owner, _ := s.store.ClaimOwner(cmd.Claims[0])
			return apierrors.NewInvalid(k.GVK().GroupKind(), name, field.ErrorList{field.Invalid(field.NewPath("spec", "clusterIPs"), svc.Spec.ClusterIPs,
				fmt.Sprintf("failed to allocate IP %s: provided IP is already allocated (by %s)", svc.Spec.ClusterIP, owner))})
		}
		return storeError(err, k.GroupResource(), name)
	}
	return nil
}
