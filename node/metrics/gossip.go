package metrics

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/shoal-project/shoal/node/membership"
)

// GossipSource is what the gossip collector reads (a
// *membership.Membership).
type GossipSource interface {
	Members() []membership.Member
	HealthScore() int
}

// gossipStates are the states members are counted in, every one reported
// (0 included) so that queries need no absent().
var gossipStates = []membership.State{membership.Alive, membership.Suspect, membership.Dead, membership.Left}

// GossipCollector reports this node's gossip view, read at every scrape.
type GossipCollector struct {
	src            GossipSource
	members, score *prometheus.Desc
}

var _ prometheus.Collector = (*GossipCollector)(nil)

// NewGossipCollector reports src's view.
func NewGossipCollector(src GossipSource) *GossipCollector {
	return &GossipCollector{
		src: src,
		members: prometheus.NewDesc("shoal_gossip_members",
			"Cluster members this node's gossip knows, by state (alive, suspect, dead, left); this node included.", []string{"state"}, nil),
		score: prometheus.NewDesc("shoal_gossip_health_score",
			"memberlist's awareness score of this node: 0 is healthy, higher means this node is slow to answer probes.", nil, nil),
	}
}

// Describe sends the gossip descriptors.
func (c *GossipCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- c.members
	ch <- c.score
}

// Collect counts the members by state and reads the health score.
func (c *GossipCollector) Collect(ch chan<- prometheus.Metric) {
	count := map[membership.State]int{}
	for _, m := range c.src.Members() {
		count[m.State]++
	}
	for _, st := range gossipStates {
		ch <- prometheus.MustNewConstMetric(c.members, prometheus.GaugeValue, float64(count[st]), st.String())
	}
	ch <- prometheus.MustNewConstMetric(c.score, prometheus.GaugeValue, float64(c.src.HealthScore()))
}
