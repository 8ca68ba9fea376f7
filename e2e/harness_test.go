package e2e

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/shoal-project/shoal/internal/testcluster"
)

// shoalBin is the binary built once by TestMain.
var shoalBin string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "shoal-e2e-bin")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	shoalBin = filepath.Join(dir, "shoal")
	build := exec.Command("go", "build", "-o", shoalBin, "../cmd/shoal")
	build.Stdout, build.Stderr = os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "build shoal:", err)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// agent is one `shoal agent` process.
type agent struct {
	// ns is the network namespace the agent runs in ("" = the machine's).
	ns   string
	name string
	// bin is the shoal binary the agent runs ("" = shoalBin, this tree's).
	bin     string
	dataDir string
	ip      string
	gossip  int
	raft    int
	api     int
	cmd     *exec.Cmd
	log     *syncBuffer
	done    chan struct{}
}

func (a *agent) apiURL() string { return "https://" + net.JoinHostPort(a.ip, strconv.Itoa(a.api)) }

// cluster is a set of agent processes with a shared kubeconfig.
type cluster struct {
	t          testing.TB
	dir        string
	agents     []*agent
	kubeconfig string
	// clientNS, when set, is the network namespace the CLI commands run in.
	clientNS string
}

// command builds a command, inside namespace ns when it is set.
func command(ctx context.Context, ns, bin string, args ...string) *exec.Cmd {
	if ns == "" {
		return exec.CommandContext(ctx, bin, args...)
	}
	return exec.CommandContext(ctx, "nsenter", append([]string{"--net=/run/netns/" + ns, bin}, args...)...)
}

// startCluster starts n agents on 127.0.0.1 ports: the first creates the
// cluster, the others run the join command `shoal token` prints.
func startCluster(t testing.TB, n int) *cluster {
	t.Helper()
	c := &cluster{t: t, dir: t.TempDir()}
	t.Cleanup(c.stop)
	first := c.newAgent("node-a")
	c.run(first, "agent")
	waitFor(t, 30*time.Second, "the first agent's join token", func() error {
		_, err := c.shoal("token", "--data-dir", first.dataDir)
		return err
	})
	out, _ := c.shoal("token", "--data-dir", first.dataDir)
	join := strings.Fields(strings.TrimSpace(out))
	if len(join) != 5 || join[0] != "shoal" || join[1] != "join" || join[3] != "--token" {
		t.Fatalf("shoal token printed %q, want `shoal join HOST:PORT --token TOKEN`", out)
	}
	for i := 1; i < n; i++ {
		a := c.newAgent(fmt.Sprintf("node-%c", 'a'+i))
		c.run(a, "join", join[2], "--token", join[4])
	}
	kc, err := c.shoal("kubeconfig", "--data-dir", first.dataDir)
	if err != nil {
		t.Fatalf("shoal kubeconfig: %v", err)
	}
	c.kubeconfig = filepath.Join(c.dir, "kubeconfig")
	if err := os.WriteFile(c.kubeconfig, []byte(kc), 0o600); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 60*time.Second, fmt.Sprintf("%d Ready nodes", n), func() error {
		out, err := c.shoal("get", "nodes", "--kubeconfig", c.kubeconfig)
		if err != nil {
			return err
		}
		if got := strings.Count(out, " Ready "); got != n {
			return fmt.Errorf("%d Ready nodes in:\n%s", got, out)
		}
		return nil
	})
	return c
}

func (c *cluster) newAgent(name string) *agent {
	ports := freePorts(c.t, 3)
	a := &agent{name: name, dataDir: filepath.Join(c.dir, name), ip: "127.0.0.1",
		gossip: ports[0], raft: ports[1], api: ports[2], log: &syncBuffer{}, done: make(chan struct{})}
	c.agents = append(c.agents, a)
	return a
}

func (c *cluster) run(a *agent, verb string, args ...string) {
	c.t.Helper()
	full := append([]string{verb}, args...)
	if a.ns == "" {
		// Agents in the machine's own namespace never run pods: pods get
		// addresses only inside test network namespaces.
		full = append(full, "--run-pods=false")
	}
	full = append(full, "--name", a.name, "--data-dir", a.dataDir, "--bind", a.ip,
		"--gossip-port", strconv.Itoa(a.gossip), "--raft-port", strconv.Itoa(a.raft), "--api-port", strconv.Itoa(a.api))
	bin := a.bin
	if bin == "" {
		bin = shoalBin
		// A benchmark may measure another build's agents (an earlier
		// commit's, for before and after) with this tree's client and
		// workload.
		if b := os.Getenv("SHOAL_BENCH_AGENT_BIN"); b != "" {
			bin = b
		}
	}
	a.cmd = command(context.Background(), a.ns, bin, full...)
	a.cmd.Stdout, a.cmd.Stderr = a.log, a.log
	if err := a.cmd.Start(); err != nil {
		c.t.Fatalf("start %s: %v", a.name, err)
	}
	go func() { a.cmd.Wait(); close(a.done) }()
}

// stop ends every agent (SIGTERM, then SIGKILL) and shows the logs of a
// failed test.
func (c *cluster) stop() {
	if c.t.Failed() && c.kubeconfig != "" {
		// What a user would look at first: where the pods are and why.
		out, _ := c.shoal("get", "pods", "-A", "-o", "wide", "--kubeconfig", c.kubeconfig)
		c.t.Logf("--- pods at failure ---\n%s", out)
		out, _ = c.shoal("get", "events", "-A", "--kubeconfig", c.kubeconfig)
		c.t.Logf("--- events at failure ---\n%s", out)
	}
	for _, a := range c.agents {
		if a.cmd == nil || a.cmd.Process == nil {
			continue
		}
		a.cmd.Process.Signal(os.Interrupt)
		select {
		case <-a.done:
		case <-time.After(15 * time.Second):
			a.cmd.Process.Kill()
			<-a.done
		}
		if c.t.Failed() {
			c.t.Logf("--- log of %s ---\n%s", a.name, a.log.String())
			c.t.Logf("--- containerd log of %s (tail) ---\n%s", a.name, fileTail(filepath.Join(a.dataDir, "containerd", "containerd.log"), 8000))
		}
	}
}

// shoal runs the CLI and returns its combined output.
func (c *cluster) shoal(args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := command(ctx, c.clientNS, shoalBin, args...)
	out, err := cmd.CombinedOutput()
	if err != nil {
		return string(out), fmt.Errorf("shoal %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return string(out), nil
}

// mustShoal runs the CLI and fails the test on error.
func (c *cluster) mustShoal(args ...string) string {
	c.t.Helper()
	out, err := c.shoal(args...)
	if err != nil {
		c.t.Fatal(err)
	}
	return out
}

// kubectl runs the machine's kubectl against the cluster, with a private
// cache so discovery is fresh.
func (c *cluster) kubectl(args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	args = append([]string{"--kubeconfig", c.kubeconfig, "--cache-dir", filepath.Join(c.dir, "kube-cache")}, args...)
	cmd := command(ctx, c.clientNS, kubectlBin(), args...)
	cmd.Env = append(os.Environ(), "KUBECACHEDIR="+filepath.Join(c.dir, "kube-cache"), "HOME="+c.dir)
	out, err := cmd.CombinedOutput()
	if err != nil {
		return string(out), fmt.Errorf("kubectl %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return string(out), nil
}

func (c *cluster) mustKubectl(args ...string) string {
	c.t.Helper()
	out, err := c.kubectl(args...)
	if err != nil {
		c.t.Fatal(err)
	}
	return out
}

func waitFor(t testing.TB, timeout time.Duration, what string, cond func() error) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		err := cond()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("waited %s for %s; last: %v", timeout, what, err)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// freePorts: see testcluster.FreePorts (ports an agent binds late must
// not come from the ephemeral range).
func freePorts(t testing.TB, n int) []int { return testcluster.FreePorts(t, n) }

// contains fails unless out has every want.
func contains(t testing.TB, what, out string, wants ...string) {
	t.Helper()
	for _, w := range wants {
		if !strings.Contains(out, w) {
			t.Fatalf("%s: want %q in output:\n%s", what, w, out)
		}
	}
}

// syncBuffer is a buffer a process writes while the test reads it.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

func (b *syncBuffer) Reset() {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.buf.Reset()
}

// kubectlBin is the kubectl the tests drive: $SHOAL_E2E_KUBECTL (the
// version matrix sets kubectl.1.27, kubectl.1.33, ...), else "kubectl".
// The versioned binaries live beside the dispatcher that `kubectl` on PATH
// links to (the google-cloud-cli package), so they are looked up there too.
func kubectlBin() string {
	b := os.Getenv("SHOAL_E2E_KUBECTL")
	if b == "" {
		return "kubectl"
	}
	if _, err := exec.LookPath(b); err == nil {
		return b
	}
	if k, err := exec.LookPath("kubectl"); err == nil {
		if real, err := filepath.EvalSymlinks(k); err == nil {
			if p := filepath.Join(filepath.Dir(real), b); fileExists(p) {
				return p
			}
		}
	}
	return b
}

func fileExists(p string) bool {
	_, err := os.Stat(p)
	return err == nil
}

// fileTail returns the last n bytes of a file, or why it cannot.
func fileTail(path string, n int64) string {
	f, err := os.Open(path)
	if err != nil {
		return err.Error()
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return err.Error()
	}
	off := max(st.Size()-n, 0)
	b := make([]byte, st.Size()-off)
	if _, err := f.ReadAt(b, off); err != nil {
		return err.Error()
	}
	return string(b)
}
