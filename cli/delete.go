package cli

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"time"

	ucli "github.com/urfave/cli/v2"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// deleteOptions are one invocation's `shoal delete` flags and arguments.
type deleteOptions struct {
	Args        []string
	Files       []string
	Recursive   bool
	Selector    string
	Cascade     string
	GracePeriod int
	Wait        bool
	Timeout     time.Duration
}

// propagation maps --cascade to a DeletionPropagation, accepting kubectl's
// old boolean spellings.
func (o *deleteOptions) propagation() (metav1.DeletionPropagation, error) {
	switch o.Cascade {
	case "background", "true", "":
		return metav1.DeletePropagationBackground, nil
	case "foreground":
		return metav1.DeletePropagationForeground, nil
	case "orphan", "false":
		return metav1.DeletePropagationOrphan, nil
	}
	return "", fmt.Errorf("--cascade: %q is not one of background, foreground, orphan", o.Cascade)
}

// Validate checks the flags and arguments.
func (o *deleteOptions) Validate() error {
	var errs []error
	if _, err := o.propagation(); err != nil {
		errs = append(errs, err)
	}
	if o.GracePeriod < -1 {
		errs = append(errs, fmt.Errorf("--grace-period: %d must be -1 (the object's default) or more", o.GracePeriod))
	}
	switch {
	case len(o.Files) > 0 && len(o.Args) > 0:
		errs = append(errs, errors.New("give either -f or resources as arguments, not both"))
	case len(o.Files) == 0 && len(o.Args) == 0:
		errs = append(errs, errors.New("you must provide one or more resources by argument or filename"))
	}
	return errors.Join(errs...)
}

func newDeleteCommand(deps Deps) *ucli.Command {
	return &ucli.Command{
		Name:      "delete",
		Usage:     "delete objects by file, by name or by label selector",
		ArgsUsage: "(-f FILE | TYPE NAME... | TYPE/NAME... | TYPE -l SELECTOR)",
		Flags: append(append(filenameFlags("manifest `FILE` naming the objects to delete (repeatable)"),
			&ucli.StringFlag{Name: "selector", Aliases: []string{"l"}, Usage: "delete every object of TYPE matching this label `SELECTOR`"},
			&ucli.StringFlag{Name: "cascade", Value: "background", Usage: "background, foreground or orphan: what happens to owned objects"},
			&ucli.IntFlag{Name: "grace-period", Value: -1, Usage: "seconds the objects get to terminate (-1: their own default)"},
			&ucli.BoolFlag{Name: "wait", Value: true, Usage: "wait until the objects are gone"},
			&ucli.DurationFlag{Name: "timeout", Usage: "give up waiting after this long (0: wait forever)"},
		), clientFlags()...),
		Action: func(c *ucli.Context) error {
			o := deleteOptions{
				Args:        c.Args().Slice(),
				Files:       c.StringSlice("filename"),
				Recursive:   c.Bool("recursive"),
				Selector:    c.String("selector"),
				Cascade:     c.String("cascade"),
				GracePeriod: c.Int("grace-period"),
				Wait:        c.Bool("wait"),
				Timeout:     c.Duration("timeout"),
			}
			if err := o.Validate(); err != nil {
				return err
			}
			cl, err := newClients(c, deps)
			if err != nil {
				return err
			}
			return cl.delete(c.Context, o)
		},
	}
}

// deleteTarget is one object to delete.
type deleteTarget struct {
	mapping   *meta.RESTMapping
	namespace string
	name      string
	source    string // the manifest it came from, if any
}

func (t deleteTarget) String() string {
	return fmt.Sprintf("%s %q", kindString(t.mapping.GroupVersionKind.GroupKind()), t.name)
}

func (cl *clients) delete(ctx context.Context, o deleteOptions) error {
	targets, errs, err := cl.deleteTargets(ctx, o)
	if err != nil {
		return err
	}
	if ctx.Err() != nil {
		return ctx.Err()
	}
	policy, _ := o.propagation()
	opts := metav1.DeleteOptions{PropagationPolicy: &policy}
	if o.GracePeriod >= 0 {
		g := int64(o.GracePeriod)
		opts.GracePeriodSeconds = &g
	}
	var deleted []deleteTarget
	for _, t := range targets {
		err := cl.resourceInterface(t.mapping, t.namespace).Delete(ctx, t.name, opts)
		if err != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			errs = append(errs, withSource("deleting", t.source, err))
			continue
		}
		fmt.Fprintf(cl.out, "%s deleted\n", t)
		deleted = append(deleted, t)
	}
	if len(targets) == 0 && len(errs) == 0 {
		fmt.Fprintln(cl.errw, "No resources found")
	}
	if o.Wait && len(deleted) > 0 {
		wctx := ctx
		if o.Timeout > 0 {
			var cancel context.CancelFunc
			wctx, cancel = context.WithTimeout(ctx, o.Timeout)
			defer cancel()
		}
		for _, t := range deleted {
			if err := cl.waitGone(wctx, t); err != nil {
				if ctx.Err() != nil {
					return ctx.Err()
				}
				errs = append(errs, err)
			}
		}
	}
	return reportAll(cl.errw, errs)
}

// deleteTargets resolves files, names and selectors into objects. Errors
// about single objects come back in errs, alongside the targets that
// resolved; err means nothing can be deleted.
func (cl *clients) deleteTargets(ctx context.Context, o deleteOptions) (targets []deleteTarget, errs []error, err error) {
	if len(o.Files) > 0 {
		manifests, err := readManifests(o.Files, o.Recursive, cl.in)
		if err != nil {
			return nil, nil, err
		}
		for _, m := range manifests {
			gvk := m.obj.GroupVersionKind()
			mapping, err := cl.mapper.RESTMapping(gvk.GroupKind(), gvk.Version)
			if err != nil {
				errs = append(errs, fmt.Errorf("resource mapping not found for name: %q namespace: %q from %q: %w", m.obj.GetName(), m.obj.GetNamespace(), m.source, err))
				continue
			}
			ns := m.obj.GetNamespace()
			if ns == "" {
				ns = cl.namespace
			}
			targets = append(targets, deleteTarget{mapping: mapping, namespace: ns, name: m.obj.GetName(), source: m.source})
		}
		// A manifest lists its namespaces first so that apply can create
		// them; deleting them last lets every object of the manifest be
		// deleted (and reported) by name rather than swept away with its
		// namespace.
		sort.SliceStable(targets, func(i, j int) bool {
			return !isNamespace(targets[i]) && isNamespace(targets[j])
		})
		return targets, errs, nil
	}
	groups, err := cl.parseResourceArgs(o.Args)
	if err != nil {
		return nil, nil, err
	}
	for _, g := range groups {
		if len(g.names) > 0 {
			if o.Selector != "" {
				return nil, nil, errors.New("name cannot be provided when a selector is specified")
			}
			for _, n := range g.names {
				targets = append(targets, deleteTarget{mapping: g.mapping, namespace: cl.namespace, name: n})
			}
			continue
		}
		if o.Selector == "" {
			return nil, nil, errors.New("resource(s) were provided, but no name was specified")
		}
		list, err := cl.resourceInterface(g.mapping, cl.namespace).List(ctx, metav1.ListOptions{LabelSelector: o.Selector})
		if err != nil {
			errs = append(errs, err)
			continue
		}
		for _, item := range list.Items {
			targets = append(targets, deleteTarget{mapping: g.mapping, namespace: item.GetNamespace(), name: item.GetName()})
		}
	}
	return targets, errs, nil
}

func isNamespace(t deleteTarget) bool {
	gk := t.mapping.GroupVersionKind.GroupKind()
	return gk.Group == "" && gk.Kind == "Namespace"
}

// waitGone polls until GET answers 404, backing off from 100ms to 1s.
func (cl *clients) waitGone(ctx context.Context, t deleteTarget) error {
	ri := cl.resourceInterface(t.mapping, t.namespace)
	delay := 100 * time.Millisecond
	for {
		_, err := ri.Get(ctx, t.name, metav1.GetOptions{})
		switch {
		case apierrors.IsNotFound(err):
			return nil
		case err != nil && ctx.Err() == nil:
			return err
		}
		select {
		case <-ctx.Done():
			if errors.Is(ctx.Err(), context.DeadlineExceeded) {
				return fmt.Errorf("timed out waiting for the deletion of %s", t)
			}
			return ctx.Err()
		case <-time.After(delay):
		}
		delay = min(2*delay, time.Second)
	}
}
