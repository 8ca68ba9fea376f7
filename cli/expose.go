package cli

import (
	"errors"
	"fmt"
	"strconv"
	"strings"

	ucli "github.com/urfave/cli/v2"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/client-go/kubernetes"
)

// newExposeCommand is `shoal expose TYPE/NAME --port P [--type T]
// [--target-port TP] [--name N]`: a Service selecting the object's pods,
// built as kubectl builds it.
func newExposeCommand(deps Deps) *ucli.Command {
	return &ucli.Command{
		Name:      "expose",
		Usage:     "make a deployment, replica set, replication controller or pod reachable through a Service",
		ArgsUsage: "TYPE NAME | TYPE/NAME --port PORT",
		Flags: append([]ucli.Flag{
			&ucli.StringFlag{Name: "port", Usage: "the Service's port"},
			&ucli.StringFlag{Name: "target-port", Usage: "the pods' port (name or number; default: --port)"},
			&ucli.StringFlag{Name: "type", Value: "ClusterIP", Usage: "ClusterIP, NodePort, LoadBalancer or ExternalName"},
			&ucli.StringFlag{Name: "name", Usage: "the Service's name (default: the object's)"},
			&ucli.StringFlag{Name: "protocol", Value: "TCP", Usage: "TCP, UDP or SCTP"},
		}, clientFlags()...),
		Action: func(c *ucli.Context) error {
			cl, err := newClients(c, deps)
			if err != nil {
				return err
			}
			r, err := cl.rolloutTarget(c.Args().Slice())
			if err != nil {
				return err
			}
			cs := r.cs
			selector, ports, err := exposeSource(c, cs, r)
			if err != nil {
				return err
			}
			svc, err := serviceFor(c, r.name, selector, ports)
			if err != nil {
				return err
			}
			if _, err := cs.CoreV1().Services(cl.namespace).Create(c.Context, svc, metav1.CreateOptions{FieldManager: "kubectl-expose"}); err != nil {
				return err
			}
			fmt.Fprintf(cl.out, "service/%s exposed\n", svc.Name)
			return nil
		},
	}
}

// exposeSource reads the selector and container ports of what is exposed.
func exposeSource(c *ucli.Context, cs kubernetes.Interface, r *rolloutTarget) (map[string]string, []corev1.ContainerPort, error) {
	ctx := c.Context
	var tmpl corev1.PodSpec
	var selector map[string]string
	switch r.gk().Kind {
	case "Deployment":
		d, err := cs.AppsV1().Deployments(r.namespace).Get(ctx, r.name, metav1.GetOptions{})
		if err != nil {
			return nil, nil, err
		}
		if d.Spec.Selector == nil || len(d.Spec.Selector.MatchExpressions) > 0 {
			return nil, nil, errors.New("couldn't convert expressions in the selector to a Service selector")
		}
		selector, tmpl = d.Spec.Selector.MatchLabels, d.Spec.Template.Spec
	case "ReplicaSet":
		rs, err := cs.AppsV1().ReplicaSets(r.namespace).Get(ctx, r.name, metav1.GetOptions{})
		if err != nil {
			return nil, nil, err
		}
		selector, tmpl = rs.Spec.Selector.MatchLabels, rs.Spec.Template.Spec
	case "ReplicationController":
		rc, err := cs.CoreV1().ReplicationControllers(r.namespace).Get(ctx, r.name, metav1.GetOptions{})
		if err != nil {
			return nil, nil, err
		}
		selector = rc.Spec.Selector
		if rc.Spec.Template != nil {
			tmpl = rc.Spec.Template.Spec
		}
	case "Pod":
		p, err := cs.CoreV1().Pods(r.namespace).Get(ctx, r.name, metav1.GetOptions{})
		if err != nil {
			return nil, nil, err
		}
		if len(p.Labels) == 0 {
			return nil, nil, fmt.Errorf("the pod %s has no labels and cannot be exposed", r.name)
		}
		selector, tmpl = p.Labels, p.Spec
	default:
		return nil, nil, fmt.Errorf("cannot expose a %s", r.gk().Kind)
	}
	var ports []corev1.ContainerPort
	for _, ct := range tmpl.Containers {
		ports = append(ports, ct.Ports...)
	}
	return selector, ports, nil
}

// serviceFor builds the Service kubectl's expose generator makes.
func serviceFor(c *ucli.Context, name string, selector map[string]string, containerPorts []corev1.ContainerPort) (*corev1.Service, error) {
	if n := c.String("name"); n != "" {
		name = n
	}
	proto := corev1.Protocol(strings.ToUpper(c.String("protocol")))
	var ports []corev1.ServicePort
	if p := c.String("port"); p != "" {
		for _, one := range strings.Split(p, ",") {
			n, err := strconv.Atoi(one)
			if err != nil {
				return nil, fmt.Errorf("invalid --port %q", one)
			}
			ports = append(ports, corev1.ServicePort{Port: int32(n), Protocol: proto})
		}
	} else {
		for _, cp := range containerPorts {
			pr := cp.Protocol
			if pr == "" {
				pr = corev1.ProtocolTCP
			}
			ports = append(ports, corev1.ServicePort{Port: cp.ContainerPort, Protocol: pr})
		}
	}
	if len(ports) == 0 {
		return nil, errors.New("couldn't find port via --port flag or introspection")
	}
	for i := range ports {
		if len(ports) > 1 {
			ports[i].Name = fmt.Sprintf("port-%d", i+1)
		}
		ports[i].TargetPort = intstr.FromInt32(ports[i].Port)
		if tp := c.String("target-port"); tp != "" {
			ports[i].TargetPort = intstr.Parse(tp)
		}
	}
	labels := map[string]string{}
	for k, v := range selector {
		labels[k] = v
	}
	return &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Name: name, Labels: labels},
		Spec: corev1.ServiceSpec{
			Selector: selector,
			Ports:    ports,
			Type:     corev1.ServiceType(c.String("type")),
		},
	}, nil
}
