package metrics

import (
	"bytes"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	gometrics "github.com/hashicorp/go-metrics"
	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/shoal-project/shoal/consensus"
	"github.com/shoal-project/shoal/node/membership"
)

type fakeRaft consensus.RaftStatus

func (f fakeRaft) Status() consensus.RaftStatus { return consensus.RaftStatus(f) }

type fakeGossip struct {
	members []membership.Member
	score   int
}

func (f fakeGossip) Members() []membership.Member { return f.members }
func (f fakeGossip) HealthScore() int             { return f.score }

// gather collects c through a registry and returns each sample as
// "name{label=value,...}" -> value.
func gather(t *testing.T, c prometheus.Collector) map[string]float64 {
	t.Helper()
	reg := prometheus.NewPedanticRegistry()
	reg.MustRegister(c)
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatalf("gather: %v", err)
	}
	out := map[string]float64{}
	for _, mf := range mfs {
		for _, m := range mf.Metric {
			v := m.GetGauge().GetValue()
			if c := m.GetCounter(); c != nil {
				v = c.GetValue()
			}
			out[sampleKey(mf.GetName(), m)] = v
		}
	}
	return out
}

func sampleKey(name string, m *dto.Metric) string {
	var ls []string
	for _, l := range m.Label {
		ls = append(ls, l.GetName()+"="+l.GetValue())
	}
	return name + "{" + strings.Join(ls, ",") + "}"
}

func TestRaftCollector(t *testing.T) {
	tests := []struct {
		name   string
		status consensus.RaftStatus
		want   map[string]float64
		absent []string
	}{
		{
			name: "leader",
			status: consensus.RaftStatus{State: "leader", Term: 4, LastLogIndex: 120, CommitIndex: 119, AppliedIndex: 118, Voters: 3, NonVoters: 2,
				Features: map[string]bool{"compressed-entries": true, "other": false}, CompressedApplied: 7},
			want: map[string]float64{
				"shoal_raft_state{state=leader}": 1, "shoal_raft_state{state=follower}": 0,
				"shoal_raft_state{state=candidate}": 0, "shoal_raft_state{state=shutdown}": 0,
				"shoal_raft_term{}": 4, "shoal_raft_last_log_index{}": 120, "shoal_raft_commit_index{}": 119,
				"shoal_raft_applied_index{}": 118, "shoal_raft_last_contact_seconds{}": 0,
				"shoal_raft_voters{}": 3, "shoal_raft_nonvoters{}": 2,
				"shoal_raft_feature_enabled{feature=compressed-entries}": 1, "shoal_raft_feature_enabled{feature=other}": 0,
				"shoal_raft_compressed_entries_applied_total{}": 7,
			},
		},
		{
			name:   "follower heard 1.5s ago",
			status: consensus.RaftStatus{State: "follower", Term: 4, LastContact: 1500 * time.Millisecond},
			want:   map[string]float64{"shoal_raft_state{state=leader}": 0, "shoal_raft_state{state=follower}": 1, "shoal_raft_last_contact_seconds{}": 1.5},
		},
		{
			name:   "never heard from a leader",
			status: consensus.RaftStatus{State: "candidate", LastContact: -1},
			want:   map[string]float64{"shoal_raft_state{state=candidate}": 1},
			absent: []string{"shoal_raft_last_contact_seconds{}"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := gather(t, NewRaftCollector(fakeRaft(tt.status)))
			for k, v := range tt.want {
				if g, ok := got[k]; !ok || g != v {
					t.Errorf("%s: expected %v, seen %v (present %v)", k, v, g, ok)
				}
			}
			for _, k := range tt.absent {
				if g, ok := got[k]; ok {
					t.Errorf("%s: expected absent, seen %v", k, g)
				}
			}
		})
	}
}

func TestGossipCollector(t *testing.T) {
	g := fakeGossip{score: 2, members: []membership.Member{
		{Name: "a", State: membership.Alive}, {Name: "b", State: membership.Alive},
		{Name: "c", State: membership.Dead}, {Name: "d", State: membership.Left},
	}}
	want := map[string]float64{
		"shoal_gossip_members{state=alive}": 2, "shoal_gossip_members{state=suspect}": 0,
		"shoal_gossip_members{state=dead}": 1, "shoal_gossip_members{state=left}": 1,
		"shoal_gossip_health_score{}": 2,
	}
	got := gather(t, NewGossipCollector(g))
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s: expected %v, seen %v", k, v, got[k])
		}
	}
	if len(got) != len(want) {
		t.Errorf("expected %d samples, seen %d: %v", len(want), len(got), got)
	}
}

// TestRegisterTwice: a part built again on the same registry gets the
// collector already registered, so its counts carry on; nil registers
// nothing.
func TestRegisterTwice(t *testing.T) {
	reg := NewRegistry()
	opts := prometheus.CounterOpts{Name: "test_things_total", Help: "Things."}
	first := Register(reg, prometheus.NewCounter(opts))
	first.Add(3)
	second := Register(reg, prometheus.NewCounter(opts))
	if second != first {
		t.Fatalf("second registration: expected the first counter back, seen a new one")
	}
	if v := counterValue(t, second); v != 3 {
		t.Errorf("counter after re-registration: expected 3, seen %v", v)
	}
	if c := Register[prometheus.Counter](nil, prometheus.NewCounter(opts)); c == nil {
		t.Errorf("nil registerer: expected the collector back, seen nil")
	}
}

// TestRegisterClashLogged: a collector that cannot be registered (a name
// taken by another type, or by the same type with other labels) is
// returned unregistered and the error is logged.
func TestRegisterClashLogged(t *testing.T) {
	var buf bytes.Buffer
	defer slog.SetDefault(slog.Default())
	slog.SetDefault(slog.New(slog.NewTextHandler(&buf, nil)))
	reg := NewRegistry()
	Register(reg, prometheus.NewCounter(prometheus.CounterOpts{Name: "test_clash_total", Help: "Clash."}))
	for _, tc := range []struct {
		name     string
		register func()
	}{
		{"another type", func() {
			Register(reg, prometheus.NewGauge(prometheus.GaugeOpts{Name: "test_clash_total", Help: "Clash."}))
		}},
		{"other labels", func() {
			Register(reg, prometheus.NewCounterVec(prometheus.CounterOpts{Name: "test_clash_total", Help: "Clash."}, []string{"x"}))
		}},
	} {
		buf.Reset()
		tc.register()
		if got := buf.String(); !strings.Contains(got, "level=ERROR") || !strings.Contains(got, "test_clash_total") {
			t.Errorf("%s: expected an error logged naming test_clash_total, seen %q", tc.name, got)
		}
	}
	buf.Reset()
	Register(reg, prometheus.NewCounter(prometheus.CounterOpts{Name: "test_clash_total", Help: "Clash."}))
	if got := buf.String(); got != "" {
		t.Errorf("re-registration of an equal collector: expected nothing logged, seen %q", got)
	}
}

// TestHandler: /metrics serves the node's collectors, the Go runtime and
// process ones, and what raft and memberlist report through go-metrics.
func TestHandler(t *testing.T) {
	reg := NewRegistry()
	reg.MustRegister(NewGossipCollector(fakeGossip{members: []membership.Member{{Name: "a", State: membership.Alive}}}))
	h := Handler(reg)
	gometrics.IncrCounter([]string{"raft", "test", "probe"}, 1)

	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/metrics", nil))
	if rec.Code != http.StatusOK {
		t.Fatalf("GET /metrics: expected 200, seen %d: %s", rec.Code, rec.Body)
	}
	if ct := rec.Header().Get("Content-Type"); !strings.HasPrefix(ct, "text/plain") {
		t.Errorf("content type: expected text/plain, seen %q", ct)
	}
	families := parse(t, rec.Body)
	for _, name := range []string{"shoal_gossip_members", "go_goroutines", "process_resident_memory_bytes", "raft_test_probe"} {
		if families[name] == nil {
			t.Errorf("expected family %s, not served", name)
		}
	}
}

func parse(t *testing.T, r io.Reader) map[string]*dto.MetricFamily {
	t.Helper()
	p := expfmt.NewTextParser(model.LegacyValidation)
	mfs, err := p.TextToMetricFamilies(r)
	if err != nil {
		t.Fatalf("parse exposition: %v", err)
	}
	return mfs
}

func counterValue(t *testing.T, c prometheus.Counter) float64 {
	t.Helper()
	var m dto.Metric
	if err := c.Write(&m); err != nil {
		t.Fatalf("read counter: %v", err)
	}
	return m.GetCounter().GetValue()
}
