package e2e

import (
	"bytes"
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/miekg/dns"
)

// The pieces of BenchmarkDNSAgentVsCoreDNS that are not about the
// cluster: the zone CoreDNS serves, the query file, the comparison of
// answers and dnsperf's report.

// zoneSOA is the SOA dnsd puts in negative answers (dnsd/records.go
// newSOA with the default domain and TTL), so that CoreDNS's file plugin
// answers NXDOMAIN with the same authority section.
const zoneSOA = "cluster.local. 5 IN SOA ns.dns.cluster.local. hostmaster.cluster.local. 1 7200 1800 86400 5"

// benchService is one Service of the benchmark: svc-N in default, one
// named TCP port "http" 80, the ClusterIP the API server gave it.
type benchService struct {
	name, ip string
}

// writeZone writes the cluster.local zone CoreDNS serves: per Service the
// A record of its ClusterIP and the SRV record of its named port, as dnsd
// answers them (weight 100 for a single target and port, TTL 5). The zone
// has no NS records: the file plugin would put them in the authority
// section of every answer, which neither dnsd nor CoreDNS's kubernetes
// plugin does, and the answers would differ (and be larger).
func writeZone(path string, svcs []benchService) error {
	var b bytes.Buffer
	b.WriteString("$ORIGIN cluster.local.\n$TTL 5\n")
	b.WriteString(zoneSOA + "\n")
	for _, s := range svcs {
		fmt.Fprintf(&b, "%s.default.svc.cluster.local. 5 IN A %s\n", s.name, s.ip)
		fmt.Fprintf(&b, "_http._tcp.%s.default.svc.cluster.local. 5 IN SRV 0 100 80 %s.default.svc.cluster.local.\n", s.name, s.name)
	}
	return os.WriteFile(path, b.Bytes(), 0o644)
}

// benchQuery is one line of the query file.
type benchQuery struct {
	name  string // FQDN
	qtype uint16
}

// benchQueries is issue 12's mix over n Services: 80% A for
// svc-N.default.svc.cluster.local, 10% SRV for its named port, 10% A for
// a missing Service (NXDOMAIN, as a search-path expansion gets). The
// same seed for every server and run.
func benchQueries(n, count int) []benchQuery {
	r := rand.New(rand.NewPCG(12, 12))
	out := make([]benchQuery, 0, count)
	for i := range count {
		svc := r.IntN(n)
		switch i % 10 {
		case 8:
			out = append(out, benchQuery{fmt.Sprintf("_http._tcp.svc-%d.default.svc.cluster.local.", svc), dns.TypeSRV})
		case 9:
			out = append(out, benchQuery{fmt.Sprintf("missing-%d.default.svc.cluster.local.", svc), dns.TypeA})
		default:
			out = append(out, benchQuery{fmt.Sprintf("svc-%d.default.svc.cluster.local.", svc), dns.TypeA})
		}
	}
	return out
}

// writeQueryFile writes qs in dnsperf's data format.
func writeQueryFile(path string, qs []benchQuery) error {
	var b bytes.Buffer
	for _, q := range qs {
		fmt.Fprintf(&b, "%s %s\n", q.name, dns.TypeToString[q.qtype])
	}
	return os.WriteFile(path, b.Bytes(), 0o644)
}

// answerText is what two servers must agree on for one query: the RCODE,
// the AA flag and every section, records sorted. With ttls false the TTLs
// are left out (a cache counts them down).
func answerText(m *dns.Msg, ttls bool) string {
	section := func(rrs []dns.RR) string {
		var out []string
		for _, rr := range rrs {
			if rr.Header().Rrtype == dns.TypeOPT {
				continue
			}
			rr = dns.Copy(rr)
			if !ttls {
				rr.Header().Ttl = 0
			}
			out = append(out, rr.String())
		}
		slices.Sort(out)
		return strings.Join(out, " | ")
	}
	return fmt.Sprintf("%s aa=%v\n  answer: %s\n  authority: %s\n  additional: %s",
		dns.RcodeToString[m.Rcode], m.Authoritative, section(m.Answer), section(m.Ns), section(m.Extra))
}

// dnsAsker sends queries to one server from inside a network namespace.
type dnsAsker struct {
	conn *dns.Conn
}

func newDNSAsker(ns, server string) (*dnsAsker, error) {
	c, err := dialIn(ns)(context.Background(), "udp", server)
	if err != nil {
		return nil, fmt.Errorf("dial %s in %s: %w", server, ns, err)
	}
	return &dnsAsker{conn: &dns.Conn{Conn: c}}, nil
}

func (a *dnsAsker) ask(q benchQuery) (*dns.Msg, error) {
	req := new(dns.Msg)
	req.SetQuestion(q.name, q.qtype)
	c := &dns.Client{Timeout: 3 * time.Second}
	resp, _, err := c.ExchangeWithConn(req, a.conn)
	if err != nil {
		return nil, fmt.Errorf("%s %s: %w", q.name, dns.TypeToString[q.qtype], err)
	}
	return resp, nil
}

func (a *dnsAsker) Close() error { return a.conn.Close() }

// dnsperfRun is one dnsperf report.
type dnsperfRun struct {
	qps, lost, avgMS float64
	summary          string
}

var (
	rePerfQPS  = regexp.MustCompile(`Queries per second:\s+([0-9.]+)`)
	rePerfLost = regexp.MustCompile(`Queries lost:\s+([0-9]+)`)
	rePerfAvg  = regexp.MustCompile(`Average Latency \(s\):\s+([0-9.]+)`)
)

// parseDNSPerf reads dnsperf's statistics.
func parseDNSPerf(out string) (dnsperfRun, error) {
	var r dnsperfRun
	for _, f := range []struct {
		re  *regexp.Regexp
		dst *float64
	}{{rePerfQPS, &r.qps}, {rePerfLost, &r.lost}, {rePerfAvg, &r.avgMS}} {
		m := f.re.FindStringSubmatch(out)
		if m == nil {
			return r, fmt.Errorf("dnsperf output has no %q:\n%s", f.re, out)
		}
		v, err := strconv.ParseFloat(m[1], 64)
		if err != nil {
			return r, fmt.Errorf("dnsperf %q: %w", m[0], err)
		}
		*f.dst = v
	}
	r.avgMS *= 1e3
	if i := strings.Index(out, "Statistics:"); i >= 0 {
		r.summary = out[i:]
	}
	return r, nil
}

// buildCoreDNS builds the CoreDNS of internal/tools/coredns (its own
// module, so CoreDNS stays out of shoal's go.mod) into dir.
func buildCoreDNS(dir string) (string, error) {
	bin := filepath.Join(dir, "coredns")
	cmd := exec.Command("go", "build", "-o", bin, ".")
	cmd.Dir = filepath.Join("..", "internal", "tools", "coredns")
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("build coredns in %s: %v\n%s", cmd.Dir, err, out)
	}
	return bin, nil
}

// procCPU returns the CPU time (user + system) process pid has used.
func procCPU(pid int) (time.Duration, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, fmt.Errorf("read cpu of %d: %w", pid, err)
	}
	// Fields after the command (which may hold spaces) start after ')'.
	s := string(b)
	f := strings.Fields(s[strings.LastIndexByte(s, ')')+2:])
	if len(f) < 13 {
		return 0, fmt.Errorf("short /proc/%d/stat: %q", pid, s)
	}
	utime, err1 := strconv.ParseInt(f[11], 10, 64)
	stime, err2 := strconv.ParseInt(f[12], 10, 64)
	if err1 != nil || err2 != nil {
		return 0, fmt.Errorf("parse /proc/%d/stat: %q", pid, s)
	}
	// USER_HZ is 100 on Linux.
	return time.Duration(utime+stime) * 10 * time.Millisecond, nil
}
