package cli

import (
	"context"
	"errors"
	"fmt"
	"strings"

	ucli "github.com/urfave/cli/v2"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/kubectl/pkg/describe"
)

// describeOptions are one invocation's `shoal describe` flags and arguments.
type describeOptions struct {
	Args          []string
	Selector      string
	AllNamespaces bool
}

// Validate checks the arguments.
func (o *describeOptions) Validate() error {
	if len(o.Args) == 0 {
		return errors.New("you must specify the type of resource to describe, e.g. pods, services, deployments or nodes")
	}
	return nil
}

func newDescribeCommand(deps Deps) *ucli.Command {
	return &ucli.Command{
		Name:      "describe",
		Usage:     "show objects in detail, with their related objects and events",
		ArgsUsage: "TYPE [NAME_PREFIX...] | TYPE/NAME...",
		Flags: append([]ucli.Flag{
			&ucli.StringFlag{Name: "selector", Aliases: []string{"l"}, Usage: "label `SELECTOR`, e.g. app=web"},
			&ucli.BoolFlag{Name: "all-namespaces", Aliases: []string{"A"}, Usage: "describe across all namespaces"},
		}, clientFlags()...),
		Action: func(c *ucli.Context) error {
			o := describeOptions{Args: c.Args().Slice(), Selector: c.String("selector"), AllNamespaces: c.Bool("all-namespaces")}
			if err := o.Validate(); err != nil {
				return err
			}
			cl, err := newClients(c, deps)
			if err != nil {
				return err
			}
			return cl.describe(c.Context, o)
		},
	}
}

// describeTarget is one object to describe.
type describeTarget struct{ namespace, name string }

func (cl *clients) describe(ctx context.Context, o describeOptions) error {
	groups, err := cl.parseResourceArgs(o.Args)
	if err != nil {
		return err
	}
	settings := describe.DescriberSettings{ShowEvents: true, ChunkSize: 500}
	var errs []error
	first := true
	for _, g := range groups {
		d, ok := describe.DescriberFor(g.mapping.GroupVersionKind.GroupKind(), cl.rest)
		if !ok {
			if d, ok = describe.GenericDescriberFor(g.mapping, cl.rest); !ok {
				errs = append(errs, fmt.Errorf("no description has been implemented for %s", g.mapping.GroupVersionKind.Kind))
				continue
			}
		}
		targets, terrs := cl.describeTargets(ctx, g, o)
		errs = append(errs, terrs...)
		for _, t := range targets {
			s, err := d.Describe(t.namespace, t.name, settings)
			if err != nil {
				errs = append(errs, err)
				continue
			}
			if !first {
				fmt.Fprint(cl.out, "\n\n")
			}
			first = false
			fmt.Fprint(cl.out, s)
		}
	}
	if ctx.Err() != nil {
		return ctx.Err()
	}
	if first && len(errs) == 0 {
		if o.AllNamespaces {
			fmt.Fprintln(cl.errw, "No resources found")
		} else {
			fmt.Fprintf(cl.errw, "No resources found in %s namespace.\n", cl.namespace)
		}
	}
	return reportAll(cl.errw, errs)
}

// describeTargets lists the objects of one type to describe: by selector
// when no names are given, else by name, where a name that matches no object
// exactly stands for every object whose name starts with it (as in
// `kubectl describe pods web`).
func (cl *clients) describeTargets(ctx context.Context, g resourceArgs, o describeOptions) ([]describeTarget, []error) {
	ri := cl.resourceInterface(g.mapping, cl.listNamespace(g.mapping, o.AllNamespaces))
	if len(g.names) == 0 {
		list, err := ri.List(ctx, metav1.ListOptions{LabelSelector: o.Selector})
		if err != nil {
			return nil, []error{err}
		}
		out := make([]describeTarget, 0, len(list.Items))
		for _, item := range list.Items {
			out = append(out, describeTarget{item.GetNamespace(), item.GetName()})
		}
		return out, nil
	}
	var out []describeTarget
	var errs []error
	var all []describeTarget // listed once, for prefix matches
	for _, name := range g.names {
		obj, err := ri.Get(ctx, name, metav1.GetOptions{})
		if err == nil {
			out = append(out, describeTarget{obj.GetNamespace(), obj.GetName()})
			continue
		}
		if !apierrors.IsNotFound(err) {
			errs = append(errs, err)
			continue
		}
		if all == nil {
			list, lerr := ri.List(ctx, metav1.ListOptions{})
			if lerr != nil {
				errs = append(errs, err)
				continue
			}
			all = []describeTarget{}
			for _, item := range list.Items {
				all = append(all, describeTarget{item.GetNamespace(), item.GetName()})
			}
		}
		found := false
		for _, t := range all {
			if strings.HasPrefix(t.name, name) {
				out = append(out, t)
				found = true
			}
		}
		if !found {
			errs = append(errs, err)
		}
	}
	return out, errs
}
