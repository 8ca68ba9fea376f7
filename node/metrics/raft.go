package metrics

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/shoal-project/shoal/consensus"
)

// RaftSource is what the raft collector reads (a *consensus.Raft).
type RaftSource interface {
	Status() consensus.RaftStatus
}

// RaftCollector reports this node's raft state, read at every scrape.
type RaftCollector struct {
	src RaftSource

	state, term, lastLog, commit, applied, lastContact, voters, nonVoters *prometheus.Desc
	feature, compressed, framed                                           *prometheus.Desc
}

var _ prometheus.Collector = (*RaftCollector)(nil)

// NewRaftCollector reports src's state.
func NewRaftCollector(src RaftSource) *RaftCollector {
	d := func(name, help string, labels ...string) *prometheus.Desc {
		return prometheus.NewDesc("shoal_raft_"+name, help, labels, nil)
	}
	return &RaftCollector{
		src:         src,
		state:       d("state", "Whether this node's raft is in the given state (1) or not (0).", "state"),
		term:        d("term", "This node's current raft term."),
		lastLog:     d("last_log_index", "Index of the last entry in this node's raft log."),
		commit:      d("commit_index", "Index of the last raft entry this node knows committed."),
		applied:     d("applied_index", "Index of the last raft entry this node applied to its store."),
		lastContact: d("last_contact_seconds", "Seconds since this node last heard from the raft leader (0 on the leader; absent when it never did)."),
		voters:      d("voters", "Voters in the latest raft configuration."),
		nonVoters:   d("nonvoters", "Non-voters in the latest raft configuration."),
		feature:     d("feature_enabled", "Whether this node, as leader, writes the version-gated raft feature (1) or not (0; always 0 on a follower).", "feature"),
		compressed:  d("compressed_entries_applied_total", "Compressed raft entries this node's store applied since the agent started."),
		framed:      d("framed_entries_applied_total", "Framed raft entries (the framed-commands feature) this node's store applied since the agent started."),
	}
}

// Describe sends the raft descriptors.
func (c *RaftCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{c.state, c.term, c.lastLog, c.commit, c.applied, c.lastContact, c.voters, c.nonVoters, c.feature, c.compressed, c.framed} {
		ch <- d
	}
}

// Collect reads the raft status once and sends the gauges.
func (c *RaftCollector) Collect(ch chan<- prometheus.Metric) {
	s := c.src.Status()
	for _, st := range consensus.RaftStates {
		ch <- prometheus.MustNewConstMetric(c.state, prometheus.GaugeValue, boolValue(s.State == st), st)
	}
	gauge := func(d *prometheus.Desc, v float64) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v)
	}
	gauge(c.term, float64(s.Term))
	gauge(c.lastLog, float64(s.LastLogIndex))
	gauge(c.commit, float64(s.CommitIndex))
	gauge(c.applied, float64(s.AppliedIndex))
	if s.LastContact >= 0 {
		gauge(c.lastContact, s.LastContact.Seconds())
	}
	gauge(c.voters, float64(s.Voters))
	gauge(c.nonVoters, float64(s.NonVoters))
	for name, on := range s.Features {
		ch <- prometheus.MustNewConstMetric(c.feature, prometheus.GaugeValue, boolValue(on), name)
	}
	ch <- prometheus.MustNewConstMetric(c.compressed, prometheus.CounterValue, float64(s.CompressedApplied))
	ch <- prometheus.MustNewConstMetric(c.framed, prometheus.CounterValue, float64(s.FramedApplied))
}

func boolValue(b bool) float64 {
	if b {
		return 1
	}
	return 0
}
