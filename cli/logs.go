package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"strings"
	"time"

	ucli "github.com/urfave/cli/v2"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/kubectl/pkg/cmd/util/podcmd"
)

// logsOptions are one invocation's `shoal logs` flags and arguments.
type logsOptions struct {
	Pod        string
	Container  string
	Follow     bool
	Previous   bool
	Timestamps bool
	// Tail is the number of last lines; -1 means all.
	Tail       int64
	Since      time.Duration
	SinceTime  string
	LimitBytes int64
}

// Validate checks the flags.
func (o *logsOptions) Validate() error {
	var errs []error
	if o.Pod == "" {
		errs = append(errs, errors.New("expected 'logs [-f] [-p] POD [-c CONTAINER]'.\nPOD is a required argument for the logs command"))
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
		errs = append(errs, errors.New("--tail must be -1 (all lines) or more"))
	}
	if o.LimitBytes < 0 {
		errs = append(errs, errors.New("--limit-bytes must be greater than 0"))
	}
	return errors.Join(errs...)
}

// podLogOptions is the query the API server gets.
func (o *logsOptions) podLogOptions(container string) *corev1.PodLogOptions {
	opts := &corev1.PodLogOptions{Container: container, Follow: o.Follow, Previous: o.Previous, Timestamps: o.Timestamps}
	if o.Tail >= 0 {
		opts.TailLines = &o.Tail
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
		ArgsUsage: "POD [CONTAINER]",
		Flags: append([]ucli.Flag{
			&ucli.StringFlag{Name: "container", Aliases: []string{"c"}, Usage: "container `NAME` (default: the pod's only or default container)"},
			&ucli.BoolFlag{Name: "follow", Aliases: []string{"f"}, Usage: "stream the logs"},
			&ucli.BoolFlag{Name: "previous", Aliases: []string{"p"}, Usage: "the logs of the previous instance of the container"},
			&ucli.BoolFlag{Name: "timestamps", Usage: "prefix each line with its RFC3339 timestamp"},
			&ucli.Int64Flag{Name: "tail", Value: -1, Usage: "the last `N` lines only (-1: all)"},
			&ucli.DurationFlag{Name: "since", Usage: "only lines newer than a relative `DURATION` like 5s, 2m or 3h"},
			&ucli.StringFlag{Name: "since-time", Usage: "only lines after an RFC3339 `TIME`"},
			&ucli.Int64Flag{Name: "limit-bytes", Usage: "at most `N` bytes of logs"},
		}, clientFlags()...),
		UseShortOptionHandling: true,
		Action: func(c *ucli.Context) error {
			o := logsOptions{
				Container:  c.String("container"),
				Follow:     c.Bool("follow"),
				Previous:   c.Bool("previous"),
				Timestamps: c.Bool("timestamps"),
				Tail:       c.Int64("tail"),
				Since:      c.Duration("since"),
				SinceTime:  c.String("since-time"),
				LimitBytes: c.Int64("limit-bytes"),
			}
			args := c.Args().Slice()
			if len(args) > 0 {
				o.Pod = args[0]
			}
			if len(args) > 1 && o.Container == "" {
				o.Container = args[1]
			}
			if len(args) > 2 {
				return fmt.Errorf("unexpected arguments %q: logs takes POD [CONTAINER]", args[2:])
			}
			name, err := podArg(o.Pod)
			if err != nil {
				return err
			}
			o.Pod = name
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

func (cl *clients) logs(ctx context.Context, o logsOptions) error {
	cs, err := cl.clientset()
	if err != nil {
		return err
	}
	pods := cs.CoreV1().Pods(cl.namespace)
	container := o.Container
	if container == "" {
		// As kubectl: the default-container annotation, else the first
		// container, saying so when there was a choice.
		pod, err := pods.Get(ctx, o.Pod, metav1.GetOptions{})
		if err != nil {
			return err
		}
		c, err := podcmd.FindOrDefaultContainerByName(pod, "", false, cl.errw)
		if err != nil {
			return err
		}
		container = c.Name
	}
	rc, err := pods.GetLogs(o.Pod, o.podLogOptions(container)).Stream(ctx)
	if err != nil {
		return err
	}
	defer rc.Close()
	if _, err := io.Copy(cl.out, rc); err != nil {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		return fmt.Errorf("reading the logs: %w", err)
	}
	return nil
}
