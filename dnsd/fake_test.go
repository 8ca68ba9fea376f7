package dnsd

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"sort"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/miekg/dns"
)

// fakeResolver is a Resolver over maps; "panic" and "boom" services misbehave.
type fakeResolver struct {
	namespaces map[string]bool
	services   map[string]*Service // "ns/name"
	pods       map[string]string   // ip -> namespace
	ptr        map[string]string   // ip -> name
}

var _ Resolver = (*fakeResolver)(nil)

func (f *fakeResolver) Service(ns, name string) (*Service, error) {
	switch name {
	case "panic":
		panic("resolver exploded")
	case "boom":
		return nil, errors.New("store unavailable")
	}
	if s, ok := f.services[ns+"/"+name]; ok {
		return s, nil
	}
	return nil, fmt.Errorf("service %s/%s: %w", ns, name, ErrNotFound)
}

func (f *fakeResolver) PodIPExists(ns, ip string) bool { return f.pods[ip] == ns }

func (f *fakeResolver) ReverseLookup(ip string) (string, bool) {
	n, ok := f.ptr[ip]
	return n, ok
}

func (f *fakeResolver) NamespaceExists(ns string) bool { return f.namespaces[ns] }

// bigEndpoints is the size of the "big" headless Service: far more than fits
// in 512 or 1232 bytes.
const bigEndpoints = 200

func newFakeResolver() *fakeResolver {
	big := &Service{Type: ServiceTypeClusterIP, ClusterIPs: []string{"None"}}
	for i := range bigEndpoints {
		big.Endpoints = append(big.Endpoints, Endpoint{IP: fmt.Sprintf("10.42.%d.%d", 100+i/250, 1+i%250)})
	}
	return &fakeResolver{
		namespaces: map[string]bool{"default": true, "prod": true},
		services: map[string]*Service{
			"default/web": {
				Type:       ServiceTypeClusterIP,
				ClusterIPs: []string{"10.43.0.10"},
				Ports: []Port{
					{Name: "http", Protocol: "TCP", Port: 80},
					{Name: "https", Protocol: "TCP", Port: 443},
					{Name: "dns", Protocol: "UDP", Port: 53},
					{Port: 8080},
				},
			},
			"default/np": {Type: ServiceTypeNodePort, ClusterIPs: []string{"10.43.0.11"}, Ports: []Port{{Name: "http", Port: 80}}},
			"default/v6": {Type: ServiceTypeClusterIP, ClusterIPs: []string{"10.43.0.20", "fd00:43::20"}},
			"default/db": {
				Type:       ServiceTypeClusterIP,
				ClusterIPs: []string{"None"},
				Ports:      []Port{{Name: "pg", Protocol: "TCP", Port: 5432}},
				Endpoints: []Endpoint{
					{IP: "10.42.1.5", Hostname: "db-0", PodName: "db-0"},
					{IP: "10.42.2.6", Hostname: "db-1", PodName: "db-1"},
					{IP: "10.42.3.7", PodName: "db-web-abcde"},
					{IP: "10.42.3.7", PodName: "db-web-abcde"}, // listed twice
				},
			},
			"default/empty": {Type: ServiceTypeClusterIP, ClusterIPs: []string{"None"}},
			"default/big":   big,
			"default/ext":   {Type: ServiceTypeExternalName, ExternalName: "my.database.example.com", Ports: []Port{{Name: "pg", Port: 5432}}},
			"default/alias": {Type: ServiceTypeExternalName, ExternalName: "web.default.svc.cluster.local"},
			"default/gone":  {Type: ServiceTypeExternalName, ExternalName: "nope.default.svc.cluster.local."},
			"default/loop":  {Type: ServiceTypeExternalName, ExternalName: "loop.default.svc.cluster.local"},
			"prod/web":      {Type: ServiceTypeLoadBalancer, ClusterIPs: []string{"10.43.1.10"}},
		},
		pods: map[string]string{"10.42.1.5": "default", "10.42.9.9": "default", "fd00:42::9": "prod"},
		ptr: map[string]string{
			"10.43.0.10": "web.default.svc",
			"10.42.1.5":  "db-0.db.default.svc",
			"10.42.9.9":  "10-42-9-9.default.pod",
			"192.0.2.7":  "odd.example.test.",
		},
	}
}

// fakeForwarder counts forwarded queries and answers them with one A record.
type fakeForwarder struct{ calls atomic.Int32 }

func (f *fakeForwarder) Forward(_ context.Context, req *dns.Msg) (*dns.Msg, error) {
	f.calls.Add(1)
	m := new(dns.Msg).SetReply(req)
	m.RecursionAvailable = true
	m.Answer = []dns.RR{mustRR(req.Question[0].Name + " 30 IN A 192.0.2.99")}
	return m, nil
}

var testZones = []netip.Prefix{netip.MustParsePrefix("10.42.0.0/16"), netip.MustParsePrefix("10.43.0.0/16")}

func newTestHandler(t *testing.T, fwd Forwarder) *Handler {
	t.Helper()
	return NewHandler(newFakeResolver(), Config{
		ReverseZones: testZones,
		Forwarder:    fwd,
		Logger:       testLogger(t),
	})
}

// testLogger writes to t.Log.
func testLogger(t *testing.T) *slog.Logger {
	return slog.New(slog.NewTextHandler(tWriter{t}, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

type tWriter struct{ t *testing.T }

func (w tWriter) Write(p []byte) (int, error) {
	w.t.Helper()
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

func mustRR(s string) dns.RR {
	rr, err := dns.NewRR(s)
	if err != nil {
		panic(fmt.Sprintf("bad RR %q: %v", s, err))
	}
	return rr
}

// rrStrings renders records in canonical presentation form, sorted, without
// OPT pseudo-records.
func rrStrings(rrs []dns.RR) []string {
	var out []string
	for _, rr := range rrs {
		if rr.Header().Rrtype == dns.TypeOPT {
			continue
		}
		out = append(out, rr.String())
	}
	sort.Strings(out)
	return out
}

// want parses expected records written in zone-file form.
func want(rrs ...string) []string {
	var out []string
	for _, s := range rrs {
		out = append(out, mustRR(s).String())
	}
	sort.Strings(out)
	return out
}

func query(name string, qtype uint16) *dns.Msg {
	m := new(dns.Msg).SetQuestion(name, qtype)
	return m
}
