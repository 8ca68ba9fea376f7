package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand"
	"net"
	"net/http"
	"strconv"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
)

// The chaos workload: clients in the nodes' namespaces, each speaking to
// its own node's API with the kubeconfig's credentials, doing quorum reads,
// unconditional writes and compare-and-set on a few ConfigMaps.

const (
	chaosNamespace = "default"
	// chaosOpTimeout bounds one request of the workload and of the probe;
	// the API's own retry window for a missing leader is 5 s.
	chaosOpTimeout = 6 * time.Second
	// probeKey is the register the write probe writes; probeEvery is how
	// often it starts a write.
	probeKey   = "chaos-probe"
	probeEvery = 100 * time.Millisecond
)

// chaosKeys are the workload's registers' ConfigMap names.
var chaosKeys = []string{"chaos-reg-0", "chaos-reg-1", "chaos-reg-2"}

// peerClient is an HTTP client of one peer's API, dialling inside that
// peer's network namespace.
type peerClient struct {
	peer int
	base string
	http *http.Client
	cfg  *rest.Config
}

// newPeerClient makes a client of agent i's API from the cluster's
// kubeconfig (its credentials), with the given request timeout.
func newPeerClient(pc *podCluster, i int, timeout time.Duration) (*peerClient, error) {
	return peerClientIn(pc.kubeconfig, pc.agents[i], pc.lab.nodes[i], i, timeout)
}

// peerClientIn makes a client of agent a's API (peer number i), dialling
// inside network namespace ns.
func peerClientIn(kubeconfig string, a *agent, ns string, i int, timeout time.Duration) (*peerClient, error) {
	cfg, err := clientcmd.BuildConfigFromFlags("", kubeconfig)
	if err != nil {
		return nil, fmt.Errorf("kubeconfig: %w", err)
	}
	cfg.Host = a.apiURL()
	cfg.Dial = dialIn(ns)
	cfg.Timeout = timeout
	cfg.QPS, cfg.Burst = -1, 0
	hc, err := rest.HTTPClientFor(cfg)
	if err != nil {
		return nil, fmt.Errorf("http client for %s: %w", cfg.Host, err)
	}
	return &peerClient{peer: i, base: cfg.Host, http: hc, cfg: cfg}, nil
}

// do sends one request and reads the whole answer.
func (c *peerClient) do(ctx context.Context, method, path, contentType string, body []byte) (int, []byte, error) {
	req, err := http.NewRequestWithContext(ctx, method, c.base+path, bytes.NewReader(body))
	if err != nil {
		return 0, nil, err
	}
	req.Header.Set("Accept", "application/json")
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return resp.StatusCode, nil, fmt.Errorf("read the answer: %w", err)
	}
	return resp.StatusCode, b, nil
}

// classify turns an HTTP outcome into what the client knows of it. A dial
// that failed sent nothing, so it certainly had no effect; any other error
// (timeout, cut connection) and any 5xx may or may not have applied.
// unexpected is set for a status no correct server gives these requests.
func classify(status int, err error) (res regResult, unexpected bool) {
	if err != nil {
		var op *net.OpError
		if errors.As(err, &op) && op.Op == "dial" {
			return resFailed, false
		}
		return resUnknown, false
	}
	switch {
	case status == http.StatusOK || status == http.StatusCreated:
		return resOK, false
	case status == http.StatusConflict:
		return resConflict, false
	case status == http.StatusNotFound:
		return resNotFound, false
	case status >= 500, status == http.StatusRequestTimeout, status == http.StatusTooManyRequests:
		return resUnknown, false
	}
	return resUnknown, true
}

// chaosOp is one operation of the history, timed from the run's start.
type chaosOp struct {
	Client    int
	Peer      int
	In        regInput
	Out       regOutput
	Call, Ret time.Duration
	// Detail is the status or error of a result other than ok.
	Detail string
	// Unexpected marks an answer no correct server gives (e.g. 400).
	Unexpected bool
}

// history collects the operations of every client.
type history struct {
	start time.Time
	mu    sync.Mutex
	ops   []chaosOp
}

func (h *history) now() time.Duration { return time.Since(h.start) }

func (h *history) add(op chaosOp) {
	h.mu.Lock()
	h.ops = append(h.ops, op)
	h.mu.Unlock()
}

func (h *history) all() []chaosOp {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]chaosOp(nil), h.ops...)
}

// regClient is one workload client: a peer, a random source, and the
// object it last saw of each register (its resourceVersion is what its
// cas expects).
type regClient struct {
	id   int
	pc   *peerClient
	h    *history
	rng  *rand.Rand
	last map[string]*corev1.ConfigMap
	seq  int
}

func newRegClient(id int, pc *peerClient, h *history, seed int64) *regClient {
	return &regClient{id: id, pc: pc, h: h, rng: rand.New(rand.NewSource(seed)), last: map[string]*corev1.ConfigMap{}}
}

// lastRV is the resourceVersion of the client's last view of key (0: none).
func (c *regClient) lastRV(key string) uint64 {
	if cm := c.last[key]; cm != nil {
		rv, _ := strconv.ParseUint(cm.ResourceVersion, 10, 64)
		return rv
	}
	return 0
}

// invoke runs one operation against the register and records it.
func (c *regClient) invoke(ctx context.Context, in regInput) regOutput {
	path := "/api/v1/namespaces/" + chaosNamespace + "/configmaps"
	var method, ctype string
	var body []byte
	switch in.Kind {
	case opCreate:
		method, ctype = http.MethodPost, "application/json"
		body = mustJSON(configMap(in.Key, in.Value, 0))
	case opRead:
		method, path = http.MethodGet, path+"/"+in.Key
	case opWrite:
		method, path, ctype = http.MethodPatch, path+"/"+in.Key, "application/merge-patch+json"
		body = mustJSON(map[string]any{"data": map[string]string{"value": in.Value}})
	case opCAS:
		// As a client-go user would: the object as last read, changed,
		// sent back with its resourceVersion as the precondition.
		method, path, ctype = http.MethodPut, path+"/"+in.Key, "application/json"
		cm := configMap(in.Key, in.Value, in.ExpectRV)
		if seen := c.last[in.Key]; seen != nil {
			cm = seen.DeepCopy()
			cm.Data = map[string]string{"value": in.Value}
			cm.ResourceVersion = strconv.FormatUint(in.ExpectRV, 10)
		}
		body = mustJSON(cm)
	}
	op := chaosOp{Client: c.id, Peer: c.pc.peer, In: in, Call: c.h.now()}
	status, raw, err := c.pc.do(ctx, method, path, ctype, body)
	op.Ret = c.h.now()
	op.Out.Result, op.Unexpected = classify(status, err)
	switch {
	case err != nil:
		op.Detail = err.Error()
	case op.Out.Result == resOK:
		var cm corev1.ConfigMap
		if jerr := json.Unmarshal(raw, &cm); jerr != nil {
			op.Out.Result, op.Unexpected, op.Detail = resUnknown, true, fmt.Sprintf("%d with an undecodable body: %v", status, jerr)
			break
		}
		rv, perr := strconv.ParseUint(cm.ResourceVersion, 10, 64)
		if perr != nil {
			op.Out.Result, op.Unexpected, op.Detail = resUnknown, true, fmt.Sprintf("%d with resourceVersion %q", status, cm.ResourceVersion)
			break
		}
		op.Out.Value, op.Out.RV = cm.Data["value"], rv
		c.last[in.Key] = &cm
	default:
		var st metav1.Status
		if json.Unmarshal(raw, &st) == nil && st.Message != "" {
			op.Detail = fmt.Sprintf("%d %s", status, st.Message)
		} else {
			op.Detail = fmt.Sprintf("%d %s", status, truncate(string(raw), 200))
		}
	}
	c.h.add(op)
	return op.Out
}

// run does operations until ctx ends: 40% reads, 30% writes, 30% cas, on a
// random register; half the cas read the register first.
func (c *regClient) run(ctx context.Context) {
	for ctx.Err() == nil {
		key := chaosKeys[c.rng.Intn(len(chaosKeys))]
		c.seq++
		value := fmt.Sprintf("c%d-%d", c.id, c.seq)
		var out regOutput
		switch p := c.rng.Float64(); {
		case p < 0.4:
			out = c.invoke(ctx, regInput{Kind: opRead, Key: key})
		case p < 0.7:
			out = c.invoke(ctx, regInput{Kind: opWrite, Key: key, Value: value})
		default:
			if c.lastRV(key) == 0 || c.rng.Intn(2) == 0 {
				if out = c.invoke(ctx, regInput{Kind: opRead, Key: key}); out.Result != resOK {
					break
				}
			}
			out = c.invoke(ctx, regInput{Kind: opCAS, Key: key, Value: value, ExpectRV: c.lastRV(key)})
		}
		pause := 10 * time.Millisecond
		if out.Result == resUnknown || out.Result == resFailed {
			// A peer that cannot answer is asked again soon, not hammered.
			pause = 250 * time.Millisecond
		}
		select {
		case <-ctx.Done():
		case <-time.After(pause):
		}
	}
}

// probe measures write availability without waiting on itself: every
// probeEvery it starts a write of probeKey, through the peers in turn,
// whether or not the earlier ones have returned (a workload client stuck
// on a request that hangs would hide a leader that is already back).
// Its writes are part of the history, as clients firstID and up (one per
// peer).
func probe(ctx context.Context, peers []*peerClient, h *history, firstID int) {
	var wg sync.WaitGroup
	defer wg.Wait()
	tick := time.NewTicker(probeEvery)
	defer tick.Stop()
	for n := 0; ; n++ {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		peer := n % len(peers)
		c := newRegClient(firstID+peer, peers[peer], h, 0)
		wg.Add(1)
		go func() {
			defer wg.Done()
			c.invoke(ctx, regInput{Kind: opWrite, Key: probeKey, Value: fmt.Sprintf("p%d", n)})
		}()
	}
}

func configMap(name, value string, rv uint64) *corev1.ConfigMap {
	cm := &corev1.ConfigMap{
		TypeMeta:   metav1.TypeMeta{APIVersion: "v1", Kind: "ConfigMap"},
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: chaosNamespace},
		Data:       map[string]string{"value": value},
	}
	if rv > 0 {
		cm.ResourceVersion = strconv.FormatUint(rv, 10)
	}
	return cm
}

func mustJSON(v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	return b
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "..."
}
