package e2e

import (
	"context"
	"fmt"
	"io"
	"net"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"
	"k8s.io/utils/ptr"
)

// scaleLab is one real node with many Services: selector-less ClusterIP
// Services, each with an Endpoints object of three addresses that nothing
// dials (10.42.128.0/17, inside the node's namespace only).
type scaleLab struct {
	t   testing.TB
	pc  *podCluster
	cs  kubernetes.Interface
	ctx context.Context
}

func newScaleLab(t testing.TB) *scaleLab {
	pc := startPodCluster(t, 1)
	cfg, err := clientcmd.BuildConfigFromFlags("", pc.kubeconfig)
	if err != nil {
		t.Fatal(err)
	}
	cfg.Host = pc.agents[0].apiURL()
	cfg.Dial = dialIn(pc.lab.nodes[0])
	cfg.QPS, cfg.Burst = -1, 0
	return &scaleLab{t: t, pc: pc, cs: kubernetes.NewForConfigOrDie(cfg), ctx: context.Background()}
}

func scaleServiceName(i int) string { return fmt.Sprintf("scale-%05d", i) }

// endpointsOf is the Endpoints of a selector-less Service: addresses ips,
// port 8080 named http.
func endpointsOf(name string, ips ...string) *corev1.Endpoints {
	var addrs []corev1.EndpointAddress
	for _, ip := range ips {
		addrs = append(addrs, corev1.EndpointAddress{IP: ip})
	}
	return &corev1.Endpoints{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "default"},
		Subsets: []corev1.EndpointSubset{{Addresses: addrs, Ports: []corev1.EndpointPort{{Name: "http", Port: 8080, Protocol: corev1.ProtocolTCP}}}}}
}

func scaleEndpointIPs(i int) []string {
	var ips []string
	for e := range 3 {
		k := i*3 + e
		ips = append(ips, fmt.Sprintf("10.42.%d.%d", 128+k/250, k%250+2))
	}
	return ips
}

// createService makes one selector-less Service (port 80 named http) and
// its Endpoints; it returns the ClusterIP.
func (l *scaleLab) createService(name string, ips ...string) (string, error) {
	svc := &corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "default"},
		Spec: corev1.ServiceSpec{Ports: []corev1.ServicePort{{Name: "http", Port: 80, Protocol: corev1.ProtocolTCP, TargetPort: intstr.FromInt32(8080)}}}}
	made, err := l.cs.CoreV1().Services("default").Create(l.ctx, svc, metav1.CreateOptions{})
	if err != nil {
		return "", fmt.Errorf("create service %s: %w", name, err)
	}
	if _, err := l.cs.CoreV1().Endpoints("default").Create(l.ctx, endpointsOf(name, ips...), metav1.CreateOptions{}); err != nil {
		return "", fmt.Errorf("create endpoints %s: %w", name, err)
	}
	return made.Spec.ClusterIP, nil
}

// createServices makes n Services with 32 writers.
func (l *scaleLab) createServices(n int) {
	l.t.Helper()
	var next atomic.Int64
	var wg sync.WaitGroup
	errs := make(chan error, 32)
	for range 32 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1)) - 1
				if i >= n {
					return
				}
				if _, err := l.createService(scaleServiceName(i), scaleEndpointIPs(i)...); err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		l.t.Fatal(err)
	}
}

// programmed counts the Service entries in the node's service-ips map
// (Services with ready endpoints).
func (l *scaleLab) programmed() (int, error) {
	out, err := l.pc.sh(0, "nft list map ip shoal service-ips")
	if err != nil {
		return 0, fmt.Errorf("nft list map: %v: %s", err, out)
	}
	return strings.Count(out, "goto svc-"), nil
}

// waitProgrammed waits until at least n Services are in the map.
func (l *scaleLab) waitProgrammed(n int, timeout time.Duration) time.Duration {
	l.t.Helper()
	start := time.Now()
	waitFor(l.t, timeout, fmt.Sprintf("%d Services in the node's rules", n), func() error {
		got, err := l.programmed()
		if err != nil {
			return err
		}
		if got < n {
			return fmt.Errorf("%d of %d programmed", got, n)
		}
		return nil
	})
	return time.Since(start)
}

// netlinkErrors returns the lines of the agent's log that report a failed
// sync of the Service proxy or a netlink error.
func (l *scaleLab) netlinkErrors() []string {
	var bad []string
	for _, line := range strings.Split(l.pc.agents[0].log.String(), "\n") {
		if strings.Contains(line, "netlink") || strings.Contains(line, "service proxy sync failed") ||
			strings.Contains(line, "table update refused") {
			bad = append(bad, line)
		}
	}
	return bad
}

func scaleCount(def int) int {
	if v, err := strconv.Atoi(os.Getenv("SHOAL_E2E_SERVICES")); err == nil && v > 0 {
		return v
	}
	return def
}

// TestServicesAtScale is issue 12's test of the Service proxy: 10,000
// ClusterIP Services with 3 endpoints each (SHOAL_E2E_SERVICES changes
// the number) are programmed into the node's nftables; then a Service
// added is reachable through its ClusterIP within a second, an endpoint
// removed is gone from the rules within a second, and the agent's log
// holds no netlink error.
func TestServicesAtScale(t *testing.T) {
	if testing.Short() {
		t.Skip("e2e: skipped in -short")
	}
	l := newScaleLab(t)
	n := scaleCount(10000)
	start := time.Now()
	l.createServices(n)
	created := time.Since(start)
	took := l.waitProgrammed(n, 2*time.Minute)
	t.Logf("%d Services and Endpoints created in %v; all programmed %v after the last", n, created.Round(time.Millisecond), took.Round(time.Millisecond))

	// A Service added now answers through its ClusterIP within a second.
	// Its endpoint is a bootcamp pod, started first; the client is the
	// node itself, whose route to the Service CIDR goes through the pod
	// bridge once the first pod made it.
	pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "probe", Namespace: "default", Labels: map[string]string{"app": "probe"}},
		// Without service links: 10,000 Services are 70,000 environment
		// variables, past what exec takes (as in Kubernetes, where such
		// pods fail with "argument list too long").
		Spec: corev1.PodSpec{EnableServiceLinks: ptr.To(false), Containers: []corev1.Container{{Name: "web", Image: "gcr.io/google-samples/kubernetes-bootcamp:v1",
			Ports: []corev1.ContainerPort{{ContainerPort: 8080}}}}}}
	if _, err := l.cs.CoreV1().Pods("default").Create(l.ctx, pod, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	l.pc.waitPod("default", "probe", "Running", 2*time.Minute)
	waitFor(t, 30*time.Second, "the node's route to the Service CIDR", func() error {
		out, err := l.pc.sh(0, "ip route show 10.43.0.0/16")
		if err != nil || !strings.Contains(out, "10.43.0.0/16") {
			return fmt.Errorf("ip route: %v %s", err, out)
		}
		return nil
	})
	dial := dialIn(l.pc.lab.nodes[0])
	added := time.Now()
	probe := &corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: "probe", Namespace: "default"},
		Spec: corev1.ServiceSpec{Selector: map[string]string{"app": "probe"},
			Ports: []corev1.ServicePort{{Port: 80, Protocol: corev1.ProtocolTCP, TargetPort: intstr.FromInt32(8080)}}}}
	made, err := l.cs.CoreV1().Services("default").Create(l.ctx, probe, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	clusterIP := made.Spec.ClusterIP
	var reached time.Duration
	var last error
	for {
		if last = askBootcamp(l.ctx, dial, net.JoinHostPort(clusterIP, "80")); last == nil {
			reached = time.Since(added)
			break
		}
		if time.Since(added) > 10*time.Second {
			eps, err := l.cs.CoreV1().Endpoints("default").Get(l.ctx, "probe", metav1.GetOptions{})
			rules, _ := l.pc.sh(0, "nft list chain ip shoal svc-default/probe/tcp/80")
			t.Fatalf("the new Service at %s:80 did not answer within 10s (last: %v)\nits Endpoints: %+v (%v)\nits chain: %s\nthe agent's log:\n%s",
				clusterIP, last, eps, err, rules, tail(l.pc.agents[0].log.String(), 6000))
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Logf("a Service added at %d answered through its ClusterIP %v after its creation", n, reached.Round(time.Millisecond))
	if reached > time.Second {
		t.Errorf("the new Service answered %v after its creation, want within 1s", reached)
	}

	// One endpoint of a Service in the middle removed: gone from the
	// rules within a second.
	name := scaleServiceName(n / 2)
	ips := scaleEndpointIPs(n / 2)
	removed := time.Now()
	if _, err := l.cs.CoreV1().Endpoints("default").Update(l.ctx, endpointsOf(name, ips[1:]...), metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	chain := "svc-default/" + name + "/tcp/80"
	var gone time.Duration
	for {
		out, err := l.pc.sh(0, "nft list chain ip shoal "+chain)
		if err != nil {
			t.Fatalf("nft list chain %s: %v\n%s", chain, err, out)
		}
		if !strings.Contains(out, ips[0]) && strings.Contains(out, ips[1]) {
			gone = time.Since(removed)
			break
		}
		if time.Since(removed) > 5*time.Second {
			t.Fatalf("endpoint %s still in %s 5s after its removal:\n%s", ips[0], chain, out)
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Logf("an endpoint removed at %d was gone from the rules %v later", n, gone.Round(time.Millisecond))
	if gone > time.Second {
		t.Errorf("the removed endpoint left the rules %v after the change, want within 1s", gone)
	}
	if bad := l.netlinkErrors(); len(bad) > 0 {
		t.Errorf("the agent's log holds %d netlink or proxy sync errors, first:\n%s", len(bad), bad[0])
	}
}

// askBootcamp sends one HTTP request to addr and checks the bootcamp
// pod's answer.
func askBootcamp(ctx context.Context, dial func(context.Context, string, string) (net.Conn, error), addr string) error {
	ctx, cancel := context.WithTimeout(ctx, 500*time.Millisecond)
	defer cancel()
	c, err := dial(ctx, "tcp", addr)
	if err != nil {
		return err
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(500 * time.Millisecond))
	if _, err := io.WriteString(c, "GET / HTTP/1.0\r\n\r\n"); err != nil {
		return err
	}
	b, err := io.ReadAll(c)
	if !strings.Contains(string(b), "Hello Kubernetes bootcamp!") {
		return fmt.Errorf("answer %q (%v), want the bootcamp's greeting", b, err)
	}
	return nil
}

// BenchmarkServicesAtScale measures the Service proxy inside a real agent
// (as root, one node in a test network namespace) with SHOAL_E2E_SERVICES
// Services (default 10,000) of 3 endpoints each: how long after the last
// Service's creation all are programmed, how long one endpoint's removal
// takes to leave the rules, and the agent's CPU while idle
// (SHOAL_BENCH_IDLE_SECONDS, default 60) with that many Services.
//
//	make bench BENCH=ServicesAtScale
func BenchmarkServicesAtScale(b *testing.B) {
	l := newScaleLab(b)
	n := scaleCount(10000)
	start := time.Now()
	l.createServices(n)
	b.ReportMetric(time.Since(start).Seconds(), "s-create")
	b.ReportMetric(l.waitProgrammed(n, 5*time.Minute).Seconds(), "s-programmed-after-last")

	name := scaleServiceName(n / 2)
	ips := scaleEndpointIPs(n / 2)
	removed := time.Now()
	if _, err := l.cs.CoreV1().Endpoints("default").Update(l.ctx, endpointsOf(name, ips[1:]...), metav1.UpdateOptions{}); err != nil {
		b.Fatal(err)
	}
	waitFor(b, 30*time.Second, "the endpoint gone from the rules", func() error {
		out, err := l.pc.sh(0, "nft list chain ip shoal svc-default/"+name+"/tcp/80")
		if err != nil || strings.Contains(out, ips[0]) {
			return fmt.Errorf("%v: %s", err, out)
		}
		return nil
	})
	b.ReportMetric(float64(time.Since(removed).Milliseconds()), "ms-one-change")

	idle := time.Duration(benchEnvInt("SHOAL_BENCH_IDLE_SECONDS", 60)) * time.Second
	time.Sleep(5 * time.Second) // let the change's aftermath settle
	before, err := procCPU(l.pc.agents[0].cmd.Process.Pid)
	if err != nil {
		b.Fatal(err)
	}
	time.Sleep(idle)
	after, err := procCPU(l.pc.agents[0].cmd.Process.Pid)
	if err != nil {
		b.Fatal(err)
	}
	b.ReportMetric(100*(after-before).Seconds()/idle.Seconds(), "%core-idle")
	if bad := l.netlinkErrors(); len(bad) > 0 {
		b.Errorf("the agent's log holds %d netlink or proxy sync errors, first:\n%s", len(bad), bad[0])
	}
}
