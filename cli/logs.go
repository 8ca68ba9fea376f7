package cli

import (
	"errors"
	"fmt"
	"math"
	"strings"
	"time"

	ucli "github.com/urfave/cli/v2"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// selectorTail is kubectl's --tail default with -l: the last 10 lines of
// each container, so that a broad selector does not flood the terminal.
const selectorTail = 10

// logsOptions are one invocation's `shoal logs` flags and arguments.
type logsOptions struct {
	// Resource is POD, pod/POD or TYPE/NAME of a workload (one of its
	// pods is picked); empty with Selector.
	Resource string
	Selector string
	// Container is -c; ContainerArg the optional second argument.
	Container      string
	ContainerArg   string
	AllContainers  bool
	AllPods        bool
	Prefix         bool
	IgnoreErrors   bool
	MaxLogRequests int
	Follow         bool
	Previous       bool
	Timestamps     bool
	// Tail is the number of last lines; -1 means all. TailSet says it
	// was given (else -l makes it selectorTail).
	Tail       int64
	TailSet    bool
	Since      time.Duration
	SinceTime  string
	LimitBytes int64
	// PodRunningTimeout bounds the wait for a workload's first pod.
	PodRunningTimeout time.Duration
}

// Validate checks the flags, with kubectl's messages.
func (o *logsOptions) Validate() error {
	var errs []error
	switch {
	case o.Resource == "" && o.Selector == "":
		errs = append(errs, errors.New("expected 'logs [-f] [-p] (POD | TYPE/NAME) [-c CONTAINER]'.\nPOD or TYPE/NAME is a required argument for the logs command"))
	case o.Resource != "" && o.Selector != "":
		errs = append(errs, errors.New("only a selector (-l) or a POD name is allowed"))
	}
	if o.Container != "" && o.ContainerArg != "" {
		errs = append(errs, errors.New("only one of -c or an inline [CONTAINER] arg is allowed"))
	}
	if o.AllContainers && (o.Container != "" || o.ContainerArg != "") {
		errs = append(errs, fmt.Errorf("--all-containers=true should not be specified with container name %s", o.Container+o.ContainerArg))
	}
	if o.Since != 0 && o.SinceTime != "" {
		errs = append(errs, errors.New("at most one of `sinceTime` or `sinceSeconds` may be specified"))
	}
	if o.Since < 0 {
		errs = append(errs, errors.New("--since must be greater than 0"))
	}
	if o.SinceTime != "" {
		if _, err := time.Parse(time.RFC3339, o.SinceTime); err != nil {
			errs = append(errs, fmt.Errorf("--since-time must be an RFC3339 time: %w", err))
		}
	}
	if o.Tail < -1 {
		errs = append(errs, errors.New("--tail must be greater than or equal to -1"))
	}
	if o.LimitBytes < 0 {
		errs = append(errs, errors.New("--limit-bytes must be greater than 0"))
	}
	if o.MaxLogRequests < 1 {
		errs = append(errs, errors.New("--max-log-requests must be greater than 0"))
	}
	return errors.Join(errs...)
}

// podLogOptions is the query the API server gets for one container.
func (o *logsOptions) podLogOptions(container string) *corev1.PodLogOptions {
	opts := &corev1.PodLogOptions{Container: container, Follow: o.Follow, Previous: o.Previous, Timestamps: o.Timestamps}
	switch {
	case o.Tail >= 0:
		opts.TailLines = &o.Tail
	case o.Selector != "" && !o.TailSet:
		tail := int64(selectorTail)
		opts.TailLines = &tail
	}
	if o.Since > 0 {
		secs := int64(math.Ceil(o.Since.Seconds()))
		opts.SinceSeconds = &secs
	}
	if o.SinceTime != "" {
		t, _ := time.Parse(time.RFC3339, o.SinceTime)
		mt := metav1.NewTime(t)
		opts.SinceTime = &mt
	}
	if o.LimitBytes > 0 {
		opts.LimitBytes = &o.LimitBytes
	}
	return opts
}

func newLogsCommand(deps Deps) *ucli.Command {
	return &ucli.Command{
		Name:      "logs",
		Usage:     "print the logs of a container in a pod",
		ArgsUsage: "(POD | TYPE/NAME) [CONTAINER] | -l SELECTOR",
		Flags: append([]ucli.Flag{
			&ucli.StringFlag{Name: "container", Aliases: []string{"c"}, Usage: "container `NAME` (default: the pod's only or default container)"},
			&ucli.StringFlag{Name: "selector", Aliases: []string{"l"}, Usage: "the logs of every pod matching the label `SELECTOR`, one after another"},
			&ucli.BoolFlag{Name: "all-containers", Usage: "the logs of every container of the pod(s)"},
			&ucli.BoolFlag{Name: "all-pods", Usage: "with TYPE/NAME, the logs of all its pods (implies --prefix)"},
			&ucli.BoolFlag{Name: "prefix", Usage: "start each line with [pod/NAME/CONTAINER]"},
			&ucli.BoolFlag{Name: "ignore-errors", Usage: "go on when a container's logs cannot be read"},
			&ucli.IntFlag{Name: "max-log-requests", Value: 5, Usage: "with -f, at most `N` containers followed at once"},
			&ucli.BoolFlag{Name: "follow", Aliases: []string{"f"}, Usage: "stream the logs"},
			&ucli.BoolFlag{Name: "previous", Aliases: []string{"p"}, Usage: "the logs of the previous instance of the container"},
			&ucli.BoolFlag{Name: "timestamps", Usage: "prefix each line with its RFC3339 timestamp"},
			&ucli.Int64Flag{Name: "tail", Value: -1, Usage: "the last `N` lines only (-1: all; with -l the default is 10)"},
			&ucli.DurationFlag{Name: "since", Usage: "only lines newer than a relative `DURATION` like 5s, 2m or 3h"},
			&ucli.StringFlag{Name: "since-time", Usage: "only lines after an RFC3339 `TIME`"},
			&ucli.Int64Flag{Name: "limit-bytes", Usage: "at most `N` bytes of logs"},
			&ucli.DurationFlag{Name: "pod-running-timeout", Value: 20 * time.Second, Usage: "how long to wait for a workload's first pod"},
		}, clientFlags()...),
		UseShortOptionHandling: true,
		Action: func(c *ucli.Context) error {
			o := logsOptions{
				Selector:          c.String("selector"),
				Container:         c.String("container"),
				AllContainers:     c.Bool("all-containers"),
				AllPods:           c.Bool("all-pods"),
				Prefix:            c.Bool("prefix") || c.Bool("all-pods"),
				IgnoreErrors:      c.Bool("ignore-errors"),
				MaxLogRequests:    c.Int("max-log-requests"),
				Follow:            c.Bool("follow"),
				Previous:          c.Bool("previous"),
				Timestamps:        c.Bool("timestamps"),
				Tail:              c.Int64("tail"),
				TailSet:           c.IsSet("tail"),
				Since:             c.Duration("since"),
				SinceTime:         c.String("since-time"),
				LimitBytes:        c.Int64("limit-bytes"),
				PodRunningTimeout: c.Duration("pod-running-timeout"),
			}
			args := c.Args().Slice()
			if len(args) > 0 {
				o.Resource = args[0]
			}
			if len(args) > 1 {
				o.ContainerArg = args[1]
			}
			if len(args) > 2 {
				return fmt.Errorf("unexpected arguments %q: logs takes (POD | TYPE/NAME) [CONTAINER]", args[2:])
			}
			if err := o.Validate(); err != nil {
				return err
			}
			cl, err := newClients(c, deps)
			if err != nil {
				return err
			}
			return cl.logs(c.Context, o)
		},
	}
}

// podArg accepts NAME, pod/NAME and pods/NAME (and po/NAME).
func podArg(arg string) (string, error) {
	kind, name, ok := strings.Cut(arg, "/")
	if !ok {
		return arg, nil
	}
	switch strings.ToLower(kind) {
	case "pod", "pods", "po":
		return name, nil
	}
	return "", fmt.Errorf("only pods are supported here, not %q", arg)
}
