package kubelet

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/intstr"

	"github.com/shoal-project/shoal/runtime"
)

// probeKind names a probe as the kubelet's events do.
type probeKind string

const (
	liveness  probeKind = "liveness"
	readiness probeKind = "readiness"
	startup   probeKind = "startup"
)

// probeResult is a probe's settled result.
type probeResult int

const (
	resultUnknown probeResult = iota
	resultSuccess
	resultFailure
)

type probeKey struct {
	id   string // container id
	kind probeKind
}

// prober runs the probes of one pod: a goroutine per (container, probe),
// started when the container runs and stopped when it does not. A change
// of a settled result wakes the pod worker, which reads the results
// (readiness, started) and acts on failures (liveness, startup).
type prober struct {
	w *podWorker

	mu      sync.Mutex
	cancels map[probeKey]context.CancelFunc
	state   map[probeKey]probeResult
	wg      sync.WaitGroup
}

func newProber(w *podWorker) *prober {
	return &prober{w: w, cancels: map[probeKey]context.CancelFunc{}, state: map[probeKey]probeResult{}}
}

// probeClient is the HTTP client of httpGet probes: no keep-alives, and
// certificates are not checked (as the kubelet does).
var probeClient = &http.Client{
	Transport: &http.Transport{
		DisableKeepAlives: true,
		TLSClientConfig:   &tls.Config{InsecureSkipVerify: true}, //nolint:gosec // kubelet probes skip verification
		Proxy:             nil,
	},
	CheckRedirect: func(req *http.Request, via []*http.Request) error {
		if len(via) >= 10 {
			return errors.New("stopped after 10 redirects")
		}
		return nil
	},
}

func probeOf(c *corev1.Container, kind probeKind) *corev1.Probe {
	switch kind {
	case liveness:
		return c.LivenessProbe
	case readiness:
		return c.ReadinessProbe
	case startup:
		return c.StartupProbe
	}
	return nil
}

// sync starts the probe goroutines of running containers and stops those
// of containers that are not running any more.
func (p *prober) sync(ctx context.Context, pod *corev1.Pod, latest map[string]*runtime.ContainerStatus) {
	want := map[probeKey]bool{}
	p.mu.Lock()
	defer p.mu.Unlock()
	for i := range pod.Spec.Containers {
		c := &pod.Spec.Containers[i]
		cs := latest[c.Name]
		if cs == nil || cs.State != runtime.StateRunning || p.w.killedForProbe[cs.ID] {
			continue
		}
		for _, kind := range []probeKind{startup, readiness, liveness} {
			probe := probeOf(c, kind)
			if probe == nil {
				continue
			}
			key := probeKey{id: cs.ID, kind: kind}
			want[key] = true
			if _, ok := p.cancels[key]; ok {
				continue
			}
			pctx, cancel := context.WithCancel(ctx)
			p.cancels[key] = cancel
			podIP := p.w.podIP(pod)
			p.wg.Go(func() { p.run(pctx, key, pod, c, probe, cs.StartedAt, podIP) })
		}
	}
	for key, cancel := range p.cancels {
		if !want[key] {
			cancel()
			delete(p.cancels, key)
		}
	}
	live := map[string]bool{}
	for _, cs := range latest {
		live[cs.ID] = true
	}
	for key := range p.state {
		if !live[key.id] {
			delete(p.state, key)
		}
	}
	for id := range p.w.killedForProbe {
		if !live[id] {
			delete(p.w.killedForProbe, id)
		}
	}
}

// stop ends the probes of one container.
func (p *prober) stop(id string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for key, cancel := range p.cancels {
		if key.id == id {
			cancel()
			delete(p.cancels, key)
		}
	}
}

// stopAll ends every probe and waits for the goroutines.
func (p *prober) stopAll() {
	p.mu.Lock()
	for key, cancel := range p.cancels {
		cancel()
		delete(p.cancels, key)
	}
	p.mu.Unlock()
	p.wg.Wait()
}

// results are the ready and started flags of the running containers, by
// container id.
func (p *prober) results(pod *corev1.Pod, latest map[string]*runtime.ContainerStatus) (ready, started map[string]bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	ready, started = map[string]bool{}, map[string]bool{}
	for _, c := range pod.Spec.InitContainers {
		if cs := latest[c.Name]; cs != nil && cs.State == runtime.StateRunning {
			started[cs.ID] = true
		}
	}
	for _, c := range pod.Spec.Containers {
		cs := latest[c.Name]
		if cs == nil || cs.State != runtime.StateRunning {
			continue
		}
		s := c.StartupProbe == nil || p.state[probeKey{cs.ID, startup}] == resultSuccess
		started[cs.ID] = s
		ready[cs.ID] = s && (c.ReadinessProbe == nil || p.state[probeKey{cs.ID, readiness}] == resultSuccess)
	}
	return ready, started
}

// failed reports whether a container's liveness or startup probe settled
// on failure.
func (p *prober) failed(id string) bool { return p.failedKind(id) != "" }

func (p *prober) failedKind(id string) probeKind {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, kind := range []probeKind{liveness, startup} {
		if p.state[probeKey{id, kind}] == resultFailure {
			return kind
		}
	}
	return ""
}

func (p *prober) get(key probeKey) probeResult {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.state[key]
}

// set records a settled result and wakes the worker when it changed.
func (p *prober) set(key probeKey, r probeResult) {
	p.mu.Lock()
	changed := p.state[key] != r
	p.state[key] = r
	p.mu.Unlock()
	if changed {
		p.w.wake()
	}
}

// run probes one container periodically until ctx ends; a liveness or
// startup probe ends once it settles on failure (the container is then
// restarted and gets new probes).
func (p *prober) run(ctx context.Context, key probeKey, pod *corev1.Pod, c *corev1.Container, probe *corev1.Probe, startedAt time.Time, podIP string) {
	period := time.Duration(max(probe.PeriodSeconds, 1)) * time.Second
	successThreshold := max(probe.SuccessThreshold, 1)
	failureThreshold := max(probe.FailureThreshold, 1)
	if key.kind == liveness {
		p.set(key, resultSuccess)
	}
	delay := time.Until(startedAt.Add(time.Duration(probe.InitialDelaySeconds) * time.Second))
	if startedAt.IsZero() {
		delay = time.Duration(probe.InitialDelaySeconds) * time.Second
	}
	t := time.NewTimer(max(delay, 0))
	defer t.Stop()
	successes, failures := int32(0), int32(0)
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		t.Reset(period)
		if key.kind != startup && c.StartupProbe != nil && p.get(probeKey{key.id, startup}) != resultSuccess {
			continue // liveness and readiness wait for the startup probe
		}
		ok, out := p.probe(ctx, probe, c, key.id, podIP)
		if ctx.Err() != nil {
			return
		}
		if ok {
			successes, failures = successes+1, 0
			if successes >= successThreshold {
				p.set(key, resultSuccess)
				if key.kind == startup {
					return
				}
			}
			continue
		}
		successes, failures = 0, failures+1
		kindName := strings.ToUpper(string(key.kind[:1])) + string(key.kind[1:])
		p.w.k.events.record(pod, containerField(pod, c.Name), corev1.EventTypeWarning, reasonUnhealthy,
			fmt.Sprintf("%s probe failed: %s", kindName, out))
		if failures >= failureThreshold {
			p.set(key, resultFailure)
			if key.kind != readiness {
				return
			}
		}
	}
}

// probe runs one probe once: ok, or the failure's output.
func (p *prober) probe(ctx context.Context, probe *corev1.Probe, c *corev1.Container, id, podIP string) (bool, string) {
	timeout := time.Duration(max(probe.TimeoutSeconds, 1)) * time.Second
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	switch h := probe.ProbeHandler; {
	case h.Exec != nil:
		var out bytes.Buffer
		code, err := p.w.k.rt.Exec(ctx, id, h.Exec.Command, runtime.ExecStreams{Stdout: &out, Stderr: &out})
		if err != nil {
			if errors.Is(ctx.Err(), context.DeadlineExceeded) {
				return false, fmt.Sprintf("command %q timed out", strings.Join(h.Exec.Command, " "))
			}
			return false, err.Error()
		}
		if code != 0 {
			msg := strings.TrimSpace(out.String())
			if msg == "" {
				msg = fmt.Sprintf("command %q exited with %d", strings.Join(h.Exec.Command, " "), code)
			}
			return false, msg
		}
		return true, ""
	case h.HTTPGet != nil:
		return httpProbe(ctx, h.HTTPGet, c, podIP)
	case h.TCPSocket != nil:
		host := h.TCPSocket.Host
		if host == "" {
			host = podIP
		}
		port, err := probePort(h.TCPSocket.Port, c)
		if err != nil {
			return false, err.Error()
		}
		var d net.Dialer
		conn, err := d.DialContext(ctx, "tcp", net.JoinHostPort(host, strconv.Itoa(port)))
		if err != nil {
			return false, err.Error()
		}
		conn.Close()
		return true, ""
	}
	// gRPC probes are not implemented: they count as passing.
	return true, ""
}

func httpProbe(ctx context.Context, g *corev1.HTTPGetAction, c *corev1.Container, podIP string) (bool, string) {
	host := g.Host
	if host == "" {
		host = podIP
	}
	port, err := probePort(g.Port, c)
	if err != nil {
		return false, err.Error()
	}
	scheme := strings.ToLower(string(g.Scheme))
	if scheme == "" {
		scheme = "http"
	}
	path := g.Path
	if !strings.HasPrefix(path, "/") {
		path = "/" + path
	}
	url := fmt.Sprintf("%s://%s%s", scheme, net.JoinHostPort(host, strconv.Itoa(port)), path)
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return false, err.Error()
	}
	req.Header.Set("User-Agent", "kube-probe/1.37")
	req.Header.Set("Accept", "*/*")
	for _, h := range g.HTTPHeaders {
		if strings.EqualFold(h.Name, "Host") {
			req.Host = h.Value
			continue
		}
		req.Header.Add(h.Name, h.Value)
	}
	resp, err := probeClient.Do(req)
	if err != nil {
		return false, err.Error()
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 10*1024))
	if resp.StatusCode >= http.StatusOK && resp.StatusCode < http.StatusBadRequest {
		return true, ""
	}
	return false, fmt.Sprintf("HTTP probe failed with statuscode: %d", resp.StatusCode)
}

// probePort resolves a probe's port, by number or by the name of one of
// the container's ports.
func probePort(p intstr.IntOrString, c *corev1.Container) (int, error) {
	if p.Type == intstr.Int {
		if p.IntVal <= 0 || p.IntVal > 65535 {
			return 0, fmt.Errorf("invalid port number: %d", p.IntVal)
		}
		return int(p.IntVal), nil
	}
	for _, cp := range c.Ports {
		if cp.Name == p.StrVal {
			return int(cp.ContainerPort), nil
		}
	}
	if n, err := strconv.Atoi(p.StrVal); err == nil && n > 0 && n <= 65535 {
		return n, nil
	}
	return 0, fmt.Errorf("couldn't find port: %v in %v", p.StrVal, c.Name)
}
