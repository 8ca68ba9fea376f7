package dnsd

import (
	"bytes"
	"context"
	"net"
	"net/netip"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/miekg/dns"
)

// versionedResolver is a fakeResolver with a version and a count of
// Service lookups, so tests see which queries reached the Resolver.
type versionedResolver struct {
	mu      sync.Mutex
	f       *fakeResolver
	version atomic.Uint64
	lookups atomic.Int32
}

var _ Versioned = (*versionedResolver)(nil)

func (v *versionedResolver) Version() uint64 { return v.version.Load() }

func (v *versionedResolver) Service(ns, name string) (*Service, error) {
	v.lookups.Add(1)
	v.mu.Lock()
	defer v.mu.Unlock()
	return v.f.Service(ns, name)
}

func (v *versionedResolver) PodIPExists(ns, ip string) bool {
	v.mu.Lock()
	defer v.mu.Unlock()
	return v.f.PodIPExists(ns, ip)
}

func (v *versionedResolver) ReverseLookup(ip string) (string, bool) {
	v.mu.Lock()
	defer v.mu.Unlock()
	return v.f.ReverseLookup(ip)
}

func (v *versionedResolver) NamespaceExists(ns string) bool {
	v.mu.Lock()
	defer v.mu.Unlock()
	return v.f.NamespaceExists(ns)
}

// set changes Service ns/name; bump moves the version after it.
func (v *versionedResolver) set(key string, s *Service, bump bool) {
	v.mu.Lock()
	v.f.services[key] = s
	v.mu.Unlock()
	if bump {
		v.version.Add(1)
	}
}

func packQuery(t *testing.T, name string, qtype uint16, edit func(*dns.Msg)) []byte {
	t.Helper()
	m := query(name, qtype)
	m.Id = 0x1234
	if edit != nil {
		edit(m)
	}
	b, err := m.Pack()
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestParseQuery: which queries the UDP path parses in place (and with
// what cache key and size limit), and which go to the full decoder.
func TestParseQuery(t *testing.T) {
	plainKey := func(t *testing.T) []byte {
		q, ok := parseQuery(packQuery(t, "web.default.svc.cluster.local.", dns.TypeA, nil), nil)
		if !ok {
			t.Fatal("a plain query is not parsed")
		}
		return q.key
	}
	for _, tc := range []struct {
		name    string
		pkt     func(t *testing.T) []byte
		ok      bool
		sameKey bool // the key is the plain lower-case query's
		maxSize int
	}{
		{"plain", func(t *testing.T) []byte { return packQuery(t, "web.default.svc.cluster.local.", dns.TypeA, nil) }, true, true, 512},
		{"mixed case, no recursion desired", func(t *testing.T) []byte {
			return packQuery(t, "WeB.DeFault.SVC.cluster.local.", dns.TypeA, func(m *dns.Msg) { m.RecursionDesired = false })
		}, true, true, 512},
		{"another type", func(t *testing.T) []byte { return packQuery(t, "web.default.svc.cluster.local.", dns.TypeAAAA, nil) }, true, false, 512},
		{"EDNS0 without options", func(t *testing.T) []byte {
			return packQuery(t, "web.default.svc.cluster.local.", dns.TypeA, func(m *dns.Msg) { m.SetEdns0(4096, true) })
		}, true, false, 4096},
		{"EDNS0 below 512", func(t *testing.T) []byte {
			return packQuery(t, "web.default.svc.cluster.local.", dns.TypeA, func(m *dns.Msg) { m.SetEdns0(100, false) })
		}, true, false, 512},
		{"EDNS0 with a cookie", func(t *testing.T) []byte {
			return packQuery(t, "web.default.svc.cluster.local.", dns.TypeA, func(m *dns.Msg) {
				m.SetEdns0(1232, false)
				m.IsEdns0().Option = append(m.IsEdns0().Option, &dns.EDNS0_COOKIE{Code: dns.EDNS0COOKIE, Cookie: "0123456789abcdef"})
			})
		}, false, false, 0},
		{"EDNS version 1", func(t *testing.T) []byte {
			return packQuery(t, "web.default.svc.cluster.local.", dns.TypeA, func(m *dns.Msg) { m.SetEdns0(1232, false); m.IsEdns0().SetVersion(1) })
		}, false, false, 0},
		{"a response", func(t *testing.T) []byte {
			return packQuery(t, "web.default.svc.cluster.local.", dns.TypeA, func(m *dns.Msg) { m.Response = true })
		}, false, false, 0},
		{"not QUERY", func(t *testing.T) []byte {
			return packQuery(t, "web.default.svc.cluster.local.", dns.TypeA, func(m *dns.Msg) { m.Opcode = dns.OpcodeNotify })
		}, false, false, 0},
		{"two questions", func(t *testing.T) []byte {
			return packQuery(t, "web.default.svc.cluster.local.", dns.TypeA, func(m *dns.Msg) { m.Question = append(m.Question, m.Question[0]) })
		}, false, false, 0},
		{"trailing bytes", func(t *testing.T) []byte {
			return append(packQuery(t, "web.default.svc.cluster.local.", dns.TypeA, nil), 0)
		}, false, false, 0},
		{"truncated question", func(t *testing.T) []byte {
			b := packQuery(t, "web.default.svc.cluster.local.", dns.TypeA, nil)
			return b[:len(b)-3]
		}, false, false, 0},
		{"a compression pointer", func(t *testing.T) []byte {
			b := packQuery(t, "web.default.svc.cluster.local.", dns.TypeA, nil)
			return append(append(b[:12], 0xc0, 12), 0, 1, 0, 1)
		}, false, false, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			q, ok := parseQuery(tc.pkt(t), nil)
			if ok != tc.ok {
				t.Fatalf("parsed %v, want %v", ok, tc.ok)
			}
			if !ok {
				return
			}
			if same := bytes.Equal(q.key, plainKey(t)); same != tc.sameKey {
				t.Errorf("key %q; the plain query's %q; same %v, want %v", q.key, plainKey(t), same, tc.sameKey)
			}
			if q.maxSize != tc.maxSize {
				t.Errorf("maxSize %d, want %d", q.maxSize, tc.maxSize)
			}
		})
	}
}

// TestUDPPackedAnswers: over a real socket, the second asking of a name
// is answered from the packed answer without the Resolver, byte for byte
// as the handler would (the client's ID, flags and spelling of the
// name); a new version drops it; answers the handler shuffles, failures
// and forwarded names are never kept.
func TestUDPPackedAnswers(t *testing.T) {
	r := &versionedResolver{f: newFakeResolver()}
	fwd := &fakeForwarder{}
	h := NewHandler(r, Config{ReverseZones: testZones, Forwarder: fwd, Logger: testLogger(t)})
	addr, _ := startServer(t, h)
	conn, err := net.Dial("udp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	exchangeRaw := func(t *testing.T, pkt []byte) *dns.Msg {
		t.Helper()
		conn.SetDeadline(time.Now().Add(5 * time.Second))
		if _, err := conn.Write(pkt); err != nil {
			t.Fatal(err)
		}
		buf := make([]byte, 65535)
		n, err := conn.Read(buf)
		if err != nil {
			t.Fatal(err)
		}
		resp := new(dns.Msg)
		if err := resp.Unpack(buf[:n]); err != nil {
			t.Fatal(err)
		}
		return resp
	}
	// same asks the server and the bare handler and compares them: every
	// record, or for a set the handler shuffles (and truncation then cuts
	// anywhere) how many.
	same := func(t *testing.T, pkt []byte) *dns.Msg {
		t.Helper()
		got := exchangeRaw(t, pkt)
		req := new(dns.Msg)
		if err := req.Unpack(pkt); err != nil {
			t.Fatal(err)
		}
		exp := h.Answer(req)
		exp.Truncate(h.udpSize(req))
		text := func(rrs []dns.RR) string {
			if !cacheable(exp) {
				return strconv.Itoa(len(rrs))
			}
			return strings.Join(rrStrings(rrs), "|")
		}
		if got.Id != req.Id || got.MsgHdr != exp.MsgHdr || got.Question[0] != req.Question[0] ||
			text(got.Answer) != text(exp.Answer) || text(got.Ns) != text(exp.Ns) || text(got.Extra) != text(exp.Extra) ||
			(got.IsEdns0() == nil) != (exp.IsEdns0() == nil) {
			t.Fatalf("answer over UDP\n%v\nthe handler's\n%v", got, exp)
		}
		return got
	}
	// lookups asks the server, counting the Resolver's lookups, then
	// checks the answer against the handler's.
	lookups := func(t *testing.T, pkt []byte) int32 {
		t.Helper()
		before := r.lookups.Load()
		exchangeRaw(t, pkt)
		n := r.lookups.Load() - before
		same(t, pkt)
		return n
	}

	for _, tc := range []struct {
		name string
		pkt  []byte
		kept bool // the second asking does not reach the Resolver
	}{
		{"ClusterIP A", packQuery(t, "web.default.svc.cluster.local.", dns.TypeA, nil), true},
		{"the same name in other case, no RD, another ID", packQuery(t, "WEB.default.Svc.cluster.local.", dns.TypeA, func(m *dns.Msg) { m.RecursionDesired = false; m.Id = 7 }), true},
		{"SRV of a named port", packQuery(t, "_http._tcp.web.default.svc.cluster.local.", dns.TypeSRV, nil), true},
		{"NXDOMAIN", packQuery(t, "missing.default.svc.cluster.local.", dns.TypeA, nil), true},
		{"EDNS0", packQuery(t, "web.default.svc.cluster.local.", dns.TypeA, func(m *dns.Msg) { m.SetEdns0(1232, false) }), true},
		{"headless: a shuffled set", packQuery(t, "db.default.svc.cluster.local.", dns.TypeA, nil), false},
		{"too large: truncated", packQuery(t, "big.default.svc.cluster.local.", dns.TypeA, nil), false},
		{"SERVFAIL", packQuery(t, "boom.default.svc.cluster.local.", dns.TypeA, nil), false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if n := lookups(t, tc.pkt); n == 0 && !strings.Contains(tc.name, "other case") {
				t.Fatalf("the first asking reached the Resolver %d times", n)
			}
			n := lookups(t, tc.pkt)
			if kept := n == 0; kept != tc.kept {
				t.Fatalf("second asking: %d Resolver lookups; kept %v, want %v", n, kept, tc.kept)
			}
		})
	}

	t.Run("PTR", func(t *testing.T) {
		pkt := packQuery(t, "10.0.43.10.in-addr.arpa.", dns.TypePTR, nil)
		if got := same(t, pkt); len(got.Answer) != 1 {
			t.Fatalf("PTR answer %v", got)
		}
		same(t, pkt)
	})
	t.Run("forwarded every time", func(t *testing.T) {
		pkt := packQuery(t, "example.test.", dns.TypeA, nil)
		before := fwd.calls.Load()
		same(t, pkt)
		same(t, pkt)
		if n := fwd.calls.Load() - before; n != 4 { // the server's and the handler's, twice
			t.Fatalf("%d forwards, want 4", n)
		}
	})
	t.Run("a new version drops what was kept", func(t *testing.T) {
		pkt := packQuery(t, "web.default.svc.cluster.local.", dns.TypeA, nil)
		web := *r.f.services["default/web"]
		web.ClusterIPs = []string{"10.43.0.99"}
		r.set("default/web", &web, false)
		if got := exchangeRaw(t, pkt); len(got.Answer) != 1 || got.Answer[0].(*dns.A).A.String() != "10.43.0.10" {
			t.Fatalf("at the same version the kept answer is served; got %v", got.Answer)
		}
		r.version.Add(1)
		if got := same(t, pkt); got.Answer[0].(*dns.A).A.String() != "10.43.0.99" {
			t.Fatalf("after the version moved: %v", got.Answer)
		}
	})
}

// TestUDPKeptAnswerAllocatesNothing: a query answered from a packed
// answer allocates nothing.
func TestUDPKeptAnswerAllocatesNothing(t *testing.T) {
	r := &versionedResolver{f: newFakeResolver()}
	h := NewHandler(r, Config{})
	server, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	defer server.Close()
	client, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	defer client.Close()
	// The answers pile up unread in the client's buffer; drop them.
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() {
		buf := make([]byte, 2048)
		for ctx.Err() == nil {
			client.SetReadDeadline(time.Now().Add(100 * time.Millisecond))
			client.Read(buf)
		}
	}()
	var fwd sync.WaitGroup
	w := newUDPWorker(ctx, h, server, &fwd)
	from := netip.MustParseAddrPort(client.LocalAddr().String())
	pkt := packQuery(t, "web.default.svc.cluster.local.", dns.TypeA, nil)
	w.serve(pkt, from)
	before := r.lookups.Load()
	if allocs := testing.AllocsPerRun(200, func() { w.serve(pkt, from) }); allocs != 0 {
		t.Fatalf("%.1f allocations per kept answer, want 0", allocs)
	}
	if r.lookups.Load() != before {
		t.Fatal("the kept answer asked the Resolver")
	}
}
