package cli

import (
	"context"
	"io"
	"log/slog"
	"os"
	"strings"

	ucli "github.com/urfave/cli/v2"

	"github.com/shoal-project/shoal/node"
	"github.com/shoal-project/shoal/node/preflight"
)

// Credentials is what a cluster identity gives the local commands.
type Credentials struct {
	// JoinToken is "SHOAL-1-<ca-sha256>-<secret>", handed to `shoal join`.
	JoinToken string
	// AdminToken is the API bearer token for the admin user.
	AdminToken string
	// CACertPEM is the cluster CA that signs every API serving certificate.
	CACertPEM []byte
}

// Deps are the functions the commands call into. RunAgent is required by
// agent and join; the rest have defaults (the streams are the process's own).
type Deps struct {
	// RunAgent runs the daemon until ctx is cancelled (SIGINT/SIGTERM) or it
	// fails.
	RunAgent func(ctx context.Context, cfg node.Config, logger *slog.Logger) error
	// Preflight runs the host checks for an agent with cfg before it
	// starts (node.Preflight); fix lets them repair what they can. Nil
	// skips them (tests).
	Preflight func(cfg node.Config, fix bool) []preflight.Result
	// LoadCluster reads the cluster identity stored in an agent's data dir.
	// Default: LoadIdentity.
	LoadCluster func(dataDir string) (Credentials, error)

	Stdin  io.Reader
	Stdout io.Writer
	Stderr io.Writer
}

// App is shoal's command line.
type App struct {
	app  *ucli.App
	deps Deps
}

// NewApp builds the command line from its dependencies. It does no I/O.
func NewApp(deps Deps) *App {
	if deps.LoadCluster == nil {
		deps.LoadCluster = LoadIdentity
	}
	if deps.Stdin == nil {
		deps.Stdin = os.Stdin
	}
	if deps.Stdout == nil {
		deps.Stdout = os.Stdout
	}
	if deps.Stderr == nil {
		deps.Stderr = os.Stderr
	}
	app := &ucli.App{
		Name:  "shoal",
		Usage: "a container orchestrator without a central control plane, speaking the Kubernetes API",
		Commands: []*ucli.Command{
			newAgentCommand(deps),
			newJoinCommand(deps),
			newTokenCommand(deps),
			newKubeconfigCommand(deps),
			newRecoverCommand(deps),
			newLeaveCommand(deps),
			newResetCommand(deps),
			newSnapshotCommand(deps),
			newApplyCommand(deps),
			newGetCommand(deps),
			newDeleteCommand(deps),
			newDescribeCommand(deps),
			newImagesCommand(deps),
			newLogsCommand(deps),
			newExecCommand(deps),
			newPortForwardCommand(deps),
			newRolloutCommand(deps),
			newCreateCommand(deps),
			newScaleCommand(deps),
			newSetCommand(deps),
			newExposeCommand(deps),
			newLabelCommand(deps),
			newAnnotateCommand(deps),
			newProxyCommand(deps),
			newVersionCommand(deps),
			newAPIResourcesCommand(deps),
			newTopCommand(deps),
			newWaitCommand(deps),
		},
		Reader:    deps.Stdin,
		Writer:    deps.Stdout,
		ErrWriter: deps.Stderr,
		// Errors go back to main, which prints them and picks the exit
		// code; urfave/cli must not call os.Exit itself.
		ExitErrHandler:       func(*ucli.Context, error) {},
		HideVersion:          true,
		EnableBashCompletion: false,
	}
	return &App{app: app, deps: deps}
}

// Run runs the command named in args (args[0] is the program name). Flags
// may follow positional arguments, as with kubectl ("get pods -o wide").
func (a *App) Run(ctx context.Context, args []string) error {
	return a.app.RunContext(ctx, intersperse(a.app.Commands, args))
}

// intersperse moves the flags of the chosen command in front of its
// positional arguments, because urfave/cli (like package flag) stops parsing
// at the first positional argument. Everything after "--" stays positional.
// It also splits kubectl's glued short form "-owide" into "-o", "wide".
func intersperse(cmds []*ucli.Command, args []string) []string {
	if len(args) < 2 {
		return args
	}
	var cmd *ucli.Command
	for _, c := range cmds {
		if c.HasName(args[1]) {
			cmd = c
		}
	}
	if cmd == nil {
		return args
	}
	// A subcommand (`create deployment`, `rollout status`) is treated as
	// the command, with the parent's name standing in for the program's.
	if len(args) > 2 {
		for _, sc := range cmd.Subcommands {
			if sc.HasName(args[2]) {
				return append([]string{args[0]}, intersperse(cmd.Subcommands, args[1:])...)
			}
		}
	}
	takesValue := map[string]bool{}
	for _, f := range cmd.Flags {
		_, isBool := f.(*ucli.BoolFlag)
		for _, n := range f.Names() {
			takesValue[n] = !isBool
		}
	}
	var flags, positional []string
	rest := args[2:]
	for i := 0; i < len(rest); i++ {
		arg := rest[i]
		switch {
		case arg == "--":
			positional = append(positional, rest[i+1:]...)
			i = len(rest)
		case len(arg) < 2 || arg[0] != '-':
			positional = append(positional, arg)
		case strings.Contains(arg, "="):
			flags = append(flags, arg)
		default:
			name := strings.TrimLeft(arg, "-")
			tv, known := takesValue[name]
			switch {
			case known && tv && i+1 < len(rest):
				flags = append(flags, arg, rest[i+1])
				i++
			case !known && !strings.HasPrefix(arg, "--") && len(name) > 1 && takesValue[name[:1]]:
				flags = append(flags, "-"+name[:1], name[1:])
			default:
				flags = append(flags, arg)
			}
		}
	}
	out := append([]string{args[0], args[1]}, flags...)
	if len(positional) == 0 {
		return out
	}
	// "--" ends flag parsing, so a positional argument that starts with a
	// dash after the user's own "--" stays positional.
	return append(append(out, "--"), positional...)
}
