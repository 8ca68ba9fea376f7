package cli

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
)

func testPod(name string, labels map[string]string) *corev1.Pod {
	return &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: name, Labels: labels},
		Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "app", Image: "busybox"}}},
	}
}

func testDeployment(name string) *appsv1.Deployment {
	labels := map[string]string{"app": name}
	return &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: name, Labels: labels},
		Spec: appsv1.DeploymentSpec{
			Selector: &metav1.LabelSelector{MatchLabels: labels},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: labels},
				Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "app", Image: "busybox"}}},
			},
		},
	}
}

// setPodStatus changes a pod's status as its kubelet would.
func setPodStatus(t *testing.T, cs kubernetes.Interface, name string, change func(*corev1.PodStatus)) {
	t.Helper()
	ctx := context.Background()
	p, err := cs.CoreV1().Pods("default").Get(ctx, name, metav1.GetOptions{})
	if err != nil {
		t.Error(err)
		return
	}
	change(&p.Status)
	if _, err := cs.CoreV1().Pods("default").UpdateStatus(ctx, p, metav1.UpdateOptions{}); err != nil {
		t.Error(err)
	}
}

func ready(s *corev1.PodStatus) {
	s.Phase = corev1.PodRunning
	s.Conditions = []corev1.PodCondition{{Type: corev1.PodReady, Status: corev1.ConditionTrue}}
}

func TestWaitCommand(t *testing.T) {
	cs, ta, run := realAPIApp(t)
	ctx := context.Background()
	for _, p := range []*corev1.Pod{testPod("web", map[string]string{"app": "web"}), testPod("web2", map[string]string{"app": "web"}), testPod("db", nil), testPod("gone", nil)} {
		if _, err := cs.CoreV1().Pods("default").Create(ctx, p, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := cs.AppsV1().Deployments("default").Create(ctx, testDeployment("web"), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	setPodStatus(t, cs, "db", ready)
	manifest := filepath.Join(t.TempDir(), "db.yaml")
	if err := os.WriteFile(manifest, []byte("apiVersion: v1\nkind: Pod\nmetadata:\n  name: db\n  namespace: default\n"), 0o600); err != nil {
		t.Fatal(err)
	}

	for _, tc := range []struct {
		name string
		args []string
		// later changes the objects while the command waits; nil means
		// the condition holds (or never will) from the start.
		later  func()
		stdout string
		// stderr is what ExitCode prints; "" means success.
		stderr string
	}{
		{name: "condition met by a change", args: []string{"wait", "--for=condition=Ready", "pod/web", "--timeout=10s"},
			later:  func() { setPodStatus(t, cs, "web", ready) },
			stdout: "pod/web condition met\n"},
		{name: "TYPE NAME form, condition already met", args: []string{"wait", "pods", "db", "--for", "condition=Ready"},
			stdout: "pod/db condition met\n"},
		{name: "timeout waiting for a condition value", args: []string{"wait", "--for=condition=Ready=false", "pod/db", "--timeout", "300ms"},
			stderr: "error: timed out waiting for the condition on pods/db\n"},
		{name: "deployment Available", args: []string{"wait", "--for=condition=Available", "deployment/web", "--timeout=10s"},
			later: func() {
				d, err := cs.AppsV1().Deployments("default").Get(ctx, "web", metav1.GetOptions{})
				if err != nil {
					t.Error(err)
					return
				}
				d.Status.Conditions = []appsv1.DeploymentCondition{{Type: appsv1.DeploymentAvailable, Status: corev1.ConditionTrue, Reason: "MinimumReplicasAvailable"}}
				if _, err := cs.AppsV1().Deployments("default").UpdateStatus(ctx, d, metav1.UpdateOptions{}); err != nil {
					t.Error(err)
				}
			},
			stdout: "deployment.apps/web condition met\n"},
		{name: "jsonpath", args: []string{"wait", "--for=jsonpath={.status.phase}=Running", "pod/web2", "--timeout=10s"},
			later:  func() { setPodStatus(t, cs, "web2", ready) },
			stdout: "pod/web2 condition met\n"},
		{name: "objects of a manifest", args: []string{"wait", "--for=condition=Ready", "-f", manifest},
			stdout: "pod/db condition met\n"},
		{name: "selector", args: []string{"wait", "--for=condition=Ready", "pods", "-l", "app=web"},
			stdout: "pod/web condition met\npod/web2 condition met\n"},
		{name: "delete", args: []string{"wait", "--for=delete", "pod/gone", "--timeout=10s"},
			later: func() {
				if err := cs.CoreV1().Pods("default").Delete(ctx, "gone", metav1.DeleteOptions{}); err != nil {
					t.Error(err)
				}
			},
			stdout: "pod/gone condition met\n"},
		{name: "delete of what is already gone", args: []string{"wait", "--for=delete", "pod/gone"},
			stdout: ""},
		{name: "not found", args: []string{"wait", "--for=condition=Ready", "pod/gone-for-good"},
			stderr: "Error from server (NotFound): pods \"gone-for-good\" not found\n"},
		{name: "no condition", args: []string{"wait", "pod/web"},
			stderr: "error: --for is required: create, delete, condition=NAME[=VALUE] or jsonpath='{EXPR}'[=VALUE]\n"},
		{name: "bad condition", args: []string{"wait", "--for=ready", "pod/web"},
			stderr: "error: unrecognized condition: \"ready\"\n"},
	} {
		done := make(chan struct{})
		go func() {
			defer close(done)
			if tc.later != nil {
				// Long enough for the command to be watching.
				time.Sleep(300 * time.Millisecond)
				tc.later()
			}
		}()
		start := time.Now()
		err := run(tc.args...)
		<-done
		var stderr strings.Builder
		ExitCode(err, &stderr)
		if ta.stdout.String() != tc.stdout || stderr.String() != tc.stderr {
			t.Errorf("%s: %v: stdout %q, stderr %q; want %q, %q", tc.name, tc.args, ta.stdout.String(), stderr.String(), tc.stdout, tc.stderr)
		}
		if d := time.Since(start); d > 5*time.Second {
			t.Errorf("%s: took %v: the watch did not see the change", tc.name, d)
		}
	}
}
