package e2e

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"helm.sh/helm/v3/pkg/action"
	"helm.sh/helm/v3/pkg/chart/loader"
	"helm.sh/helm/v3/pkg/release"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/cli-runtime/pkg/genericclioptions"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
)

// TestHelmReleaseLifecycle drives the Helm v3 SDK (install, upgrade,
// rollback, history, uninstall; Secret storage; OpenAPI validation on, as
// the helm CLI has it) with the chart in testdata/charts/web against a
// real node, waiting for the chart's pods as `helm --wait` does.
func TestHelmReleaseLifecycle(t *testing.T) {
	if testing.Short() {
		t.Skip("e2e: skipped in -short")
	}
	pc := startPodCluster(t, 1)
	ns := "default"
	flags := genericclioptions.NewConfigFlags(false)
	flags.KubeConfig = &pc.kubeconfig
	flags.Namespace = &ns
	cacheDir := filepath.Join(pc.dir, "helm-cache")
	flags.CacheDir = &cacheDir
	dial := dialIn(pc.lab.nodes[0])
	flags.WrapConfigFn = func(c *rest.Config) *rest.Config {
		c.Dial = dial
		return c
	}
	cfg := new(action.Configuration)
	if err := cfg.Init(flags, ns, "secret", t.Logf); err != nil {
		t.Fatalf("helm init: %v", err)
	}
	rc, err := flags.ToRESTConfig()
	if err != nil {
		t.Fatal(err)
	}
	cs := kubernetes.NewForConfigOrDie(rc)
	ctx := context.Background()
	chart, err := loader.Load("../testdata/charts/web")
	if err != nil {
		t.Fatalf("load chart: %v", err)
	}
	greeting := func() string {
		t.Helper()
		cm, err := cs.CoreV1().ConfigMaps(ns).Get(ctx, "web-settings", metav1.GetOptions{})
		if err != nil {
			t.Fatalf("the chart's ConfigMap: %v", err)
		}
		return cm.Data["greeting"]
	}
	image := func() string {
		t.Helper()
		d, err := cs.AppsV1().Deployments(ns).Get(ctx, "web", metav1.GetOptions{})
		if err != nil {
			t.Fatalf("the chart's Deployment: %v", err)
		}
		if d.Status.AvailableReplicas != 1 {
			t.Errorf("Deployment web: %d available after the wait, want 1", d.Status.AvailableReplicas)
		}
		return d.Spec.Template.Spec.Containers[0].Image
	}

	// The node the chart runs on reports what kubectl describe node and k9s
	// show on Kubernetes: the kubelet's pressure conditions, Ready last of
	// them; and the Service proxy's own condition, placed wherever its
	// patches put it (as node-problem-detector's custom conditions are).
	waitFor(t, 60*time.Second, "the node's conditions", func() error {
		n, err := cs.CoreV1().Nodes().Get(ctx, pc.agents[0].name, metav1.GetOptions{})
		if err != nil {
			return err
		}
		var got []string
		proxy := ""
		for _, c := range n.Status.Conditions {
			s := fmt.Sprintf("%s=%s/%s", c.Type, c.Status, c.Reason)
			if c.Type == "ServiceProxyReady" {
				proxy = s
				continue
			}
			got = append(got, s)
		}
		want := "MemoryPressure=False/KubeletHasSufficientMemory DiskPressure=False/KubeletHasNoDiskPressure PIDPressure=False/KubeletHasSufficientPID Ready=True/KubeletReady"
		if strings.Join(got, " ") != want || proxy != "ServiceProxyReady=True/ServiceProxySynced" {
			return fmt.Errorf("conditions %v and %q, want %s and ServiceProxyReady=True/ServiceProxySynced", got, proxy, want)
		}
		return nil
	})

	install := action.NewInstall(cfg)
	install.ReleaseName, install.Namespace = "web", ns
	install.DisableOpenAPIValidation = false // validate the manifests against the server's OpenAPI, as helm does
	install.Wait, install.Timeout = true, 3*time.Minute
	rel, err := install.Run(chart, nil)
	if err != nil {
		t.Fatalf("helm install: %v", err)
	}
	if rel.Info.Status != release.StatusDeployed || rel.Version != 1 {
		t.Fatalf("install: release %s revision %d, want deployed revision 1", rel.Info.Status, rel.Version)
	}
	if g, img := greeting(), image(); g != "hello" || !strings.HasSuffix(img, ":v1") {
		t.Errorf("after install: greeting %q image %q, want hello and v1", g, img)
	}
	sec, err := cs.CoreV1().Secrets(ns).Get(ctx, "web-token", metav1.GetOptions{})
	if err != nil || string(sec.Data["token"]) != "first-token" {
		t.Errorf("the chart's Secret: %v %q", err, sec.Data["token"])
	}
	if _, err := cs.CoreV1().Services(ns).Get(ctx, "web", metav1.GetOptions{}); err != nil {
		t.Errorf("the chart's Service: %v", err)
	}

	upgrade := action.NewUpgrade(cfg)
	upgrade.Namespace = ns
	upgrade.DisableOpenAPIValidation = false
	upgrade.Wait, upgrade.Timeout = true, 3*time.Minute
	rel, err = upgrade.Run("web", chart, map[string]any{"greeting": "bonjour", "image": map[string]any{"tag": "v2"}})
	if err != nil {
		t.Fatalf("helm upgrade: %v", err)
	}
	if rel.Info.Status != release.StatusDeployed || rel.Version != 2 {
		t.Fatalf("upgrade: release %s revision %d, want deployed revision 2", rel.Info.Status, rel.Version)
	}
	if g, img := greeting(), image(); g != "bonjour" || !strings.HasSuffix(img, ":v2") {
		t.Errorf("after upgrade: greeting %q image %q, want bonjour and v2", g, img)
	}

	rollback := action.NewRollback(cfg)
	rollback.Version = 1
	rollback.Wait, rollback.Timeout = true, 3*time.Minute
	if err := rollback.Run("web"); err != nil {
		t.Fatalf("helm rollback: %v", err)
	}
	if g, img := greeting(), image(); g != "hello" || !strings.HasSuffix(img, ":v1") {
		t.Errorf("after rollback: greeting %q image %q, want hello and v1", g, img)
	}

	history, err := action.NewHistory(cfg).Run("web")
	if err != nil {
		t.Fatalf("helm history: %v", err)
	}
	var got []string
	for _, r := range history {
		got = append(got, fmt.Sprintf("%d:%s", r.Version, r.Info.Status))
	}
	if strings.Join(got, " ") != "1:superseded 2:superseded 3:deployed" {
		t.Errorf("helm history: %v, want 1:superseded 2:superseded 3:deployed", got)
	}

	uninstall := action.NewUninstall(cfg)
	uninstall.Wait, uninstall.Timeout = true, 2*time.Minute
	if _, err := uninstall.Run("web"); err != nil {
		t.Fatalf("helm uninstall: %v", err)
	}
	// Nothing is left: the chart's objects, what the Deployment made, and
	// Helm's release records.
	selector := metav1.ListOptions{LabelSelector: "app.kubernetes.io/instance=web"}
	waitFor(t, 90*time.Second, "nothing left of the release", func() error {
		var left []string
		if l, err := cs.AppsV1().Deployments(ns).List(ctx, selector); err != nil || len(l.Items) > 0 {
			left = append(left, fmt.Sprintf("deployments %v %v", len(l.Items), err))
		}
		if l, err := cs.AppsV1().ReplicaSets(ns).List(ctx, selector); err != nil || len(l.Items) > 0 {
			left = append(left, fmt.Sprintf("replicasets %v %v", len(l.Items), err))
		}
		if l, err := cs.CoreV1().Pods(ns).List(ctx, selector); err != nil || len(l.Items) > 0 {
			left = append(left, fmt.Sprintf("pods %v %v", len(l.Items), err))
		}
		if l, err := cs.CoreV1().Services(ns).List(ctx, selector); err != nil || len(l.Items) > 0 {
			left = append(left, fmt.Sprintf("services %v %v", len(l.Items), err))
		}
		if l, err := cs.CoreV1().ConfigMaps(ns).List(ctx, selector); err != nil || len(l.Items) > 0 {
			left = append(left, fmt.Sprintf("configmaps %v %v", len(l.Items), err))
		}
		if l, err := cs.CoreV1().Secrets(ns).List(ctx, selector); err != nil || len(l.Items) > 0 {
			left = append(left, fmt.Sprintf("secrets %v %v", len(l.Items), err))
		}
		if l, err := cs.CoreV1().Secrets(ns).List(ctx, metav1.ListOptions{LabelSelector: "owner=helm,name=web"}); err != nil || len(l.Items) > 0 {
			left = append(left, fmt.Sprintf("release records %v %v", len(l.Items), err))
		}
		if len(left) > 0 {
			return fmt.Errorf("left: %s", strings.Join(left, ", "))
		}
		return nil
	})
}
