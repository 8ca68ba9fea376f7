package apiserver

import (
	"bytes"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"testing"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/utils/ptr"

	"github.com/shoal-project/shoal/consensus"
	"github.com/shoal-project/shoal/node/apiserver/servicealloc"
)

func testService(name string, typ corev1.ServiceType, ports ...int32) *corev1.Service {
	svc := &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec:       corev1.ServiceSpec{Type: typ, Selector: map[string]string{"app": name}},
	}
	for i, p := range ports {
		sp := corev1.ServicePort{Port: p}
		if len(ports) > 1 {
			sp.Name = fmt.Sprint("p", i)
		}
		svc.Spec.Ports = append(svc.Spec.Ports, sp)
	}
	return svc
}

func (e *testEnv) createService(svc *corev1.Service) (*corev1.Service, error) {
	return e.cs.CoreV1().Services("default").Create(e.ctx, svc, metav1.CreateOptions{})
}

func (e *testEnv) mustCreateService(svc *corev1.Service) *corev1.Service {
	e.t.Helper()
	out, err := e.createService(svc)
	if err != nil {
		e.t.Fatalf("create service %s: %v", svc.Name, err)
	}
	return out
}

// wantInvalid checks that err is a 422 whose message contains detail.
func wantInvalid(t *testing.T, err error, detail string) {
	t.Helper()
	if !apierrors.IsInvalid(err) || !strings.Contains(err.Error(), detail) {
		t.Fatalf("error = %v, want 422 Invalid with %q", err, detail)
	}
}

func (e *testEnv) serviceClaims(name string) []string {
	return e.store.ObjectClaims("services", "default", name)
}

func inServiceCIDR(ip string) bool {
	a, err := netip.ParseAddr(ip)
	return err == nil && servicealloc.DefaultServiceCIDR.Contains(a) && a != servicealloc.KubernetesServiceIP(servicealloc.DefaultServiceCIDR) &&
		a.String() != "10.43.0.0" && a.String() != "10.43.255.255"
}

func TestServiceClusterIPAllocated(t *testing.T) {
	e := newTestEnv(t)
	svc := e.mustCreateService(testService("web", "", 80))
	s := svc.Spec
	if s.Type != corev1.ServiceTypeClusterIP || !inServiceCIDR(s.ClusterIP) || !slices.Equal(s.ClusterIPs, []string{s.ClusterIP}) {
		t.Fatalf("clusterIP %q clusterIPs %q type %s", s.ClusterIP, s.ClusterIPs, s.Type)
	}
	if !slices.Equal(s.IPFamilies, []corev1.IPFamily{corev1.IPv4Protocol}) || ptr.Deref(s.IPFamilyPolicy, "") != corev1.IPFamilyPolicySingleStack {
		t.Errorf("ipFamilies %v ipFamilyPolicy %v", s.IPFamilies, s.IPFamilyPolicy)
	}
	if s.Ports[0].NodePort != 0 {
		t.Errorf("ClusterIP service got nodePort %d", s.Ports[0].NodePort)
	}
	if got := e.serviceClaims("web"); !slices.Equal(got, []string{"service-ip/" + s.ClusterIP}) {
		t.Errorf("claims = %q", got)
	}
	// A read returns what was allocated.
	got, err := e.cs.CoreV1().Services("default").Get(e.ctx, "web", metav1.GetOptions{})
	if err != nil || got.Spec.ClusterIP != s.ClusterIP {
		t.Fatalf("get: %v, clusterIP %q", err, got.Spec.ClusterIP)
	}

	// Dry run shows an address but claims nothing.
	dry, err := e.cs.CoreV1().Services("default").Create(e.ctx, testService("dry", "", 80), metav1.CreateOptions{DryRun: []string{"All"}})
	if err != nil || !inServiceCIDR(dry.Spec.ClusterIP) {
		t.Fatalf("dry run: %v, %q", err, dry.Spec.ClusterIP)
	}
	if len(e.store.Claims(servicealloc.ClaimServiceIP)) != 1 {
		t.Errorf("dry run claimed: %v", e.store.Claims(""))
	}
}

func TestServiceClusterIPsUnique(t *testing.T) {
	e := newTestEnv(t)
	seen := map[string]string{}
	for i := range 50 {
		svc := e.mustCreateService(testService(fmt.Sprint("s", i), "", 80))
		if !inServiceCIDR(svc.Spec.ClusterIP) {
			t.Fatalf("%s: clusterIP %q not in range", svc.Name, svc.Spec.ClusterIP)
		}
		if other, dup := seen[svc.Spec.ClusterIP]; dup {
			t.Fatalf("%s and %s share %s", svc.Name, other, svc.Spec.ClusterIP)
		}
		seen[svc.Spec.ClusterIP] = svc.Name
	}
	if n := len(e.store.Claims(servicealloc.ClaimServiceIP)); n != 50 {
		t.Fatalf("%d IP claims, want 50", n)
	}
}

func TestServiceRequestedClusterIP(t *testing.T) {
	e := newTestEnv(t)
	req := testService("a", "", 80)
	req.Spec.ClusterIP = "10.43.7.7"
	if svc := e.mustCreateService(req); svc.Spec.ClusterIP != "10.43.7.7" || !slices.Equal(svc.Spec.ClusterIPs, []string{"10.43.7.7"}) {
		t.Fatalf("requested IP not honoured: %q %q", svc.Spec.ClusterIP, svc.Spec.ClusterIPs)
	}
	taken := testService("b", "", 80)
	taken.Spec.ClusterIPs = []string{"10.43.7.7"}
	_, err := e.createService(taken)
	wantInvalid(t, err, `Service "b" is invalid: spec.clusterIPs: Invalid value: ["10.43.7.7"]: failed to allocate IP 10.43.7.7: provided IP is already allocated`)

	for _, ip := range []string{"10.99.0.1", "10.43.0.0", "10.43.255.255"} {
		out := testService("c", "", 80)
		out.Spec.ClusterIP = ip
		_, err := e.createService(out)
		wantInvalid(t, err, fmt.Sprintf(`spec.clusterIPs: Invalid value: [%q]: failed to allocate IP %s: the provided IP (%s) is not in the valid range. The range of valid IPs is 10.43.0.0/16`, ip, ip, ip))
	}
	v6 := testService("d", "", 80)
	v6.Spec.IPFamilyPolicy = ptr.To(corev1.IPFamilyPolicyRequireDualStack)
	_, err = e.createService(v6)
	wantInvalid(t, err, `spec.ipFamilyPolicy: Invalid value: "RequireDualStack": this cluster is not configured for dual-stack services`)
	v6 = testService("d", "", 80)
	v6.Spec.IPFamilies = []corev1.IPFamily{corev1.IPv6Protocol}
	_, err = e.createService(v6)
	wantInvalid(t, err, `ipfamily IPv6 is not configured on cluster`)

	// Failed creates claimed nothing.
	if got := e.store.Claims(""); len(got) != 1 {
		t.Fatalf("claims = %v", got)
	}
}

func TestServiceHeadlessAndExternalName(t *testing.T) {
	e := newTestEnv(t)
	h := testService("headless", "", 80)
	h.Spec.ClusterIP = corev1.ClusterIPNone
	svc := e.mustCreateService(h)
	if svc.Spec.ClusterIP != "None" || !slices.Equal(svc.Spec.ClusterIPs, []string{"None"}) {
		t.Errorf("headless: %q %q", svc.Spec.ClusterIP, svc.Spec.ClusterIPs)
	}
	ext := e.mustCreateService(&corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Name: "db"},
		Spec:       corev1.ServiceSpec{Type: corev1.ServiceTypeExternalName, ExternalName: "my.database.example.com"},
	})
	if ext.Spec.ClusterIP != "" || len(ext.Spec.ClusterIPs) != 0 || len(ext.Spec.IPFamilies) != 0 {
		t.Errorf("ExternalName got addresses: %+v", ext.Spec)
	}
	if got := e.store.Claims(""); len(got) != 0 {
		t.Errorf("claims = %v", got)
	}
	// A second headless service is fine: "None" is not an address.
	h.Name = "headless2"
	e.mustCreateService(h)
}

func TestServiceNodePorts(t *testing.T) {
	e := newTestEnv(t)
	seen := map[int32]string{}
	for i := range 30 {
		svc := e.mustCreateService(testService(fmt.Sprint("np", i), corev1.ServiceTypeNodePort, 8080))
		np := svc.Spec.Ports[0].NodePort
		if np < 30000 || np > 32767 {
			t.Fatalf("%s: nodePort %d out of range", svc.Name, np)
		}
		if other, dup := seen[np]; dup {
			t.Fatalf("%s and %s share nodePort %d", svc.Name, other, np)
		}
		seen[np] = svc.Name
		if got := e.serviceClaims(svc.Name); !slices.Contains(got, fmt.Sprint("nodeport/", np)) || len(got) != 2 {
			t.Fatalf("claims of %s = %q", svc.Name, got)
		}
	}

	want := int32(30080)
	for seen[want] != "" {
		want++
	}
	req := testService("req", corev1.ServiceTypeNodePort, 8080)
	req.Spec.Ports[0].NodePort = want
	if np := e.mustCreateService(req).Spec.Ports[0].NodePort; np != want {
		t.Fatalf("requested nodePort %d not honoured: %d", want, np)
	}
	dup := testService("dup", corev1.ServiceTypeNodePort, 8080)
	dup.Spec.Ports[0].NodePort = want
	_, err := e.createService(dup)
	wantInvalid(t, err, fmt.Sprintf(`Service "dup" is invalid: spec.ports[0].nodePort: Invalid value: %d: provided port is already allocated`, want))
	// Node ports are one space for all protocols, as in Kubernetes.
	dup.Spec.Ports[0].Protocol = corev1.ProtocolUDP
	_, err = e.createService(dup)
	wantInvalid(t, err, `provided port is already allocated`)
	// Nothing of the failed creates is held.
	if _, err := e.cs.CoreV1().Services("default").Get(e.ctx, "dup", metav1.GetOptions{}); !apierrors.IsNotFound(err) {
		t.Fatalf("failed create stored: %v", err)
	}

	// Ports with the same number share a node port (TCP and UDP DNS).
	dns := testService("dns", corev1.ServiceTypeNodePort, 53, 53, 9153)
	dns.Spec.Ports[1].Protocol = corev1.ProtocolUDP
	svc := e.mustCreateService(dns)
	p := svc.Spec.Ports
	if p[0].NodePort == 0 || p[0].NodePort != p[1].NodePort || p[2].NodePort == p[0].NodePort || p[2].NodePort == 0 {
		t.Fatalf("dns node ports %d %d %d", p[0].NodePort, p[1].NodePort, p[2].NodePort)
	}

	// LoadBalancer: node ports, and a health check port with Local traffic;
	// none when allocateLoadBalancerNodePorts is false.
	lb := testService("lb", corev1.ServiceTypeLoadBalancer, 80)
	lb.Spec.ExternalTrafficPolicy = corev1.ServiceExternalTrafficPolicyLocal
	svc = e.mustCreateService(lb)
	if !inServiceCIDR(svc.Spec.ClusterIP) || svc.Spec.Ports[0].NodePort == 0 || svc.Spec.HealthCheckNodePort == 0 ||
		svc.Spec.HealthCheckNodePort == svc.Spec.Ports[0].NodePort || len(e.serviceClaims("lb")) != 3 {
		t.Fatalf("LoadBalancer: %+v, claims %q", svc.Spec, e.serviceClaims("lb"))
	}
	nolb := testService("nolb", corev1.ServiceTypeLoadBalancer, 80)
	nolb.Spec.AllocateLoadBalancerNodePorts = ptr.To(false)
	if svc := e.mustCreateService(nolb); svc.Spec.Ports[0].NodePort != 0 {
		t.Fatalf("allocateLoadBalancerNodePorts=false got nodePort %d", svc.Spec.Ports[0].NodePort)
	}
}

func TestServiceNodePortRangeConfigured(t *testing.T) {
	e := newTestEnv(t)
	e.srv.services = servicealloc.New(e.store, netip.MustParsePrefix("10.96.0.0/29"), servicealloc.PortRange{First: 30000, Last: 30002})
	out := testService("out", corev1.ServiceTypeNodePort, 80)
	out.Spec.Ports[0].NodePort = 30500
	_, err := e.createService(out)
	wantInvalid(t, err, `spec.ports[0].nodePort: Invalid value: 30500: provided port is not in the valid range. The range of valid ports is 30000-30002`)
	// Three node ports and five addresses (10.96.0.2-6): then full.
	for i := range 3 {
		svc := e.mustCreateService(testService(fmt.Sprint("n", i), corev1.ServiceTypeNodePort, 80))
		if np := svc.Spec.Ports[0].NodePort; np < 30000 || np > 30002 {
			t.Fatalf("nodePort %d", np)
		}
	}
	_, err = e.createService(testService("n3", corev1.ServiceTypeNodePort, 80))
	if !apierrors.IsInternalError(err) || !strings.Contains(err.Error(), "failed to allocate a nodePort: range is full") {
		t.Fatalf("full node port range: %v", err)
	}
	for i := range 2 {
		e.mustCreateService(testService(fmt.Sprint("c", i), "", 80))
	}
	_, err = e.createService(testService("c2", "", 80))
	if !apierrors.IsInternalError(err) || !strings.Contains(err.Error(), "failed to allocate a serviceIP: range is full") {
		t.Fatalf("full service CIDR: %v", err)
	}
	for ip, owner := range e.store.Claims(servicealloc.ClaimServiceIP) {
		a := netip.MustParseAddr(strings.TrimPrefix(ip, servicealloc.ClaimServiceIP))
		if !netip.MustParsePrefix("10.96.0.0/29").Contains(a) || a.String() == "10.96.0.1" || a.String() == "10.96.0.7" {
			t.Errorf("%s holds %s", owner, a)
		}
	}
}

// TestServiceConcurrentCreates races many creates for a small range, so
// that writers lose claims to each other and must pick again.
func TestServiceConcurrentCreates(t *testing.T) {
	e := newTestEnv(t)
	e.srv.services = servicealloc.New(e.store, netip.MustParsePrefix("10.96.0.0/27"), servicealloc.PortRange{First: 30000, Last: 30040})
	const n = 24
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for i := range n {
		wg.Go(func() {
			_, err := e.createService(testService(fmt.Sprint("r", i), corev1.ServiceTypeNodePort, 80))
			errs <- err
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	list, err := e.cs.CoreV1().Services("default").List(e.ctx, metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	ips, ports := map[string]bool{}, map[int32]bool{}
	for _, s := range list.Items {
		if ips[s.Spec.ClusterIP] || ports[s.Spec.Ports[0].NodePort] {
			t.Fatalf("%s reuses %s or %d", s.Name, s.Spec.ClusterIP, s.Spec.Ports[0].NodePort)
		}
		ips[s.Spec.ClusterIP], ports[s.Spec.Ports[0].NodePort] = true, true
	}
	if len(list.Items) != n {
		t.Fatalf("%d services", len(list.Items))
	}
}

func TestServiceDeleteFreesAddresses(t *testing.T) {
	e := newTestEnv(t)
	svc := e.mustCreateService(testService("a", corev1.ServiceTypeNodePort, 80))
	ip, np := svc.Spec.ClusterIP, svc.Spec.Ports[0].NodePort
	if err := e.cs.CoreV1().Services("default").Delete(e.ctx, "a", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	if got := e.store.Claims(""); len(got) != 0 {
		t.Fatalf("claims after delete: %v", got)
	}
	again := testService("b", corev1.ServiceTypeNodePort, 80)
	again.Spec.ClusterIP = ip
	again.Spec.Ports[0].NodePort = np
	svc = e.mustCreateService(again)
	if svc.Spec.ClusterIP != ip || svc.Spec.Ports[0].NodePort != np {
		t.Fatalf("freed addresses not reusable: %s %d", svc.Spec.ClusterIP, svc.Spec.Ports[0].NodePort)
	}
}

func TestServiceUpdateKeepsAndReleases(t *testing.T) {
	e := newTestEnv(t)
	svcs := e.cs.CoreV1().Services("default")
	svc := e.mustCreateService(testService("web", corev1.ServiceTypeNodePort, 80))
	ip, np := svc.Spec.ClusterIP, svc.Spec.Ports[0].NodePort
	claims := e.serviceClaims("web")

	// kubectl label: a merge patch keeps everything.
	if _, err := svcs.Patch(e.ctx, "web", types.MergePatchType, []byte(`{"metadata":{"labels":{"v":"1"}}}`), metav1.PatchOptions{}); err != nil {
		t.Fatal(err)
	}
	// A PUT of the user's manifest without the allocated values keeps them.
	put, err := svcs.Get(e.ctx, "web", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	put.Spec.ClusterIP, put.Spec.ClusterIPs, put.Spec.Ports[0].NodePort = "", nil, 0
	got, err := svcs.Update(e.ctx, put, metav1.UpdateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if got.Spec.ClusterIP != ip || got.Spec.Ports[0].NodePort != np || !slices.Equal(e.serviceClaims("web"), claims) {
		t.Fatalf("update lost allocations: %s %d, claims %q", got.Spec.ClusterIP, got.Spec.Ports[0].NodePort, e.serviceClaims("web"))
	}
	// Status writes do not touch the claims. (A load balancer status on a
	// NodePort Service is refused, as in Kubernetes: a condition it is.)
	got.Status.Conditions = []metav1.Condition{{Type: "Ready", Status: metav1.ConditionTrue, Reason: "Test", LastTransitionTime: metav1.Now()}}
	if _, err := svcs.UpdateStatus(e.ctx, got, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(e.serviceClaims("web"), claims) {
		t.Fatalf("status update changed claims: %q", e.serviceClaims("web"))
	}
	// A new port gets its own node port; a second service can't take it.
	got, err = svcs.Patch(e.ctx, "web", types.StrategicMergePatchType,
		[]byte(`{"spec":{"ports":[{"name":"http","port":80},{"name":"metrics","port":9090}]}}`), metav1.PatchOptions{})
	if err != nil {
		t.Fatal(err)
	}
	np2 := got.Spec.Ports[1].NodePort
	if got.Spec.Ports[0].NodePort != np || np2 == 0 || np2 == np || len(e.serviceClaims("web")) != 3 {
		t.Fatalf("ports after adding one: %+v, claims %q", got.Spec.Ports, e.serviceClaims("web"))
	}
	// Asking for a taken node port on update fails and changes nothing.
	other := e.mustCreateService(testService("other", corev1.ServiceTypeNodePort, 80))
	_, err = svcs.Patch(e.ctx, "web", types.JSONPatchType,
		[]byte(fmt.Sprintf(`[{"op":"replace","path":"/spec/ports/1/nodePort","value":%d}]`, other.Spec.Ports[0].NodePort)), metav1.PatchOptions{})
	wantInvalid(t, err, fmt.Sprintf("spec.ports[1].nodePort: Invalid value: %d: provided port is already allocated", other.Spec.Ports[0].NodePort))

	// NodePort -> ClusterIP releases the node ports, keeps the IP.
	got, err = svcs.Patch(e.ctx, "web", types.MergePatchType, []byte(`{"spec":{"type":"ClusterIP","externalTrafficPolicy":null}}`), metav1.PatchOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if got.Spec.ClusterIP != ip || got.Spec.Ports[0].NodePort != 0 || got.Spec.Ports[1].NodePort != 0 {
		t.Fatalf("after NodePort->ClusterIP: %+v", got.Spec)
	}
	if c := e.serviceClaims("web"); !slices.Equal(c, []string{"service-ip/" + ip}) {
		t.Fatalf("claims after NodePort->ClusterIP: %q", c)
	}
	taker := testService("taker", corev1.ServiceTypeNodePort, 80)
	taker.Spec.Ports[0].NodePort = np
	e.mustCreateService(taker)

	// ClusterIP -> NodePort allocates again.
	got, err = svcs.Patch(e.ctx, "web", types.MergePatchType, []byte(`{"spec":{"type":"NodePort"}}`), metav1.PatchOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if got.Spec.Ports[0].NodePort == 0 || got.Spec.Ports[0].NodePort == np || got.Spec.ClusterIP != ip {
		t.Fatalf("after ClusterIP->NodePort: %+v", got.Spec)
	}

	// -> ExternalName releases everything; -> ClusterIP gets a new address.
	got, err = svcs.Patch(e.ctx, "web", types.MergePatchType,
		[]byte(`{"spec":{"type":"ExternalName","externalName":"example.com","externalTrafficPolicy":null}}`), metav1.PatchOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if got.Spec.ClusterIP != "" || got.Spec.Ports[0].NodePort != 0 || len(e.serviceClaims("web")) != 0 {
		t.Fatalf("after ->ExternalName: %+v, claims %q", got.Spec, e.serviceClaims("web"))
	}
	got, err = svcs.Patch(e.ctx, "web", types.MergePatchType, []byte(`{"spec":{"type":"ClusterIP","externalName":null}}`), metav1.PatchOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if !inServiceCIDR(got.Spec.ClusterIP) || !slices.Equal(e.serviceClaims("web"), []string{"service-ip/" + got.Spec.ClusterIP}) {
		t.Fatalf("after ExternalName->ClusterIP: %+v, claims %q", got.Spec, e.serviceClaims("web"))
	}
}

// envOver serves a second API over st (already holding namespaces).
func envOver(t *testing.T, st *consensus.Store) *testEnv {
	t.Helper()
	srv := New(Config{
		Store: st, Proposer: consensus.NewLocalProposer(st),
		Authenticate: func(r *http.Request) bool { return r.Header.Get("Authorization") == "Bearer "+testToken },
		Logger:       slog.New(slog.NewTextHandler(io.Discard, nil)),
	})
	hs := httptest.NewServer(srv.Handler())
	t.Cleanup(hs.Close)
	cs, err := kubernetes.NewForConfig(&rest.Config{Host: hs.URL, BearerToken: testToken})
	if err != nil {
		t.Fatal(err)
	}
	return &testEnv{t: t, store: st, srv: srv, hs: hs, cs: cs, ctx: t.Context()}
}

func TestServiceClaimsSurviveSnapshot(t *testing.T) {
	e := newTestEnv(t)
	a := e.mustCreateService(testService("a", corev1.ServiceTypeNodePort, 80))
	var buf bytes.Buffer
	if _, err := e.store.Snapshot().WriteTo(&buf); err != nil {
		t.Fatal(err)
	}
	st := consensus.NewStore()
	if err := st.Restore(&buf); err != nil {
		t.Fatal(err)
	}
	if got, want := st.Claims(""), e.store.Claims(""); len(got) != 2 || fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("restored claims %v, want %v", got, want)
	}
	e2 := envOver(t, st)
	b := testService("b", corev1.ServiceTypeNodePort, 80)
	b.Spec.ClusterIP = a.Spec.ClusterIP
	_, err := e2.createService(b)
	wantInvalid(t, err, "provided IP is already allocated")
	b.Spec.ClusterIP = ""
	b.Spec.Ports[0].NodePort = a.Spec.Ports[0].NodePort
	_, err = e2.createService(b)
	wantInvalid(t, err, "provided port is already allocated")
	if err := e2.cs.CoreV1().Services("default").Delete(e2.ctx, "a", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	b.Spec.ClusterIP = a.Spec.ClusterIP
	e2.mustCreateService(b)
}

func TestServiceKeepsAddressesAcrossRangeChange(t *testing.T) {
	e := newTestEnv(t)
	svc := e.mustCreateService(testService("old", corev1.ServiceTypeNodePort, 80))
	e.srv.services = servicealloc.New(e.store, netip.MustParsePrefix("10.96.0.0/24"), servicealloc.PortRange{First: 31000, Last: 31001})
	// Stored values are kept even though the new ranges do not hold them.
	got, err := e.cs.CoreV1().Services("default").Patch(e.ctx, "old", types.MergePatchType, []byte(`{"metadata":{"labels":{"a":"b"}}}`), metav1.PatchOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if got.Spec.ClusterIP != svc.Spec.ClusterIP || got.Spec.Ports[0].NodePort != svc.Spec.Ports[0].NodePort {
		t.Fatalf("addresses changed: %+v", got.Spec)
	}
}
