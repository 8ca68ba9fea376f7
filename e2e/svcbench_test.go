package e2e

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
)

// wrkResult is what one wrk run reported.
type wrkResult struct {
	rps      float64 // Requests/sec
	p50, p99 float64 // milliseconds, from --latency
	errors   string  // wrk's "Socket errors" / "Non-2xx" lines, if any
	out      string
}

var (
	reWrkRPS = regexp.MustCompile(`Requests/sec:\s+([0-9.]+)`)
	reWrkPct = regexp.MustCompile(`(?m)^\s+(50|99)%\s+([0-9.]+)(us|ms|s)\s*$`)
)

// parseWrk reads wrk's report (run with --latency).
func parseWrk(out string) (wrkResult, error) {
	r := wrkResult{out: out}
	m := reWrkRPS.FindStringSubmatch(out)
	if m == nil {
		return r, fmt.Errorf("no Requests/sec in wrk output:\n%s", out)
	}
	r.rps, _ = strconv.ParseFloat(m[1], 64)
	for _, m := range reWrkPct.FindAllStringSubmatch(out, -1) {
		v, _ := strconv.ParseFloat(m[2], 64)
		switch m[3] {
		case "us":
			v /= 1e3
		case "s":
			v *= 1e3
		}
		if m[1] == "50" {
			r.p50 = v
		} else {
			r.p99 = v
		}
	}
	for _, line := range strings.Split(out, "\n") {
		if strings.Contains(line, "Socket errors") || strings.Contains(line, "Non-2xx") {
			r.errors += strings.TrimSpace(line) + "; "
		}
	}
	return r, nil
}

// BenchmarkClusterIPThroughput measures HTTP requests/s to one bootcamp
// pod through its ClusterIP Service (nftables DNAT on the node) against
// the same pod by its pod IP, with wrk (Debian package wrk). One real
// node in a test network namespace; wrk runs inside that node's namespace,
// so every packet stays inside the namespaces the test made. Issue 5's
// goal: ClusterIP/pod-IP at least 0.9.
//
// The two targets are measured alternately, WRK_ROUNDS times (default 3)
// for WRK_SECONDS each (default 10), and the requests/s averaged per
// target, so that load from anything else on the machine falls on both
// alike. The main figures use keep-alive connections (wrk's default);
// a second set opens a connection per request (Connection: close, half
// as long), so that every request goes through the DNAT rules.
//
//	make bench BENCH=ClusterIPThroughput     # as root
//	# = go test -run '^$' -bench ClusterIPThroughput -benchtime 1x ./e2e/
func BenchmarkClusterIPThroughput(b *testing.B) {
	if _, err := exec.LookPath("wrk"); err != nil {
		b.Skip("needs wrk on PATH (Debian package wrk; make deps installs it)")
	}
	pc := startPodCluster(b, 1)
	kc := []string{"--kubeconfig", pc.kubeconfig}
	pc.mustShoal(append([]string{"create", "deployment", bootcamp, "--image=gcr.io/google-samples/kubernetes-bootcamp:v1", "--replicas=1", "--port=8080"}, kc...)...)
	pc.mustShoal(append([]string{"expose", "deployment/" + bootcamp, "--port", "80", "--target-port", "8080", "--name", "web"}, kc...)...)
	pc.mustShoal(append([]string{"rollout", "status", "deployments/" + bootcamp, "--timeout", "120s"}, kc...)...)

	var podIP string
	waitFor(b, 60*time.Second, "one ready bootcamp pod with an IP", func() error {
		pods, err := pc.podList("app=" + bootcamp)
		if err != nil {
			return err
		}
		if len(pods) != 1 || readyPods(pods) != 1 || pods[0].Status.PodIP == "" {
			return fmt.Errorf("%d pods, %d ready", len(pods), readyPods(pods))
		}
		podIP = pods[0].Status.PodIP
		return nil
	})
	out := pc.mustShoal(append([]string{"get", "svc", "web", "-o", "json"}, kc...)...)
	var svc corev1.Service
	if err := json.Unmarshal([]byte(out), &svc); err != nil {
		b.Fatal(err)
	}
	clusterIP := svc.Spec.ClusterIP
	if clusterIP == "" || clusterIP == "None" {
		b.Fatalf("service web has no cluster IP: %q", clusterIP)
	}
	targets := []struct{ name, url string }{
		{"pod IP", "http://" + podIP + ":8080/"},
		{"ClusterIP", "http://" + clusterIP + ":80/"},
	}
	// Both answer from the node's namespace before anything is timed (the
	// proxy rules follow the endpoints within a second).
	for _, tg := range targets {
		waitFor(b, 30*time.Second, tg.name+" answering from the node", func() error {
			out, err := pc.sh(0, "timeout 3 busybox wget -qO- "+tg.url)
			if err != nil || !strings.Contains(out, "Hello Kubernetes bootcamp") {
				return fmt.Errorf("%v %q", err, out)
			}
			return nil
		})
	}

	rounds := benchEnvInt("WRK_ROUNDS", 3)
	secs := benchEnvInt("WRK_SECONDS", 10)
	wrk := func(url string, d int, extra string) wrkResult {
		script := fmt.Sprintf("wrk -t2 -c32 -d%ds --latency %s%s", d, extra, url)
		out, err := pc.sh(0, script)
		if err != nil {
			b.Fatalf("%s: %v", script, err)
		}
		r, err := parseWrk(out)
		if err != nil {
			b.Fatal(err)
		}
		if r.errors != "" {
			b.Logf("%s: %s", script, r.errors)
		}
		return r
	}
	// A new connection per request puts the DNAT (a conntrack entry made
	// through the nftables rules) on every request, not only on the first
	// of a keep-alive connection. The node namespace reuses TIME_WAIT
	// ports so that its ephemeral ports last.
	const closeHdr = "-H 'Connection: close' "
	pc.lab.in(pc.lab.nodes[0], "sysctl", "-qw", "net.ipv4.tcp_tw_reuse=1")

	// synRetrans reads the node namespace's TcpExt TCPSynRetrans counter:
	// a SYN that goes unanswered costs its connection a second.
	synRetrans := func() float64 {
		out, err := pc.sh(0, "cat /proc/net/netstat")
		if err != nil {
			b.Fatal(err)
		}
		v, err := netstatCounter(out, "TcpExt", "TCPSynRetrans")
		if err != nil {
			b.Fatal(err)
		}
		return v
	}

	// Warm-up: connections, conntrack entries, the app's goroutines.
	for _, tg := range targets {
		wrk(tg.url, 2, "")
	}

	var keep, closed, p99, retrans [2]float64
	var last [2]wrkResult
	for b.Loop() {
		keep, closed, p99, retrans = [2]float64{}, [2]float64{}, [2]float64{}, [2]float64{}
		for range rounds {
			for i, tg := range targets {
				last[i] = wrk(tg.url, secs, "")
				keep[i] += last[i].rps
				p99[i] += last[i].p99
				b.Logf("%-9s %s keep-alive: %.0f requests/s, p50 %.2f ms, p99 %.2f ms", tg.name, tg.url, last[i].rps, last[i].p50, last[i].p99)
			}
		}
		for range rounds {
			for i, tg := range targets {
				before := synRetrans()
				r := wrk(tg.url, max(secs/2, 1), closeHdr)
				syns := synRetrans() - before
				closed[i] += r.rps
				retrans[i] += syns
				b.Logf("%-9s %s connection per request: %.0f requests/s, p50 %.2f ms, p99 %.2f ms, %.0f SYN retransmits", tg.name, tg.url, r.rps, r.p50, r.p99, syns)
			}
		}
	}
	for i, tg := range targets {
		b.Logf("last keep-alive wrk run against the %s (wrk -t2 -c32 -d%ds --latency %s):\n%s", tg.name, secs, tg.url, last[i].out)
	}
	n := float64(rounds)
	b.ReportMetric(keep[0]/n, "req/s-podIP")
	b.ReportMetric(keep[1]/n, "req/s-clusterIP")
	b.ReportMetric(keep[1]/keep[0], "clusterIP/podIP")
	b.ReportMetric(p99[0]/n, "ms-p99-podIP")
	b.ReportMetric(p99[1]/n, "ms-p99-clusterIP")
	b.ReportMetric(closed[0]/n, "req/s-podIP-close")
	b.ReportMetric(closed[1]/n, "req/s-clusterIP-close")
	b.ReportMetric(closed[1]/closed[0], "clusterIP/podIP-close")
	b.ReportMetric(retrans[0], "syn-retrans-podIP-close")
	b.ReportMetric(retrans[1], "syn-retrans-clusterIP-close")
}

// netstatCounter finds one counter in /proc/net/netstat's text: pairs of
// lines "Group: names..." and "Group: values...".
func netstatCounter(text, group, name string) (float64, error) {
	lines := strings.Split(text, "\n")
	for i := 0; i+1 < len(lines); i++ {
		names, values := strings.Fields(lines[i]), strings.Fields(lines[i+1])
		if len(names) == 0 || names[0] != group+":" || len(values) != len(names) {
			continue
		}
		for j, n := range names {
			if n == name {
				return strconv.ParseFloat(values[j], 64)
			}
		}
	}
	return 0, fmt.Errorf("no %s %s in /proc/net/netstat", group, name)
}

// benchEnvInt reads a positive integer from the environment, else def.
func benchEnvInt(name string, def int) int {
	if v, err := strconv.Atoi(strings.TrimSpace(os.Getenv(name))); err == nil && v > 0 {
		return v
	}
	return def
}
