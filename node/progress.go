package node

import (
	"context"
	"fmt"
	"io"
	"time"

	"github.com/shoal-project/shoal/consensus"
)

// progress prints one step of a long start, such as a join, for the person
// at the terminal: brief "shoal: ..." lines beside the structured log.
type progress struct{ w io.Writer }

func (p progress) printf(format string, args ...any) {
	fmt.Fprintf(p.w, "shoal: "+format+"\n", args...)
}

// WithProgress sends the join steps and the "cluster created" notice to w
// instead of the process's stderr.
func WithProgress(w io.Writer) Option { return func(o *options) { o.progress = w } }

// reportRaftMembership says, once, when this newly joined node appears in
// the raft configuration with a known leader: the last step of a join,
// which the leader's membership reconciler takes a moment to make.
func (n *Node) reportRaftMembership(ctx context.Context) error {
	t := time.NewTicker(200 * time.Millisecond)
	defer t.Stop()
	for {
		servers, err := n.raft.Servers()
		if leader, _ := n.raft.Leader(); err == nil && leader != "" {
			for _, s := range servers {
				if s.ID != n.cfg.Name {
					continue
				}
				role := consensus.RoleNonvoter
				if s.Voter {
					role = consensus.RoleVoter
				}
				n.progress.printf("raft member (%s), leader %s; %d servers", role, leader, len(servers))
				return nil
			}
		}
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
	}
}
