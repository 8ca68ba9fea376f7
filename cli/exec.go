package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/url"

	ucli "github.com/urfave/cli/v2"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/tools/remotecommand"
	utilexec "k8s.io/client-go/util/exec"
	"k8s.io/kubectl/pkg/cmd/util/podcmd"
	"k8s.io/kubectl/pkg/util/term"
	"k8s.io/streaming/pkg/httpstream"
)

// execOptions are one invocation's `shoal exec` flags and arguments.
type execOptions struct {
	Pod       string
	Container string
	Command   []string
	Stdin     bool
	TTY       bool
	Quiet     bool
}

// Validate checks the flags.
func (o *execOptions) Validate() error {
	var errs []error
	if o.Pod == "" {
		errs = append(errs, errors.New("expected 'exec POD [-c CONTAINER] [-i] [-t] -- COMMAND [args...]'.\nPOD is a required argument for the exec command"))
	}
	if len(o.Command) == 0 {
		errs = append(errs, errors.New("you must specify at least one command for the container"))
	}
	return errors.Join(errs...)
}

func newExecCommand(deps Deps) *ucli.Command {
	return &ucli.Command{
		Name:      "exec",
		Usage:     "run a command in a container of a pod",
		ArgsUsage: "POD -- COMMAND [ARG...]",
		Flags: append([]ucli.Flag{
			&ucli.StringFlag{Name: "container", Aliases: []string{"c"}, Usage: "container `NAME` (default: the pod's only or default container)"},
			&ucli.BoolFlag{Name: "stdin", Aliases: []string{"i"}, Usage: "pass stdin to the command"},
			&ucli.BoolFlag{Name: "tty", Aliases: []string{"t"}, Usage: "allocate a terminal (with -i, when stdin is a terminal)"},
			&ucli.BoolFlag{Name: "quiet", Aliases: []string{"q"}, Usage: "print only the command's output"},
		}, clientFlags()...),
		UseShortOptionHandling: true,
		Action: func(c *ucli.Context) error {
			o := execOptions{
				Container: c.String("container"),
				Stdin:     c.Bool("stdin"),
				TTY:       c.Bool("tty"),
				Quiet:     c.Bool("quiet"),
			}
			if args := c.Args().Slice(); len(args) > 0 {
				o.Pod, o.Command = args[0], args[1:]
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
			return cl.exec(c.Context, o)
		},
	}
}

func (cl *clients) exec(ctx context.Context, o execOptions) error {
	cs, err := cl.clientset()
	if err != nil {
		return err
	}
	pod, err := cs.CoreV1().Pods(cl.namespace).Get(ctx, o.Pod, metav1.GetOptions{})
	if err != nil {
		return err
	}
	if pod.Status.Phase == corev1.PodSucceeded || pod.Status.Phase == corev1.PodFailed {
		return fmt.Errorf("cannot exec into a container in a completed pod; current phase is %s", pod.Status.Phase)
	}
	container := o.Container
	if container == "" {
		c, err := podcmd.FindOrDefaultContainerByName(pod, "", o.Quiet, cl.errw)
		if err != nil {
			return err
		}
		container = c.Name
	} else if c, _ := podcmd.FindContainerByName(pod, container); c == nil {
		return fmt.Errorf("container %s is not valid for pod %s out of: %s", container, pod.Name, podcmd.AllContainerNames(pod))
	}

	// As kubectl: a TTY needs -i and a terminal on stdin, which then goes
	// raw for the session.
	t := term.TTY{Out: cl.out}
	var stdin io.Reader
	tty := o.TTY && o.Stdin
	if o.Stdin {
		stdin = cl.in
		t.In = cl.in
	}
	if tty && !t.IsTerminalIn() {
		tty = false
		if !o.Quiet {
			fmt.Fprintln(cl.errw, "Unable to use a TTY - input is not a terminal or the right kind of file")
		}
	}
	stderr := cl.errw
	var sizes remotecommand.TerminalSizeQueue
	if tty {
		t.Raw = true
		sizes = sizeQueueAdapter{t.MonitorSize(t.GetSize())}
		stderr = nil // the terminal merges it into stdout
	}

	u := cs.CoreV1().RESTClient().Post().Resource("pods").Namespace(pod.Namespace).Name(pod.Name).
		SubResource("exec").VersionedParams(&corev1.PodExecOptions{
		Container: container,
		Command:   o.Command,
		Stdin:     o.Stdin,
		Stdout:    true,
		Stderr:    !tty,
		TTY:       tty,
	}, scheme.ParameterCodec).URL()
	executor, err := newExecutor(cl, u)
	if err != nil {
		return err
	}
	err = t.Safe(func() error {
		return executor.StreamWithContext(ctx, remotecommand.StreamOptions{
			Stdin: stdin, Stdout: cl.out, Stderr: stderr, Tty: tty, TerminalSizeQueue: sizes,
		})
	})
	var ce utilexec.CodeExitError
	if errors.As(err, &ce) {
		return &exitCodeError{code: ce.Code}
	}
	if err != nil && ctx.Err() != nil {
		return ctx.Err()
	}
	return err
}

// newExecutor is kubectl's: WebSocket (v5.channel.k8s.io) first, SPDY when
// the WebSocket upgrade fails.
func newExecutor(cl *clients, u *url.URL) (remotecommand.Executor, error) {
	spdyExec, err := remotecommand.NewSPDYExecutor(cl.rest, "POST", u)
	if err != nil {
		return nil, err
	}
	// A WebSocket handshake is a GET (RFC 6455 section 4.1).
	wsExec, err := remotecommand.NewWebSocketExecutor(cl.rest, "GET", u.String())
	if err != nil {
		return nil, err
	}
	return remotecommand.NewFallbackExecutor(wsExec, spdyExec, func(err error) bool {
		return httpstream.IsUpgradeFailure(err) || httpstream.IsHTTPSProxyError(err)
	})
}

// sizeQueueAdapter turns kubectl's terminal size queue into client-go's.
type sizeQueueAdapter struct{ q term.TerminalSizeQueue }

func (a sizeQueueAdapter) Next() *remotecommand.TerminalSize {
	s := a.q.Next()
	if s == nil {
		return nil
	}
	return &remotecommand.TerminalSize{Width: s.Width, Height: s.Height}
}
