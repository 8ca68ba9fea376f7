package cli

import (
	"context"
	"encoding/json"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/shoal-project/shoal/internal/version"
)

// TestWorkloadCommands runs the tutorial's write commands against a real
// API server and checks what they stored and printed: create deployment,
// scale, set image, label, annotate, expose.
func TestWorkloadCommands(t *testing.T) {
	isolateKubeconfig(t)
	srv, cs := realAPI(t)
	ta := newTestApp(t, Deps{})
	ctx := context.Background()
	run := func(want string, args ...string) {
		t.Helper()
		ta.stdout.Reset()
		ta.stderr.Reset()
		full := append([]string{args[0]}, append(args[1:], "--server", srv.URL, "--data-dir", t.TempDir())...)
		if err := ta.run(full...); err != nil {
			t.Fatalf("shoal %s: %v\n%s", strings.Join(args, " "), err, ta.stderr.String())
		}
		if got := ta.stdout.String(); !strings.Contains(got, want) {
			t.Fatalf("shoal %s printed %q, want %q", strings.Join(args, " "), got, want)
		}
	}
	run("deployment.apps/kubernetes-bootcamp created", "create", "deployment", "kubernetes-bootcamp", "--image=gcr.io/google-samples/kubernetes-bootcamp:v1")
	d, err := cs.AppsV1().Deployments("default").Get(ctx, "kubernetes-bootcamp", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if c := d.Spec.Template.Spec.Containers[0]; c.Name != "kubernetes-bootcamp" || c.Image != "gcr.io/google-samples/kubernetes-bootcamp:v1" || *d.Spec.Replicas != 1 {
		t.Fatalf("created deployment: %+v", d.Spec)
	}

	run("deployment.apps/kubernetes-bootcamp scaled", "scale", "deployments/kubernetes-bootcamp", "--replicas=4")
	d, _ = cs.AppsV1().Deployments("default").Get(ctx, "kubernetes-bootcamp", metav1.GetOptions{})
	if *d.Spec.Replicas != 4 {
		t.Fatalf("after scale: replicas %d, want 4", *d.Spec.Replicas)
	}

	run("deployment.apps/kubernetes-bootcamp image updated", "set", "image", "deployments/kubernetes-bootcamp", "kubernetes-bootcamp=docker.io/jocatalin/kubernetes-bootcamp:v2")
	d, _ = cs.AppsV1().Deployments("default").Get(ctx, "kubernetes-bootcamp", metav1.GetOptions{})
	if c := d.Spec.Template.Spec.Containers[0]; c.Image != "docker.io/jocatalin/kubernetes-bootcamp:v2" || c.TerminationMessagePath == "" {
		t.Fatalf("after set image: %+v (the other fields must be kept)", c)
	}
	if d.Generation != 3 {
		t.Fatalf("generation %d after create, scale and set image; want 3", d.Generation)
	}

	run("service/kubernetes-bootcamp exposed", "expose", "deployment/kubernetes-bootcamp", "--type=NodePort", "--port", "8080")
	svc, err := cs.CoreV1().Services("default").Get(ctx, "kubernetes-bootcamp", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if svc.Spec.Type != corev1.ServiceTypeNodePort || svc.Spec.Selector["app"] != "kubernetes-bootcamp" || svc.Spec.Ports[0].Port != 8080 || svc.Spec.Ports[0].TargetPort.IntVal != 8080 {
		b, _ := json.Marshal(svc.Spec)
		t.Fatalf("exposed service: %s", b)
	}

	pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "p1", Labels: map[string]string{"app": "x"}}, Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "c", Image: "busybox"}}}}
	if _, err := cs.CoreV1().Pods("default").Create(ctx, pod, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	run("pod/p1 labeled", "label", "pods", "p1", "version=v1")
	run("pod/p1 annotated", "annotate", "pods/p1", "note=hello")
	p, _ := cs.CoreV1().Pods("default").Get(ctx, "p1", metav1.GetOptions{})
	if p.Labels["version"] != "v1" || p.Labels["app"] != "x" || p.Annotations["note"] != "hello" {
		t.Fatalf("labels %v annotations %v", p.Labels, p.Annotations)
	}
	ta.stdout.Reset()
	if err := ta.run("label", "pods", "p1", "version=v2", "--server", srv.URL, "--data-dir", t.TempDir()); err == nil || !strings.Contains(err.Error(), "--overwrite is false") {
		t.Fatalf("relabel without --overwrite: want an error, got %v", err)
	}
	run("pod/p1 labeled", "label", "pods", "p1", "version-")
	p, _ = cs.CoreV1().Pods("default").Get(ctx, "p1", metav1.GetOptions{})
	if _, ok := p.Labels["version"]; ok {
		t.Fatalf("label version- left %v", p.Labels)
	}
}

// TestGetTemplates checks the tutorial's -o go-template and jsonpath forms.
func TestGetTemplates(t *testing.T) {
	isolateKubeconfig(t)
	srv, cs := realAPI(t)
	ctx := context.Background()
	for _, n := range []string{"a", "b"} {
		p := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: n}, Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "c", Image: "busybox"}}}}
		if _, err := cs.CoreV1().Pods("default").Create(ctx, p, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	svc := &corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: "web"}, Spec: corev1.ServiceSpec{Type: corev1.ServiceTypeNodePort,
		Ports: []corev1.ServicePort{{Port: 8080, NodePort: 31234}}}}
	if _, err := cs.CoreV1().Services("default").Create(ctx, svc, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	ta := newTestApp(t, Deps{})
	cases := []struct {
		args []string
		want string
	}{
		{[]string{"get", "pods", "-o", `go-template={{range .items}}{{.metadata.name}}{{"\n"}}{{end}}`}, "a\nb\n"},
		{[]string{"get", "services/web", "-o", "go-template={{(index .spec.ports 0).nodePort}}"}, "31234"},
		{[]string{"get", "pods", "-o", "jsonpath={.items[*].metadata.name}"}, "a b"},
		{[]string{"get", "pods", "-o", "custom-columns=NAME:.metadata.name,IMAGE:.spec.containers[0].image"}, "NAME   IMAGE\na      busybox\nb      busybox\n"},
	}
	for _, tc := range cases {
		ta.stdout.Reset()
		if err := ta.run(append(tc.args, "--server", srv.URL, "--data-dir", t.TempDir())...); err != nil {
			t.Fatalf("shoal %v: %v", tc.args, err)
		}
		if got := ta.stdout.String(); got != tc.want {
			t.Errorf("shoal %v printed %q, want %q", tc.args, got, tc.want)
		}
	}
}

// TestRolloutPauseResumeRestart checks the rollout verbs that patch the
// deployment, against a real API server.
func TestRolloutPauseResumeRestart(t *testing.T) {
	isolateKubeconfig(t)
	srv, cs := realAPI(t)
	ta := newTestApp(t, Deps{})
	ctx := context.Background()
	run := func(want string, args ...string) {
		t.Helper()
		ta.stdout.Reset()
		if err := ta.run(append(args, "--server", srv.URL, "--data-dir", t.TempDir())...); err != nil {
			t.Fatalf("shoal %v: %v", args, err)
		}
		if got := ta.stdout.String(); !strings.Contains(got, want) {
			t.Fatalf("shoal %v printed %q, want %q", args, got, want)
		}
	}
	run("deployment.apps/web created", "create", "deployment", "web", "--image=nginx")
	run("deployment.apps/web paused", "rollout", "pause", "deployment/web")
	d, _ := cs.AppsV1().Deployments("default").Get(ctx, "web", metav1.GetOptions{})
	if !d.Spec.Paused {
		t.Fatal("rollout pause did not set spec.paused")
	}
	run("deployment.apps/web resumed", "rollout", "resume", "deployment/web")
	d, _ = cs.AppsV1().Deployments("default").Get(ctx, "web", metav1.GetOptions{})
	if d.Spec.Paused {
		t.Fatal("rollout resume did not clear spec.paused")
	}
	run("deployment.apps/web restarted", "rollout", "restart", "deployment/web")
	d, _ = cs.AppsV1().Deployments("default").Get(ctx, "web", metav1.GetOptions{})
	if d.Spec.Template.Annotations["kubectl.kubernetes.io/restartedAt"] == "" {
		t.Fatalf("rollout restart left template annotations %v", d.Spec.Template.Annotations)
	}
	ta.stdout.Reset()
	if err := ta.run("rollout", "resume", "deployment/web", "--server", srv.URL, "--data-dir", t.TempDir()); err == nil || !strings.Contains(err.Error(), "is not paused") {
		t.Fatalf("resume of a running rollout: want \"is not paused\", got %v", err)
	}
}

func TestVersionAndAPIResources(t *testing.T) {
	isolateKubeconfig(t)
	srv, _ := realAPI(t)
	ta := newTestApp(t, Deps{})
	if err := ta.run("version", "--server", srv.URL, "--data-dir", t.TempDir()); err != nil {
		t.Fatal(err)
	}
	if got := ta.stdout.String(); !strings.Contains(got, "Client Version: v1.32.4-shoal") || !strings.Contains(got, "Server Version: v1.32.4-shoal") ||
		!strings.Contains(got, "Shoal Version: "+version.Version) {
		t.Fatalf("version printed %q", got)
	}
	ta.stdout.Reset()
	if err := ta.run("api-resources", "--server", srv.URL, "--data-dir", t.TempDir()); err != nil {
		t.Fatal(err)
	}
	got := ta.stdout.String()
	for _, want := range []string{"NAME", "SHORTNAMES", "APIVERSION", "NAMESPACED", "KIND", "deployments", "deploy", "apps/v1", "pods", "po", "Pod", "endpointslices"} {
		if !strings.Contains(got, want) {
			t.Fatalf("api-resources: no %q in:\n%s", want, got)
		}
	}
}
