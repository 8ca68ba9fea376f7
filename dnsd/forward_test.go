package dnsd

import (
	"context"
	"net"
	"os"
	"path/filepath"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	"github.com/miekg/dns"
)

// startUpstream runs a fake upstream resolver on 127.0.0.1, UDP and TCP on
// one port, answering with fn. Tests never reach a real resolver.
func startUpstream(t *testing.T, fn dns.HandlerFunc) string {
	t.Helper()
	pcs, l, err := listenGroup("127.0.0.1:0", 1)
	if err != nil {
		t.Fatal(err)
	}
	pc := pcs[0]
	started := make(chan struct{}, 2)
	notify := func() { started <- struct{}{} }
	servers := []*dns.Server{
		{PacketConn: pc, Handler: fn, NotifyStartedFunc: notify},
		{Listener: l, Handler: fn, NotifyStartedFunc: notify},
	}
	for _, s := range servers {
		go s.ActivateAndServe()
	}
	for range servers {
		select {
		case <-started:
		case <-time.After(5 * time.Second):
			t.Fatal("fake upstream did not start")
		}
	}
	t.Cleanup(func() {
		for _, s := range servers {
			s.Shutdown()
		}
	})
	return pc.LocalAddr().String()
}

// answerA is an upstream that answers every A query with ip.
func answerA(ip string) dns.HandlerFunc {
	return func(w dns.ResponseWriter, r *dns.Msg) {
		m := new(dns.Msg).SetReply(r)
		m.RecursionAvailable = true
		if r.Question[0].Qtype == dns.TypeA {
			m.Answer = []dns.RR{mustRR(r.Question[0].Name + " 300 IN A " + ip)}
		}
		w.WriteMsg(m)
	}
}

func rcodeUpstream(rcode int) dns.HandlerFunc {
	return func(w dns.ResponseWriter, r *dns.Msg) {
		w.WriteMsg(new(dns.Msg).SetRcode(r, rcode))
	}
}

// deadAddr is a loopback UDP port nobody listens on.
func deadAddr(t *testing.T) string {
	t.Helper()
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := pc.LocalAddr().String()
	pc.Close()
	return addr
}

func forwardHandler(t *testing.T, upstreams ...string) *Handler {
	return NewHandler(newFakeResolver(), Config{
		Settings: Settings{Upstreams: upstreams, ForwardTimeout: time.Second},
		Logger:   testLogger(t),
	})
}

func TestForward(t *testing.T) {
	up1 := startUpstream(t, answerA("192.0.2.1"))
	up2 := startUpstream(t, answerA("192.0.2.2"))
	servfail := startUpstream(t, rcodeUpstream(dns.RcodeServerFailure))
	nxdomain := startUpstream(t, rcodeUpstream(dns.RcodeNameError))

	tests := []struct {
		name      string
		upstreams []string
		rcode     int
		answer    []string
	}{
		{"answered by the upstream", []string{up1}, dns.RcodeSuccess, want("www.example.test. 300 IN A 192.0.2.1")},
		{"first upstream wins", []string{up1, up2}, dns.RcodeSuccess, want("www.example.test. 300 IN A 192.0.2.1")},
		{"SERVFAIL upstream is skipped", []string{servfail, up2}, dns.RcodeSuccess, want("www.example.test. 300 IN A 192.0.2.2")},
		{"dead upstream is skipped", []string{deadAddr(t), up2}, dns.RcodeSuccess, want("www.example.test. 300 IN A 192.0.2.2")},
		{"NXDOMAIN passes through", []string{nxdomain, up2}, dns.RcodeNameError, nil},
		{"only SERVFAIL upstreams", []string{servfail}, dns.RcodeServerFailure, nil},
		{"all upstreams dead", []string{deadAddr(t)}, dns.RcodeServerFailure, nil},
		{"no upstream", nil, dns.RcodeRefused, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := forwardHandler(t, tt.upstreams...)
			req := query("www.example.test.", dns.TypeA)
			resp := h.Answer(req)
			if resp.Id != req.Id {
				t.Errorf("id = %d, want %d", resp.Id, req.Id)
			}
			if resp.Rcode != tt.rcode {
				t.Errorf("rcode = %s, want %s", dns.RcodeToString[resp.Rcode], dns.RcodeToString[tt.rcode])
			}
			if resp.Authoritative {
				t.Errorf("forwarded answer marked authoritative")
			}
			if got := rrStrings(resp.Answer); !slices.Equal(got, tt.answer) {
				t.Errorf("answer = %v, want %v", got, tt.answer)
			}
		})
	}
}

func TestForwardRetriesTruncatedOverTCP(t *testing.T) {
	var tcp atomic.Int32
	up := startUpstream(t, func(w dns.ResponseWriter, r *dns.Msg) {
		m := new(dns.Msg).SetReply(r)
		if _, isUDP := w.RemoteAddr().(*net.UDPAddr); isUDP {
			m.Truncated = true
		} else {
			tcp.Add(1)
			m.Answer = []dns.RR{mustRR(r.Question[0].Name + " 300 IN A 192.0.2.3")}
		}
		w.WriteMsg(m)
	})
	resp := forwardHandler(t, up).Answer(query("big.example.test.", dns.TypeA))
	if got, w := rrStrings(resp.Answer), want("big.example.test. 300 IN A 192.0.2.3"); !slices.Equal(got, w) || resp.Truncated {
		t.Fatalf("answer = %v tc=%v, want %v", got, resp.Truncated, w)
	}
	if tcp.Load() != 1 {
		t.Fatalf("TCP queries = %d, want 1", tcp.Load())
	}
}

func TestForwardReload(t *testing.T) {
	up1 := startUpstream(t, answerA("192.0.2.1"))
	up2 := startUpstream(t, answerA("192.0.2.2"))
	h := forwardHandler(t, up1)
	ask := func() []string { return rrStrings(h.Answer(query("www.example.test.", dns.TypeA)).Answer) }

	if got, w := ask(), want("www.example.test. 300 IN A 192.0.2.1"); !slices.Equal(got, w) {
		t.Fatalf("before reload: %v, want %v", got, w)
	}
	h.Reload(Settings{Upstreams: []string{up2}})
	if got := h.Settings().Upstreams; !slices.Equal(got, []string{up2}) {
		t.Fatalf("Settings().Upstreams = %v", got)
	}
	if got, w := ask(), want("www.example.test. 300 IN A 192.0.2.2"); !slices.Equal(got, w) {
		t.Fatalf("after reload: %v, want %v", got, w)
	}
	h.Reload(Settings{})
	if resp := h.Answer(query("www.example.test.", dns.TypeA)); resp.Rcode != dns.RcodeRefused {
		t.Fatalf("after removing upstreams: rcode %s, want REFUSED", dns.RcodeToString[resp.Rcode])
	}
}

func TestForwardHonoursContext(t *testing.T) {
	// An upstream that never answers: the context, not the 1s timeout, ends it.
	up := startUpstream(t, func(dns.ResponseWriter, *dns.Msg) {})
	h := forwardHandler(t, up)
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	start := time.Now()
	resp := h.AnswerContext(ctx, query("slow.example.test.", dns.TypeA))
	if resp.Rcode != dns.RcodeServerFailure {
		t.Fatalf("rcode = %s, want SERVFAIL", dns.RcodeToString[resp.Rcode])
	}
	if d := time.Since(start); d > 900*time.Millisecond {
		t.Fatalf("took %v, context was not honoured", d)
	}
}

func TestUpstreamsConfig(t *testing.T) {
	u := NewUpstreams([]string{"127.0.0.1", "", "[::1]:5353", "127.0.0.2:53"}, 0)
	if got, w := u.Servers(), []string{"127.0.0.1:53", "[::1]:5353", "127.0.0.2:53"}; !slices.Equal(got, w) {
		t.Errorf("Servers() = %v, want %v", got, w)
	}

	path := filepath.Join(t.TempDir(), "resolv.conf")
	conf := "search example.test\nnameserver 127.0.0.53\nnameserver ::1\noptions ndots:1\n"
	if err := os.WriteFile(path, []byte(conf), 0o644); err != nil {
		t.Fatal(err)
	}
	got, err := UpstreamsFromResolvConf(path)
	if err != nil {
		t.Fatal(err)
	}
	if w := []string{"127.0.0.53:53", "[::1]:53"}; !slices.Equal(got, w) {
		t.Errorf("UpstreamsFromResolvConf = %v, want %v", got, w)
	}
	if _, err := UpstreamsFromResolvConf(filepath.Join(t.TempDir(), "missing")); err == nil {
		t.Error("missing resolv.conf: no error")
	}
}

// TestUpstreamsExcept: the node's own address is never an upstream,
// whatever its port or spelling; every other upstream is kept, in order.
func TestUpstreamsExcept(t *testing.T) {
	for _, c := range []struct {
		name      string
		upstreams []string
		self      string
		want      []string
	}{
		{"none", nil, "192.0.2.1", nil},
		{"self on port 53", []string{"192.0.2.1:53", "127.0.0.53:53"}, "192.0.2.1", []string{"127.0.0.53:53"}},
		{"self on another port", []string{"127.0.0.53:53", "192.0.2.1:5353"}, "192.0.2.1", []string{"127.0.0.53:53"}},
		{"bare host", []string{"192.0.2.1", "192.0.2.2"}, "192.0.2.1", []string{"192.0.2.2"}},
		{"only self", []string{"192.0.2.1:53"}, "192.0.2.1", nil},
		{"IPv6 spelled otherwise", []string{"[2001:db8:0::1]:53", "[::1]:53"}, "2001:db8::1", []string{"[::1]:53"}},
		{"IPv4-mapped", []string{"[::ffff:192.0.2.1]:53", "127.0.0.53:53"}, "192.0.2.1", []string{"127.0.0.53:53"}},
		{"no self", []string{"127.0.0.53:53", "[::1]:53"}, "", []string{"127.0.0.53:53", "[::1]:53"}},
		{"other hosts kept in order", []string{"192.0.2.3:53", "192.0.2.1:53", "192.0.2.2:53"}, "192.0.2.1", []string{"192.0.2.3:53", "192.0.2.2:53"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			if got := UpstreamsExcept(c.upstreams, c.self); !slices.Equal(got, c.want) {
				t.Errorf("UpstreamsExcept(%q, %q) = %q, want %q", c.upstreams, c.self, got, c.want)
			}
		})
	}
}
