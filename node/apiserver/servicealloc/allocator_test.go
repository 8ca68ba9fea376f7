package servicealloc

import (
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/utils/ptr"

	"github.com/shoal-project/shoal/consensus"
)

// claimMap stands in for the store's claims: claim -> owner.
type claimMap map[string]string

func (m claimMap) ClaimOwner(c string) (string, bool) { o, ok := m[c]; return o, ok }

// take records al's claims as the FSM would on a successful write.
func (m claimMap) take(al *Allocation) {
	for _, c := range al.Claims() {
		m[c] = al.owner()
	}
}

func service(name string, typ corev1.ServiceType, ports ...int32) *corev1.Service {
	svc := &corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "default"}, Spec: corev1.ServiceSpec{Type: typ}}
	for _, p := range ports {
		svc.Spec.Ports = append(svc.Spec.Ports, corev1.ServicePort{Port: p, Protocol: corev1.ProtocolTCP})
	}
	return svc
}

func wantInvalid(t *testing.T, err error, detail string) {
	t.Helper()
	if !apierrors.IsInvalid(err) || !strings.Contains(err.Error(), detail) {
		t.Fatalf("error %v: want Invalid with %q", err, detail)
	}
}

func TestParsePortRange(t *testing.T) {
	if r, err := ParsePortRange("30000-32767"); err != nil || r != DefaultNodePortRange || r.String() != "30000-32767" {
		t.Fatalf("ParsePortRange = %v, %v", r, err)
	}
	for _, bad := range []string{"", "30000", "2-1", "0-10", "1-70000", "a-b"} {
		if _, err := ParsePortRange(bad); err == nil {
			t.Errorf("ParsePortRange(%q) succeeded", bad)
		}
	}
}

func TestKubernetesServiceIP(t *testing.T) {
	for cidr, want := range map[string]string{"10.43.0.0/16": "10.43.0.1", "10.96.0.0/29": "10.96.0.1", "10.96.5.7/24": "10.96.5.1"} {
		if got := KubernetesServiceIP(netip.MustParsePrefix(cidr)); got.String() != want {
			t.Errorf("KubernetesServiceIP(%s) = %s, want %s", cidr, got, want)
		}
	}
	if err := Check(netip.Prefix{}, PortRange{}); err != nil {
		t.Errorf("Check(defaults) = %v", err)
	}
	if got := New(claimMap{}, netip.Prefix{}, PortRange{}); got.CIDR() != DefaultServiceCIDR || got.Ports() != DefaultNodePortRange {
		t.Errorf("zero config: %s %s, want the defaults", got.CIDR(), got.Ports())
	}
}

func TestNewRefusesBadRanges(t *testing.T) {
	for _, tc := range []struct {
		cidr  string
		ports PortRange
	}{
		{"fd00::/112", PortRange{}},
		{"10.96.0.0/30", PortRange{}},
		{"10.96.0.0/24", PortRange{First: 40000, Last: 30000}},
	} {
		a := New(claimMap{}, netip.MustParsePrefix(tc.cidr), tc.ports)
		if err := Check(netip.MustParsePrefix(tc.cidr), tc.ports); err == nil || a.Err() == nil || err.Error() != a.Err().Error() {
			t.Errorf("%s %s: Check = %v, Err = %v: want the same error", tc.cidr, tc.ports, err, a.Err())
		}
		if a.Err() == nil {
			t.Errorf("%s %s: no error", tc.cidr, tc.ports)
			continue
		}
		if _, err := a.Allocate(service("web", "", 80), nil); !apierrors.IsInternalError(err) {
			t.Errorf("%s %s: Allocate = %v, want InternalError", tc.cidr, tc.ports, err)
		}
	}
}

// TestClusterIPs fills a /29: five host addresses after the kubernetes
// Service's, never the network, first or broadcast address, then full.
func TestClusterIPs(t *testing.T) {
	claims := claimMap{}
	a := New(claims, netip.MustParsePrefix("10.96.0.0/29"), PortRange{})
	var got []string
	for i := range 5 {
		svc := service(fmt.Sprint("s", i), corev1.ServiceTypeClusterIP, 80)
		al, err := a.Allocate(svc, nil)
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(al.Claims(), []string{ClaimServiceIP + svc.Spec.ClusterIP}) || svc.Spec.Ports[0].NodePort != 0 {
			t.Fatalf("claims %q, spec %+v", al.Claims(), svc.Spec)
		}
		claims.take(al)
		got = append(got, svc.Spec.ClusterIP)
	}
	slices.Sort(got)
	if want := []string{"10.96.0.2", "10.96.0.3", "10.96.0.4", "10.96.0.5", "10.96.0.6"}; !slices.Equal(got, want) {
		t.Fatalf("addresses %q, want %q", got, want)
	}
	_, err := a.Allocate(service("full", "", 80), nil)
	if !apierrors.IsInternalError(err) || !strings.Contains(err.Error(), "failed to allocate a serviceIP: range is full") {
		t.Fatalf("full range: %v", err)
	}
	// Headless and ExternalName Services take no address.
	for _, svc := range []*corev1.Service{
		{ObjectMeta: metav1.ObjectMeta{Name: "h"}, Spec: corev1.ServiceSpec{ClusterIP: corev1.ClusterIPNone}},
		{ObjectMeta: metav1.ObjectMeta{Name: "x"}, Spec: corev1.ServiceSpec{Type: corev1.ServiceTypeExternalName, ExternalName: "example.org"}},
	} {
		if al, err := a.Allocate(svc, nil); err != nil || len(al.Claims()) != 0 {
			t.Errorf("%s: %v, claims %q", svc.Name, err, al.Claims())
		}
	}
}

func TestRequestedClusterIP(t *testing.T) {
	claims := claimMap{}
	a := New(claims, netip.MustParsePrefix("10.96.0.0/24"), PortRange{})
	svc := service("a", "", 80)
	svc.Spec.ClusterIPs = []string{"10.96.0.10"}
	al, err := a.Allocate(svc, nil)
	if err != nil {
		t.Fatal(err)
	}
	claims.take(al)
	other := service("b", "", 80)
	other.Spec.ClusterIPs = []string{"10.96.0.10"}
	_, err = a.Allocate(other, nil)
	wantInvalid(t, err, "failed to allocate IP 10.96.0.10: provided IP is already allocated")
	other.Spec.ClusterIPs = []string{"10.97.0.10"}
	_, err = a.Allocate(other, nil)
	wantInvalid(t, err, "The range of valid IPs is 10.96.0.0/24")
	// An update keeps an address the range no longer holds.
	old := other.DeepCopy()
	if _, err := a.Allocate(other, old); err != nil {
		t.Fatalf("kept address refused: %v", err)
	}
	// The owner's own claim is no conflict.
	if _, err := a.Allocate(svc.DeepCopy(), svc); err != nil {
		t.Fatalf("own address refused: %v", err)
	}
}

func TestNodePorts(t *testing.T) {
	claims := claimMap{}
	a := New(claims, netip.MustParsePrefix("10.96.0.0/24"), PortRange{First: 30000, Last: 30002})
	svc := service("np", corev1.ServiceTypeNodePort, 80, 80, 443)
	svc.Spec.Ports[1].Protocol = corev1.ProtocolUDP
	al, err := a.Allocate(svc, nil)
	if err != nil {
		t.Fatal(err)
	}
	p := svc.Spec.Ports
	if p[0].NodePort == 0 || p[0].NodePort != p[1].NodePort || p[2].NodePort == p[0].NodePort || len(al.Claims()) != 3 {
		t.Fatalf("ports %+v, claims %q: want 80/TCP and 80/UDP to share one node port", p, al.Claims())
	}
	claims.take(al)
	lb := service("lb", corev1.ServiceTypeLoadBalancer, 80)
	lb.Spec.AllocateLoadBalancerNodePorts = ptr.To(false)
	lb.Spec.ExternalTrafficPolicy = corev1.ServiceExternalTrafficPolicyLocal
	if _, err := a.Allocate(lb, nil); err != nil || lb.Spec.Ports[0].NodePort != 0 || lb.Spec.HealthCheckNodePort == 0 {
		t.Fatalf("LoadBalancer without node ports: %v, %+v", err, lb.Spec)
	}
	req := service("req", corev1.ServiceTypeNodePort, 80)
	req.Spec.Ports[0].NodePort = 30500
	_, err = a.Allocate(req, nil)
	wantInvalid(t, err, "provided port is not in the valid range. The range of valid ports is 30000-30002")
	req.Spec.Ports[0].NodePort = p[0].NodePort
	_, err = a.Allocate(req, nil)
	wantInvalid(t, err, "provided port is already allocated")
	claims[nodePortClaim(lb.Spec.HealthCheckNodePort)] = "services/default/lb"
	_, err = a.Allocate(service("full", corev1.ServiceTypeNodePort, 80), nil)
	if !apierrors.IsInternalError(err) || !strings.Contains(err.Error(), "failed to allocate a nodePort: range is full") {
		t.Fatalf("full node port range: %v", err)
	}
}

// TestRetryClaims loses a race for the picked address: the automatic
// values are picked again, the requested ones checked again.
func TestRetryClaims(t *testing.T) {
	claims := claimMap{}
	a := New(claims, netip.MustParsePrefix("10.96.0.0/29"), PortRange{First: 30000, Last: 30001})
	gr := schema.GroupResource{Resource: "services"}
	svc := service("web", corev1.ServiceTypeNodePort, 80)
	al, err := a.Allocate(svc, nil)
	if err != nil {
		t.Fatal(err)
	}
	if retry, err := al.RetryClaims(errors.New("disk"), 0, gr); retry || err == nil || err.Error() != "disk" {
		t.Fatalf("other error: %v %v, want it unchanged", retry, err)
	}
	lostIP, lostPort := svc.Spec.ClusterIP, svc.Spec.Ports[0].NodePort
	claims[ClaimServiceIP+lostIP] = "services/default/rival"
	claims[nodePortClaim(lostPort)] = "services/default/rival"
	retry, err := al.RetryClaims(fmt.Errorf("propose: %w", consensus.ErrClaimed), 0, gr)
	if !retry || err != nil || svc.Spec.ClusterIP == lostIP || svc.Spec.Ports[0].NodePort == lostPort {
		t.Fatalf("retry %v %v: spec %+v, want new values", retry, err, svc.Spec)
	}
	if retry, err := al.RetryClaims(consensus.ErrClaimed, maxClaimRetries, gr); retry || !apierrors.IsConflict(err) {
		t.Fatalf("after %d attempts: %v %v, want Conflict", maxClaimRetries, retry, err)
	}
	var none *Allocation
	cmd := &consensus.Command{}
	none.SetClaims(cmd)
	if retry, err := none.RetryClaims(consensus.ErrClaimed, 0, gr); cmd.SetClaims || retry || !errors.Is(err, consensus.ErrClaimed) {
		t.Fatal("a nil Allocation must set no claims and never retry")
	}
}
