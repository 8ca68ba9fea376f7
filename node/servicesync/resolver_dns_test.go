package servicesync

import (
	"net/netip"
	"slices"
	"strings"
	"testing"

	"github.com/miekg/dns"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/shoal-project/shoal/consensus"
	"github.com/shoal-project/shoal/dnsd"
)

// TestResolverThroughDNS: dnsd's real handler over the store-backed
// resolver gives the answers of the Kubernetes DNS schema.
func TestResolverThroughDNS(t *testing.T) {
	st := consensus.NewStore()
	w := &storeWriter{tb: t, st: st}
	w.create("namespaces", "", "default", namespace("default"))
	w.create("services", "default", "web", clusterIPService("default", "web", "10.43.0.7"))
	w.create(sliceResource, "default", "web-abcde", readySlice("default", "web", "10.42.0.5", "10.42.0.6"))
	w.create("services", "default", "db", &corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: "db", Namespace: "default"},
		Spec: corev1.ServiceSpec{ClusterIP: corev1.ClusterIPNone, ClusterIPs: []string{corev1.ClusterIPNone},
			Ports: []corev1.ServicePort{{Name: "pg", Port: 5432}}}})
	w.create(sliceResource, "default", "db-abcde", endpointSlice("default", "db", "db-abcde",
		sliceEndpoint{ip: "10.42.0.8", hostname: "db-0", pod: "db-0", ready: true}))
	w.create("pods", "default", "web-0", pod("default", "web-0", "10.42.0.5"))
	h := dnsd.NewHandler(startResolver(t, st), dnsd.Config{ReverseZones: []netip.Prefix{
		netip.MustParsePrefix("10.42.0.0/16"), netip.MustParsePrefix("10.43.0.0/16")}})

	for _, c := range []struct {
		name  string
		qtype uint16
		rcode int
		want  []string // the answers' data, sorted
	}{
		{"web.default.svc.cluster.local.", dns.TypeA, dns.RcodeSuccess, []string{"10.43.0.7"}},
		{"_http._tcp.web.default.svc.cluster.local.", dns.TypeSRV, dns.RcodeSuccess, []string{"0 100 80 web.default.svc.cluster.local."}},
		{"db.default.svc.cluster.local.", dns.TypeA, dns.RcodeSuccess, []string{"10.42.0.8"}},
		{"db-0.db.default.svc.cluster.local.", dns.TypeA, dns.RcodeSuccess, []string{"10.42.0.8"}},
		{"_pg._tcp.db.default.svc.cluster.local.", dns.TypeSRV, dns.RcodeSuccess, []string{"0 100 5432 db-0.db.default.svc.cluster.local."}},
		{"missing.default.svc.cluster.local.", dns.TypeA, dns.RcodeNameError, nil},
		{"default.svc.cluster.local.", dns.TypeA, dns.RcodeSuccess, nil}, // NODATA: the namespace exists
		{"web.nope.svc.cluster.local.", dns.TypeA, dns.RcodeNameError, nil},
		{"10-42-0-5.default.pod.cluster.local.", dns.TypeA, dns.RcodeSuccess, []string{"10.42.0.5"}},
		{"10-42-0-6.default.pod.cluster.local.", dns.TypeA, dns.RcodeNameError, nil}, // no pod has it
		{"7.0.43.10.in-addr.arpa.", dns.TypePTR, dns.RcodeSuccess, []string{"web.default.svc.cluster.local."}},
		{"5.0.42.10.in-addr.arpa.", dns.TypePTR, dns.RcodeSuccess, []string{"10-42-0-5.default.pod.cluster.local."}},
		{"9.0.42.10.in-addr.arpa.", dns.TypePTR, dns.RcodeNameError, nil},
	} {
		resp := h.Answer(new(dns.Msg).SetQuestion(c.name, c.qtype))
		var got []string
		for _, rr := range resp.Answer {
			hdr := rr.Header().String()
			got = append(got, strings.TrimSpace(strings.TrimPrefix(rr.String(), hdr)))
		}
		slices.Sort(got)
		if resp.Rcode != c.rcode || !slices.Equal(got, c.want) {
			t.Errorf("%s %s: %s %q, want %s %q", c.name, dns.TypeToString[c.qtype],
				dns.RcodeToString[resp.Rcode], got, dns.RcodeToString[c.rcode], c.want)
		}
	}
}
