package resourcemetrics

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"time"
)

// DefaultNodeTimeout bounds one node's answer; a slower node is left out
// of the answer, as metrics-server leaves out a kubelet it cannot scrape.
const DefaultNodeTimeout = 5 * time.Second

// Summaries fetches a node's Summary. It may block until ctx ends.
type Summaries interface {
	Summary(ctx context.Context, node string) (*Summary, error)
}

// NodeClient fetches Summaries from the nodes' SummaryPath.
type NodeClient struct {
	// NodeAddr returns the API base URL of a node ("https://10.0.0.2:6443");
	// ok is false when the node is unknown.
	NodeAddr func(node string) (apiBaseURL string, ok bool)
	// Transport reaches the nodes (mutual TLS with the node certificate).
	Transport http.RoundTripper
}

var _ Summaries = (*NodeClient)(nil)

// maxSummaryBytes bounds a node's answer (a few hundred bytes per pod).
const maxSummaryBytes = 16 << 20

// Summary implements Summaries.
func (nc *NodeClient) Summary(ctx context.Context, node string) (*Summary, error) {
	base, ok := nc.NodeAddr(node)
	if !ok {
		return nil, fmt.Errorf("node %q: no address known", node)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, strings.TrimSuffix(base, "/")+SummaryPath, nil)
	if err != nil {
		return nil, fmt.Errorf("node %q: %w", node, err)
	}
	req.Header.Set("Accept", "application/json")
	resp, err := (&http.Client{Transport: nc.Transport}).Do(req)
	if err != nil {
		return nil, fmt.Errorf("node %q: %w", node, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxSummaryBytes))
	if err != nil {
		return nil, fmt.Errorf("node %q: read summary: %w", node, err)
	}
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("node %q: summary: %s: %s", node, resp.Status, strings.TrimSpace(string(body)))
	}
	var s Summary
	if err := json.Unmarshal(body, &s); err != nil {
		return nil, fmt.Errorf("node %q: decode summary: %w", node, err)
	}
	return &s, nil
}

// fetchAll asks every node at once, each within timeout, and returns the
// Summaries of those that answered; the others are logged and left out.
func fetchAll(ctx context.Context, src Summaries, nodes []string, timeout time.Duration, log *slog.Logger) map[string]*Summary {
	out := make(map[string]*Summary, len(nodes))
	var mu sync.Mutex
	var wg sync.WaitGroup
	for _, n := range nodes {
		wg.Add(1)
		go func() {
			defer wg.Done()
			nctx, cancel := context.WithTimeout(ctx, timeout)
			defer cancel()
			s, err := src.Summary(nctx, n)
			if err != nil {
				log.Debug("node summary unavailable", "node_name", n, "error", err)
				return
			}
			mu.Lock()
			out[n] = s
			mu.Unlock()
		}()
	}
	wg.Wait()
	return out
}
