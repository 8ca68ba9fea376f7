package consensus

import (
	"context"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync/atomic"
	"time"

	"github.com/shoal-project/shoal/internal/version"
)

// Feature gates, on Nomad's and Consul's model (ServersMeetMinimumVersion):
// a raft command kind or field that older binaries cannot apply is written
// only once every server in the raft configuration (voters and non-voters
// alike: both apply every entry) runs a binary that knows it. The leader
// decides, since only the leader appends entries: RunFeatureGate, one of
// its leader loops, reads each server's version from gossip and turns a
// feature on when all of them are at least the version that introduced it.
//
// A server gossip does not know, or whose version does not parse, holds
// every feature back: an unknown binary may be an old one. A binary that
// meets an entry it cannot apply anyway (an older node added after a
// feature turned on) stops with a panic that says so (fsm.go), never
// skips it: skipping would make its replica diverge.
//
// Adding a feature: declare it below with the release that introduces it,
// use it only where FeatureEnabled says so, and say in docs/upgrades.md
// what waits for it.

// Feature is a raft command kind or field introduced by a shoal release.
type Feature struct {
	// Name is stable: logs, the shoal_raft_feature_enabled metric and
	// docs/upgrades.md use it.
	Name string
	// Since is the release that introduced it.
	Since version.V
	// Summary says what it changes, for logs and docs.
	Summary string
}

// FeatureCompressedEntries lets the leader write large commands as
// msgCompressed entries (fsm_compress.go): less raft log on disk, less to
// replicate and to fsync. A v0.1 binary panics on the type.
var FeatureCompressedEntries = Feature{
	Name:    "compressed-entries",
	Since:   version.V{Major: 0, Minor: 2, Patch: 0},
	Summary: "commands of 4 KiB or more are written to the raft log deflate-compressed",
}

// FeatureFramedCommands lets the leader write commands as msgFramed
// entries (fsm_framed.go): the object's JSON is carried and stored as it
// is, not re-encoded inside the command's JSON at every step. A v0.2
// binary panics on the type.
var FeatureFramedCommands = Feature{
	Name:    "framed-commands",
	Since:   version.V{Major: 0, Minor: 3, Patch: 0},
	Summary: "commands are written to the raft log with the object's JSON beside the command, not inside it",
}

// features lists every gated feature.
var features = []Feature{FeatureCompressedEntries, FeatureFramedCommands}

// Features lists the gated features this binary knows.
func Features() []Feature { return slices.Clone(features) }

// FeatureState is one feature's verdict.
type FeatureState struct {
	Feature Feature
	// Enabled is set when every server runs Feature.Since or newer.
	Enabled bool
	// Waiting lists the servers that hold the feature back, as
	// "id (why)", sorted.
	Waiting []string
}

// evaluateFeatures decides each feature for the raft configuration servers,
// given what gossip knows of each server (by id).
func evaluateFeatures(feats []Feature, servers []Server, known []KnownServer) []FeatureState {
	byID := make(map[string]KnownServer, len(known))
	for _, k := range known {
		byID[k.ID] = k
	}
	out := make([]FeatureState, 0, len(feats))
	for _, f := range feats {
		st := FeatureState{Feature: f}
		for _, s := range servers {
			k, ok := byID[s.ID]
			switch v, err := version.Parse(k.Version); {
			case !ok:
				st.Waiting = append(st.Waiting, s.ID+" (not in gossip)")
			case err != nil:
				st.Waiting = append(st.Waiting, fmt.Sprintf("%s (version %q unreadable)", s.ID, k.Version))
			case !v.AtLeast(f.Since):
				st.Waiting = append(st.Waiting, fmt.Sprintf("%s (%s)", s.ID, k.Version))
			}
		}
		slices.Sort(st.Waiting)
		st.Enabled = len(servers) > 0 && len(st.Waiting) == 0
		out = append(out, st)
	}
	return out
}

// featureGate holds the leader's current verdicts; the zero value has
// every feature off (a follower, or a leader before its first check).
type featureGate struct {
	on atomic.Pointer[map[string]bool]
}

func (g *featureGate) enabled(f Feature) bool {
	m := g.on.Load()
	return m != nil && (*m)[f.Name]
}

func (g *featureGate) set(states []FeatureState) {
	m := make(map[string]bool, len(states))
	for _, s := range states {
		m[s.Feature.Name] = s.Enabled
	}
	g.on.Store(&m)
}

func (g *featureGate) reset() { g.on.Store(nil) }

// FeatureEnabled reports whether this node, as leader, may write f. It is
// false on a follower: only the leader appends entries.
func (r *Raft) FeatureEnabled(f Feature) bool { return r.gate.enabled(f) }

// EnabledFeatures lists the names of the features this leader has turned
// on (none on a follower), sorted.
func (r *Raft) EnabledFeatures() []string {
	var out []string
	for _, f := range features {
		if r.gate.enabled(f) {
			out = append(out, f.Name)
		}
	}
	return out
}

// featureCheckInterval bounds how long a change of the raft configuration
// (which gossip events do not signal) takes to reach the gate.
const featureCheckInterval = time.Second

// RunFeatureGate decides the gated features while this node leads, until
// ctx ends (the node runs it among its leader loops); every feature is then
// off again. It re-decides on every gossip change and every second, and
// logs each feature's state when it starts and whenever it changes.
func (r *Raft) RunFeatureGate(ctx context.Context, src ServerSource, logger *slog.Logger) error {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	defer r.gate.reset()
	events, cancel := src.Subscribe()
	defer cancel()
	tick := time.NewTicker(featureCheckInterval)
	defer tick.Stop()
	var last []FeatureState
	for {
		servers, err := r.Servers()
		if err != nil {
			logger.Debug("feature gate: read raft configuration", "error", err)
		} else {
			states := evaluateFeatures(features, servers, src.KnownServers())
			r.gate.set(states)
			logFeatureChanges(logger, last, states)
			last = states
		}
		select {
		case <-ctx.Done():
			return nil
		case _, ok := <-events:
			if !ok {
				return nil
			}
		case <-tick.C:
		}
	}
}

// logFeatureChanges logs each feature whose verdict differs from prev (all
// of them when prev is nil: a new leader says where it stands).
func logFeatureChanges(logger *slog.Logger, prev, cur []FeatureState) {
	was := make(map[string]FeatureState, len(prev))
	for _, s := range prev {
		was[s.Feature.Name] = s
	}
	for _, s := range cur {
		p, seen := was[s.Feature.Name]
		switch {
		case s.Enabled && (!seen || !p.Enabled):
			logger.Info("feature enabled: every raft server runs a version that knows it",
				"feature", s.Feature.Name, "since", s.Feature.Since.String())
		case !s.Enabled && seen && p.Enabled:
			// Entries already written with it stop any older server
			// that replays them: that server must be upgraded.
			logger.Warn("feature disabled: a raft server runs an older version",
				"feature", s.Feature.Name, "since", s.Feature.Since.String(), "waiting_for", strings.Join(s.Waiting, ", "))
		case !s.Enabled && (!seen || !slices.Equal(p.Waiting, s.Waiting)):
			logger.Info("feature waiting for servers to be upgraded",
				"feature", s.Feature.Name, "since", s.Feature.Since.String(), "waiting_for", strings.Join(s.Waiting, ", "))
		}
	}
}
