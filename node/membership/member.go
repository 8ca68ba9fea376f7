package membership

import "time"

// State is what gossip currently believes about a member.
//
//	        join / refute                suspicion timeout
//	Alive <--------------> Suspect ------------------------> Dead
//	  |  \_____________________________________________________^ |
//	  |                (rejoin: Dead/Left -> Alive)              |
//	  +-- Leave() ------------------------------------> Left <---+
type State int

// Member states. The zero State is not a valid state.
const (
	// Alive: the member answers probes.
	Alive State = iota + 1
	// Suspect: a probe failed and the member has a suspicion timeout to
	// refute it. memberlist v0.7 exposes suspicion neither as an event nor
	// in Node.State, so Membership does not report it today: a member goes
	// from Alive straight to Dead. Consumers must treat Suspect like Alive.
	Suspect
	// Dead: the suspicion timed out; the member is gone until it rejoins.
	Dead
	// Left: the member announced a graceful leave.
	Left
)

// String returns "alive", "suspect", "dead", "left" or "unknown".
func (s State) String() string {
	switch s {
	case Alive:
		return "alive"
	case Suspect:
		return "suspect"
	case Dead:
		return "dead"
	case Left:
		return "left"
	default:
		return "unknown"
	}
}

// Member is one node as gossip sees it.
type Member struct {
	// Name is the node name, unique in the cluster.
	Name string
	// Addr is the member's gossip address, host:port.
	Addr string
	// Meta is the metadata the member publishes.
	Meta Meta
	// State is gossip's current verdict.
	State State
	// Since is when State last changed, by the local clock.
	Since time.Time
}

// Roles a member announces.
const (
	// RoleVoterEligible is the role of a member that may hold a raft seat
	// (as a voter or a non-voter): the voter manager offers seats only to
	// members that announce it. Every node announces it today; a node that
	// only follows the store would not. It must stay announced while any
	// older binary may lead: such a leader neither adds a member without it
	// nor counts one as alive.
	RoleVoterEligible = "voter-eligible"
	// RoleWorker is the role of a member that runs pods.
	RoleWorker = "worker"
	// RoleIngress is the role of a member whose Ingress proxy listens on
	// its address (published once its listeners are up).
	RoleIngress = "ingress"
)

// HasRole says whether the member announced role.
func (m Member) HasRole(role string) bool {
	for _, r := range m.Meta.Roles {
		if r == role {
			return true
		}
	}
	return false
}
