package cli

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	ucli "github.com/urfave/cli/v2"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	"k8s.io/kubectl/pkg/drain"

	"github.com/shoal-project/shoal/node"
)

// leaveOptions are one invocation's `shoal leave` flags.
type leaveOptions struct {
	DataDir string
	// The drain's flags, kubectl drain's names and defaults.
	Force, IgnoreDaemonSets, DeleteEmptyDirData, DisableEviction bool
	GracePeriod                                                  int
	// Timeout bounds the drain and the wait for the replacements.
	Timeout time.Duration
}

// Validate checks the flags.
func (o *leaveOptions) Validate() error {
	var errs []error
	if o.DataDir == "" {
		errs = append(errs, errors.New("--data-dir: must not be empty"))
	}
	if o.Timeout <= 0 {
		errs = append(errs, fmt.Errorf("--timeout: %s must be positive", o.Timeout))
	}
	return errors.Join(errs...)
}

// agentStopWait bounds the wait for the agent to exit once it has left.
const agentStopWait = time.Minute

func newLeaveCommand(deps Deps) *ucli.Command {
	return &ucli.Command{
		Name:  "leave",
		Usage: "take the local node out of its cluster for good: drain it (as kubectl drain), then leave raft and gossip and stop its agent",
		Description: "The node is cordoned and its pods evicted through the API, so their controllers recreate them on\n" +
			"other nodes; once those are Running, the agent hands raft leadership over, leaves gossip, deletes its\n" +
			"Node, asks the leader to remove it from raft and stops. Run `shoal reset` afterwards to clean the host.",
		ArgsUsage: " ",
		Flags: []ucli.Flag{
			dataDirFlag(),
			&ucli.BoolFlag{Name: "force", Usage: "also delete pods that no controller owns (they are not recreated)"},
			&ucli.BoolFlag{Name: "ignore-daemonsets", Usage: "ignore DaemonSet-managed pods"},
			&ucli.BoolFlag{Name: "delete-emptydir-data", Usage: "evict pods with emptyDir volumes (their data is lost)"},
			&ucli.BoolFlag{Name: "disable-eviction", Usage: "delete pods instead of evicting them"},
			&ucli.IntFlag{Name: "grace-period", Value: -1, Usage: "seconds each pod gets to stop; -1 uses the pod's own"},
			&ucli.DurationFlag{Name: "timeout", Value: 5 * time.Minute, Usage: "how long the drain and the wait for the pods to run elsewhere may take"},
		},
		Action: func(c *ucli.Context) error {
			if c.NArg() > 0 {
				return fmt.Errorf("leave takes no arguments: it takes the node of --data-dir out of its cluster")
			}
			o := leaveOptions{
				DataDir: c.String("data-dir"), Force: c.Bool("force"), IgnoreDaemonSets: c.Bool("ignore-daemonsets"),
				DeleteEmptyDirData: c.Bool("delete-emptydir-data"), DisableEviction: c.Bool("disable-eviction"),
				GracePeriod: c.Int("grace-period"), Timeout: c.Duration("timeout"),
			}
			if err := o.Validate(); err != nil {
				return err
			}
			return runLeave(c.Context, deps, o)
		},
	}
}

// runLeave is `shoal leave`: the client side of kubectl drain, then the
// agent's own leave (node.LeavePath), then the wait for it to stop.
func runLeave(ctx context.Context, deps Deps, o leaveOptions) error {
	out := deps.Stdout
	running, err := node.AgentRunning(o.DataDir)
	if err != nil {
		return err
	}
	if !running {
		if at, ok := node.HasLeft(o.DataDir); ok {
			fmt.Fprintf(out, "the node of %s left its cluster at %s: nothing left to do (shoal reset cleans the host)\n", o.DataDir, at.UTC().Format(time.RFC3339))
			return nil
		}
		return fmt.Errorf("no shoal agent is running on %s: start it to leave the cluster gracefully, or remove this host's node with `shoal reset`", o.DataDir)
	}
	info, err := node.ReadAgentInfo(o.DataDir)
	if err != nil {
		return err
	}
	kc, err := localKubeconfig(deps, o.DataDir, "")
	if err != nil {
		return err
	}
	restConfig, err := clientcmd.NewDefaultClientConfig(*kc, nil).ClientConfig()
	if err != nil {
		return fmt.Errorf("the local agent's API: %w", err)
	}
	hc, err := rest.HTTPClientFor(restConfig)
	if err != nil {
		return fmt.Errorf("the local agent's API: %w", err)
	}
	if err := checkCanLeave(ctx, hc, info.APIURL()); err != nil {
		return err
	}
	cs, err := kubernetes.NewForConfig(restConfig)
	if err != nil {
		return fmt.Errorf("the local agent's API: %w", err)
	}
	dctx, cancel := context.WithTimeout(ctx, o.Timeout)
	defer cancel()
	if err := drainNode(dctx, cs, info.Name, o, out, deps.Stderr); err != nil {
		return err
	}
	if err := agentLeave(ctx, hc, info.APIURL(), info.Name, out); err != nil {
		return err
	}
	if err := waitAgentStopped(ctx, o.DataDir); err != nil {
		return err
	}
	fmt.Fprintf(out, "node/%s left the cluster; its agent has stopped\n", info.Name)
	return nil
}

// checkCanLeave asks the agent before anything is drained whether it can
// leave at all (the only voter cannot).
func checkCanLeave(ctx context.Context, hc *http.Client, apiURL string) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, apiURL+node.LeavePath, nil)
	if err != nil {
		return err
	}
	resp, err := hc.Do(req)
	if err != nil {
		return fmt.Errorf("ask the local agent whether it can leave: %w", err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("the node cannot leave: %s", strings.TrimSpace(string(body)))
	}
	var st node.LeaveStatus
	if err := json.Unmarshal(body, &st); err != nil {
		return fmt.Errorf("the local agent's leave status: %w", err)
	}
	return nil
}

// drainNode cordons and drains nodeName with kubectl's own drain library
// (the same filters, messages and evictions as `kubectl drain`), then
// waits until the evicted pods' controllers have their pods Running on
// other nodes.
func drainNode(ctx context.Context, cs kubernetes.Interface, nodeName string, o leaveOptions, out, errOut io.Writer) error {
	h := &drain.Helper{
		Ctx: ctx, Client: cs, Force: o.Force, GracePeriodSeconds: o.GracePeriod,
		IgnoreAllDaemonSets: o.IgnoreDaemonSets, DeleteEmptyDirData: o.DeleteEmptyDirData, DisableEviction: o.DisableEviction,
		Out: out, ErrOut: errOut,
		// The library prints "evicting pod NS/NAME" itself, not deletions.
		OnPodDeletionOrEvictionStarted: func(pod *corev1.Pod, usingEviction bool) {
			if !usingEviction {
				fmt.Fprintf(out, "deleting pod %s/%s\n", pod.Namespace, pod.Name)
			}
		},
		OnPodDeletionOrEvictionFinished: func(pod *corev1.Pod, usingEviction bool, err error) {
			if err != nil {
				return // drain returns it
			}
			verb := "deleted"
			if usingEviction {
				verb = "evicted"
			}
			fmt.Fprintf(out, "pod/%s %s\n", pod.Name, verb)
		},
	}
	nd, err := cs.CoreV1().Nodes().Get(ctx, nodeName, metav1.GetOptions{})
	if err != nil {
		return fmt.Errorf("cordon: %w", err)
	}
	if nd.Spec.Unschedulable {
		fmt.Fprintf(out, "node/%s already cordoned\n", nodeName)
	} else {
		if err := drain.RunCordonOrUncordon(h, nd, true); err != nil {
			return fmt.Errorf("cordon node/%s: %w", nodeName, err)
		}
		fmt.Fprintf(out, "node/%s cordoned\n", nodeName)
	}
	all, err := cs.CoreV1().Pods("").List(ctx, metav1.ListOptions{})
	if err != nil {
		return fmt.Errorf("list pods: %w", err)
	}
	list, errs := h.GetPodsForDeletion(nodeName)
	if errs != nil {
		// kubectl's words; the node stays cordoned, as kubectl leaves it.
		return fmt.Errorf("unable to drain node %q due to error: %w; the node stays cordoned", nodeName, errors.Join(errs...))
	}
	if w := list.Warnings(); w != "" {
		fmt.Fprintf(errOut, "Warning: %s\n", w)
	}
	evicted := list.Pods()
	if err := h.DeleteOrEvictPods(evicted); err != nil {
		return fmt.Errorf("unable to drain node %q: %w; the node stays cordoned", nodeName, err)
	}
	fmt.Fprintf(out, "node/%s drained\n", nodeName)
	return waitReplacements(ctx, cs, nodeName, replacementWaits(nodeName, all.Items, evicted), out)
}

// agentLeave asks the agent to leave (node.LeavePath) and prints its steps
// as they come.
func agentLeave(ctx context.Context, hc *http.Client, apiURL, name string, out io.Writer) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, apiURL+node.LeavePath, nil)
	if err != nil {
		return err
	}
	resp, err := hc.Do(req)
	if err != nil {
		return fmt.Errorf("ask the local agent to leave: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		body, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
		return fmt.Errorf("the node cannot leave: %s", strings.TrimSpace(string(body)))
	}
	last := ""
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		last = sc.Text()
		if msg, ok := strings.CutPrefix(last, "error: "); ok {
			return fmt.Errorf("node/%s could not leave: %s", name, msg)
		}
		if last != "left" && !strings.HasPrefix(last, "node/") {
			fmt.Fprintf(out, "node/%s: %s\n", name, last)
		} else if last != "left" {
			fmt.Fprintln(out, last)
		}
	}
	if last != "left" {
		return fmt.Errorf("node/%s: the agent's answer ended before it had left (last: %q): run `shoal leave` again", name, last)
	}
	return nil
}

// waitAgentStopped waits until no agent holds dataDir's raft log.
func waitAgentStopped(ctx context.Context, dataDir string) error {
	ctx, cancel := context.WithTimeout(ctx, agentStopWait)
	defer cancel()
	t := time.NewTicker(100 * time.Millisecond)
	defer t.Stop()
	for {
		running, err := node.AgentRunning(dataDir)
		if err != nil {
			return err
		}
		if !running {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("the agent on %s left its cluster but has not stopped after %s", dataDir, agentStopWait)
		case <-t.C:
		}
	}
}
