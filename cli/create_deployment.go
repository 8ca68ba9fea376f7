package cli

import (
	"errors"
	"fmt"
	"path"
	"strings"

	ucli "github.com/urfave/cli/v2"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// newCreateCommand is `shoal create deployment NAME --image IMG` and
// `shoal create ingress NAME --rule ...`, as kubectl's generators build them.
func newCreateCommand(deps Deps) *ucli.Command {
	return &ucli.Command{
		Name:  "create",
		Usage: "create an object from a few flags",
		Subcommands: []*ucli.Command{{
			Name:      "deployment",
			Aliases:   []string{"deploy"},
			Usage:     "create a deployment running an image",
			ArgsUsage: "NAME --image IMAGE [--replicas N] [--port PORT]",
			Flags: append([]ucli.Flag{
				&ucli.StringSliceFlag{Name: "image", Usage: "`IMAGE` to run (repeatable: one container each)"},
				&ucli.IntFlag{Name: "replicas", Aliases: []string{"r"}, Value: 1, Usage: "number of pods"},
				&ucli.IntFlag{Name: "port", Value: -1, Usage: "the containers' port"},
			}, clientFlags()...),
			Action: func(c *ucli.Context) error {
				if c.NArg() != 1 {
					return errors.New("exactly one NAME is required")
				}
				images := c.StringSlice("image")
				if len(images) == 0 {
					return errors.New("required flag(s) \"image\" not set")
				}
				d := deploymentFor(c.Args().First(), images, int32(c.Int("replicas")), c.Int("port"))
				cl, err := newClients(c, deps)
				if err != nil {
					return err
				}
				cs, err := cl.clientset()
				if err != nil {
					return err
				}
				if _, err := cs.AppsV1().Deployments(cl.namespace).Create(c.Context, d, metav1.CreateOptions{FieldManager: "shoal-create"}); err != nil {
					return err
				}
				fmt.Fprintf(cl.out, "deployment.apps/%s created\n", d.Name)
				return nil
			},
		}, newCreateIngressCommand(deps)},
	}
}

// deploymentFor builds what `kubectl create deployment` sends: label and
// selector app=NAME, one container per image named after the image.
func deploymentFor(name string, images []string, replicas int32, port int) *appsv1.Deployment {
	labels := map[string]string{"app": name}
	var containers []corev1.Container
	for _, img := range images {
		c := corev1.Container{Name: containerNameFor(img), Image: img}
		if port >= 0 {
			c.Ports = []corev1.ContainerPort{{ContainerPort: int32(port)}}
		}
		containers = append(containers, c)
	}
	if len(containers) == 1 {
		containers[0].Name = containerNameFor(images[0])
	}
	return &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: name, Labels: labels},
		Spec: appsv1.DeploymentSpec{
			Replicas: &replicas,
			Selector: &metav1.LabelSelector{MatchLabels: labels},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: labels},
				Spec:       corev1.PodSpec{Containers: containers},
			},
		},
	}
}

// containerNameFor is kubectl's: the image's last path element without
// tag or digest.
func containerNameFor(image string) string {
	base := path.Base(image)
	if i := strings.IndexAny(base, ":@"); i >= 0 {
		base = base[:i]
	}
	return base
}
