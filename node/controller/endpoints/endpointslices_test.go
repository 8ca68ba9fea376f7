package endpoints

import (
	"fmt"
	"slices"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"

	"github.com/shoal-project/shoal/internal/apitest"
	"github.com/shoal-project/shoal/node/controller/controllertest"
)

// sliceEnv runs the controller's passes itself (Reconcile) over
// controllertest's environment, with the API's writes recorded.
type sliceEnv struct {
	*controllertest.Env
	c      *Controller
	writes *apitest.Writes
	svc    *corev1.Service
}

// newSliceEnv makes the environment with Service "web" (selector
// app=web, port http 80 -> 8080).
func newSliceEnv(t *testing.T) *sliceEnv {
	w := &apitest.Writes{}
	e := controllertest.New(t, apitest.WithWrites(w))
	svc, err := e.CS.CoreV1().Services("default").Create(e.Ctx, &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: "default"},
		Spec: corev1.ServiceSpec{Selector: map[string]string{"app": "web"}, Ports: []corev1.ServicePort{
			{Name: "http", Port: 80, TargetPort: intstr.FromInt32(8080), Protocol: corev1.ProtocolTCP},
		}},
	}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return &sliceEnv{Env: e, c: &Controller{Deps: e.Deps}, writes: w, svc: svc}
}

// podIP is pod i's address.
func podIP(i int) string { return fmt.Sprintf("10.42.%d.%d", i/200, i%200+1) }

// addPods seeds pods web-i for i in [from, to), Running and Ready on
// node-a, each with its podIP.
func (e *sliceEnv) addPods(from, to int) {
	for i := from; i < to; i++ {
		name := fmt.Sprintf("web-%04d", i)
		e.Seed("pods", "default", name, "uid-"+name, apitest.T0, &corev1.Pod{
			TypeMeta:   metav1.TypeMeta{APIVersion: "v1", Kind: "Pod"},
			ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "default", Labels: map[string]string{"app": "web"}},
			Spec:       corev1.PodSpec{NodeName: "node-a", Containers: apitest.Template("web").Spec.Containers},
			Status: corev1.PodStatus{Phase: corev1.PodRunning, PodIP: podIP(i),
				Conditions: []corev1.PodCondition{{Type: corev1.PodReady, Status: corev1.ConditionTrue}}},
		})
	}
}

func (e *sliceEnv) deletePod(i int) {
	zero := int64(0)
	name := fmt.Sprintf("web-%04d", i)
	if err := e.CS.CoreV1().Pods("default").Delete(e.Ctx, name, metav1.DeleteOptions{GracePeriodSeconds: &zero}); err != nil {
		e.TB.Fatalf("delete pod %s: %v", name, err)
	}
}

// pass runs one pass on a cache that holds every write so far and
// returns the writes it made ("PUT endpointslices/web-x7k2p").
func (e *sliceEnv) pass() []string {
	e.TB.Helper()
	e.Synced()
	e.writes.Take("")
	if err := e.c.Reconcile(e.Ctx); err != nil {
		e.TB.Fatalf("pass: %v", err)
	}
	var out []string
	for _, w := range e.writes.Take("") {
		method, path, _ := strings.Cut(w, " ")
		parts := strings.Split(path, "/")
		if i := slices.Index(parts, "namespaces"); i >= 0 && i+2 < len(parts) {
			path = strings.Join(parts[i+2:], "/")
		}
		out = append(out, method+" "+path)
	}
	slices.Sort(out)
	return out
}

// serviceSlices lists the Service's EndpointSlices.
func (e *sliceEnv) serviceSlices() []discoveryv1.EndpointSlice {
	e.TB.Helper()
	l, err := e.CS.DiscoveryV1().EndpointSlices("default").List(e.Ctx, metav1.ListOptions{LabelSelector: "kubernetes.io/service-name=web"})
	if err != nil {
		e.TB.Fatal(err)
	}
	return l.Items
}

// checkSlices checks the slices are the Service's as Kubernetes writes
// them, hold every address in ips exactly once, ready, and returns
// their sizes, largest first.
func (e *sliceEnv) checkSlices(ips map[string]bool) []int {
	e.TB.Helper()
	seen := map[string]bool{}
	var sizes []int
	for _, s := range e.serviceSlices() {
		own := s.OwnerReferences
		if !strings.HasPrefix(s.Name, "web-") || s.GenerateName != "web-" || s.AddressType != discoveryv1.AddressTypeIPv4 ||
			s.Labels[discoveryv1.LabelManagedBy] != "endpointslice-controller.k8s.io" ||
			len(own) != 1 || own[0].Kind != "Service" || own[0].Name != "web" || own[0].UID != e.svc.UID || own[0].Controller == nil || !*own[0].Controller {
			e.TB.Fatalf("slice %s: meta %+v, addressType %s", s.Name, s.ObjectMeta, s.AddressType)
		}
		if len(s.Ports) != 1 || *s.Ports[0].Name != "http" || *s.Ports[0].Port != 8080 || *s.Ports[0].Protocol != corev1.ProtocolTCP {
			e.TB.Fatalf("slice %s: ports %+v", s.Name, s.Ports)
		}
		for _, ep := range s.Endpoints {
			c := ep.Conditions
			if len(ep.Addresses) != 1 || seen[ep.Addresses[0]] || !ips[ep.Addresses[0]] || !*c.Ready || !*c.Serving || *c.Terminating ||
				ep.NodeName == nil || *ep.NodeName != "node-a" || ep.TargetRef == nil || ep.TargetRef.Kind != "Pod" {
				e.TB.Fatalf("slice %s: endpoint %+v (duplicate: %v)", s.Name, ep, seen[ep.Addresses[0]])
			}
			seen[ep.Addresses[0]] = true
		}
		sizes = append(sizes, len(s.Endpoints))
	}
	if len(seen) != len(ips) {
		e.TB.Fatalf("slices hold %d addresses, want %d", len(seen), len(ips))
	}
	slices.SortFunc(sizes, func(a, b int) int { return b - a })
	return sizes
}

// readyAddresses counts the Endpoints' ready addresses.
func (e *sliceEnv) readyAddresses() int {
	e.TB.Helper()
	ep, err := e.CS.CoreV1().Endpoints("default").Get(e.Ctx, "web", metav1.GetOptions{})
	if err != nil {
		e.TB.Fatal(err)
	}
	n := 0
	for _, s := range ep.Subsets {
		n += len(s.Addresses)
	}
	return n
}

// kinds sums writes by method and resource ("PUT endpointslices").
func kinds(writes []string) map[string]int {
	out := map[string]int{}
	for _, w := range writes {
		method, path, _ := strings.Cut(w, " ")
		res, _, _ := strings.Cut(path, "/")
		out[method+" "+res]++
	}
	return out
}

// TestEndpointSlicesAtScale: 250 pods make slices of 100, 100 and 50; a
// pass rewrites only the slice whose endpoints changed, an added pod fills
// the slice with room, and a pass with nothing changed writes nothing.
func TestEndpointSlicesAtScale(t *testing.T) {
	e := newSliceEnv(t)
	ips := map[string]bool{}
	var lastUpdated []string // the slice the previous step rewrote
	steps := []struct {
		name   string
		change func()
		sizes  []int
		writes map[string]int
		// sameSlice: the slice rewritten is the one the previous step
		// rewrote (the hole it left is filled).
		sameSlice bool
	}{{
		name: "250 ready pods",
		change: func() {
			e.addPods(0, 250)
			for i := range 250 {
				ips[podIP(i)] = true
			}
		},
		sizes:  []int{100, 100, 50},
		writes: map[string]int{"POST endpoints": 1, "POST endpointslices": 3},
	}, {
		name:   "nothing changed",
		change: func() {},
		sizes:  []int{100, 100, 50},
		writes: map[string]int{},
	}, {
		name: "one pod removed",
		change: func() {
			e.deletePod(42)
			delete(ips, podIP(42))
		},
		sizes:  []int{100, 99, 50},
		writes: map[string]int{"PUT endpoints": 1, "PUT endpointslices": 1},
	}, {
		name: "one pod added",
		change: func() {
			e.addPods(250, 251)
			ips[podIP(250)] = true
		},
		sizes:     []int{100, 100, 50},
		writes:    map[string]int{"PUT endpoints": 1, "PUT endpointslices": 1},
		sameSlice: true,
	}, {
		name:   "nothing changed after",
		change: func() {},
		sizes:  []int{100, 100, 50},
		writes: map[string]int{},
	}}
	for _, st := range steps {
		st.change()
		writes := e.pass()
		if got := kinds(writes); !equalCounts(got, st.writes) {
			t.Fatalf("%s: writes %v, want %v", st.name, writes, st.writes)
		}
		if got := e.checkSlices(ips); !slices.Equal(got, st.sizes) {
			t.Fatalf("%s: slice sizes %v, want %v", st.name, got, st.sizes)
		}
		if got := e.readyAddresses(); got != len(ips) {
			t.Fatalf("%s: Endpoints hold %d ready addresses, want %d", st.name, got, len(ips))
		}
		var updated []string
		for _, w := range writes {
			if strings.HasPrefix(w, "PUT endpointslices/") {
				updated = append(updated, w)
			}
		}
		if st.sameSlice && !slices.Equal(updated, lastUpdated) {
			t.Fatalf("%s: rewrote %v, want the slice with room %v", st.name, updated, lastUpdated)
		}
		lastUpdated = updated
	}
}

func equalCounts(a, b map[string]int) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if b[k] != v {
			return false
		}
	}
	return true
}

// TestEndpointSlicesOfGoneService: a Service deleted, or its selector
// removed, loses all its slices (and its Endpoints).
func TestEndpointSlicesOfGoneService(t *testing.T) {
	for _, tc := range []struct {
		name   string
		remove func(e *sliceEnv)
	}{{
		name: "service deleted",
		remove: func(e *sliceEnv) {
			if err := e.CS.CoreV1().Services("default").Delete(e.Ctx, "web", metav1.DeleteOptions{}); err != nil {
				t.Fatal(err)
			}
		},
	}, {
		name: "selector removed",
		remove: func(e *sliceEnv) {
			svc, err := e.CS.CoreV1().Services("default").Get(e.Ctx, "web", metav1.GetOptions{})
			if err != nil {
				t.Fatal(err)
			}
			svc.Spec.Selector = nil
			if _, err := e.CS.CoreV1().Services("default").Update(e.Ctx, svc, metav1.UpdateOptions{}); err != nil {
				t.Fatal(err)
			}
		},
	}} {
		t.Run(tc.name, func(t *testing.T) {
			e := newSliceEnv(t)
			e.addPods(0, 150)
			ips := map[string]bool{}
			for i := range 150 {
				ips[podIP(i)] = true
			}
			e.pass()
			if got := e.checkSlices(ips); !slices.Equal(got, []int{100, 50}) {
				t.Fatalf("slice sizes %v, want [100 50]", got)
			}
			tc.remove(e)
			writes := e.pass()
			if got := kinds(writes); got["DELETE endpointslices"] != 2 || got["DELETE endpoints"] != 1 || len(got) != 2 {
				t.Fatalf("writes %v, want the 2 slices and the Endpoints deleted", writes)
			}
			if s := e.serviceSlices(); len(s) != 0 {
				t.Fatalf("%d slices left", len(s))
			}
			if w := e.pass(); len(w) != 0 {
				t.Fatalf("a pass after wrote %v", w)
			}
		})
	}
}
