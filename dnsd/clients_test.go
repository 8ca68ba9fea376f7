package dnsd

import (
	"context"
	"net"
	"net/netip"
	"testing"

	"github.com/miekg/dns"
)

// sourceWriter is a dns.ResponseWriter that records the response to a
// query from a chosen source address.
type sourceWriter struct {
	remote net.Addr
	got    *dns.Msg
}

func (w *sourceWriter) LocalAddr() net.Addr {
	return &net.UDPAddr{IP: net.IPv4(192, 0, 2, 1), Port: 53}
}
func (w *sourceWriter) RemoteAddr() net.Addr      { return w.remote }
func (w *sourceWriter) WriteMsg(m *dns.Msg) error { w.got = m; return nil }
func (w *sourceWriter) Write([]byte) (int, error) { return 0, nil }
func (w *sourceWriter) Close() error              { return nil }
func (w *sourceWriter) TsigStatus() error         { return nil }
func (w *sourceWriter) TsigTimersOnly(bool)       {}
func (w *sourceWriter) Hijack()                   {}

// upstreamCalls counts the queries handed to the upstream forwarder.
type upstreamCalls struct{ n int }

func (u *upstreamCalls) Forward(_ context.Context, req *dns.Msg) (*dns.Msg, error) {
	u.n++
	m := new(dns.Msg)
	m.SetReply(req)
	m.Answer = []dns.RR{&dns.A{Hdr: dns.RR_Header{Name: req.Question[0].Name, Rrtype: dns.TypeA, Class: dns.ClassINET, Ttl: 60}, A: net.IPv4(192, 0, 2, 80)}}
	return m, nil
}

// TestClientsOnly: dnsd answers the pod network, the node's own address
// and loopback; any other source gets REFUSED for a cluster name and for
// a name it would forward, and nothing is forwarded for it: the node is no
// open resolver and tells outsiders nothing of its Services.
func TestClientsOnly(t *testing.T) {
	up := &upstreamCalls{}
	h := NewHandler(newFakeResolver(), Config{
		Clients:   []netip.Prefix{netip.MustParsePrefix("10.42.0.0/16"), netip.MustParsePrefix("192.168.77.11/32")},
		Forwarder: up,
	})
	udp := func(ip string) net.Addr { return &net.UDPAddr{IP: net.ParseIP(ip), Port: 40000} }
	tcp := func(ip string) net.Addr { return &net.TCPAddr{IP: net.ParseIP(ip), Port: 40000} }
	cases := []struct {
		what   string
		from   net.Addr
		name   string
		rcode  int
		answer bool
	}{
		{"a pod asks for a Service", udp("10.42.3.9"), "web.default.svc.cluster.local.", dns.RcodeSuccess, true},
		{"a pod asks for an outside name", udp("10.42.3.9"), "example.test.", dns.RcodeSuccess, true},
		{"the node itself", udp("192.168.77.11"), "web.default.svc.cluster.local.", dns.RcodeSuccess, true},
		{"loopback over TCP", tcp("127.0.0.1"), "web.default.svc.cluster.local.", dns.RcodeSuccess, true},
		{"loopback, IPv6", udp("::1"), "web.default.svc.cluster.local.", dns.RcodeSuccess, true},
		{"the pod network as IPv4-mapped IPv6", udp("::ffff:10.42.3.9"), "web.default.svc.cluster.local.", dns.RcodeSuccess, true},
		{"another machine asks for a Service", udp("192.168.77.50"), "web.default.svc.cluster.local.", dns.RcodeRefused, false},
		{"another machine asks for recursion", udp("203.0.113.7"), "example.test.", dns.RcodeRefused, false},
		{"another machine over TCP", tcp("203.0.113.7"), "web.default.svc.cluster.local.", dns.RcodeRefused, false},
		{"another node of the cluster's LAN", udp("192.168.77.12"), "example.test.", dns.RcodeRefused, false},
	}
	for _, c := range cases {
		t.Run(c.what, func(t *testing.T) {
			before := up.n
			req := new(dns.Msg)
			req.SetQuestion(c.name, dns.TypeA)
			w := &sourceWriter{remote: c.from}
			h.ServeDNS(w, req)
			if w.got == nil {
				t.Fatalf("from %v: no response written", c.from)
			}
			if w.got.Rcode != c.rcode || (len(w.got.Answer) > 0) != c.answer {
				t.Fatalf("from %v, %s: rcode %s with %d answers; want %s, answers %v",
					c.from, c.name, dns.RcodeToString[w.got.Rcode], len(w.got.Answer), dns.RcodeToString[c.rcode], c.answer)
			}
			if c.rcode == dns.RcodeRefused {
				if up.n != before {
					t.Fatalf("from %v: the query was forwarded upstream for a refused source", c.from)
				}
				if w.got.RecursionAvailable {
					t.Fatalf("from %v: REFUSED says recursion available", c.from)
				}
			}
		})
	}
}

// TestClientsDefaultLoopbackOnly: without Clients only loopback is served.
func TestClientsDefaultLoopbackOnly(t *testing.T) {
	h := NewHandler(newFakeResolver(), Config{})
	for from, want := range map[string]int{"127.0.0.1": dns.RcodeSuccess, "10.42.3.9": dns.RcodeRefused} {
		req := new(dns.Msg)
		req.SetQuestion("web.default.svc.cluster.local.", dns.TypeA)
		w := &sourceWriter{remote: &net.UDPAddr{IP: net.ParseIP(from), Port: 40000}}
		h.ServeDNS(w, req)
		if w.got == nil || w.got.Rcode != want {
			t.Fatalf("from %s: %v, want rcode %s", from, w.got, dns.RcodeToString[want])
		}
	}
}
