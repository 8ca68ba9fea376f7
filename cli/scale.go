package cli

import (
	"errors"
	"fmt"

	ucli "github.com/urfave/cli/v2"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
)

// newScaleCommand is `shoal scale TYPE/NAME --replicas N`: a merge patch of
// the scale subresource, as kubectl sends it.
func newScaleCommand(deps Deps) *ucli.Command {
	return &ucli.Command{
		Name:      "scale",
		Usage:     "set the number of replicas of a deployment, replica set or replication controller",
		ArgsUsage: "TYPE NAME | TYPE/NAME --replicas N",
		Flags: append([]ucli.Flag{
			&ucli.IntFlag{Name: "replicas", Value: -1, Usage: "the new number of replicas"},
		}, clientFlags()...),
		Action: func(c *ucli.Context) error {
			n := c.Int("replicas")
			if n < 0 {
				return errors.New("the --replicas=COUNT flag is required, and COUNT must be greater than or equal to 0")
			}
			cl, err := newClients(c, deps)
			if err != nil {
				return err
			}
			r, err := cl.rolloutTarget(c.Args().Slice())
			if err != nil {
				return err
			}
			patch := fmt.Sprintf(`{"spec":{"replicas":%d}}`, n)
			if _, err := cl.resourceInterface(r.mapping, r.namespace).Patch(c.Context, r.name, types.MergePatchType, []byte(patch), metav1.PatchOptions{}, "scale"); err != nil {
				return err
			}
			fmt.Fprintf(cl.out, "%s scaled\n", r)
			return nil
		},
	}
}
