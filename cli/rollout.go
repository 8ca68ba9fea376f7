package cli

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	ucli "github.com/urfave/cli/v2"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/strategicpatch"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/cache"
	watchtools "k8s.io/client-go/tools/watch"
	cmdutil "k8s.io/kubectl/pkg/cmd/util"
	"k8s.io/kubectl/pkg/polymorphichelpers"
)

// newRolloutCommand is `shoal rollout status|history|undo|pause|resume|
// restart`, with kubectl's arguments, flags and output. The work is done by
// kubectl's own library (k8s.io/kubectl/pkg/polymorphichelpers), so the
// answers read exactly as kubectl's do.
func newRolloutCommand(deps Deps) *ucli.Command {
	target := "TYPE NAME | TYPE/NAME"
	return &ucli.Command{
		Name:  "rollout",
		Usage: "manage the rollout of a deployment",
		Subcommands: []*ucli.Command{
			{
				Name: "status", Usage: "watch a rollout until it completes", ArgsUsage: target,
				Flags: append([]ucli.Flag{
					&ucli.BoolFlag{Name: "watch", Aliases: []string{"w"}, Value: true, Usage: "watch until the rollout completes"},
					&ucli.DurationFlag{Name: "timeout", Usage: "give up after this long (0: never)"},
					&ucli.Int64Flag{Name: "revision", Usage: "wait for this revision (0: the latest)"},
				}, clientFlags()...),
				Action: rolloutAction(deps, func(ctx context.Context, cl *clients, r *rolloutTarget, c *ucli.Context) error {
					return cl.rolloutStatus(ctx, r, c.Bool("watch"), c.Duration("timeout"), c.Int64("revision"))
				}),
			},
			{
				Name: "history", Usage: "list a deployment's revisions", ArgsUsage: target,
				Flags: append([]ucli.Flag{&ucli.Int64Flag{Name: "revision", Usage: "show the pod template of this revision"}}, clientFlags()...),
				Action: rolloutAction(deps, func(ctx context.Context, cl *clients, r *rolloutTarget, c *ucli.Context) error {
					hv, err := polymorphichelpers.HistoryViewerFor(r.gk(), r.cs)
					if err != nil {
						return err
					}
					out, err := hv.ViewHistory(r.namespace, r.name, c.Int64("revision"))
					if err != nil {
						return err
					}
					if c.Int64("revision") > 0 {
						fmt.Fprintf(cl.out, "%s with revision #%d\n", r, c.Int64("revision"))
					} else {
						fmt.Fprintf(cl.out, "%s \n", r)
					}
					fmt.Fprintln(cl.out, strings.TrimRight(out, "\n"))
					return nil
				}),
			},
			{
				Name: "undo", Usage: "roll back to the previous (or a given) revision", ArgsUsage: target,
				Flags: append([]ucli.Flag{&ucli.Int64Flag{Name: "to-revision", Usage: "the revision to roll back to (0: the previous one)"}}, clientFlags()...),
				Action: rolloutAction(deps, func(ctx context.Context, cl *clients, r *rolloutTarget, c *ucli.Context) error {
					rb, err := polymorphichelpers.RollbackerFor(r.gk(), r.cs)
					if err != nil {
						return err
					}
					obj, err := r.get(ctx)
					if err != nil {
						return err
					}
					msg, err := rb.Rollback(obj, nil, c.Int64("to-revision"), cmdutil.DryRunNone)
					if err != nil {
						return err
					}
					fmt.Fprintf(cl.out, "%s %s\n", r, msg)
					return nil
				}),
			},
			rolloutPatchCommand(deps, "pause", "stop a deployment's rollout where it is", "paused", polymorphichelpers.ObjectPauserFn),
			rolloutPatchCommand(deps, "resume", "let a paused deployment's rollout go on", "resumed", polymorphichelpers.ObjectResumerFn),
			rolloutPatchCommand(deps, "restart", "restart a deployment's pods with a rolling update", "restarted", polymorphichelpers.ObjectRestarterFn),
		},
	}
}

// rolloutTarget is the object a rollout command works on.
type rolloutTarget struct {
	mapping         *meta.RESTMapping
	namespace, name string
	cs              kubernetes.Interface
}

func (r *rolloutTarget) gk() schema.GroupKind { return r.mapping.GroupVersionKind.GroupKind() }

// String is how kubectl names the object in its messages:
// "deployment.apps/web", "pod/p1".
func (r *rolloutTarget) String() string {
	gk := r.gk()
	s := strings.ToLower(gk.Kind)
	if gk.Group != "" {
		s += "." + gk.Group
	}
	return s + "/" + r.name
}

// get reads the object as its typed Go struct.
func (r *rolloutTarget) get(ctx context.Context) (runtime.Object, error) {
	if r.gk().Kind != "Deployment" {
		return nil, fmt.Errorf("no rollout support for %s", r.gk().Kind)
	}
	return r.cs.AppsV1().Deployments(r.namespace).Get(ctx, r.name, metav1.GetOptions{})
}

func rolloutAction(deps Deps, do func(context.Context, *clients, *rolloutTarget, *ucli.Context) error) ucli.ActionFunc {
	return func(c *ucli.Context) error {
		cl, err := newClients(c, deps)
		if err != nil {
			return err
		}
		r, err := cl.rolloutTarget(c.Args().Slice())
		if err != nil {
			return err
		}
		return do(c.Context, cl, r, c)
	}
}

// rolloutTarget resolves "deployment web", "deploy/web" and the like.
func (cl *clients) rolloutTarget(args []string) (*rolloutTarget, error) {
	var typ, name string
	switch {
	case len(args) == 1 && strings.Contains(args[0], "/"):
		typ, name, _ = strings.Cut(args[0], "/")
	case len(args) == 2:
		typ, name = args[0], args[1]
	default:
		return nil, errors.New("required resource not specified: give TYPE NAME or TYPE/NAME, e.g. deployment/web")
	}
	m, err := cl.mappingFor(typ)
	if err != nil {
		return nil, err
	}
	cs, err := cl.clientset()
	if err != nil {
		return nil, err
	}
	return &rolloutTarget{mapping: m, namespace: cl.namespace, name: name, cs: cs}, nil
}

// rolloutStatus prints kubectl's rollout messages, one per change seen,
// until the rollout is done (or, without watch, once). Like kubectl it
// watches through an informer-style list and watch of the one object.
func (cl *clients) rolloutStatus(ctx context.Context, r *rolloutTarget, watchOn bool, timeout time.Duration, revision int64) error {
	sv, err := polymorphichelpers.StatusViewerFor(r.gk())
	if err != nil {
		return err
	}
	ri := cl.resourceInterface(r.mapping, r.namespace)
	// A missing object is an error now, not a wait.
	if _, err := ri.Get(ctx, r.name, metav1.GetOptions{}); err != nil {
		return err
	}
	fieldSelector := fields.OneTermEqualSelector("metadata.name", r.name).String()
	lw := cache.ToListWatcherWithWatchListSemantics(&cache.ListWatch{
		ListWithContextFunc: func(ctx context.Context, o metav1.ListOptions) (runtime.Object, error) {
			o.FieldSelector = fieldSelector
			return ri.List(ctx, o)
		},
		WatchFuncWithContext: func(ctx context.Context, o metav1.ListOptions) (watch.Interface, error) {
			o.FieldSelector = fieldSelector
			return ri.Watch(ctx, o)
		},
	}, cl.dynamic)
	ctx, cancel := watchtools.ContextWithOptionalTimeout(ctx, timeout)
	defer cancel()
	_, err = watchtools.UntilWithSync(ctx, lw, &unstructured.Unstructured{}, nil, func(e watch.Event) (bool, error) {
		switch e.Type {
		case watch.Added, watch.Modified:
			msg, done, err := sv.Status(e.Object.(runtime.Unstructured), revision)
			if err != nil {
				return false, err
			}
			fmt.Fprint(cl.out, msg)
			return done || !watchOn, nil
		case watch.Deleted:
			// Abort rather than silently watch a re-created object.
			return true, errors.New("object has been deleted")
		}
		return true, fmt.Errorf("internal error: unexpected event %#v", e)
	})
	if wait.Interrupted(err) && ctx.Err() != nil && !errors.Is(ctx.Err(), context.Canceled) {
		return errors.New("timed out waiting for the condition")
	}
	return err
}

// rolloutPatchCommand builds pause, resume and restart: kubectl's object
// function gives the changed object, sent as a strategic merge patch.
func rolloutPatchCommand(deps Deps, name, usage, past string, fn func(runtime.Object) ([]byte, error)) *ucli.Command {
	return &ucli.Command{
		Name: name, Usage: usage, ArgsUsage: "TYPE NAME | TYPE/NAME",
		Flags: clientFlags(),
		Action: rolloutAction(deps, func(ctx context.Context, cl *clients, r *rolloutTarget, c *ucli.Context) error {
			obj, err := r.get(ctx)
			if err != nil {
				return err
			}
			orig, err := json.Marshal(obj)
			if err != nil {
				return err
			}
			updated, err := fn(obj)
			if err != nil {
				return fmt.Errorf("%s %v", r, err)
			}
			patch, err := strategicpatch.CreateTwoWayMergePatch(orig, updated, obj)
			if err != nil {
				return err
			}
			if _, err := cl.resourceInterface(r.mapping, r.namespace).Patch(ctx, r.name, types.StrategicMergePatchType, patch, metav1.PatchOptions{FieldManager: "shoal-rollout"}); err != nil {
				return err
			}
			fmt.Fprintf(cl.out, "%s %s\n", r, past)
			return nil
		}),
	}
}
