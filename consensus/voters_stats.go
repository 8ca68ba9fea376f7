package consensus

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"time"

	"github.com/hashicorp/raft"
)

// The server-stats RPC: the leader's voter manager asks every server how
// far its raft log goes and when it last heard from the leader (autopilot's
// ServerStats), over the forwarding RPC's HTTP on the raft port.
//
//	POST /serverstats  body: {}  -> serverStats
//
// Every node answers, leader or not.

// serverStats is what one server says about its raft state.
type serverStats struct {
	// ID is the answering server's raft id: the leader checks it, so that a
	// different node now at the same address is not taken for the old one.
	ID string `json:"id"`
	// LastContactNanos is how long ago the server last heard from a leader:
	// 0 on the leader, -1 if never.
	LastContactNanos int64 `json:"lastContactNanos"`
	// LastTerm and LastIndex are the term and index of the last entry in
	// the server's log.
	LastTerm  uint64 `json:"lastTerm"`
	LastIndex uint64 `json:"lastIndex"`
}

// localServerStats reads this node's own stats.
func (r *Raft) localServerStats() serverStats {
	s := serverStats{ID: r.cfg.NodeID, LastContactNanos: -1, LastIndex: r.raft.LastIndex()}
	s.LastTerm, _ = strconv.ParseUint(r.raft.Stats()["last_log_term"], 10, 64)
	switch last := r.raft.LastContact(); {
	case r.raft.State() == raft.Leader:
		s.LastContactNanos = 0
	case !last.IsZero():
		s.LastContactNanos = int64(time.Since(last))
	}
	return s
}

func (f *forwarder) handleServerStats(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(f.r.localServerStats())
}

// fetchServerStats asks the server id at addr for its stats.
func (f *forwarder) fetchServerStats(ctx context.Context, id, addr string) (serverStats, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, "http://"+addr+"/serverstats", bytes.NewReader([]byte("{}")))
	if err != nil {
		return serverStats{}, fmt.Errorf("server stats of %s: %w", id, err)
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := f.client.Do(req)
	if err != nil {
		return serverStats{}, fmt.Errorf("server stats of %s at %s: %w", id, addr, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		msg, _ := io.ReadAll(io.LimitReader(resp.Body, 1024))
		return serverStats{}, fmt.Errorf("server stats of %s at %s: %s: %s", id, addr, resp.Status, bytes.TrimSpace(msg))
	}
	var s serverStats
	if err := json.NewDecoder(io.LimitReader(resp.Body, 1<<16)).Decode(&s); err != nil {
		return serverStats{}, fmt.Errorf("server stats of %s at %s: decode: %w", id, addr, err)
	}
	if s.ID != id {
		return serverStats{}, fmt.Errorf("server stats of %s: %s answers as %q", id, addr, s.ID)
	}
	return s, nil
}
