package network

import (
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"
)

// inOwnNetns runs the benchmark named name in a new, empty network
// namespace: the test binary runs itself again under `unshare -n` and the
// figures it prints are reported here. (A thread of its own in a new
// namespace would do without a second process, but a goroutine locked to
// its thread pays for every netlink wait in thread hand-offs, which
// doubled the figures.) In the second process fn runs.
func inOwnNetns(b *testing.B, name string, fn func(report func(value float64, unit string)) error) {
	report := func(v float64, unit string) { fmt.Printf("figure %s %g\n", unit, v) }
	if os.Getenv("SHOAL_BENCH_OWN_NETNS") != "" {
		if err := fn(report); err != nil {
			b.Fatal(err)
		}
		return
	}
	if os.Geteuid() != 0 {
		b.Skip("needs root for a network namespace")
	}
	unshare, err := exec.LookPath("unshare")
	if err != nil {
		b.Skip("needs unshare (util-linux)")
	}
	cmd := exec.Command(unshare, "-n", os.Args[0], "-test.run", "^$", "-test.bench", "^"+name+"$", "-test.benchtime", "1x")
	cmd.Env = append(os.Environ(), "SHOAL_BENCH_OWN_NETNS=1")
	out, err := cmd.CombinedOutput()
	if err != nil {
		b.Fatalf("%s in its own network namespace: %v\n%s", name, err, out)
	}
	for _, line := range strings.Split(string(out), "\n") {
		var unit string
		var v float64
		if n, _ := fmt.Sscanf(line, "figure %s %g", &unit, &v); n == 2 {
			b.ReportMetric(v, unit)
		}
	}
}

// scaleState is n ClusterIP Services with eps endpoints each (addresses
// that are never dialled).
func scaleState(n, eps int) ProxyState {
	st := ProxyState{NodeAddresses: []string{"192.0.2.1"}}
	for i := range n {
		p := ProxyPort{Name: "http", Protocol: "TCP", Port: 80}
		for e := range eps {
			p.Endpoints = append(p.Endpoints, ProxyEndpoint{IP: fmt.Sprintf("10.42.%d.%d", (i*eps+e)/250, (i*eps+e)%250+2), Port: 8080})
		}
		st.Services = append(st.Services, ProxyService{Namespace: "default", Name: fmt.Sprintf("svc-%05d", i),
			ClusterIPs: []string{fmt.Sprintf("10.43.%d.%d", i/250, i%250+2)}, Ports: []ProxyPort{p}})
	}
	return st
}

// BenchmarkProxyScale measures the Service proxy against the kernel's
// nftables, in a network namespace of its own (as root): programming
// SHOAL_BENCH_SERVICES Services (default 10,000) with 3 endpoints each
// into an empty table, then one change (one endpoint removed), a sync
// with nothing changed, and the drift check (Stale) an idle node makes on
// each resync.
//
//	make bench BENCH=ProxyScale
func BenchmarkProxyScale(b *testing.B) {
	n := 10000
	if v := os.Getenv("SHOAL_BENCH_SERVICES"); v != "" {
		fmt.Sscan(v, &n)
	}
	st := scaleState(n, 3)
	inOwnNetns(b, "BenchmarkProxyScale", func(report func(float64, string)) error {
		sp, err := NewServiceProxy(ProxyConfig{Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
		if err != nil {
			return err
		}
		defer sp.Close()
		start := time.Now()
		if err := sp.Sync(st); err != nil {
			return fmt.Errorf("program %d Services: %w", n, err)
		}
		report(time.Since(start).Seconds(), "s-program-all")

		changed := scaleState(n, 3)
		changed.Services[n/2].Ports[0].Endpoints = changed.Services[n/2].Ports[0].Endpoints[1:]
		start = time.Now()
		if err := sp.Sync(changed); err != nil {
			return fmt.Errorf("one change: %w", err)
		}
		report(float64(time.Since(start).Microseconds())/1000, "ms-one-change")

		start = time.Now()
		if err := sp.Sync(changed); err != nil {
			return fmt.Errorf("no change: %w", err)
		}
		report(float64(time.Since(start).Microseconds())/1000, "ms-no-change")

		start = time.Now()
		const checks = 100
		for range checks {
			if sp.Stale() {
				return fmt.Errorf("stale right after a sync")
			}
		}
		report(float64(time.Since(start).Microseconds())/checks, "µs-stale-check")
		return nil
	})
}
