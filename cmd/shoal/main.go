// Command shoal is the single shoal binary: the daemon (agent, join), its
// local helpers (token, kubeconfig) and the kubectl-like client verbs.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"

	"github.com/shoal-project/shoal/cli"
	"github.com/shoal-project/shoal/node"
)

func main() {
	// SIGINT/SIGTERM cancel ctx: the agent shuts down in order, a client
	// command stops; either way the exit code is 0 (cli.ExitCode).
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	app := cli.NewApp(cli.Deps{RunAgent: node.RunAgent, Preflight: node.Preflight})
	err := app.Run(ctx, os.Args)
	stop()
	os.Exit(cli.ExitCode(err, os.Stderr))
}
