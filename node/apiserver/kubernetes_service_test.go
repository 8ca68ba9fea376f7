package apiserver

import (
	"slices"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"

	"github.com/shoal-project/shoal/consensus"
)

func TestEnsureKubernetesService(t *testing.T) {
	e := newTestEnv(t)
	if err := e.srv.EnsureKubernetesService(e.ctx); err != nil {
		t.Fatal(err)
	}
	svc, err := e.cs.CoreV1().Services("default").Get(e.ctx, "kubernetes", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	want := corev1.ServicePort{Name: "https", Protocol: corev1.ProtocolTCP, Port: 443, TargetPort: intstr.FromInt32(6443)}
	if svc.Spec.Type != corev1.ServiceTypeClusterIP || svc.Spec.ClusterIP != "10.43.0.1" || !slices.Equal(svc.Spec.ClusterIPs, []string{"10.43.0.1"}) ||
		len(svc.Spec.Ports) != 1 || svc.Spec.Ports[0] != want || svc.Spec.Selector != nil || svc.UID == "" {
		t.Fatalf("kubernetes service: %+v", svc)
	}
	if c := e.serviceClaims("kubernetes"); !slices.Equal(c, []string{"service-ip/10.43.0.1"}) {
		t.Fatalf("claims %q", c)
	}
	// Idempotent: a second call leaves it as it is.
	if err := e.srv.EnsureKubernetesService(e.ctx); err != nil {
		t.Fatal(err)
	}
	again, _ := e.cs.CoreV1().Services("default").Get(e.ctx, "kubernetes", metav1.GetOptions{})
	if again.ResourceVersion != svc.ResourceVersion {
		t.Fatal("second call rewrote the service")
	}
	// Nobody else gets its address.
	req := testService("x", "", 80)
	req.Spec.ClusterIP = "10.43.0.1"
	_, err = e.createService(req)
	wantInvalid(t, err, "failed to allocate IP 10.43.0.1: provided IP is already allocated")
}

func TestEnsureKubernetesServiceWaitsForNamespace(t *testing.T) {
	st := consensus.NewStore()
	e := envOver(t, st)
	done := make(chan error, 1)
	go func() { done <- e.srv.EnsureKubernetesService(e.ctx) }()
	if _, err := e.cs.CoreV1().Namespaces().Create(e.ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "default"}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if _, ok := st.ClaimOwner("service-ip/10.43.0.1"); !ok {
		t.Fatal("10.43.0.1 not claimed")
	}
}

// TestEnsureKubernetesServiceAddressTaken: a user's Service holding the
// address gets the same refusal as a client's create, and the error names
// the holder instead of retrying forever.
func TestEnsureKubernetesServiceAddressTaken(t *testing.T) {
	e := newTestEnv(t)
	squatter := testService("squatter", "", 80)
	squatter.Spec.ClusterIP = "10.43.0.1"
	e.mustCreateService(squatter)
	err := e.srv.EnsureKubernetesService(e.ctx)
	if !apierrors.IsInvalid(err) || !strings.Contains(err.Error(), "provided IP is already allocated") ||
		!strings.Contains(err.Error(), "10.43.0.1 is held by services/default/squatter") {
		t.Fatalf("EnsureKubernetesService = %v: want Invalid naming the holder", err)
	}
}
