package cli

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/netip"
	"net/url"
	"strings"

	ucli "github.com/urfave/cli/v2"
	"k8s.io/klog/v2"

	"github.com/shoal-project/shoal/node"
	"github.com/shoal-project/shoal/node/preflight"
)

// agentConfig is one invocation's decoded `shoal agent` flags.
type agentConfig struct {
	Node     node.Config
	LogLevel slog.Level
}

// Validate reports every problem with the configuration at once.
func (c *agentConfig) Validate() error {
	return c.Node.Validate()
}

// logger returns the daemon's one structured logger, writing text to w.
// The client-go libraries the agent uses (the event recorder, informers)
// log through klog; klog is routed into the same logger, so the agent's
// output stays one structured line per event.
func (c *agentConfig) logger(w io.Writer) *slog.Logger {
	l := slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: c.LogLevel}))
	klog.SetSlogLogger(l.With("component", "client-go"))
	return l
}

// agentFlags are the daemon's flags, with defaults from def.
func agentFlags(def node.Config) []ucli.Flag {
	return []ucli.Flag{
		&ucli.StringFlag{Name: "name", Value: def.Name, Usage: "node name in gossip, raft and its Node object"},
		&ucli.StringFlag{Name: "data-dir", Value: def.DataDir, Usage: "raft data, cluster identity and containerd state"},
		&ucli.StringFlag{Name: "advertise", Usage: "IP other nodes use to reach this one (default: --bind if specific, else the first non-loopback address)"},
		&ucli.StringFlag{Name: "bind", Value: def.BindAddr, Usage: "IP every listener binds"},
		&ucli.IntFlag{Name: "gossip-port", Value: def.GossipPort, Usage: "memberlist port (TCP and UDP)"},
		&ucli.IntFlag{Name: "raft-port", Value: def.RaftPort, Usage: "raft and leader-forwarding RPC port (TLS)"},
		&ucli.IntFlag{Name: "api-port", Value: def.APIPort, Usage: "Kubernetes API port (HTTPS)"},
		&ucli.StringSliceFlag{Name: "join", Usage: "gossip address `HOST:PORT` of an existing member (repeatable)"},
		&ucli.StringFlag{Name: "token", EnvVars: []string{"SHOAL_TOKEN"}, Usage: "join token printed by `shoal token`"},
		&ucli.IntFlag{Name: "voters", Value: def.Voters, Usage: "raft voters the cluster keeps (1, 3, 5 or 7); the same on every node"},
		&ucli.DurationFlag{Name: "voter-grace", Value: def.VoterGrace, Usage: "how long a voter may be down before a healthy non-voter takes its seat (longer than a restart)"},
		&ucli.StringFlag{Name: "containerd", Value: def.ContainerdSocket, Usage: "`SOCKET` of an existing containerd (default: start our own)"},
		&ucli.StringSliceFlag{Name: "registry-mirror", Usage: "`HOST=URL`: pull images of registry HOST from URL (repeatable)"},
		&ucli.IntFlag{Name: "ingress-http-port", Value: def.IngressHTTPPort, Usage: "port of the Ingress proxy (HTTP) on the node's address; 0 disables"},
		&ucli.IntFlag{Name: "ingress-https-port", Value: def.IngressHTTPSPort, Usage: "port of the Ingress proxy (HTTPS) on the node's address; 0 disables"},
		&ucli.StringFlag{Name: "cluster-cidr", Value: def.ClusterCIDR.String(), Usage: "IPv4 `CIDR` of the pod network; each node gets a /24 of it (the same on every node)"},
		&ucli.StringFlag{Name: "service-cidr", Value: def.ServiceCIDR.String(), Usage: "IPv4 `CIDR` Services' cluster IPs come from (the same on every node)"},
		&ucli.BoolFlag{Name: "run-pods", Value: def.RunPods, Usage: "run pods on this node (containerd, the pod network, the kubelet); false makes a control-plane-only member"},
		&ucli.StringFlag{Name: "log-level", Value: "info", Usage: "debug, info, warn or error"},
		&ucli.StringFlag{Name: "config", Usage: "YAML `FILE` of settings whose keys are these flags' names; flags given here override it"},
		&ucli.BoolFlag{Name: "check", Usage: "run the preflight checks for these flags, print one line each, and exit (1 if any failed)"},
	}
}

// decodeAgentConfig reads the flags, and the --config file under them,
// into a fresh config built on node.DefaultConfig. Malformed values are
// errors here; whether the values make sense together is for Validate.
func decodeAgentConfig(c *ucli.Context) (agentConfig, error) {
	cfg := agentConfig{Node: node.DefaultConfig()}
	if path := c.String("config"); path != "" {
		if err := applyConfigFile(c, c.Command.Flags, path); err != nil {
			return cfg, err
		}
	}
	n := &cfg.Node
	n.Name = c.String("name")
	n.DataDir = c.String("data-dir")
	n.AdvertiseAddr = c.String("advertise")
	n.BindAddr = c.String("bind")
	n.GossipPort = c.Int("gossip-port")
	n.RaftPort = c.Int("raft-port")
	n.APIPort = c.Int("api-port")
	n.Join = c.StringSlice("join")
	n.Token = c.String("token")
	n.Voters = c.Int("voters")
	n.VoterGrace = c.Duration("voter-grace")
	n.ContainerdSocket = c.String("containerd")
	n.RunPods = c.Bool("run-pods")
	n.IngressHTTPPort = c.Int("ingress-http-port")
	n.IngressHTTPSPort = c.Int("ingress-https-port")

	var errs []error
	for _, f := range []struct {
		name string
		dst  *netip.Prefix
	}{{"cluster-cidr", &n.ClusterCIDR}, {"service-cidr", &n.ServiceCIDR}} {
		v := c.String(f.name)
		p, err := netip.ParsePrefix(v)
		if err != nil {
			errs = append(errs, fmt.Errorf("--%s: %q is not a CIDR (such as %s)", f.name, v, *f.dst))
			continue
		}
		*f.dst = p
	}
	mirrors, err := parseMirrors(c.StringSlice("registry-mirror"))
	if err != nil {
		errs = append(errs, err)
	}
	n.RegistryMirrors = mirrors
	if err := cfg.LogLevel.UnmarshalText([]byte(c.String("log-level"))); err != nil {
		errs = append(errs, fmt.Errorf("--log-level: %q is not one of debug, info, warn, error", c.String("log-level")))
	}
	return cfg, errors.Join(errs...)
}

// parseMirrors turns HOST=URL pairs into a map. Plain http URLs are allowed:
// the user named the mirror.
func parseMirrors(pairs []string) (map[string]string, error) {
	if len(pairs) == 0 {
		return nil, nil
	}
	var errs []error
	m := make(map[string]string, len(pairs))
	for _, p := range pairs {
		host, raw, ok := strings.Cut(p, "=")
		if !ok || host == "" || raw == "" {
			errs = append(errs, fmt.Errorf("--registry-mirror: %q is not HOST=URL", p))
			continue
		}
		u, err := url.Parse(raw)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			errs = append(errs, fmt.Errorf("--registry-mirror: %q: %q is not an http(s) URL", p, raw))
			continue
		}
		m[host] = raw
	}
	return m, errors.Join(errs...)
}

// runAgent decodes, validates and runs the daemon. extraJoin are join
// addresses given as arguments (`shoal join HOST:PORT`).
func runAgent(c *ucli.Context, deps Deps, extraJoin []string) error {
	cfg, err := decodeAgentConfig(c)
	if err != nil {
		return err
	}
	cfg.Node.Join = append(cfg.Node.Join, extraJoin...)
	if err := cfg.Validate(); err != nil {
		return err
	}
	if c.Bool("check") {
		return checkAgent(deps, cfg.Node)
	}
	if deps.RunAgent == nil {
		return errors.New("this build of shoal cannot run an agent")
	}
	logger := cfg.logger(deps.Stderr)
	if deps.Preflight != nil {
		results := deps.Preflight(cfg.Node, true)
		for _, r := range results {
			if r.Changed {
				logger.Info("preflight: "+r.Note, "check", r.Name)
			}
		}
		if err := preflight.Failed(results); err != nil {
			return err
		}
	}
	return deps.RunAgent(c.Context, cfg.Node, logger)
}

// checkAgent is `shoal agent --check`: the preflight checks alone, one
// line each on stdout, and ErrReported (exit 1) when any failed. They
// change nothing on the host.
func checkAgent(deps Deps, cfg node.Config) error {
	if deps.Preflight == nil {
		return errors.New("this build of shoal has no preflight checks")
	}
	results := deps.Preflight(cfg, false)
	for _, r := range results {
		fmt.Fprintln(deps.Stdout, r.String())
	}
	if preflight.Failed(results) != nil {
		return ErrReported
	}
	return nil
}

func newAgentCommand(deps Deps) *ucli.Command {
	return &ucli.Command{
		Name:      "agent",
		Usage:     "run the shoal daemon: creates a one-node cluster, or joins one with --join",
		ArgsUsage: " ",
		Flags:     agentFlags(node.DefaultConfig()),
		Action: func(c *ucli.Context) error {
			if c.NArg() > 0 {
				return fmt.Errorf("agent takes no arguments (got %q); did you mean `shoal join %s`?", c.Args().Slice(), c.Args().First())
			}
			return runAgent(c, deps, nil)
		},
	}
}
