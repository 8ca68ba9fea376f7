package cli

import (
	"fmt"
	"os"
	"text/tabwriter"

	ucli "github.com/urfave/cli/v2"

	"github.com/shoal-project/shoal/node"
	ctrd "github.com/shoal-project/shoal/runtime/containerd"
)

// newImagesCommand is `shoal images import FILE`, `shoal images pull
// IMAGE` and `shoal images ls`: they work on the local agent's containerd
// (the node whose --data-dir is given), not through the API.
func newImagesCommand(deps Deps) *ucli.Command {
	dataDir := &ucli.StringFlag{Name: "data-dir", Value: node.DefaultDataDir(), Usage: "the local agent's data dir"}
	return &ucli.Command{
		Name:  "images",
		Usage: "list, pull and import the images of the local node",
		Flags: []ucli.Flag{dataDir},
		Subcommands: []*ucli.Command{
			{
				Name:      "import",
				Usage:     "load an OCI or docker image archive into the local node",
				ArgsUsage: "FILE",
				Flags:     []ucli.Flag{dataDir},
				Action: func(c *ucli.Context) error {
					if c.NArg() != 1 {
						return fmt.Errorf("usage: shoal images import FILE")
					}
					rt, err := localRuntime(c)
					if err != nil {
						return err
					}
					defer rt.Close()
					f, err := os.Open(c.Args().First())
					if err != nil {
						return err
					}
					defer f.Close()
					imgs, err := rt.ImportImages(c.Context, f)
					if err != nil {
						return fmt.Errorf("import %s: %w", c.Args().First(), err)
					}
					for _, img := range imgs {
						fmt.Fprintf(deps.Stdout, "imported %s (%s)\n", img.Ref, img.ID)
					}
					return nil
				},
			},
			newImagesPullCommand(deps, dataDir),
			{
				Name:    "ls",
				Aliases: []string{"list"},
				Usage:   "list the images of the local node",
				Flags:   []ucli.Flag{dataDir},
				Action: func(c *ucli.Context) error {
					rt, err := localRuntime(c)
					if err != nil {
						return err
					}
					defer rt.Close()
					imgs, err := rt.ListImages(c.Context)
					if err != nil {
						return err
					}
					tw := tabwriter.NewWriter(deps.Stdout, 0, 8, 3, ' ', 0)
					fmt.Fprintln(tw, "IMAGE\tID\tSIZE")
					for _, img := range imgs {
						id := img.ID
						if len(id) > 19 {
							id = id[:19]
						}
						fmt.Fprintf(tw, "%s\t%s\t%.1fMB\n", img.Ref, id, float64(img.Size)/1e6)
					}
					return tw.Flush()
				},
			},
		},
	}
}

// localRuntime connects to the containerd the local agent uses.
func localRuntime(c *ucli.Context) (*ctrd.Runtime, error) {
	// The flag may be given before or after the subcommand.
	dir := c.String("data-dir")
	for _, l := range c.Lineage() {
		if l.IsSet("data-dir") {
			dir = l.String("data-dir")
			break
		}
	}
	info, err := node.ReadAgentInfo(dir)
	if err != nil {
		return nil, err
	}
	if info.ContainerdSocket == "" {
		return nil, fmt.Errorf("the agent in %s runs no container runtime", dir)
	}
	return ctrd.New(c.Context, ctrd.Options{
		Socket:    info.ContainerdSocket,
		Namespace: info.ContainerdNamespace,
		StateDir:  dir + "/pods",
		Mirrors:   info.RegistryMirrors,
	})
}
