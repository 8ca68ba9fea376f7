package servicesync

import (
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/miekg/dns"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/shoal-project/shoal/consensus"
	"github.com/shoal-project/shoal/dnsd"
)

// The zone of BenchmarkResolverFromStore: issue 12's 1,000 ClusterIP
// Services, 3 endpoints each, as dnsd/perf_test.go's zone.
const (
	benchServices  = 1000
	benchEndpoints = 3
)

// fillBenchZone puts svc-0 .. svc-999 in namespace default, each with its
// EndpointSlice, into the store. The addresses are data only: nothing is sent.
func fillBenchZone(w *storeWriter) {
	w.create("namespaces", "", "default", &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "default"}})
	for i := range benchServices {
		name := fmt.Sprintf("svc-%d", i)
		w.create("services", "default", name, clusterIPService("default", name, fmt.Sprintf("10.43.%d.%d", i/250, 1+i%250)))
		ips := make([]string, benchEndpoints)
		for j := range ips {
			n := i*benchEndpoints + j
			ips[j] = fmt.Sprintf("10.42.%d.%d", n/250, 1+n%250)
		}
		w.create(sliceResource, "default", name+"-abcde", readySlice("default", name, ips...))
	}
}

// benchQueries is dnsd/perf_test.go's query mix: 80% A for
// svc-N.default.svc.cluster.local, 10% SRV for its named port, 10% A for
// a missing Service (NXDOMAIN, as a search-path expansion gets).
func benchQueries(n int) (reqs []*dns.Msg, rcodes []int) {
	r := rand.New(rand.NewPCG(1, 2))
	for i := range n {
		svc := r.IntN(benchServices)
		switch i % 10 {
		case 8:
			reqs = append(reqs, new(dns.Msg).SetQuestion(fmt.Sprintf("_http._tcp.svc-%d.default.svc.cluster.local.", svc), dns.TypeSRV))
			rcodes = append(rcodes, dns.RcodeSuccess)
		case 9:
			reqs = append(reqs, new(dns.Msg).SetQuestion(fmt.Sprintf("missing-%d.default.svc.cluster.local.", svc), dns.TypeA))
			rcodes = append(rcodes, dns.RcodeNameError)
		default:
			reqs = append(reqs, new(dns.Msg).SetQuestion(fmt.Sprintf("svc-%d.default.svc.cluster.local.", svc), dns.TypeA))
			rcodes = append(rcodes, dns.RcodeSuccess)
		}
	}
	return reqs, rcodes
}

// BenchmarkResolverFromStore measures the real dnsd handler answering from
// a store through the node's resolver: what a pod gets, less the UDP
// transport (BenchmarkServerUDP in dnsd measures that). One goroutine, so
// the figure is per core.
//
//	go test -run '^$' -bench ResolverFromStore -benchtime 3s -count 3 ./node/servicesync/
func BenchmarkResolverFromStore(b *testing.B) {
	st := consensus.NewStore()
	fillBenchZone(&storeWriter{tb: b, st: st})
	h := dnsd.NewHandler(startResolver(b, st), dnsd.Config{})
	reqs, rcodes := benchQueries(10_000)
	for i, req := range reqs { // answers right, or the figure means nothing
		if resp := h.Answer(req); resp.Rcode != rcodes[i] || resp.Rcode == dns.RcodeSuccess && len(resp.Answer) == 0 {
			b.Fatalf("%s: rcode %s, %d answers; want %s", req.Question[0].Name, dns.RcodeToString[resp.Rcode], len(resp.Answer), dns.RcodeToString[rcodes[i]])
		}
	}
	b.ReportAllocs()
	n := 0
	for b.Loop() {
		h.Answer(reqs[n%len(reqs)])
		n++
	}
	b.ReportMetric(float64(n)/b.Elapsed().Seconds(), "queries/s")
}
