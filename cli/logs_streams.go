package cli

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"sort"
	"strings"
	"sync"

	"golang.org/x/sync/errgroup"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/kubernetes/scheme"
	"k8s.io/kubectl/pkg/cmd/util/podcmd"
	"k8s.io/kubectl/pkg/polymorphichelpers"
	"k8s.io/kubectl/pkg/util/podutils"
)

// logStream is one container whose logs are printed.
type logStream struct {
	pod       *corev1.Pod
	container string
}

// prefix is kubectl's --prefix: "[pod/NAME/CONTAINER] ".
func (s logStream) prefix() string {
	return fmt.Sprintf("[pod/%s/%s] ", s.pod.Name, s.container)
}

// logs prints the logs of the chosen containers: one after another, or,
// when following more than one, side by side as they come (whole lines
// each), as kubectl does.
func (cl *clients) logs(ctx context.Context, o logsOptions) error {
	cs, err := cl.clientset()
	if err != nil {
		return err
	}
	pods, err := cl.logPods(ctx, cs, o)
	if err != nil {
		return err
	}
	if len(pods) == 0 {
		fmt.Fprintf(cl.errw, "No resources found in %s namespace.\n", cl.namespace)
		return nil
	}
	streams, err := cl.logStreams(pods, o)
	if err != nil {
		return err
	}
	if o.Follow && len(streams) > 1 {
		if len(streams) > o.MaxLogRequests {
			return fmt.Errorf("you are attempting to follow %d log streams, but maximum allowed concurrency is %d, use --max-log-requests to increase the limit", len(streams), o.MaxLogRequests)
		}
		return cl.followAll(ctx, cs, streams, o)
	}
	for _, s := range streams {
		if err := cl.copyLogs(ctx, cs, s, o, cl.out); err != nil {
			if !o.IgnoreErrors || ctx.Err() != nil {
				return err
			}
			fmt.Fprintln(cl.errw, FormatError(err))
		}
	}
	return nil
}

// logPods are the pods whose logs are wanted: the selector's (by name),
// the named pod, or a workload's pod (all of them with --all-pods; else
// the one kubectl would pick, saying so when there was a choice).
func (cl *clients) logPods(ctx context.Context, cs kubernetes.Interface, o logsOptions) ([]*corev1.Pod, error) {
	podsAPI := cs.CoreV1().Pods(cl.namespace)
	if o.Selector != "" {
		list, err := podsAPI.List(ctx, metav1.ListOptions{LabelSelector: o.Selector})
		if err != nil {
			return nil, err
		}
		sort.Slice(list.Items, func(i, j int) bool { return list.Items[i].Name < list.Items[j].Name })
		return podPointers(list.Items), nil
	}
	if name, err := podArg(o.Resource); err == nil {
		pod, err := podsAPI.Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			return nil, err
		}
		return []*corev1.Pod{pod}, nil
	}
	typ, name, _ := strings.Cut(o.Resource, "/")
	m, err := cl.mappingFor(typ)
	if err != nil {
		return nil, err
	}
	u, err := cl.resourceInterface(m, cl.namespace).Get(ctx, name, metav1.GetOptions{})
	if err != nil {
		return nil, err
	}
	typed, err := scheme.Scheme.New(m.GroupVersionKind)
	if err != nil {
		return nil, fmt.Errorf("cannot get the logs from %s: %w", kindString(m.GroupVersionKind.GroupKind()), err)
	}
	if err := runtime.DefaultUnstructuredConverter.FromUnstructured(u.UnstructuredContent(), typed); err != nil {
		return nil, err
	}
	ns, selector, err := polymorphichelpers.SelectorsForObject(typed)
	if err != nil {
		return nil, fmt.Errorf("cannot get the logs from %s: %w", kindString(m.GroupVersionKind.GroupKind()), err)
	}
	byLogging := func(pods []*corev1.Pod) sort.Interface { return podutils.ByLogging(pods) }
	list, err := polymorphichelpers.GetPodList(cs.CoreV1(), ns, selector.String(), o.PodRunningTimeout, byLogging)
	if err != nil {
		return nil, err
	}
	pods := podPointers(list.Items)
	if o.AllPods || len(pods) < 2 {
		return pods, nil
	}
	fmt.Fprintf(cl.errw, "Found %v pods, using pod/%v\n", len(pods), pods[0].Name)
	return pods[:1], nil
}

func podPointers(items []corev1.Pod) []*corev1.Pod {
	out := make([]*corev1.Pod, len(items))
	for i := range items {
		out[i] = &items[i]
	}
	return out
}

// logStreams picks each pod's containers: all of them, the one asked for,
// or the default one (saying so when the pod has several).
func (cl *clients) logStreams(pods []*corev1.Pod, o logsOptions) ([]logStream, error) {
	want := o.Container + o.ContainerArg
	var out []logStream
	for _, pod := range pods {
		switch {
		case o.AllContainers:
			for _, c := range pod.Spec.InitContainers {
				out = append(out, logStream{pod, c.Name})
			}
			for _, c := range pod.Spec.Containers {
				out = append(out, logStream{pod, c.Name})
			}
			for _, c := range pod.Spec.EphemeralContainers {
				out = append(out, logStream{pod, c.Name})
			}
		case want != "":
			if c, _ := podcmd.FindContainerByName(pod, want); c == nil {
				return nil, fmt.Errorf("container %s is not valid for pod %s out of: %s", want, pod.Name, podcmd.AllContainerNames(pod))
			}
			out = append(out, logStream{pod, want})
		default:
			errw := cl.errw
			if o.AllPods {
				errw = io.Discard
			}
			c, err := podcmd.FindOrDefaultContainerByName(pod, "", false, errw)
			if err != nil {
				return nil, err
			}
			out = append(out, logStream{pod, c.Name})
		}
	}
	return out, nil
}

// copyLogs copies one container's logs to w line by line, prefixed with
// --prefix.
func (cl *clients) copyLogs(ctx context.Context, cs kubernetes.Interface, s logStream, o logsOptions, w io.Writer) error {
	rc, err := cs.CoreV1().Pods(s.pod.Namespace).GetLogs(s.pod.Name, o.podLogOptions(s.container)).Stream(ctx)
	if err != nil {
		return err
	}
	defer rc.Close()
	prefix := ""
	if o.Prefix {
		prefix = s.prefix()
	}
	r := bufio.NewReader(rc)
	for {
		line, err := r.ReadBytes('\n')
		if len(line) > 0 {
			if _, werr := io.WriteString(w, prefix+string(line)); werr != nil {
				return werr
			}
		}
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			return fmt.Errorf("reading the logs of pod/%s/%s: %w", s.pod.Name, s.container, err)
		}
	}
}

// followAll follows every stream at once; lines from different containers
// never interleave mid-line. The first error ends them all, unless
// --ignore-errors.
func (cl *clients) followAll(ctx context.Context, cs kubernetes.Interface, streams []logStream, o logsOptions) error {
	out := &lockedWriter{w: cl.out}
	g, gctx := errgroup.WithContext(ctx)
	for _, s := range streams {
		g.Go(func() error {
			err := cl.copyLogs(gctx, cs, s, o, out)
			if err != nil && o.IgnoreErrors && gctx.Err() == nil {
				out.mu.Lock()
				fmt.Fprintln(cl.errw, FormatError(err))
				out.mu.Unlock()
				return nil
			}
			return err
		})
	}
	return g.Wait()
}

// lockedWriter serialises whole writes from several goroutines.
type lockedWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}
