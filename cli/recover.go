package cli

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strings"

	ucli "github.com/urfave/cli/v2"

	"github.com/shoal-project/shoal/consensus"
	"github.com/shoal-project/shoal/node"
)

// recoverHelp is `shoal recover --help`: the procedure, step by step.
const recoverHelp = `For a cluster that has lost a majority of its raft voters for good (writes
fail with "no raft leader" and the lost machines will not come back). If the
machines will come back, start them instead: the cluster heals by itself.

Every step runs with the agent of that node stopped.

 1. On every surviving node, read how far its raft log goes:
      shoal recover --inspect --data-dir DIR
    It prints the node's last log index and term, and the voters it knows.

 2. Pick the most up-to-date survivor: the highest last log term; among equal
    terms, the highest last log index (the survivor raft itself would elect).
    The cluster goes on with its data. An acknowledged write is lost only if it
    reached none of the survivors or, after rare sequences of leader changes,
    only survivors other than this one.

 3. On that node:
      shoal recover --data-dir DIR
    Its raft configuration becomes this node alone (a one-voter cluster), with
    every entry of its log, committed or not, applied. The raft data as it was is
    kept beside it (DIR/raft.before-recover-TIME), and the gossip peers it had
    saved are forgotten so it does not keep calling the lost machines. Start its
    agent as usual: it leads at once, with all its objects.

 4. On every other survivor:
      shoal recover --reset --data-dir DIR [--join HOST:PORT]
    drops its raft data (moved to DIR/raft.before-reset-TIME) and keeps its
    identity and certificate. Started again, it rejoins the recovered node
    through its saved gossip peers (or HOST:PORT, the recovered node's gossip
    address) and catches up from it; the voters come back as nodes rejoin.

 5. Never start a lost machine with its old data: reset it as in step 4, or wipe
    its data dir and run the join command that "shoal token" prints on the
    recovered node.

See docs/disaster-recovery.md.`

// recoverConfig is one invocation's decoded `shoal recover` flags.
type recoverConfig struct {
	DataDir  string
	Inspect  bool
	Reset    bool
	Join     []string
	Name     string
	RaftAddr string
	Output   string
}

// Validate reports every problem with the flags at once.
func (c *recoverConfig) Validate() error {
	var errs []error
	if c.DataDir == "" {
		errs = append(errs, errors.New("--data-dir: must not be empty"))
	}
	if c.Inspect && c.Reset {
		errs = append(errs, errors.New("--inspect and --reset cannot be used together"))
	}
	if len(c.Join) > 0 && !c.Reset {
		errs = append(errs, errors.New("--join goes with --reset"))
	}
	if (c.Name != "" || c.RaftAddr != "") && (c.Inspect || c.Reset) {
		errs = append(errs, errors.New("--name and --raft-addr go with a recovery, not with --inspect or --reset"))
	}
	if c.Output != "" && (c.Output != "json" || !c.Inspect) {
		errs = append(errs, fmt.Errorf("-o: %q: only -o json, with --inspect", c.Output))
	}
	return errors.Join(errs...)
}

func newRecoverCommand(deps Deps) *ucli.Command {
	return &ucli.Command{
		Name:        "recover",
		Usage:       "restart a cluster that lost its quorum for good from its most up-to-date survivor (the agent must be stopped)",
		Description: recoverHelp,
		ArgsUsage:   " ",
		Flags: []ucli.Flag{
			dataDirFlag(),
			&ucli.BoolFlag{Name: "inspect", Usage: "only print this node's last log index and term and the voters it knows; change nothing"},
			&ucli.BoolFlag{Name: "reset", Usage: "drop this node's raft data so that it rejoins the recovered node as a new member"},
			&ucli.StringSliceFlag{Name: "join", Usage: "with --reset: gossip address `HOST:PORT` of the recovered node to rejoin (default: the peers it saved)"},
			&ucli.StringFlag{Name: "name", Usage: "the node's name (default: what the agent last ran as)"},
			&ucli.StringFlag{Name: "raft-addr", Usage: "the node's raft address `HOST:PORT` (default: what the agent last advertised)"},
			&ucli.StringFlag{Name: "output", Aliases: []string{"o"}, Usage: "with --inspect: json"},
		},
		Action: func(c *ucli.Context) error {
			if c.NArg() > 0 {
				return fmt.Errorf("recover takes no arguments (got %q)", c.Args().Slice())
			}
			cfg := recoverConfig{
				DataDir: c.String("data-dir"), Inspect: c.Bool("inspect"), Reset: c.Bool("reset"), Join: c.StringSlice("join"),
				Name: c.String("name"), RaftAddr: c.String("raft-addr"), Output: c.String("output"),
			}
			if err := cfg.Validate(); err != nil {
				return err
			}
			return runRecover(cfg, deps.Stdout)
		},
	}
}

func runRecover(cfg recoverConfig, out io.Writer) error {
	logger := slog.New(slog.DiscardHandler)
	switch {
	case cfg.Inspect:
		st, err := node.InspectDataDir(cfg.DataDir, logger)
		if err != nil {
			return err
		}
		if cfg.Output == "json" {
			enc := json.NewEncoder(out)
			enc.SetIndent("", "  ")
			return enc.Encode(st)
		}
		printInspection(out, cfg.DataDir, st)
		return nil
	case cfg.Reset:
		rep, err := node.ResetDataDir(cfg.DataDir, cfg.Join, logger)
		if err != nil {
			return err
		}
		if rep.Backup == "" {
			fmt.Fprintf(out, "%s has no raft state: nothing to reset.\n", cfg.DataDir)
		} else {
			fmt.Fprintf(out, "Reset the raft state of %s; the old raft data is in %s (delete it once the cluster is healthy).\n", cfg.DataDir, rep.Backup)
		}
		if len(rep.Peers) == 0 {
			fmt.Fprintf(out, "No gossip peers saved: pass --join HOST:PORT (the recovered node's gossip address) so that it finds the cluster.\n")
			return nil
		}
		fmt.Fprintf(out, "Start its agent: it rejoins through %s as a new member.\n", strings.Join(rep.Peers, ", "))
		return nil
	}
	rep, err := node.RecoverDataDir(cfg.DataDir, node.RecoverOptions{Name: cfg.Name, RaftAddr: cfg.RaftAddr, Logger: logger})
	if err != nil {
		return err
	}
	b := rep.Before
	fmt.Fprintf(out, "Recovered %s as the only voter of its cluster (raft address %s).\n", rep.Name, rep.RaftAddr)
	fmt.Fprintf(out, "  kept: every log entry up to index %d (term %d): %d objects, %d claims\n", b.LastIndex, b.LastTerm, rep.Objects, rep.Claims)
	fmt.Fprintf(out, "  dropped from the configuration: %s\n", others(b.Servers, rep.Name))
	fmt.Fprintf(out, "  the raft data as it was: %s (delete it once the cluster is healthy)\n", rep.Backup)
	if len(rep.ForgottenPeers) > 0 {
		fmt.Fprintf(out, "  forgotten gossip peers: %s\n", strings.Join(rep.ForgottenPeers, ", "))
	}
	fmt.Fprintf(out, "Next: start this agent; on every other survivor, with its agent stopped, run\n  shoal recover --reset --data-dir DIR\nthen start it: it rejoins this node.\n")
	return nil
}

// printInspection prints what --inspect found.
func printInspection(out io.Writer, dir string, st node.DataDirState) {
	r := st.Raft
	fmt.Fprintf(out, "data dir:       %s\n", dir)
	fmt.Fprintf(out, "node:           %s\n", orUnknown(st.Name))
	fmt.Fprintf(out, "raft address:   %s\n", orUnknown(st.RaftAddr))
	fmt.Fprintf(out, "last log index: %d\n", r.LastIndex)
	fmt.Fprintf(out, "last log term:  %d\n", r.LastTerm)
	fmt.Fprintf(out, "current term:   %d\n", r.CurrentTerm)
	fmt.Fprintf(out, "snapshot:       index %d, term %d\n", r.SnapshotIndex, r.SnapshotTerm)
	var voters, nonVoters []string
	for _, s := range r.Servers {
		if s.Voter {
			voters = append(voters, s.ID+" ("+s.Address+")")
		} else {
			nonVoters = append(nonVoters, s.ID+" ("+s.Address+")")
		}
	}
	fmt.Fprintf(out, "voters:         %s (configuration at index %d)\n", orNone(voters), r.ConfigIndex)
	fmt.Fprintf(out, "non-voters:     %s\n", orNone(nonVoters))
}

// others lists the servers of a configuration but self.
func others(servers []consensus.Server, self string) string {
	var names []string
	for _, s := range servers {
		if s.ID != self {
			names = append(names, s.ID)
		}
	}
	return orNone(names)
}

func orNone(list []string) string {
	if len(list) == 0 {
		return "none"
	}
	return strings.Join(list, ", ")
}

func orUnknown(s string) string {
	if s == "" {
		return "unknown (the agent did not record it)"
	}
	return s
}
