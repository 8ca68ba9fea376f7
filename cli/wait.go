package cli

import (
	"errors"
	"flag"
	"strings"
	"time"

	ucli "github.com/urfave/cli/v2"
	"k8s.io/cli-runtime/pkg/genericiooptions"
	kubectlwait "k8s.io/kubectl/pkg/cmd/wait"
)

// waitOptions are one invocation's `shoal wait` flags and arguments.
type waitOptions struct {
	Args          []string
	Filenames     []string
	For           []string
	Timeout       time.Duration
	Selector      string
	FieldSelector string
	All           bool
	AllNamespaces bool
	Output        string
}

// Validate checks what kubectl's library would only find out later.
func (o *waitOptions) Validate() error {
	var errs []error
	if len(o.Args) == 0 && len(o.Filenames) == 0 {
		errs = append(errs, errors.New("you must specify the type of resource to wait for, e.g. pod/web or deployment web, or -f FILE"))
	}
	if len(o.For) == 0 {
		errs = append(errs, errors.New("--for is required: create, delete, condition=NAME[=VALUE] or jsonpath='{EXPR}'[=VALUE]"))
	}
	switch o.Output {
	case "", "name", "json", "yaml":
	default:
		if !strings.HasPrefix(o.Output, "jsonpath=") && !strings.HasPrefix(o.Output, "go-template=") {
			errs = append(errs, errors.New("--output: unable to match a printer suitable for the output format \""+o.Output+"\", allowed formats are: go-template,json,jsonpath,name,yaml"))
		}
	}
	return errors.Join(errs...)
}

// newWaitCommand is `shoal wait`, kubectl's wait: the work is kubectl's own
// library (k8s.io/kubectl/pkg/cmd/wait), which watches each object until
// its condition holds, so the messages and exit codes are kubectl's
// ("pod/web condition met", "error: timed out waiting for the condition on
// pods/web").
func newWaitCommand(deps Deps) *ucli.Command {
	return &ucli.Command{
		Name:      "wait",
		Usage:     "wait for a condition on one or many objects",
		ArgsUsage: "TYPE/NAME... | TYPE NAME... | TYPE (-l SELECTOR | --all) | -f FILE",
		Flags: append([]ucli.Flag{
			&listFlag{GenericFlag: ucli.GenericFlag{Name: "for", Usage: "the `CONDITION`: create, delete, condition=NAME[=VALUE] (VALUE defaults to true) or jsonpath='{EXPR}'[=VALUE]; repeatable, all must hold"}},
			&ucli.StringSliceFlag{Name: "filename", Aliases: []string{"f"}, Usage: "the objects of a manifest `FILE` (or directory, or - for stdin); repeatable"},
			&ucli.DurationFlag{Name: "timeout", Value: 30 * time.Second, Usage: "give up after this long (0: check once; negative: a week)"},
			&ucli.StringFlag{Name: "selector", Aliases: []string{"l"}, Usage: "label `SELECTOR`, e.g. app=web"},
			&ucli.StringFlag{Name: "field-selector", Usage: "field `SELECTOR`, e.g. metadata.name=web"},
			&ucli.BoolFlag{Name: "all", Usage: "every object of the given type in the namespace"},
			&ucli.BoolFlag{Name: "all-namespaces", Aliases: []string{"A"}, Usage: "look in all namespaces"},
			&ucli.StringFlag{Name: "output", Aliases: []string{"o"}, Usage: "name (default), json, yaml, jsonpath=E or go-template=T"},
		}, clientFlags()...),
		Action: func(c *ucli.Context) error {
			o := waitOptions{
				Args:          c.Args().Slice(),
				Filenames:     c.StringSlice("filename"),
				For:           c.Generic("for").(*stringList).values,
				Timeout:       c.Duration("timeout"),
				Selector:      c.String("selector"),
				FieldSelector: c.String("field-selector"),
				All:           c.Bool("all"),
				AllNamespaces: c.Bool("all-namespaces"),
				Output:        c.String("output"),
			}
			if err := o.Validate(); err != nil {
				return err
			}
			cl, err := newClients(c, deps)
			if err != nil {
				return err
			}
			wf := kubectlwait.NewWaitFlags(restGetter{cl}, genericiooptions.IOStreams{In: cl.in, Out: cl.out, ErrOut: cl.errw})
			wf.ForCondition = o.For
			wf.Timeout = o.Timeout
			*wf.ResourceBuilderFlags.FileNameFlags.Filenames = o.Filenames
			*wf.ResourceBuilderFlags.LabelSelector = o.Selector
			*wf.ResourceBuilderFlags.FieldSelector = o.FieldSelector
			*wf.ResourceBuilderFlags.All = o.All
			*wf.ResourceBuilderFlags.AllNamespaces = o.AllNamespaces
			*wf.PrintFlags.OutputFormat = o.Output
			wo, err := wf.ToOptions(o.Args)
			if err != nil {
				return err
			}
			return wo.RunWaitContext(c.Context)
		},
	}
}

// listFlag is a repeatable string flag that, unlike urfave/cli's
// StringSliceFlag, never splits a value at commas: a JSONPath condition
// may hold them. Each run gets a fresh list, so an App can run twice.
type listFlag struct{ ucli.GenericFlag }

func (f *listFlag) Apply(set *flag.FlagSet) error {
	f.Value = &stringList{}
	return f.GenericFlag.Apply(set)
}

// stringList is a listFlag's value.
type stringList struct{ values []string }

func (s *stringList) Set(v string) error {
	s.values = append(s.values, v)
	return nil
}

func (s *stringList) String() string { return strings.Join(s.values, " ") }
