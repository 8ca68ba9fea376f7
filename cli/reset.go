package cli

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"

	ucli "github.com/urfave/cli/v2"

	"github.com/shoal-project/shoal/node"
	"github.com/shoal-project/shoal/node/reset"
)

// resetOptions are one invocation's `shoal reset` flags.
type resetOptions struct {
	DataDir string
	// Name is the node's name when the data dir no longer says it.
	Name string
	// Yes removes the data dir without asking.
	Yes bool
}

// Validate checks the flags.
func (o *resetOptions) Validate() error {
	var errs []error
	if o.DataDir == "" {
		errs = append(errs, errors.New("--data-dir: must not be empty"))
	} else if !filepath.IsAbs(o.DataDir) {
		// A relative path would be resolved against wherever reset runs,
		// and the data dir is removed recursively.
		errs = append(errs, fmt.Errorf("--data-dir: %q must be an absolute path", o.DataDir))
	}
	if o.Name == "" {
		errs = append(errs, errors.New("--name: must not be empty"))
	}
	return errors.Join(errs...)
}

func newResetCommand(deps Deps) *ucli.Command {
	host, _ := os.Hostname()
	return &ucli.Command{
		Name:  "reset",
		Usage: "remove everything the agent of --data-dir made on this host: containers, shims, mounts, cgroups, the pod network, and (once confirmed) the data dir",
		Description: "The agent must have stopped; take the node out of its cluster first with `shoal leave`.\n" +
			"The pod network (bridge shoal0, nftables table ip shoal, routes proto 83) is removed from the\n" +
			"network namespace reset runs in. Running it again when nothing is left is harmless.",
		ArgsUsage: " ",
		Flags: []ucli.Flag{
			dataDirFlag(),
			&ucli.StringFlag{Name: "name", Value: host, Usage: "the node's name, when the data dir no longer records it"},
			&ucli.BoolFlag{Name: "yes", Aliases: []string{"y", "force"}, Usage: "remove the data dir without asking (for scripts)"},
		},
		Action: func(c *ucli.Context) error {
			if c.NArg() > 0 {
				return fmt.Errorf("reset takes no arguments: it resets the node of --data-dir")
			}
			o := resetOptions{DataDir: c.String("data-dir"), Name: c.String("name"), Yes: c.Bool("yes")}
			if err := o.Validate(); err != nil {
				return err
			}
			return runReset(c.Context, deps, o)
		},
	}
}

// resetHost is what reset removes for the agent of o.DataDir: what its
// agent.json recorded, else what an agent named o.Name would have made.
func resetHost(o resetOptions, logger *slog.Logger) reset.Host {
	own := filepath.Join(o.DataDir, "containerd", "containerd.sock")
	h := reset.Host{DataDir: o.DataDir, Namespace: node.ContainerdNamespace(o.Name), Socket: own, OwnContainerd: true, Network: true, Logger: logger}
	if info, err := node.ReadAgentInfo(o.DataDir); err == nil && info.Name != "" {
		h.Namespace = node.ContainerdNamespace(info.Name)
		if info.ContainerdNamespace != "" {
			h.Namespace = info.ContainerdNamespace
		}
		if info.ContainerdSocket != "" {
			h.Socket, h.OwnContainerd = info.ContainerdSocket, info.ContainerdSocket == own
		}
	}
	return h
}

// runReset is `shoal reset`.
func runReset(ctx context.Context, deps Deps, o resetOptions) error {
	out := deps.Stdout
	running, err := node.AgentRunning(o.DataDir)
	if err != nil {
		return err
	}
	if running {
		return fmt.Errorf("a shoal agent is running on %s (it holds its raft log's lock): stop it first (systemctl stop shoal), after `shoal leave` to take the node out of its cluster", o.DataDir)
	}
	logger := slog.New(slog.NewTextHandler(deps.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	h := resetHost(o, logger)
	removed, runErr := h.Run(ctx)
	for _, r := range removed {
		fmt.Fprintf(out, "removed %s\n", r)
	}
	if _, err := os.Stat(o.DataDir); err == nil {
		if !o.Yes && !confirm(deps.Stdin, out, o.DataDir) {
			fmt.Fprintf(out, "data dir %s kept\n", o.DataDir)
			return runErr
		}
		d, err := h.RemoveDataDir()
		for _, r := range d {
			fmt.Fprintf(out, "removed %s\n", r)
		}
		removed = append(removed, d...)
		runErr = errors.Join(runErr, err)
	}
	if runErr != nil {
		return runErr
	}
	if len(removed) == 0 {
		fmt.Fprintf(out, "nothing of a shoal agent is left on this host for %s: nothing to do\n", o.DataDir)
		return nil
	}
	fmt.Fprintln(out, "reset done")
	return nil
}

// confirm asks whether to remove the data dir; anything but y or yes,
// and no answer at all (no terminal, end of input), is no.
func confirm(in io.Reader, out io.Writer, dataDir string) bool {
	suffix := ""
	if _, ok := node.HasLeft(dataDir); !ok {
		suffix = " The node did not leave its cluster (shoal leave): the others will see it fail."
	}
	fmt.Fprintf(out, "Remove the data dir %s (raft log, cluster identity, images, logs)?%s [y/N] ", dataDir, suffix)
	line, _ := bufio.NewReader(in).ReadString('\n')
	ans := strings.ToLower(strings.TrimSpace(line))
	fmt.Fprintln(out)
	return ans == "y" || ans == "yes"
}
