package membership

import (
	"github.com/hashicorp/memberlist"
)

// eventDelegate implements memberlist.EventDelegate: it folds join, leave
// and update events into Membership's member table and wakes subscribers.
// memberlist calls it from one goroutine at a time, holding its node lock,
// so it must not call back into memberlist.
type eventDelegate struct{ m *Membership }

var _ memberlist.EventDelegate = eventDelegate{}

// NotifyJoin records a new or returning member as Alive.
func (d eventDelegate) NotifyJoin(n *memberlist.Node) { d.m.observe(n, false) }

// NotifyLeave records a member as Left when it announced its leave (see
// wireMeta), else as Dead.
func (d eventDelegate) NotifyLeave(n *memberlist.Node) { d.m.observe(n, true) }

// NotifyUpdate records a member's new metadata. memberlist sends updates
// only for live members.
func (d eventDelegate) NotifyUpdate(n *memberlist.Node) { d.m.observe(n, false) }
