package cli

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	ucli "github.com/urfave/cli/v2"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/portforward"
	"k8s.io/client-go/transport/spdy"
	kubectlutil "k8s.io/kubectl/pkg/util"
	"k8s.io/streaming/pkg/httpstream"
)

// portForwardOptions are one invocation's `shoal port-forward` flags and
// arguments.
type portForwardOptions struct {
	Pod       string
	Ports     []string // [LOCAL:]REMOTE, REMOTE a number or a port name
	Addresses []string
}

// Validate checks the flags.
func (o *portForwardOptions) Validate() error {
	if o.Pod == "" {
		return errors.New("pod name or resource type/name must be specified")
	}
	if len(o.Ports) == 0 {
		return errors.New("at least 1 PORT is required for port-forward")
	}
	return nil
}

func newPortForwardCommand(deps Deps) *ucli.Command {
	return &ucli.Command{
		Name:      "port-forward",
		Usage:     "forward local ports to a pod",
		ArgsUsage: "pod/NAME [LOCAL_PORT:]REMOTE_PORT [...[LOCAL_PORT_N:]REMOTE_PORT_N]",
		Flags: append([]ucli.Flag{
			&ucli.StringSliceFlag{Name: "address", Value: ucli.NewStringSlice("localhost"), Usage: "`ADDRESS`es to listen on (comma separated); only IPs or localhost"},
		}, clientFlags()...),
		Action: func(c *ucli.Context) error {
			args := c.Args().Slice()
			if len(args) < 2 {
				return errors.New("TYPE/NAME and list of ports are required for port-forward\nSee 'shoal port-forward -h' for help and examples")
			}
			name, err := podArg(args[0])
			if err != nil {
				return err
			}
			var addresses []string
			for _, a := range c.StringSlice("address") {
				addresses = append(addresses, strings.Split(a, ",")...)
			}
			o := portForwardOptions{Pod: name, Ports: args[1:], Addresses: addresses}
			if err := o.Validate(); err != nil {
				return err
			}
			cl, err := newClients(c, deps)
			if err != nil {
				return err
			}
			return cl.portForward(c.Context, o)
		},
	}
}

// portForward is kubectl's: the pod must be running, named ports become
// numbers, then the forward runs until ctx ends or the connection is lost.
func (cl *clients) portForward(ctx context.Context, o portForwardOptions) error {
	cs, err := cl.clientset()
	if err != nil {
		return err
	}
	pod, err := cs.CoreV1().Pods(cl.namespace).Get(ctx, o.Pod, metav1.GetOptions{})
	if err != nil {
		return err
	}
	if pod.Status.Phase != corev1.PodRunning {
		return fmt.Errorf("unable to forward port because pod is not running. Current status=%v", pod.Status.Phase)
	}
	ports, err := podPortNumbers(o.Ports, pod)
	if err != nil {
		return err
	}
	u := cs.CoreV1().RESTClient().Post().Resource("pods").Namespace(pod.Namespace).Name(pod.Name).
		SubResource("portforward").URL()
	dialer, err := portForwardDialer(cl.rest, u)
	if err != nil {
		return err
	}
	stop := make(chan struct{})
	fw, err := portforward.NewOnAddressesForStreaming(dialer, o.Addresses, ports, stop, nil, cl.out, cl.errw)
	if err != nil {
		return err
	}
	done := make(chan struct{})
	defer close(done)
	go func() {
		select {
		case <-ctx.Done():
			close(stop)
		case <-done:
		}
	}()
	return fw.ForwardPorts()
}

// portForwardDialer is kubectl's: SPDY tunnelled in a WebSocket first,
// plain SPDY (a POST upgrade) when the WebSocket upgrade fails.
func portForwardDialer(config *rest.Config, u *url.URL) (httpstream.Dialer, error) {
	transport, upgrader, err := spdy.RoundTripperFor(config)
	if err != nil {
		return nil, err
	}
	spdyDialer := spdy.NewDialerForStreaming(upgrader, &http.Client{Transport: transport}, http.MethodPost, u)
	wsDialer, err := portforward.NewSPDYOverWebsocketDialerForStreaming(u, config)
	if err != nil {
		return nil, err
	}
	return portforward.NewFallbackDialerForStreaming(wsDialer, spdyDialer, func(err error) bool {
		return httpstream.IsUpgradeFailure(err) || httpstream.IsHTTPSProxyError(err)
	}), nil
}

// podPortNumbers turns the remote port names of [LOCAL:]REMOTE into the
// pod's port numbers and refuses UDP-only ports, as kubectl does.
func podPortNumbers(specs []string, pod *corev1.Pod) ([]string, error) {
	udp, tcp := map[int32]bool{}, map[int32]bool{}
	for _, c := range pod.Spec.Containers {
		for _, p := range c.Ports {
			switch p.Protocol {
			case corev1.ProtocolUDP:
				udp[p.ContainerPort] = true
			case corev1.ProtocolTCP, "":
				tcp[p.ContainerPort] = true
			}
		}
	}
	var out []string
	for _, spec := range specs {
		local, remote := spec, spec
		if l, r, ok := strings.Cut(spec, ":"); ok {
			local, remote = l, r
		}
		if remote == "" {
			return nil, errors.New("remote port cannot be empty")
		}
		number := remote
		n, err := strconv.Atoi(remote)
		if err != nil {
			p, err := kubectlutil.LookupContainerPortNumberByName(*pod, remote)
			if err != nil {
				return nil, err
			}
			n, number = int(p), strconv.Itoa(int(p))
		}
		if udp[int32(n)] && !tcp[int32(n)] {
			return nil, fmt.Errorf("UDP protocol is not supported for %s", remote)
		}
		if local != remote {
			out = append(out, local+":"+number)
		} else {
			out = append(out, number)
		}
	}
	return out, nil
}
