// Package cli is shoal's command line: the daemon commands (agent, join),
// the local helpers that read an agent's data dir (token, kubeconfig, images
// ls|import|pull, leave and reset, recover) and the everyday client verbs, with kubectl's names, flags
// and output (apply, get [-w], delete, describe, logs, exec, port-forward,
// proxy, create deployment, expose, scale, set image, label, annotate,
// rollout, wait, top, version, api-resources) that talk to any peer's
// Kubernetes API through client-go and kubectl's own libraries.
// docs/cli.md is the reference.
//
// Every command lives in its own file and decodes its flags into a local
// options value that is validated before anything runs; nothing is bound to
// package-level variables. The daemon and the cluster identity are injected
// through Deps, so the package imports neither:
//
//	app := cli.NewApp(cli.Deps{RunAgent: node.RunAgent})
//	err := app.Run(ctx, os.Args)
//	os.Exit(cli.ExitCode(err, os.Stderr))
//
// Errors are translated at this edge only: API Status errors print as
// kubectl prints them ("Error from server (NotFound): ..."), and ExitCode
// maps them to exit codes.
package cli
