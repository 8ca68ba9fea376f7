package endpoints

import (
	"fmt"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"

	"github.com/shoal-project/shoal/internal/apitest"
	"github.com/shoal-project/shoal/node/controller/controllertest"
	"github.com/shoal-project/shoal/node/follow"
)

// TestEndpointsSeePodsMadeBeforeService: the pod and Service caches are
// fed by separate watches. A Service created after its pods gets
// Endpoints holding them at its first pass, though the pod cache is a
// moment behind the Service cache.
func TestEndpointsSeePodsMadeBeforeService(t *testing.T) {
	e := controllertest.New(t)
	c := &Controller{Deps: e.Deps}
	held, release := apitest.HoldCache(t, follow.For[corev1.Pod](e.Cache, "pods"), "blocker")
	seed := func(name, app, ip string) {
		e.Seed("pods", "default", name, "uid-"+name, apitest.T0, &corev1.Pod{
			TypeMeta:   metav1.TypeMeta{APIVersion: "v1", Kind: "Pod"},
			ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "default", Labels: map[string]string{"app": app}},
			Spec:       corev1.PodSpec{NodeName: "node-a", Containers: apitest.Template(app).Spec.Containers},
			Status: corev1.PodStatus{Phase: corev1.PodRunning, PodIP: ip,
				Conditions: []corev1.PodCondition{{Type: corev1.PodReady, Status: corev1.ConditionTrue}}},
		})
	}
	seed("blocker", "other", "10.42.0.9")
	<-held
	seed("web-0", "web", "10.42.0.10")
	if _, err := e.CS.CoreV1().Services("default").Create(e.Ctx, &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: "default"},
		Spec: corev1.ServiceSpec{Selector: map[string]string{"app": "web"}, Ports: []corev1.ServicePort{
			{Name: "http", Port: 80, TargetPort: intstr.FromInt32(8080), Protocol: corev1.ProtocolTCP},
		}},
	}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	e.Eventually(10*time.Second, func() error {
		if _, ok := c.followers().services.Get("default", "web"); !ok {
			return fmt.Errorf("service web not in the cache")
		}
		return nil
	})
	time.AfterFunc(200*time.Millisecond, release)
	if err := c.Reconcile(e.Ctx); err != nil {
		t.Fatal(err)
	}
	ep, err := e.CS.CoreV1().Endpoints("default").Get(e.Ctx, "web", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if len(ep.Subsets) != 1 || len(ep.Subsets[0].Addresses) != 1 || ep.Subsets[0].Addresses[0].IP != "10.42.0.10" {
		t.Errorf("first Endpoints %+v, want web-0's address 10.42.0.10", ep.Subsets)
	}
}
