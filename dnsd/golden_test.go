package dnsd

import (
	"bufio"
	"bytes"
	"context"
	"flag"
	"fmt"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/miekg/dns"
)

// updateCoreDNS re-records testdata/coredns/answers.txt from a CoreDNS
// built from internal/tools/coredns (needs Go's module proxy the first
// time), serving on 127.0.0.1 only:
//
//	go test ./dnsd/ -run TestAnswersAgreeWithCoreDNS -update-coredns
//
// Review the diff before committing it. Without the flag the test needs
// no CoreDNS.
var updateCoreDNS = flag.Bool("update-coredns", false, "re-record the CoreDNS answers of TestAnswersAgreeWithCoreDNS")

// goldenResolver holds the Services both servers answer for: a ClusterIP
// Service with two named ports, a headless one with two hostnames, an
// ExternalName to the outside and one to a Service, and the PTR names of
// their addresses.
func goldenResolver() *fakeResolver {
	return &fakeResolver{
		namespaces: map[string]bool{"default": true},
		services: map[string]*Service{
			"default/web": {Type: ServiceTypeClusterIP, ClusterIPs: []string{"10.43.0.10"},
				Ports: []Port{{Name: "http", Protocol: "TCP", Port: 80}, {Name: "dns", Protocol: "UDP", Port: 53}}},
			"default/db": {Type: ServiceTypeClusterIP, ClusterIPs: []string{"None"},
				Ports:     []Port{{Name: "pg", Protocol: "TCP", Port: 5432}},
				Endpoints: []Endpoint{{IP: "10.42.1.5", Hostname: "db-0"}, {IP: "10.42.2.6", Hostname: "db-1"}}},
			"default/ext":   {Type: ServiceTypeExternalName, ExternalName: "mail.example.test"},
			"default/alias": {Type: ServiceTypeExternalName, ExternalName: "web.default.svc.cluster.local"},
		},
		ptr: map[string]string{
			"10.43.0.10": "web.default.svc",
			"10.42.1.5":  "db-0.db.default.svc",
			"10.42.2.6":  "db-1.db.default.svc",
		},
	}
}

// goldenZones are the zone files a CoreDNS serves the same Services
// from (its file plugin), with dnsd's SOAs so negative answers match.
var goldenZones = map[string]string{
	"cluster.local": `$ORIGIN cluster.local.
@ 5 IN SOA ns.dns.cluster.local. hostmaster.cluster.local. 1 7200 1800 86400 5
web.default.svc 5 IN A 10.43.0.10
web.default.svc 5 IN SRV 0 50 80 web.default.svc.cluster.local.
web.default.svc 5 IN SRV 0 50 53 web.default.svc.cluster.local.
_http._tcp.web.default.svc 5 IN SRV 0 100 80 web.default.svc.cluster.local.
_dns._udp.web.default.svc 5 IN SRV 0 100 53 web.default.svc.cluster.local.
db.default.svc 5 IN A 10.42.1.5
db.default.svc 5 IN A 10.42.2.6
db.default.svc 5 IN SRV 0 50 5432 db-0.db.default.svc.cluster.local.
db.default.svc 5 IN SRV 0 50 5432 db-1.db.default.svc.cluster.local.
_pg._tcp.db.default.svc 5 IN SRV 0 50 5432 db-0.db.default.svc.cluster.local.
_pg._tcp.db.default.svc 5 IN SRV 0 50 5432 db-1.db.default.svc.cluster.local.
db-0.db.default.svc 5 IN A 10.42.1.5
db-1.db.default.svc 5 IN A 10.42.2.6
ext.default.svc 5 IN CNAME mail.example.test.
alias.default.svc 5 IN CNAME web.default.svc.cluster.local.
`,
	"43.10.in-addr.arpa": `$ORIGIN 43.10.in-addr.arpa.
@ 5 IN SOA ns.dns.cluster.local. hostmaster.cluster.local. 1 7200 1800 86400 5
10.0 5 IN PTR web.default.svc.cluster.local.
`,
	"42.10.in-addr.arpa": `$ORIGIN 42.10.in-addr.arpa.
@ 5 IN SOA ns.dns.cluster.local. hostmaster.cluster.local. 1 7200 1800 86400 5
5.1 5 IN PTR db-0.db.default.svc.cluster.local.
6.2 5 IN PTR db-1.db.default.svc.cluster.local.
`,
}

// goldenQuestions are asked of both: A (ClusterIP, headless, a headless
// endpoint), SRV (named port, all ports, headless), PTR, NXDOMAIN (a
// missing Service, an unknown address in a reverse zone), NODATA and
// ExternalName (outside, and chased inside the cluster).
var goldenQuestions = []struct {
	name  string
	qtype uint16
}{
	{"web.default.svc.cluster.local.", dns.TypeA},
	{"web.default.svc.cluster.local.", dns.TypeAAAA},
	{"_http._tcp.web.default.svc.cluster.local.", dns.TypeSRV},
	{"_dns._udp.web.default.svc.cluster.local.", dns.TypeSRV},
	{"web.default.svc.cluster.local.", dns.TypeSRV},
	{"db.default.svc.cluster.local.", dns.TypeA},
	{"db-0.db.default.svc.cluster.local.", dns.TypeA},
	{"_pg._tcp.db.default.svc.cluster.local.", dns.TypeSRV},
	{"ext.default.svc.cluster.local.", dns.TypeA},
	{"ext.default.svc.cluster.local.", dns.TypeCNAME},
	{"alias.default.svc.cluster.local.", dns.TypeA},
	{"missing.default.svc.cluster.local.", dns.TypeA},
	{"missing.default.svc.cluster.local.", dns.TypeSRV},
	{"10.0.43.10.in-addr.arpa.", dns.TypePTR},
	{"5.1.42.10.in-addr.arpa.", dns.TypePTR},
	{"99.0.43.10.in-addr.arpa.", dns.TypePTR},
}

const goldenAnswers = "testdata/coredns/answers.txt"

// TestAnswersAgreeWithCoreDNS: for the same Services, dnsd's answers are
// CoreDNS's (v1.14.7, file plugin, answers recorded in testdata): RCODE,
// AA and every section, records sorted (the handler shuffles sets).
func TestAnswersAgreeWithCoreDNS(t *testing.T) {
	if *updateCoreDNS {
		recordCoreDNS(t)
	}
	want, err := readGolden(goldenAnswers)
	if err != nil {
		t.Fatal(err)
	}
	h := NewHandler(goldenResolver(), Config{ReverseZones: []netip.Prefix{
		netip.MustParsePrefix("10.42.0.0/16"), netip.MustParsePrefix("10.43.0.0/16")}})
	for _, q := range goldenQuestions {
		key := q.name + " " + dns.TypeToString[q.qtype]
		w, ok := want[key]
		if !ok {
			t.Errorf("%s: no recorded CoreDNS answer (run with -update-coredns)", key)
			continue
		}
		if got := goldenText(h.Answer(query(q.name, q.qtype))); got != w {
			t.Errorf("%s:\ndnsd:    %s\nCoreDNS: %s", key, got, w)
		}
	}
}

// goldenText is one answer on one line: RCODE, AA and the sections,
// records sorted, OPT left out.
func goldenText(m *dns.Msg) string {
	section := func(rrs []dns.RR) string {
		var out []string
		for _, rr := range rrs {
			if rr.Header().Rrtype != dns.TypeOPT {
				out = append(out, strings.ReplaceAll(rr.String(), "\t", " "))
			}
		}
		slices.Sort(out)
		return strings.Join(out, " | ")
	}
	return fmt.Sprintf("%s aa=%v; answer: %s; authority: %s; additional: %s",
		dns.RcodeToString[m.Rcode], m.Authoritative, section(m.Answer), section(m.Ns), section(m.Extra))
}

func readGolden(path string) (map[string]string, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read recorded answers: %w", err)
	}
	out := map[string]string{}
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		line := sc.Text()
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		k, v, ok := strings.Cut(line, " => ")
		if !ok {
			return nil, fmt.Errorf("%s: bad line %q", path, line)
		}
		out[k] = v
	}
	return out, sc.Err()
}

// recordCoreDNS builds CoreDNS, serves goldenZones on 127.0.0.1, asks
// every question and writes the answers to goldenAnswers.
func recordCoreDNS(t *testing.T) {
	dir := t.TempDir()
	bin := filepath.Join(dir, "coredns")
	build := exec.Command("go", "build", "-o", bin, ".")
	build.Dir = filepath.Join("..", "internal", "tools", "coredns")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("build coredns: %v\n%s", err, out)
	}
	l, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := l.LocalAddr().(*net.UDPAddr).Port
	l.Close()
	var conf strings.Builder
	for zone, text := range goldenZones {
		path := filepath.Join(dir, zone+".db")
		if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
		fmt.Fprintf(&conf, "%s:%d {\n\tbind 127.0.0.1\n\tfile %s\n}\n", zone, port, path)
	}
	corefile := filepath.Join(dir, "Corefile")
	if err := os.WriteFile(corefile, []byte(conf.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, "-conf", corefile)
	var log bytes.Buffer
	cmd.Stdout, cmd.Stderr = &log, &log
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Wait()
	defer cancel()
	server := fmt.Sprintf("127.0.0.1:%d", port)
	c := &dns.Client{Timeout: 2 * time.Second}
	var out strings.Builder
	out.WriteString("# CoreDNS v1.14.7 (internal/tools/coredns, file plugin) over dnsd/golden_test.go's goldenZones;\n")
	out.WriteString("# re-record: go test ./dnsd/ -run TestAnswersAgreeWithCoreDNS -update-coredns\n")
	for _, q := range goldenQuestions {
		var resp *dns.Msg
		for deadline := time.Now().Add(20 * time.Second); ; time.Sleep(100 * time.Millisecond) {
			resp, _, err = c.Exchange(query(q.name, q.qtype), server)
			if err == nil {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("CoreDNS on %s: %v\n%s", server, err, log.String())
			}
		}
		fmt.Fprintf(&out, "%s %s => %s\n", q.name, dns.TypeToString[q.qtype], goldenText(resp))
	}
	if err := os.MkdirAll(filepath.Dir(goldenAnswers), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(goldenAnswers, []byte(out.String()), 0o644); err != nil {
		t.Fatal(err)
	}
}
