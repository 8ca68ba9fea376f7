package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime/pprof"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"
)

// writeResult is one write benchmark's figures.
type writeResult struct {
	perSec   float64
	p50, p99 float64 // milliseconds
	// cpu is the CPU time per write, in microseconds, of the servers
	// together and of the client that drove them.
	serverCPU, clientCPU float64
	// busy is the share of the machine's CPU time that was not idle.
	busy float64
}

func (r writeResult) String() string {
	return fmt.Sprintf("%.0f/s, p50 %.2f ms, p99 %.2f ms, CPU per write: servers %.0f µs, client %.0f µs; machine %.0f%% busy",
		r.perSec, r.p50, r.p99, r.serverCPU, r.clientCPU, 100*r.busy)
}

// machineTimes reads the machine's total and idle CPU time (in ticks)
// from /proc/stat.
func machineTimes() (total, idle float64) {
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		return 0, 0
	}
	line, _, _ := strings.Cut(string(b), "\n")
	for i, f := range strings.Fields(line)[1:] {
		v, _ := strconv.ParseFloat(f, 64)
		total += v
		if i == 3 || i == 4 { // idle, iowait
			idle += v
		}
	}
	return total, idle
}

// busySince is the share of CPU time not idle since machineTimes gave
// total and idle.
func busySince(total, idle float64) float64 {
	t, i := machineTimes()
	if t <= total {
		return 0
	}
	return 1 - (i-idle)/(t-total)
}

// cpuOf sums the CPU time the processes pids have used.
func cpuOf(pids []int) time.Duration {
	var sum time.Duration
	for _, pid := range pids {
		if d, err := procCPU(pid); err == nil {
			sum += d
		}
	}
	return sum
}

// perWrite is d per write of n, in microseconds.
func perWrite(d time.Duration, n int) float64 { return float64(d.Microseconds()) / float64(n) }

// buildEtcd builds etcd v3.7.1's server and benchmark tool from the tools
// module internal/tools/etcd into dir.
func buildEtcd(b *testing.B, dir string) (etcd, bench string) {
	b.Helper()
	etcd, bench = filepath.Join(dir, "etcd"), filepath.Join(dir, "etcd-benchmark")
	for _, t := range []struct{ out, pkg string }{
		{etcd, "go.etcd.io/etcd/server/v3"},
		{bench, "go.etcd.io/etcd/v3/tools/benchmark"},
	} {
		cmd := exec.Command("go", "build", "-o", t.out, t.pkg)
		cmd.Dir = "../internal/tools/etcd"
		if out, err := cmd.CombinedOutput(); err != nil {
			b.Fatalf("build %s: %v\n%s", t.pkg, err, out)
		}
	}
	return etcd, bench
}

// etcdCluster is three etcd members on loopback.
type etcdCluster struct {
	clientURLs []string
	procs      []*exec.Cmd
	logs       []*syncBuffer
}

func startEtcd(b *testing.B, bin, dir string) *etcdCluster {
	b.Helper()
	ports := freePorts(b, 6)
	ec := &etcdCluster{}
	var initial []string
	for i := range 3 {
		initial = append(initial, fmt.Sprintf("m%d=http://127.0.0.1:%d", i, ports[3+i]))
	}
	for i := range 3 {
		client := fmt.Sprintf("http://127.0.0.1:%d", ports[i])
		peer := fmt.Sprintf("http://127.0.0.1:%d", ports[3+i])
		log := &syncBuffer{}
		cmd := exec.Command(bin, "--name", fmt.Sprintf("m%d", i), "--data-dir", filepath.Join(dir, fmt.Sprintf("m%d", i)),
			"--listen-client-urls", client, "--advertise-client-urls", client,
			"--listen-peer-urls", peer, "--initial-advertise-peer-urls", peer,
			"--initial-cluster", strings.Join(initial, ","), "--initial-cluster-state", "new",
			"--initial-cluster-token", "shoal-bench", "--log-level", "warn")
		cmd.Stdout, cmd.Stderr = log, log
		if err := cmd.Start(); err != nil {
			b.Fatalf("start etcd: %v", err)
		}
		ec.clientURLs = append(ec.clientURLs, client)
		ec.procs = append(ec.procs, cmd)
		ec.logs = append(ec.logs, log)
	}
	b.Cleanup(func() {
		for _, p := range ec.procs {
			p.Process.Kill()
			p.Wait()
		}
	})
	waitFor(b, 60*time.Second, "etcd's leader", func() error {
		_, err := ec.follower()
		return err
	})
	return ec
}

func (ec *etcdCluster) pids() []int {
	var pids []int
	for _, p := range ec.procs {
		pids = append(pids, p.Process.Pid)
	}
	return pids
}

// follower returns the client URL of a member that is not the leader.
func (ec *etcdCluster) follower() (string, error) {
	for _, u := range ec.clientURLs {
		resp, err := http.Post(u+"/v3/maintenance/status", "application/json", strings.NewReader("{}"))
		if err != nil {
			return "", err
		}
		var st struct {
			Header struct {
				MemberID string `json:"member_id"`
			} `json:"header"`
			Leader string `json:"leader"`
		}
		err = json.NewDecoder(resp.Body).Decode(&st)
		resp.Body.Close()
		if err != nil {
			return "", fmt.Errorf("status of %s: %w", u, err)
		}
		if st.Leader == "" || st.Leader == "0" {
			return "", fmt.Errorf("%s knows no leader", u)
		}
		if st.Leader != st.Header.MemberID {
			return u, nil
		}
	}
	return "", fmt.Errorf("no follower among %v", ec.clientURLs)
}

var (
	reEtcdRate = regexp.MustCompile(`Requests/sec:\s+([0-9.]+)`)
	reEtcdPct  = regexp.MustCompile(`(50|99)% in ([0-9.]+) secs`)
)

// etcdPut runs etcd's benchmark tool: total puts of 1 KiB values by
// clients writers.
func etcdPut(bench string, servers []int, endpoints []string, clients, total int) (writeResult, error) {
	before := cpuOf(servers)
	machineTotal, machineIdle := machineTimes()
	cmd := exec.Command(bench, "--endpoints", strings.Join(endpoints, ","),
		"--clients", strconv.Itoa(clients), "--conns", strconv.Itoa(clients),
		"put", "--key-size", "16", "--val-size", "1024", "--total", strconv.Itoa(total), "--sequential-keys")
	out, err := cmd.CombinedOutput()
	if err != nil {
		return writeResult{}, fmt.Errorf("etcd benchmark: %v\n%s", err, out)
	}
	var r writeResult
	r.busy = busySince(machineTotal, machineIdle)
	r.serverCPU = perWrite(cpuOf(servers)-before, total)
	r.clientCPU = perWrite(cmd.ProcessState.UserTime()+cmd.ProcessState.SystemTime(), total)
	m := reEtcdRate.FindSubmatch(out)
	if m == nil {
		return r, fmt.Errorf("no Requests/sec in:\n%s", out)
	}
	r.perSec, _ = strconv.ParseFloat(string(m[1]), 64)
	for _, m := range reEtcdPct.FindAllSubmatch(out, -1) {
		v, _ := strconv.ParseFloat(string(m[2]), 64)
		if string(m[1]) == "50" {
			r.p50 = v * 1000
		} else {
			r.p99 = v * 1000
		}
	}
	return r, nil
}

// shoalCreates creates total ConfigMaps of 1 KiB through clients, writers
// at a time, and measures them as etcd's tool does.
func shoalCreates(ctx context.Context, servers []int, clients []kubernetes.Interface, prefix string, writers, total int) (writeResult, error) {
	var (
		mu   sync.Mutex
		lat  = make([]time.Duration, 0, total)
		wg   sync.WaitGroup
		errs = make(chan error, writers)
	)
	payload := strings.Repeat("x", 1024)
	serversBefore, clientBefore := cpuOf(servers), cpuOf([]int{os.Getpid()})
	machineTotal, machineIdle := machineTimes()
	start := time.Now()
	for w := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			cs := clients[w%len(clients)]
			var mine []time.Duration
			for i := w; i < total; i += writers {
				cm := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("%s-%06d", prefix, i)},
					Data: map[string]string{"v": payload}}
				t := time.Now()
				if _, err := cs.CoreV1().ConfigMaps("default").Create(ctx, cm, metav1.CreateOptions{}); err != nil {
					errs <- err
					return
				}
				mine = append(mine, time.Since(t))
			}
			mu.Lock()
			lat = append(lat, mine...)
			mu.Unlock()
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		return writeResult{}, err
	}
	elapsed := time.Since(start)
	busy := busySince(machineTotal, machineIdle)
	// The client runs in this process; the benchmark does nothing else
	// meanwhile.
	serverCPU, clientCPU := cpuOf(servers)-serversBefore, cpuOf([]int{os.Getpid()})-clientBefore
	slices.Sort(lat)
	p := func(q float64) float64 { return float64(lat[int(q*float64(len(lat)-1))].Microseconds()) / 1000 }
	return writeResult{perSec: float64(total) / elapsed.Seconds(), p50: p(0.5), p99: p(0.99),
		serverCPU: perWrite(serverCPU, total), clientCPU: perWrite(clientCPU, total), busy: busy}, nil
}

// BenchmarkWritesVsEtcd runs etcd v3.7.1 (built by the benchmark from the
// tools module internal/tools/etcd) and shoal back to back on this
// machine, three members or voters each on loopback, fsync on, and
// records both and their ratio (issue 13): 64 concurrent writers (etcd:
// `benchmark put`, 1 KiB values, all members; shoal: ConfigMap creates
// with 1 KiB of data, spread over the three peers), and one writer
// through a follower. SHOAL_BENCH_ROUNDS (default 3) rounds alternate the
// two systems, each on a fresh cluster.
//
//	make bench BENCH=WritesVsEtcd
func BenchmarkWritesVsEtcd(b *testing.B) {
	bin := b.TempDir()
	etcdBin, benchBin := buildEtcd(b, bin)
	rounds := benchEnvInt("SHOAL_BENCH_ROUNDS", 3)
	const parTotal, seqTotal = 10000, 1000
	var etcdPar, etcdSeq, shoalPar, shoalSeq []writeResult
	// SHOAL_BENCH_ETCD=0 runs shoal alone, to profile it quickly.
	withEtcd := os.Getenv("SHOAL_BENCH_ETCD") != "0"
	for round := range rounds {
		if !withEtcd {
			sPar, sSeq := shoalWrites(b)
			b.Logf("round %d shoal: 64 writers %v; one writer through a follower %v", round+1, sPar, sSeq)
			shoalPar, shoalSeq = append(shoalPar, sPar), append(shoalSeq, sSeq)
			continue
		}
		ec := startEtcd(b, etcdBin, b.TempDir())
		par, err := etcdPut(benchBin, ec.pids(), ec.clientURLs, 64, parTotal)
		if err != nil {
			b.Fatal(err)
		}
		f, err := ec.follower()
		if err != nil {
			b.Fatal(err)
		}
		seq, err := etcdPut(benchBin, ec.pids(), []string{f}, 1, seqTotal)
		if err != nil {
			b.Fatal(err)
		}
		for _, p := range ec.procs {
			p.Process.Kill()
			p.Wait()
		}
		b.Logf("round %d etcd:  64 writers %v; one writer through a follower %v", round+1, par, seq)
		etcdPar, etcdSeq = append(etcdPar, par), append(etcdSeq, seq)

		sPar, sSeq := shoalWrites(b)
		b.Logf("round %d shoal: 64 writers %v; one writer through a follower %v", round+1, sPar, sSeq)
		shoalPar, shoalSeq = append(shoalPar, sPar), append(shoalSeq, sSeq)
	}
	mean := func(rs []writeResult) writeResult {
		var m writeResult
		for _, r := range rs {
			m.perSec += r.perSec / float64(len(rs))
			m.p50 += r.p50 / float64(len(rs))
			m.p99 += r.p99 / float64(len(rs))
		}
		return m
	}
	ep, es, sp, ss := mean(etcdPar), mean(etcdSeq), mean(shoalPar), mean(shoalSeq)
	b.ReportMetric(ep.perSec, "puts/s-etcd-64")
	b.ReportMetric(ep.p99, "ms-p99-etcd-64")
	b.ReportMetric(sp.perSec, "creates/s-shoal-64")
	b.ReportMetric(sp.p99, "ms-p99-shoal-64")
	b.ReportMetric(sp.perSec/ep.perSec, "ratio-64")
	b.ReportMetric(es.perSec, "puts/s-etcd-1")
	b.ReportMetric(ss.perSec, "creates/s-shoal-1")
	b.ReportMetric(ss.perSec/es.perSec, "ratio-1")
}

// shoalWrites starts three voters and measures them as the etcd rounds do.
func shoalWrites(b *testing.B) (par, seq writeResult) {
	c := startCluster(b, 3)
	defer c.stop()
	clients := make([]kubernetes.Interface, len(c.agents))
	for i, a := range c.agents {
		cfg, err := clientcmd.BuildConfigFromFlags(a.apiURL(), c.kubeconfig)
		if err != nil {
			b.Fatal(err)
		}
		cfg.QPS, cfg.Burst = -1, 0
		clients[i] = kubernetes.NewForConfigOrDie(cfg)
	}
	ctx := context.Background()
	var pids []int
	for _, a := range c.agents {
		pids = append(pids, a.cmd.Process.Pid)
	}
	var err error
	stopProfiles := profileAgents(b, c, clients, "64")
	par, err = shoalCreates(ctx, pids, clients, "par", 64, 10000)
	stopProfiles()
	if err != nil {
		b.Fatal(err)
	}
	// One writer through a follower: a peer whose Node the leader labels
	// a voter (the labels follow raft's roles within seconds).
	follower := -1
	waitFor(b, 60*time.Second, "a follower's Node labelled", func() error {
		out, err := c.shoal("get", "nodes", "-o", "json", "--kubeconfig", c.kubeconfig)
		if err != nil {
			return err
		}
		var nodes corev1.NodeList
		if err := json.Unmarshal([]byte(out), &nodes); err != nil {
			return err
		}
		for i, a := range c.agents {
			for _, n := range nodes.Items {
				if n.Name == a.name && roleOf(n) == "voter" {
					follower = i
					return nil
				}
			}
		}
		return fmt.Errorf("no follower among %s", describeNodes(nodes.Items))
	})
	stopProfiles = profileAgents(b, c, clients, "1")
	seq, err = shoalCreates(ctx, pids, []kubernetes.Interface{clients[follower]}, "seq", 1, 1000)
	stopProfiles()
	if err != nil {
		b.Fatal(err)
	}
	return par, seq
}

// profileAgents, when SHOAL_BENCH_PROFILE names a directory, takes a CPU
// and a block profile of every agent (through /debug/pprof) while a phase
// runs (SHOAL_BENCH_PROFILE_SECONDS, default 2), and writes them and `go tool pprof -top` of each there as
// shoal-NODE-PHASE-{cpu,block}.{pprof,txt}. The returned stop waits for
// them. Without the variable it does nothing.
func profileAgents(b *testing.B, c *cluster, clients []kubernetes.Interface, phase string) (stop func()) {
	dir := os.Getenv("SHOAL_BENCH_PROFILE")
	if dir == "" {
		return func() {}
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		b.Fatal(err)
	}
	// SHOAL_BENCH_PROFILE_SECONDS (default 2) should not outlast the phase.
	secs := benchEnvInt("SHOAL_BENCH_PROFILE_SECONDS", 2)
	var wg sync.WaitGroup
	for i, a := range c.agents {
		// SHOAL_BENCH_PROFILE_KINDS=cpu leaves out the block profile,
		// whose sampling slows the agents.
		kinds := []string{"cpu", "block"}
		if os.Getenv("SHOAL_BENCH_PROFILE_KINDS") == "cpu" {
			kinds = kinds[:1]
		}
		for _, kind := range kinds {
			wg.Add(1)
			go func() {
				defer wg.Done()
				path, params := "/debug/pprof/profile", map[string]string{"seconds": strconv.Itoa(secs)}
				if kind == "block" {
					path, params = "/debug/pprof/block", map[string]string{"seconds": strconv.Itoa(secs)}
				}
				req := clients[i].CoreV1().RESTClient().Get().AbsPath(path)
				for k, v := range params {
					req = req.Param(k, v)
				}
				raw, err := req.DoRaw(context.Background())
				if err != nil {
					b.Logf("profile %s of %s: %v", kind, a.name, err)
					return
				}
				base := filepath.Join(dir, fmt.Sprintf("shoal-%s-%s-%s", a.name, phase, kind))
				if err := os.WriteFile(base+".pprof", raw, 0o644); err != nil {
					b.Logf("write profile: %v", err)
					return
				}
				top, err := exec.Command("go", "tool", "pprof", "-top", "-nodecount=30", base+".pprof").CombinedOutput()
				if err != nil {
					b.Logf("pprof -top %s: %v", base, err)
				}
				os.WriteFile(base+".txt", top, 0o644)
			}()
		}
	}
	// The client's own profile: it shares the machine's two cores.
	client := filepath.Join(dir, fmt.Sprintf("client-%s-cpu", phase))
	f, err := os.Create(client + ".pprof")
	if err != nil {
		b.Fatal(err)
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		b.Fatal(err)
	}
	timer := time.AfterFunc(time.Duration(secs)*time.Second, pprof.StopCPUProfile)
	return func() {
		wg.Wait()
		if timer.Stop() {
			pprof.StopCPUProfile()
		}
		f.Close()
	}
}
