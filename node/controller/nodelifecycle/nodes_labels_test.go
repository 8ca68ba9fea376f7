package nodelifecycle

import (
	"sync"
	"testing"

	"github.com/shoal-project/shoal/node/controller"
	"github.com/shoal-project/shoal/node/membership"
)

// roleMembers is a gossip view with roles per member.
type roleMembers struct {
	mu    sync.Mutex
	roles map[string][]string
	// versions are the members' gossip versions ("" when unset).
	versions map[string]string
}

func (m *roleMembers) setVersion(name, v string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.versions == nil {
		m.versions = map[string]string{}
	}
	m.versions[name] = v
}

func (m *roleMembers) set(name string, roles ...string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.roles[name] = roles
}

func (m *roleMembers) Members() []membership.Member {
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []membership.Member
	for name, roles := range m.roles {
		out = append(out, membership.Member{Name: name, State: membership.Alive,
			Meta: membership.Meta{Roles: roles, CPU: 4000, MemoryBytes: 8 << 30, APIAddr: "192.0.2.1:6443", Version: m.versions[name]}})
	}
	return out
}

func (m *roleMembers) Subscribe() (<-chan struct{}, func()) { return make(chan struct{}), func() {} }

// TestIngressLabelFollowsGossip: a node whose gossip metadata announces the
// ingress role (its proxy listens) is labelled shoal.io/ingress=serving;
// the label goes when the role does.
func TestIngressLabelFollowsGossip(t *testing.T) {
	e := newTestEnv(t)
	members := &roleMembers{roles: map[string][]string{}}
	members.set("edge", membership.RoleWorker, membership.RoleIngress)
	members.set("worker", membership.RoleWorker)
	members.set("control", membership.RoleVoterEligible)
	nl := &Controller{Deps: e.Deps, Members: members}
	check := func(step string, want map[string]bool) {
		t.Helper()
		for i := 0; i < 2; i++ { // the first pass registers, the second labels
			e.Synced()
			if err := nl.Reconcile(e.Ctx); err != nil {
				t.Fatal(err)
			}
		}
		for name, serving := range want {
			if got := e.GetNode(name).Labels[controller.IngressLabel] == controller.IngressServing; got != serving {
				t.Errorf("%s: node %s labels %v, want serving=%v", step, name, e.GetNode(name).Labels, serving)
			}
		}
	}
	check("start", map[string]bool{"edge": true, "worker": false, "control": false})
	members.set("edge", membership.RoleWorker)
	check("role dropped", map[string]bool{"edge": false})
	if _, ok := e.GetNode("edge").Labels[controller.IngressLabel]; ok {
		t.Error("the label was kept with another value instead of removed")
	}
}
