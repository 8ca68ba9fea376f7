package cli

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	ucli "github.com/urfave/cli/v2"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/strategicpatch"
)

// newSetCommand is `shoal set image TYPE/NAME CONTAINER=IMAGE...`: the
// deployment's changed template goes as a strategic merge patch, as kubectl
// sends it.
func newSetCommand(deps Deps) *ucli.Command {
	return &ucli.Command{
		Name:  "set",
		Usage: "change a field of an object",
		Subcommands: []*ucli.Command{{
			Name:      "image",
			Usage:     "change the image of containers of a deployment",
			ArgsUsage: "TYPE/NAME CONTAINER=IMAGE... (CONTAINER * for all)",
			Flags:     clientFlags(),
			Action: func(c *ucli.Context) error {
				args := c.Args().Slice()
				var target, pairs []string
				for _, a := range args {
					if strings.Contains(a, "=") {
						pairs = append(pairs, a)
					} else {
						target = append(target, a)
					}
				}
				if len(pairs) == 0 {
					return errors.New("at least one image update is required: CONTAINER=IMAGE")
				}
				cl, err := newClients(c, deps)
				if err != nil {
					return err
				}
				r, err := cl.rolloutTarget(target)
				if err != nil {
					return err
				}
				d, err := r.cs.AppsV1().Deployments(r.namespace).Get(c.Context, r.name, metav1.GetOptions{})
				if err != nil {
					return err
				}
				orig, _ := json.Marshal(d)
				for _, p := range pairs {
					name, image, _ := strings.Cut(p, "=")
					found := false
					for i := range d.Spec.Template.Spec.Containers {
						if ct := &d.Spec.Template.Spec.Containers[i]; name == "*" || ct.Name == name {
							ct.Image, found = image, true
						}
					}
					if !found {
						return fmt.Errorf("unable to find container named %q", name)
					}
				}
				updated, _ := json.Marshal(d)
				patch, err := strategicpatch.CreateTwoWayMergePatch(orig, updated, d)
				if err != nil {
					return err
				}
				if _, err := cl.resourceInterface(r.mapping, r.namespace).Patch(c.Context, r.name, types.StrategicMergePatchType, patch, metav1.PatchOptions{FieldManager: "shoal-set"}); err != nil {
					return err
				}
				fmt.Fprintf(cl.out, "%s image updated\n", r)
				return nil
			},
		}},
	}
}
