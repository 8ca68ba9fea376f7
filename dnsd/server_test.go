package dnsd

import (
	"context"
	"errors"
	"net"
	"slices"
	"sort"
	"testing"
	"time"

	"github.com/miekg/dns"
)

// startServer runs a Server for h on 127.0.0.1:0 (UDP and TCP) and returns
// its address and a stop function that reports Run's result and duration.
// Tests get the server's debug log; benchmarks none (it would be measured).
func startServer(t testing.TB, h *Handler) (addr string, stop func() (error, time.Duration)) {
	t.Helper()
	return startServerWith(t, h, ServerConfig{})
}

// startServerConfig is startServer with a ServerConfig (Addrs and Logger
// are set here), for benchmarks.
func startServerConfig(t testing.TB, h *Handler, cfg ServerConfig) string {
	t.Helper()
	addr, _ := startServerWith(t, h, cfg)
	return addr
}

func startServerWith(t testing.TB, h *Handler, cfg ServerConfig) (addr string, stop func() (error, time.Duration)) {
	t.Helper()
	if tt, ok := t.(*testing.T); ok {
		cfg.Logger = testLogger(tt)
	}
	cfg.Addrs = []string{"127.0.0.1:0"}
	srv := NewServer(h, cfg)
	ctx, cancel := context.WithCancel(context.Background())
	errc := make(chan error, 1)
	go func() { errc <- srv.Run(ctx) }()
	select {
	case <-srv.Ready():
	case err := <-errc:
		cancel()
		t.Fatalf("Run: %v", err)
	case <-time.After(5 * time.Second):
		cancel()
		t.Fatal("server not ready after 5s")
	}
	var done bool
	var result error
	var took time.Duration
	stop = func() (error, time.Duration) {
		if done {
			return result, took
		}
		done = true
		start := time.Now()
		cancel()
		select {
		case result = <-errc:
		case <-time.After(10 * time.Second):
			result = errors.New("Run did not return within 10s")
		}
		took = time.Since(start)
		return result, took
	}
	t.Cleanup(func() { stop() })
	addrs := srv.Addrs()
	if len(addrs) != 1 {
		t.Fatalf("Addrs() = %v", addrs)
	}
	return addrs[0], stop
}

func exchange(t *testing.T, network, addr string, req *dns.Msg) *dns.Msg {
	t.Helper()
	c := &dns.Client{Net: network, Timeout: 5 * time.Second}
	resp, _, err := c.Exchange(req, addr)
	if err != nil {
		t.Fatalf("%s exchange %s: %v", network, req.Question[0].Name, err)
	}
	return resp
}

func TestServerMiekgClient(t *testing.T) {
	addr, _ := startServer(t, newTestHandler(t, nil))

	for _, network := range []string{"udp", "tcp"} {
		t.Run("A over "+network, func(t *testing.T) {
			resp := exchange(t, network, addr, query("web.default.svc.cluster.local.", dns.TypeA))
			if got, w := rrStrings(resp.Answer), want("web.default.svc.cluster.local. 5 IN A 10.43.0.10"); !slices.Equal(got, w) {
				t.Fatalf("answer = %v, want %v", got, w)
			}
			if !resp.Authoritative || resp.Truncated {
				t.Fatalf("aa=%v tc=%v", resp.Authoritative, resp.Truncated)
			}
		})
		t.Run("NXDOMAIN over "+network, func(t *testing.T) {
			resp := exchange(t, network, addr, query("nope.default.svc.cluster.local.", dns.TypeA))
			if resp.Rcode != dns.RcodeNameError || len(resp.Ns) != 1 {
				t.Fatalf("rcode %s ns %v, want NXDOMAIN with SOA", dns.RcodeToString[resp.Rcode], resp.Ns)
			}
		})
	}

	big := "big.default.svc.cluster.local."
	t.Run("large answer truncated over UDP without EDNS0", func(t *testing.T) {
		resp := exchange(t, "udp", addr, query(big, dns.TypeA))
		if !resp.Truncated || len(resp.Answer) >= bigEndpoints {
			t.Fatalf("tc=%v answers=%d, want truncated", resp.Truncated, len(resp.Answer))
		}
		resp.Compress = true // as it was on the wire
		if n := resp.Len(); n > dns.MinMsgSize {
			t.Fatalf("UDP answer is %d bytes, more than 512", n)
		}
	})
	t.Run("large answer truncated to the EDNS0 size", func(t *testing.T) {
		req := query(big, dns.TypeA)
		req.SetEdns0(1232, false)
		resp := exchange(t, "udp", addr, req)
		if !resp.Truncated || len(resp.Answer) >= bigEndpoints {
			t.Fatalf("tc=%v answers=%d, want truncated", resp.Truncated, len(resp.Answer))
		}
		resp.Compress = true // as it was on the wire
		if n := resp.Len(); n > 1232 || n <= dns.MinMsgSize {
			t.Fatalf("UDP answer is %d bytes, want (512, 1232]", n)
		}
		if resp.IsEdns0() == nil {
			t.Fatal("OPT dropped by truncation")
		}
	})
	t.Run("large answer complete over TCP", func(t *testing.T) {
		resp := exchange(t, "tcp", addr, query(big, dns.TypeA))
		if resp.Truncated || len(resp.Answer) != bigEndpoints {
			t.Fatalf("tc=%v answers=%d, want %d", resp.Truncated, len(resp.Answer), bigEndpoints)
		}
	})
}

func TestServerGoResolver(t *testing.T) {
	up := startUpstream(t, answerA("192.0.2.1"))
	h := NewHandler(newFakeResolver(), Config{
		ReverseZones: testZones,
		Settings:     Settings{Upstreams: []string{up}},
		Logger:       testLogger(t),
	})
	addr, _ := startServer(t, h)
	r := &net.Resolver{
		PreferGo: true,
		Dial: func(ctx context.Context, network, _ string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, network, addr) // udp first, tcp after TC
		},
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()

	t.Run("A ClusterIP", func(t *testing.T) {
		got, err := r.LookupHost(ctx, "web.default.svc.cluster.local.")
		if err != nil || !slices.Equal(got, []string{"10.43.0.10"}) {
			t.Fatalf("LookupHost = %v, %v", got, err)
		}
	})
	t.Run("headless, truncated over UDP, complete over TCP", func(t *testing.T) {
		got, err := r.LookupHost(ctx, "big.default.svc.cluster.local.")
		if err != nil || len(got) != bigEndpoints {
			t.Fatalf("LookupHost = %d addresses, %v; want %d", len(got), err, bigEndpoints)
		}
	})
	t.Run("SRV headless", func(t *testing.T) {
		cname, srvs, err := r.LookupSRV(ctx, "pg", "tcp", "db.default.svc.cluster.local.")
		if err != nil {
			t.Fatal(err)
		}
		var targets []string
		for _, s := range srvs {
			if s.Port != 5432 {
				t.Errorf("port %d", s.Port)
			}
			targets = append(targets, s.Target)
		}
		sort.Strings(targets)
		w := []string{"10-42-3-7.db.default.svc.cluster.local.", "db-0.db.default.svc.cluster.local.", "db-1.db.default.svc.cluster.local."}
		if !slices.Equal(targets, w) || cname != "_pg._tcp.db.default.svc.cluster.local." {
			t.Fatalf("LookupSRV = %q %v, want %v", cname, targets, w)
		}
	})
	t.Run("CNAME ExternalName", func(t *testing.T) {
		got, err := r.LookupCNAME(ctx, "ext.default.svc.cluster.local.")
		if err != nil || got != "my.database.example.com." {
			t.Fatalf("LookupCNAME = %q, %v", got, err)
		}
	})
	t.Run("CNAME ExternalName to in-cluster name", func(t *testing.T) {
		got, err := r.LookupHost(ctx, "alias.default.svc.cluster.local.")
		if err != nil || !slices.Equal(got, []string{"10.43.0.10"}) {
			t.Fatalf("LookupHost = %v, %v", got, err)
		}
	})
	t.Run("PTR ClusterIP and pod IP", func(t *testing.T) {
		for ip, w := range map[string]string{
			"10.43.0.10": "web.default.svc.cluster.local.",
			"10.42.9.9":  "10-42-9-9.default.pod.cluster.local.",
		} {
			got, err := r.LookupAddr(ctx, ip)
			if err != nil || !slices.Equal(got, []string{w}) {
				t.Errorf("LookupAddr(%s) = %v, %v; want %s", ip, got, err, w)
			}
		}
	})
	t.Run("pod A", func(t *testing.T) {
		got, err := r.LookupHost(ctx, "10-42-1-5.default.pod.cluster.local.")
		if err != nil || !slices.Equal(got, []string{"10.42.1.5"}) {
			t.Fatalf("LookupHost = %v, %v", got, err)
		}
	})
	t.Run("NXDOMAIN missing service", func(t *testing.T) {
		_, err := r.LookupHost(ctx, "nope.default.svc.cluster.local.")
		var de *net.DNSError
		if !errors.As(err, &de) || !de.IsNotFound {
			t.Fatalf("LookupHost err = %v, want not found", err)
		}
	})
	t.Run("forwarded to the fake upstream", func(t *testing.T) {
		got, err := r.LookupHost(ctx, "www.example.test.")
		if err != nil || !slices.Equal(got, []string{"192.0.2.1"}) {
			t.Fatalf("LookupHost = %v, %v", got, err)
		}
	})
}

func TestServerStopsWithinBound(t *testing.T) {
	// An upstream that never answers keeps a forwarded query in flight.
	up := startUpstream(t, func(dns.ResponseWriter, *dns.Msg) {})
	h := NewHandler(newFakeResolver(), Config{Settings: Settings{Upstreams: []string{up}, ForwardTimeout: 30 * time.Second}})
	addr, stop := startServer(t, h)

	inflight := make(chan *dns.Msg, 1)
	go func() {
		c := &dns.Client{Net: "tcp", Timeout: 10 * time.Second}
		resp, _, _ := c.Exchange(query("slow.example.test.", dns.TypeA), addr)
		inflight <- resp
	}()
	time.Sleep(100 * time.Millisecond) // let the query reach the upstream

	err, took := stop()
	if err != nil {
		t.Fatalf("Run = %v, want nil after cancel", err)
	}
	if took > 2*time.Second {
		t.Fatalf("stop took %v", took)
	}
	select {
	case resp := <-inflight:
		if resp != nil && resp.Rcode != dns.RcodeServerFailure {
			t.Errorf("in-flight query: rcode %s, want SERVFAIL or no answer", dns.RcodeToString[resp.Rcode])
		}
	case <-time.After(5 * time.Second):
		t.Error("in-flight query never finished")
	}
	// The sockets are released.
	for _, network := range []string{"tcp", "udp"} {
		var c interface{ Close() error }
		var err error
		if network == "tcp" {
			c, err = net.Listen("tcp", addr)
		} else {
			c, err = net.ListenPacket("udp", addr)
		}
		if err != nil {
			t.Errorf("%s %s still held: %v", network, addr, err)
			continue
		}
		c.Close()
	}
}

func TestServerRunErrors(t *testing.T) {
	h := NewHandler(newFakeResolver(), Config{})
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()

	if err := NewServer(h, ServerConfig{}).Run(ctx); err == nil {
		t.Error("Run with no address: no error")
	}
	srv := NewServer(h, ServerConfig{Addrs: []string{"127.0.0.1:0", "not-an-address"}})
	if err := srv.Run(ctx); err == nil {
		t.Error("Run with a bad address: no error")
	}
	select {
	case <-srv.Ready():
		t.Error("Ready closed after a failed Run")
	default:
	}
	if err := srv.Run(ctx); err == nil {
		t.Error("second Run: no error")
	}
}
