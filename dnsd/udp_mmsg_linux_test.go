//go:build linux

package dnsd

import (
	"net"
	"net/netip"
	"testing"
	"time"

	"github.com/miekg/dns"
	"golang.org/x/sys/unix"
)

// TestSockaddrRoundTrip: the addresses recvmmsg gives and sendmmsg takes
// convert both ways, ports in network order.
func TestSockaddrRoundTrip(t *testing.T) {
	for _, s := range []string{"127.0.0.1:53", "10.42.0.5:40000", "192.168.77.11:65535", "[fd00:42::5]:1", "[::ffff:10.42.0.5]:5353", "[::1]:258"} {
		ap := netip.MustParseAddrPort(s)
		var sa unix.RawSockaddrAny
		n := addrPortToSockaddr(ap, &sa)
		want := uint32(unix.SizeofSockaddrInet6)
		if ap.Addr().Is4() {
			want = unix.SizeofSockaddrInet4
		}
		got, ok := sockaddrToAddrPort(&sa)
		if !ok || got != ap || n != want {
			t.Errorf("%s: back as %v (ok %v), length %d want %d", s, got, ok, n, want)
		}
	}
}

// TestUDPBurst: a burst of queries far larger than a batch, sent before
// any answer is read, is answered in full, each answer to its query.
func TestUDPBurst(t *testing.T) {
	h := NewHandler(&versionedResolver{f: newFakeResolver()}, Config{ReverseZones: testZones})
	addr, _ := startServer(t, h)
	conn, err := net.Dial("udp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	const n = 5 * udpBatchSize
	names := []string{"web.default.svc.cluster.local.", "nope.default.svc.cluster.local.", "_http._tcp.web.default.svc.cluster.local."}
	for i := range n {
		m := query(names[i%len(names)], dns.TypeA)
		if i%len(names) == 2 {
			m.Question[0].Qtype = dns.TypeSRV
		}
		m.Id = uint16(i)
		b, err := m.Pack()
		if err != nil {
			t.Fatal(err)
		}
		if _, err := conn.Write(b); err != nil {
			t.Fatal(err)
		}
	}
	seen := make(map[uint16]bool)
	buf := make([]byte, 4096)
	conn.SetReadDeadline(time.Now().Add(5 * time.Second))
	for len(seen) < n {
		k, err := conn.Read(buf)
		if err != nil {
			t.Fatalf("%d of %d answers: %v", len(seen), n, err)
		}
		resp := new(dns.Msg)
		if err := resp.Unpack(buf[:k]); err != nil {
			t.Fatal(err)
		}
		i := int(resp.Id)
		wantRcode := dns.RcodeSuccess
		if i%len(names) == 1 {
			wantRcode = dns.RcodeNameError
		}
		if resp.Question[0].Name != names[i%len(names)] || resp.Rcode != wantRcode {
			t.Fatalf("answer %d: %v", i, resp)
		}
		seen[resp.Id] = true
	}
}
