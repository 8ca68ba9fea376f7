package cli

import (
	"errors"

	ucli "github.com/urfave/cli/v2"

	"github.com/shoal-project/shoal/node"
)

// newJoinCommand is `shoal join HOST:PORT --token TOKEN`: the agent with
// the arguments as --join addresses.
func newJoinCommand(deps Deps) *ucli.Command {
	return &ucli.Command{
		Name:      "join",
		Usage:     "run the shoal daemon and join the cluster of a member at HOST:PORT",
		ArgsUsage: "HOST:PORT [HOST:PORT...]",
		Flags:     agentFlags(node.DefaultConfig()),
		Action: func(c *ucli.Context) error {
			if c.NArg() == 0 && len(c.StringSlice("join")) == 0 {
				return errors.New("join: the gossip address HOST:PORT of a member is required (see `shoal token` on that member)")
			}
			return runAgent(c, deps, c.Args().Slice())
		},
	}
}
