package e2e

import (
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"encoding/json"
	corev1 "k8s.io/api/core/v1"
)

const bootcamp = "kubernetes-bootcamp"

// podList reads the deployment's pods.
func (pc *podCluster) podList(selector string) ([]corev1.Pod, error) {
	out, err := pc.get("pods", "-l", selector, "-o", "json")
	if err != nil {
		return nil, err
	}
	var l corev1.PodList
	if err := json.Unmarshal([]byte(out), &l); err != nil {
		// A single item comes back as the object itself.
		return nil, fmt.Errorf("decode pod list: %v", err)
	}
	return l.Items, nil
}

func readyPods(pods []corev1.Pod) int {
	n := 0
	for _, p := range pods {
		if p.DeletionTimestamp != nil {
			continue
		}
		for _, c := range p.Status.Conditions {
			if c.Type == corev1.PodReady && c.Status == corev1.ConditionTrue {
				n++
			}
		}
	}
	return n
}

// answers asks every ready pod of the deployment what it runs, through
// exec into the pod (pods on other nodes are not routable before the
// service networking issue).
func (pc *podCluster) answers(t *testing.T, selector string) []string {
	t.Helper()
	pods, err := pc.podList(selector)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, p := range pods {
		if p.DeletionTimestamp != nil || p.Status.Phase != corev1.PodRunning {
			continue
		}
		a, err := pc.shoal("exec", p.Name, "--kubeconfig", pc.kubeconfig, "--", "wget", "-qO-", "http://127.0.0.1:8080/")
		if err != nil {
			t.Fatalf("ask pod %s: %v", p.Name, err)
		}
		out = append(out, strings.TrimSpace(a))
	}
	return out
}

// pollReady counts ready pods every 200ms until stop is closed and returns
// the smallest count it saw.
func (pc *podCluster) pollReady(selector string, stop <-chan struct{}) func() int64 {
	var min atomic.Int64
	min.Store(1 << 30)
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			select {
			case <-stop:
				return
			case <-time.After(200 * time.Millisecond):
			}
			pods, err := pc.podList(selector)
			if err != nil {
				continue
			}
			if n := int64(readyPods(pods)); n < min.Load() {
				min.Store(n)
			}
		}
	}()
	return func() int64 { wg.Wait(); return min.Load() }
}

// TestDeploymentRollout is the tutorial's rollout on three real nodes:
// create at v1, scale to 4 over the nodes, roll to v2 with pods always
// serving, stall on a missing tag with the old pods serving, undo, history.
func TestDeploymentRollout(t *testing.T) {
	if testing.Short() {
		t.Skip("e2e: skipped in -short")
	}
	pc := startPodCluster(t, 3)
	kc := []string{"--kubeconfig", pc.kubeconfig}
	sel := "app=" + bootcamp
	deploy := "deployments/" + bootcamp

	out := pc.mustShoal(append([]string{"create", "deployment", bootcamp, "--image=gcr.io/google-samples/kubernetes-bootcamp:v1"}, kc...)...)
	contains(t, "create deployment", out, "deployment.apps/"+bootcamp+" created")
	pc.mustShoal(append([]string{"rollout", "status", deploy, "--timeout", "120s"}, kc...)...)

	out = pc.mustShoal(append([]string{"scale", deploy, "--replicas=4"}, kc...)...)
	contains(t, "scale", out, "deployment.apps/"+bootcamp+" scaled")
	pc.mustShoal(append([]string{"rollout", "status", deploy, "--timeout", "120s"}, kc...)...)
	pods, _ := pc.podList(sel)
	nodes := map[string]bool{}
	for _, p := range pods {
		nodes[p.Spec.NodeName] = true
	}
	if readyPods(pods) != 4 || len(nodes) < 2 {
		t.Fatalf("after scale: %d ready pods on nodes %v; want 4 spread over the nodes", readyPods(pods), nodes)
	}
	out = pc.mustShoal(append([]string{"get", "deploy", bootcamp}, kc...)...)
	contains(t, "get deploy", out, "4/4")

	stop := make(chan struct{})
	minReady := pc.pollReady(sel, stop)
	out = pc.mustShoal(append([]string{"set", "image", deploy, bootcamp + "=gcr.io/google-samples/kubernetes-bootcamp:v2"}, kc...)...)
	contains(t, "set image", out, "image updated")
	out = pc.mustShoal(append([]string{"rollout", "status", deploy, "--timeout", "180s"}, kc...)...)
	contains(t, "rollout status", out, "successfully rolled out")
	close(stop)
	if m := minReady(); m < 1 {
		t.Fatalf("during the rolling update a poller saw %d ready pods", m)
	}
	for _, a := range pc.answers(t, sel) {
		if !strings.Contains(a, "v=v2") {
			t.Fatalf("after the update a pod answers %q, want v=v2", a)
		}
	}

	pc.mustShoal(append([]string{"set", "image", deploy, bootcamp + "=gcr.io/google-samples/kubernetes-bootcamp:v10"}, kc...)...)
	waitFor(t, 90*time.Second, "a new pod stuck in ImagePullBackOff", func() error {
		out, err := pc.get("pods", "-l", sel)
		if err == nil && !strings.Contains(out, "ImagePullBackOff") && !strings.Contains(out, "ErrImagePull") {
			err = fmt.Errorf("%s", out)
		}
		return err
	})
	pods, _ = pc.podList(sel)
	if n := readyPods(pods); n < 3 {
		t.Fatalf("while the rollout is stuck only %d pods are ready; the old ones must keep serving", n)
	}
	out, err := pc.shoal(append([]string{"rollout", "status", deploy, "--timeout", "5s"}, kc...)...)
	if err == nil {
		t.Fatalf("rollout status of a stuck rollout succeeded:\n%s", out)
	}
	contains(t, "rollout status of the stuck rollout", out, "Waiting for deployment")

	out = pc.mustShoal(append([]string{"rollout", "undo", deploy}, kc...)...)
	contains(t, "rollout undo", out, "rolled back")
	pc.mustShoal(append([]string{"rollout", "status", deploy, "--timeout", "180s"}, kc...)...)
	waitFor(t, 60*time.Second, "4 ready pods on v2 after the undo", func() error {
		pods, err := pc.podList(sel)
		if err != nil {
			return err
		}
		if n := readyPods(pods); n != 4 || len(pods) != 4 {
			return fmt.Errorf("%d pods, %d ready", len(pods), n)
		}
		return nil
	})
	for _, a := range pc.answers(t, sel) {
		if !strings.Contains(a, "v=v2") {
			t.Fatalf("after the undo a pod answers %q, want v=v2", a)
		}
	}
	out = pc.mustShoal(append([]string{"rollout", "history", deploy}, kc...)...)
	contains(t, "rollout history", out, "REVISION", "CHANGE-CAUSE", "1 ", "3 ", "4 ")
}
