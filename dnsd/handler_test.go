package dnsd

import (
	"net/netip"
	"slices"
	"strings"
	"testing"

	"github.com/miekg/dns"
)

const soaCluster = "cluster.local. 5 IN SOA ns.dns.cluster.local. hostmaster.cluster.local. 1 7200 1800 86400 5"

func TestAnswer(t *testing.T) {
	tests := []struct {
		name  string
		qname string
		qtype uint16
		rcode int
		// answer and extra list the expected records; order does not matter.
		answer, extra []string
		// soa is the expected authority section (negative answers).
		soa string
		// forwarded: the query must reach the Forwarder, not the Resolver.
		forwarded bool
	}{
		// A / AAAA
		{name: "A ClusterIP", qname: "web.default.svc.cluster.local.", qtype: dns.TypeA,
			answer: want("web.default.svc.cluster.local. 5 IN A 10.43.0.10")},
		{name: "A NodePort", qname: "np.default.svc.cluster.local.", qtype: dns.TypeA,
			answer: want("np.default.svc.cluster.local. 5 IN A 10.43.0.11")},
		{name: "A LoadBalancer other namespace", qname: "web.prod.svc.cluster.local.", qtype: dns.TypeA,
			answer: want("web.prod.svc.cluster.local. 5 IN A 10.43.1.10")},
		{name: "AAAA of IPv4 service is NODATA", qname: "web.default.svc.cluster.local.", qtype: dns.TypeAAAA,
			soa: soaCluster},
		{name: "AAAA dual-stack", qname: "v6.default.svc.cluster.local.", qtype: dns.TypeAAAA,
			answer: want("v6.default.svc.cluster.local. 5 IN AAAA fd00:43::20")},
		{name: "A dual-stack", qname: "v6.default.svc.cluster.local.", qtype: dns.TypeA,
			answer: want("v6.default.svc.cluster.local. 5 IN A 10.43.0.20")},
		{name: "TXT of a service is NODATA", qname: "web.default.svc.cluster.local.", qtype: dns.TypeTXT,
			soa: soaCluster},

		// headless
		{name: "A headless: ready endpoint IPs", qname: "db.default.svc.cluster.local.", qtype: dns.TypeA,
			answer: want(
				"db.default.svc.cluster.local. 5 IN A 10.42.1.5",
				"db.default.svc.cluster.local. 5 IN A 10.42.2.6",
				"db.default.svc.cluster.local. 5 IN A 10.42.3.7")},
		{name: "A headless without endpoints is NODATA", qname: "empty.default.svc.cluster.local.", qtype: dns.TypeA,
			soa: soaCluster},
		{name: "A headless endpoint by hostname", qname: "db-0.db.default.svc.cluster.local.", qtype: dns.TypeA,
			answer: want("db-0.db.default.svc.cluster.local. 5 IN A 10.42.1.5")},
		{name: "A headless endpoint by dashed IP", qname: "10-42-3-7.db.default.svc.cluster.local.", qtype: dns.TypeA,
			answer: want("10-42-3-7.db.default.svc.cluster.local. 5 IN A 10.42.3.7")},
		{name: "A unknown headless endpoint", qname: "db-9.db.default.svc.cluster.local.", qtype: dns.TypeA,
			rcode: dns.RcodeNameError, soa: soaCluster},
		{name: "A endpoint name of a ClusterIP service", qname: "x.web.default.svc.cluster.local.", qtype: dns.TypeA,
			rcode: dns.RcodeNameError, soa: soaCluster},

		// SRV
		{name: "SRV named port", qname: "_http._tcp.web.default.svc.cluster.local.", qtype: dns.TypeSRV,
			answer: want("_http._tcp.web.default.svc.cluster.local. 5 IN SRV 0 100 80 web.default.svc.cluster.local."),
			extra:  want("web.default.svc.cluster.local. 5 IN A 10.43.0.10")},
		{name: "SRV named UDP port", qname: "_dns._udp.web.default.svc.cluster.local.", qtype: dns.TypeSRV,
			answer: want("_dns._udp.web.default.svc.cluster.local. 5 IN SRV 0 100 53 web.default.svc.cluster.local."),
			extra:  want("web.default.svc.cluster.local. 5 IN A 10.43.0.10")},
		{name: "SRV headless: one target per endpoint", qname: "_pg._tcp.db.default.svc.cluster.local.", qtype: dns.TypeSRV,
			answer: want(
				"_pg._tcp.db.default.svc.cluster.local. 5 IN SRV 0 33 5432 db-0.db.default.svc.cluster.local.",
				"_pg._tcp.db.default.svc.cluster.local. 5 IN SRV 0 33 5432 db-1.db.default.svc.cluster.local.",
				"_pg._tcp.db.default.svc.cluster.local. 5 IN SRV 0 33 5432 10-42-3-7.db.default.svc.cluster.local."),
			extra: want(
				"db-0.db.default.svc.cluster.local. 5 IN A 10.42.1.5",
				"db-1.db.default.svc.cluster.local. 5 IN A 10.42.2.6",
				"10-42-3-7.db.default.svc.cluster.local. 5 IN A 10.42.3.7")},
		{name: "SRV at the service name lists every port", qname: "web.default.svc.cluster.local.", qtype: dns.TypeSRV,
			answer: want(
				"web.default.svc.cluster.local. 5 IN SRV 0 25 80 web.default.svc.cluster.local.",
				"web.default.svc.cluster.local. 5 IN SRV 0 25 443 web.default.svc.cluster.local.",
				"web.default.svc.cluster.local. 5 IN SRV 0 25 53 web.default.svc.cluster.local.",
				"web.default.svc.cluster.local. 5 IN SRV 0 25 8080 web.default.svc.cluster.local."),
			extra: want("web.default.svc.cluster.local. 5 IN A 10.43.0.10")},
		{name: "SRV ExternalName named port", qname: "_pg._tcp.ext.default.svc.cluster.local.", qtype: dns.TypeSRV,
			answer: want("_pg._tcp.ext.default.svc.cluster.local. 5 IN SRV 0 100 5432 my.database.example.com.")},
		{name: "SRV unknown port name", qname: "_nope._tcp.web.default.svc.cluster.local.", qtype: dns.TypeSRV,
			rcode: dns.RcodeNameError, soa: soaCluster},
		{name: "SRV wrong protocol", qname: "_http._udp.web.default.svc.cluster.local.", qtype: dns.TypeSRV,
			rcode: dns.RcodeNameError, soa: soaCluster},
		{name: "SRV of an unnamed port number", qname: "_8080._tcp.web.default.svc.cluster.local.", qtype: dns.TypeSRV,
			rcode: dns.RcodeNameError, soa: soaCluster},
		{name: "A on an SRV name is NODATA", qname: "_http._tcp.web.default.svc.cluster.local.", qtype: dns.TypeA,
			soa: soaCluster},
		{name: "A on the SRV parent _tcp is NODATA", qname: "_tcp.web.default.svc.cluster.local.", qtype: dns.TypeA,
			soa: soaCluster},
		{name: "SRV parent of a missing protocol", qname: "_udp.db.default.svc.cluster.local.", qtype: dns.TypeA,
			rcode: dns.RcodeNameError, soa: soaCluster},

		// ExternalName
		{name: "CNAME ExternalName external target", qname: "ext.default.svc.cluster.local.", qtype: dns.TypeA,
			answer: want("ext.default.svc.cluster.local. 5 IN CNAME my.database.example.com.")},
		{name: "CNAME query for ExternalName", qname: "ext.default.svc.cluster.local.", qtype: dns.TypeCNAME,
			answer: want("ext.default.svc.cluster.local. 5 IN CNAME my.database.example.com.")},
		{name: "CNAME ExternalName in-cluster target gets its A", qname: "alias.default.svc.cluster.local.", qtype: dns.TypeA,
			answer: want(
				"alias.default.svc.cluster.local. 5 IN CNAME web.default.svc.cluster.local.",
				"web.default.svc.cluster.local. 5 IN A 10.43.0.10")},
		{name: "CNAME ExternalName in-cluster target missing", qname: "gone.default.svc.cluster.local.", qtype: dns.TypeA,
			rcode:  dns.RcodeNameError,
			answer: want("gone.default.svc.cluster.local. 5 IN CNAME nope.default.svc.cluster.local."),
			soa:    soaCluster},
		{name: "CNAME loop is SERVFAIL", qname: "loop.default.svc.cluster.local.", qtype: dns.TypeA,
			rcode: dns.RcodeServerFailure},

		// pods
		{name: "pod A", qname: "10-42-1-5.default.pod.cluster.local.", qtype: dns.TypeA,
			answer: want("10-42-1-5.default.pod.cluster.local. 5 IN A 10.42.1.5")},
		{name: "pod AAAA", qname: "fd00-42--9.prod.pod.cluster.local.", qtype: dns.TypeAAAA,
			answer: want("fd00-42--9.prod.pod.cluster.local. 5 IN AAAA fd00:42::9")},
		{name: "pod AAAA of IPv4 pod is NODATA", qname: "10-42-1-5.default.pod.cluster.local.", qtype: dns.TypeAAAA,
			soa: soaCluster},
		{name: "pod unknown IP (verified)", qname: "10-42-1-6.default.pod.cluster.local.", qtype: dns.TypeA,
			rcode: dns.RcodeNameError, soa: soaCluster},
		{name: "pod in the wrong namespace", qname: "10-42-1-5.prod.pod.cluster.local.", qtype: dns.TypeA,
			rcode: dns.RcodeNameError, soa: soaCluster},
		{name: "pod garbage label", qname: "not-an-ip.default.pod.cluster.local.", qtype: dns.TypeA,
			rcode: dns.RcodeNameError, soa: soaCluster},

		// PTR
		{name: "PTR ClusterIP", qname: "10.0.43.10.in-addr.arpa.", qtype: dns.TypePTR,
			answer: want("10.0.43.10.in-addr.arpa. 5 IN PTR web.default.svc.cluster.local.")},
		{name: "PTR pod IP with hostname", qname: "5.1.42.10.in-addr.arpa.", qtype: dns.TypePTR,
			answer: want("5.1.42.10.in-addr.arpa. 5 IN PTR db-0.db.default.svc.cluster.local.")},
		{name: "PTR pod IP dashed", qname: "9.9.42.10.in-addr.arpa.", qtype: dns.TypePTR,
			answer: want("9.9.42.10.in-addr.arpa. 5 IN PTR 10-42-9-9.default.pod.cluster.local.")},
		{name: "PTR known IP outside the zones, absolute name", qname: "7.2.0.192.in-addr.arpa.", qtype: dns.TypePTR,
			answer: want("7.2.0.192.in-addr.arpa. 5 IN PTR odd.example.test.")},
		{name: "PTR unknown IP in a cluster CIDR", qname: "99.0.43.10.in-addr.arpa.", qtype: dns.TypePTR,
			rcode: dns.RcodeNameError,
			soa:   "43.10.in-addr.arpa. 5 IN SOA ns.dns.cluster.local. hostmaster.cluster.local. 1 7200 1800 86400 5"},
		{name: "PTR empty non-terminal in a cluster CIDR", qname: "0.43.10.in-addr.arpa.", qtype: dns.TypePTR,
			soa: "43.10.in-addr.arpa. 5 IN SOA ns.dns.cluster.local. hostmaster.cluster.local. 1 7200 1800 86400 5"},
		{name: "A of a known reverse name is NODATA", qname: "10.0.43.10.in-addr.arpa.", qtype: dns.TypeA,
			soa: "43.10.in-addr.arpa. 5 IN SOA ns.dns.cluster.local. hostmaster.cluster.local. 1 7200 1800 86400 5"},
		{name: "PTR outside the cluster is forwarded", qname: "1.0.0.127.in-addr.arpa.", qtype: dns.TypePTR,
			forwarded: true, answer: want("1.0.0.127.in-addr.arpa. 30 IN A 192.0.2.99")},

		// NXDOMAIN / NODATA structure
		{name: "NXDOMAIN missing service", qname: "nope.default.svc.cluster.local.", qtype: dns.TypeA,
			rcode: dns.RcodeNameError, soa: soaCluster},
		{name: "NXDOMAIN service in missing namespace", qname: "web.missing.svc.cluster.local.", qtype: dns.TypeA,
			rcode: dns.RcodeNameError, soa: soaCluster},
		{name: "NXDOMAIN missing namespace", qname: "missing.svc.cluster.local.", qtype: dns.TypeA,
			rcode: dns.RcodeNameError, soa: soaCluster},
		{name: "NODATA existing namespace", qname: "default.svc.cluster.local.", qtype: dns.TypeA,
			soa: soaCluster},
		{name: "NODATA existing namespace pod zone", qname: "default.pod.cluster.local.", qtype: dns.TypeA,
			soa: soaCluster},
		{name: "NODATA svc zone", qname: "svc.cluster.local.", qtype: dns.TypeA, soa: soaCluster},
		{name: "NODATA cluster domain", qname: "cluster.local.", qtype: dns.TypeA, soa: soaCluster},
		{name: "SOA of the cluster domain", qname: "cluster.local.", qtype: dns.TypeSOA, answer: want(soaCluster)},
		{name: "NXDOMAIN unknown zone", qname: "foo.cluster.local.", qtype: dns.TypeA,
			rcode: dns.RcodeNameError, soa: soaCluster},
		{name: "NXDOMAIN search-path expansion", qname: "web.default.svc.cluster.local.default.svc.cluster.local.", qtype: dns.TypeA,
			rcode: dns.RcodeNameError, soa: soaCluster},
		{name: "NXDOMAIN external name under the search path", qname: "example.test.svc.cluster.local.", qtype: dns.TypeA,
			rcode: dns.RcodeNameError, soa: soaCluster},
		{name: "NXDOMAIN too many labels", qname: "a.b._http._tcp.web.default.svc.cluster.local.", qtype: dns.TypeA,
			rcode: dns.RcodeNameError, soa: soaCluster},
		{name: "schema version", qname: "dns-version.cluster.local.", qtype: dns.TypeTXT,
			answer: want(`dns-version.cluster.local. 5 IN TXT "1.1.0"`)},

		// case-insensitivity: owner names keep the client's spelling (0x20)
		{name: "mixed case A", qname: "WeB.DeFault.SVC.Cluster.LOCAL.", qtype: dns.TypeA,
			answer: want("WeB.DeFault.SVC.Cluster.LOCAL. 5 IN A 10.43.0.10")},
		{name: "mixed case SRV", qname: "_HTTP._Tcp.WEB.default.svc.cluster.local.", qtype: dns.TypeSRV,
			answer: want("_HTTP._Tcp.WEB.default.svc.cluster.local. 5 IN SRV 0 100 80 web.default.svc.cluster.local."),
			extra:  want("web.default.svc.cluster.local. 5 IN A 10.43.0.10")},
		{name: "mixed case missing", qname: "NOPE.default.svc.cluster.local.", qtype: dns.TypeA,
			rcode: dns.RcodeNameError, soa: soaCluster},

		// failures
		{name: "resolver error is SERVFAIL", qname: "boom.default.svc.cluster.local.", qtype: dns.TypeA,
			rcode: dns.RcodeServerFailure},
		{name: "resolver panic is SERVFAIL", qname: "panic.default.svc.cluster.local.", qtype: dns.TypeA,
			rcode: dns.RcodeServerFailure},

		// forwarding
		{name: "external name is forwarded", qname: "www.example.test.", qtype: dns.TypeA,
			forwarded: true, answer: want("www.example.test. 30 IN A 192.0.2.99")},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fwd := &fakeForwarder{}
			h := newTestHandler(t, fwd)
			req := query(tt.qname, tt.qtype)
			resp := h.Answer(req)

			if resp.Id != req.Id || !resp.Response {
				t.Errorf("id/QR: got id %d response %v, want id %d response", resp.Id, resp.Response, req.Id)
			}
			if len(resp.Question) != 1 || resp.Question[0] != req.Question[0] {
				t.Errorf("question = %v, want %v (spelling preserved)", resp.Question, req.Question)
			}
			if resp.Rcode != tt.rcode {
				t.Errorf("rcode = %s, want %s", dns.RcodeToString[resp.Rcode], dns.RcodeToString[tt.rcode])
			}
			if got := fwd.calls.Load() > 0; got != tt.forwarded {
				t.Errorf("forwarded = %v, want %v", got, tt.forwarded)
			}
			if !tt.forwarded && resp.Rcode != dns.RcodeServerFailure && !resp.Authoritative {
				t.Errorf("cluster answer is not authoritative")
			}
			if !resp.RecursionAvailable {
				t.Errorf("RA not set")
			}
			if got := rrStrings(resp.Answer); !slices.Equal(got, tt.answer) {
				t.Errorf("answer:\n got %s\nwant %s", strings.Join(got, "\n     "), strings.Join(tt.answer, "\n     "))
			}
			if got := rrStrings(resp.Extra); !slices.Equal(got, tt.extra) {
				t.Errorf("extra:\n got %s\nwant %s", strings.Join(got, "\n     "), strings.Join(tt.extra, "\n     "))
			}
			var wantNs []string
			if tt.soa != "" {
				wantNs = want(tt.soa)
			}
			if got := rrStrings(resp.Ns); !slices.Equal(got, wantNs) {
				t.Errorf("authority:\n got %v\nwant %v", got, wantNs)
			}
			// Every response must pack: the wire is the contract.
			if _, err := resp.Pack(); err != nil {
				t.Errorf("pack: %v", err)
			}
		})
	}
}

func TestAnswerEnvelope(t *testing.T) {
	h := newTestHandler(t, &fakeForwarder{})

	t.Run("EDNS0 echoed with our payload size", func(t *testing.T) {
		req := query("web.default.svc.cluster.local.", dns.TypeA)
		req.SetEdns0(4096, true)
		resp := h.Answer(req)
		opt := resp.IsEdns0()
		if opt == nil || opt.UDPSize() != DefaultUDPSize || opt.Do() {
			t.Fatalf("OPT = %v, want payload %d without DO", opt, DefaultUDPSize)
		}
	})
	t.Run("no EDNS0 in, none out", func(t *testing.T) {
		if resp := h.Answer(query("web.default.svc.cluster.local.", dns.TypeA)); resp.IsEdns0() != nil {
			t.Fatalf("unexpected OPT in %v", resp)
		}
	})
	t.Run("EDNS version 1 is BADVERS", func(t *testing.T) {
		req := query("web.default.svc.cluster.local.", dns.TypeA)
		req.SetEdns0(1232, false)
		req.IsEdns0().SetVersion(1)
		resp := h.Answer(req)
		buf, err := resp.Pack()
		if err != nil {
			t.Fatal(err)
		}
		back := new(dns.Msg)
		if err := back.Unpack(buf); err != nil {
			t.Fatal(err)
		}
		if back.Rcode != dns.RcodeBadVers {
			t.Fatalf("rcode = %s, want BADVERS", dns.RcodeToString[back.Rcode])
		}
	})
	t.Run("non-query opcode is NOTIMP", func(t *testing.T) {
		req := query("web.default.svc.cluster.local.", dns.TypeA)
		req.Opcode = dns.OpcodeNotify
		if resp := h.Answer(req); resp.Rcode != dns.RcodeNotImplemented {
			t.Fatalf("rcode = %s, want NOTIMP", dns.RcodeToString[resp.Rcode])
		}
	})
	t.Run("two questions is FORMERR", func(t *testing.T) {
		req := query("web.default.svc.cluster.local.", dns.TypeA)
		req.Question = append(req.Question, req.Question[0])
		if resp := h.Answer(req); resp.Rcode != dns.RcodeFormatError {
			t.Fatalf("rcode = %s, want FORMERR", dns.RcodeToString[resp.Rcode])
		}
	})
	t.Run("CHAOS class in the cluster domain is REFUSED", func(t *testing.T) {
		req := query("web.default.svc.cluster.local.", dns.TypeTXT)
		req.Question[0].Qclass = dns.ClassCHAOS
		if resp := h.Answer(req); resp.Rcode != dns.RcodeRefused {
			t.Fatalf("rcode = %s, want REFUSED", dns.RcodeToString[resp.Rcode])
		}
	})
	t.Run("nil request", func(t *testing.T) {
		if resp := h.Answer(nil); resp == nil || resp.Rcode != dns.RcodeFormatError {
			t.Fatalf("resp = %v, want FORMERR", resp)
		}
	})
}

func TestAnswerConfig(t *testing.T) {
	t.Run("custom domain and TTL", func(t *testing.T) {
		h := NewHandler(newFakeResolver(), Config{Domain: "Shoal.Internal", TTL: 30e9})
		resp := h.Answer(query("web.default.svc.shoal.internal.", dns.TypeA))
		if got, w := rrStrings(resp.Answer), want("web.default.svc.shoal.internal. 30 IN A 10.43.0.10"); !slices.Equal(got, w) {
			t.Fatalf("answer = %v, want %v", got, w)
		}
		// cluster.local is now an ordinary external name.
		if resp := h.Answer(query("web.default.svc.cluster.local.", dns.TypeA)); resp.Rcode != dns.RcodeRefused {
			t.Fatalf("cluster.local with no upstream: rcode %s, want REFUSED", dns.RcodeToString[resp.Rcode])
		}
	})
	t.Run("insecure pod records", func(t *testing.T) {
		h := NewHandler(newFakeResolver(), Config{PodRecords: PodsInsecure})
		resp := h.Answer(query("10-1-2-3.anything.pod.cluster.local.", dns.TypeA))
		if got, w := rrStrings(resp.Answer), want("10-1-2-3.anything.pod.cluster.local. 5 IN A 10.1.2.3"); !slices.Equal(got, w) {
			t.Fatalf("answer = %v, want %v", got, w)
		}
	})
	t.Run("disabled pod records", func(t *testing.T) {
		h := NewHandler(newFakeResolver(), Config{PodRecords: PodsDisabled})
		if resp := h.Answer(query("10-42-1-5.default.pod.cluster.local.", dns.TypeA)); resp.Rcode != dns.RcodeNameError {
			t.Fatalf("rcode = %s, want NXDOMAIN", dns.RcodeToString[resp.Rcode])
		}
	})
	t.Run("endpoint pod names", func(t *testing.T) {
		h := NewHandler(newFakeResolver(), Config{EndpointPodNames: true})
		resp := h.Answer(query("db-web-abcde.db.default.svc.cluster.local.", dns.TypeA))
		if got, w := rrStrings(resp.Answer), want("db-web-abcde.db.default.svc.cluster.local. 5 IN A 10.42.3.7"); !slices.Equal(got, w) {
			t.Fatalf("answer = %v, want %v", got, w)
		}
	})
	t.Run("no upstream is REFUSED", func(t *testing.T) {
		h := NewHandler(newFakeResolver(), Config{})
		resp := h.Answer(query("www.example.test.", dns.TypeA))
		if resp.Rcode != dns.RcodeRefused || resp.Authoritative {
			t.Fatalf("rcode = %s aa=%v, want non-authoritative REFUSED", dns.RcodeToString[resp.Rcode], resp.Authoritative)
		}
	})
	t.Run("PTR outside zones with no upstream is REFUSED", func(t *testing.T) {
		h := NewHandler(newFakeResolver(), Config{ReverseZones: testZones})
		if resp := h.Answer(query("1.0.0.127.in-addr.arpa.", dns.TypePTR)); resp.Rcode != dns.RcodeRefused {
			t.Fatalf("rcode = %s, want REFUSED", dns.RcodeToString[resp.Rcode])
		}
	})
}

func TestReverseZones(t *testing.T) {
	tests := []struct {
		cidr string
		want []string
	}{
		{"10.43.0.0/16", []string{"43.10.in-addr.arpa."}},
		{"10.42.0.0/15", []string{"42.10.in-addr.arpa.", "43.10.in-addr.arpa."}},
		{"10.42.7.0/24", []string{"7.42.10.in-addr.arpa."}},
		{"10.0.0.0/8", []string{"10.in-addr.arpa."}},
		{"fd00:43::/112", []string{"0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.3.4.0.0.0.0.d.f.ip6.arpa."}},
		{"fd00::/14", []string{"0.0.d.f.ip6.arpa.", "1.0.d.f.ip6.arpa.", "2.0.d.f.ip6.arpa.", "3.0.d.f.ip6.arpa."}},
	}
	for _, tt := range tests {
		var got []string
		for _, z := range reverseZones([]netip.Prefix{netip.MustParsePrefix(tt.cidr)}) {
			got = append(got, z.name)
		}
		if !slices.Equal(got, tt.want) {
			t.Errorf("reverseZones(%s) = %v, want %v", tt.cidr, got, tt.want)
		}
	}
}

func TestParseReverseRoundTrip(t *testing.T) {
	for _, s := range []string{"10.43.0.10", "192.0.2.255", "fd00:42::9", "2001:db8::1:2"} {
		ip := netip.MustParseAddr(s)
		name, err := dns.ReverseAddr(s)
		if err != nil {
			t.Fatal(err)
		}
		got, _, full := parseReverse(name)
		if !full || got != ip {
			t.Errorf("parseReverse(%s) = %v %v, want %v", name, got, full, ip)
		}
		if d, ok := undash(dashed(ip)); !ok || d != ip {
			t.Errorf("undash(dashed(%s)) = %v %v", ip, d, ok)
		}
	}
	for _, bad := range []string{"256.0.0.10.in-addr.arpa.", "01.0.0.10.in-addr.arpa.", "x.0.0.10.in-addr.arpa."} {
		if _, _, full := parseReverse(bad); full {
			t.Errorf("parseReverse(%s) accepted", bad)
		}
	}
}

// TestAnswerConcurrent runs the handler from many goroutines (go test -race).
func TestAnswerConcurrent(t *testing.T) {
	h := newTestHandler(t, &fakeForwarder{})
	done := make(chan struct{})
	for i := range 8 {
		go func() {
			defer func() { done <- struct{}{} }()
			for j := range 200 {
				names := []string{"db.default.svc.cluster.local.", "_pg._tcp.db.default.svc.cluster.local.", "www.example.test."}
				resp := h.Answer(query(names[(i+j)%len(names)], dns.TypeSRV))
				if resp.Rcode != dns.RcodeSuccess {
					t.Errorf("rcode %s", dns.RcodeToString[resp.Rcode])
					return
				}
			}
		}()
		if i == 3 {
			h.Reload(Settings{})
		}
	}
	for range 8 {
		<-done
	}
}
