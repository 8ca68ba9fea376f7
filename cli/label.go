package cli

import (
	"encoding/json"
	"fmt"
	"strings"

	ucli "github.com/urfave/cli/v2"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
)

// newLabelCommand and newAnnotateCommand are `shoal label|annotate TYPE
// NAME KEY=VALUE... KEY-` with --overwrite, as kubectl: a merge patch of
// metadata.labels (or annotations).
func newLabelCommand(deps Deps) *ucli.Command {
	return metaPatchCommand(deps, "label", "labels", "labeled", "set or remove labels of an object")
}

func newAnnotateCommand(deps Deps) *ucli.Command {
	return metaPatchCommand(deps, "annotate", "annotations", "annotated", "set or remove annotations of an object")
}

func metaPatchCommand(deps Deps, verb, field, past, usage string) *ucli.Command {
	return &ucli.Command{
		Name:      verb,
		Usage:     usage,
		ArgsUsage: "TYPE NAME | TYPE/NAME KEY=VALUE... KEY-...",
		Flags: append([]ucli.Flag{
			&ucli.BoolFlag{Name: "overwrite", Usage: "replace values that are already set"},
		}, clientFlags()...),
		Action: func(c *ucli.Context) error {
			var target []string
			set, remove := map[string]*string{}, []string{}
			for _, a := range c.Args().Slice() {
				switch {
				case strings.Contains(a, "="):
					k, v, _ := strings.Cut(a, "=")
					set[k] = &v
				case strings.HasSuffix(a, "-") && len(target) > 0:
					remove = append(remove, strings.TrimSuffix(a, "-"))
				default:
					target = append(target, a)
				}
			}
			if len(set) == 0 && len(remove) == 0 {
				return fmt.Errorf("at least one %s update is required", strings.TrimSuffix(field, "s"))
			}
			cl, err := newClients(c, deps)
			if err != nil {
				return err
			}
			r, err := cl.rolloutTarget(target)
			if err != nil {
				return err
			}
			ri := cl.resourceInterface(r.mapping, r.namespace)
			obj, err := ri.Get(c.Context, r.name, metav1.GetOptions{})
			if err != nil {
				return err
			}
			current := obj.GetLabels()
			if field == "annotations" {
				current = obj.GetAnnotations()
			}
			if !c.Bool("overwrite") {
				for k, v := range set {
					if old, ok := current[k]; ok && old != *v {
						return fmt.Errorf("'%s' already has a value (%s), and --overwrite is false", k, old)
					}
				}
			}
			changes := map[string]*string{}
			for k, v := range set {
				changes[k] = v
			}
			for _, k := range remove {
				changes[k] = nil
			}
			patch, err := json.Marshal(map[string]any{"metadata": map[string]any{field: changes}})
			if err != nil {
				return err
			}
			if _, err := ri.Patch(c.Context, r.name, types.MergePatchType, patch, metav1.PatchOptions{FieldManager: "kubectl-" + verb}); err != nil {
				return err
			}
			fmt.Fprintf(cl.out, "%s %s\n", r, past)
			return nil
		},
	}
}
