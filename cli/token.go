package cli

import (
	"errors"
	"fmt"

	ucli "github.com/urfave/cli/v2"

	"github.com/shoal-project/shoal/node"
)

func dataDirFlag() *ucli.StringFlag {
	return &ucli.StringFlag{Name: "data-dir", Value: node.DefaultDataDir(), Usage: "data dir of the local agent"}
}

// loadCluster reads the identity of the agent whose data dir is dir.
func loadCluster(deps Deps, dir string) (Credentials, error) {
	if deps.LoadCluster == nil {
		return Credentials{}, errors.New("this build of shoal cannot read a cluster identity")
	}
	creds, err := deps.LoadCluster(dir)
	if err != nil {
		return Credentials{}, fmt.Errorf("load cluster identity from %s: %w", dir, err)
	}
	return creds, nil
}

// newTokenCommand is `shoal token`: the command that joins another machine
// to the local agent's cluster.
func newTokenCommand(deps Deps) *ucli.Command {
	return &ucli.Command{
		Name:  "token",
		Usage: "print the command that joins another machine to this agent's cluster",
		Flags: []ucli.Flag{dataDirFlag()},
		Action: func(c *ucli.Context) error {
			dir := c.String("data-dir")
			info, err := node.ReadAgentInfo(dir)
			if err != nil {
				return err
			}
			creds, err := loadCluster(deps, dir)
			if err != nil {
				return err
			}
			_, err = fmt.Fprintf(deps.Stdout, "shoal join %s --token %s\n", info.GossipAddr(), creds.JoinToken)
			return err
		},
	}
}
