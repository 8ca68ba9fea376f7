package cli

import (
	"context"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// TestRolloutStatus follows a deployment whose status a controller would
// move forward, and expects kubectl's messages, one per change.
func TestRolloutStatus(t *testing.T) {
	cs, ta, run := realAPIApp(t)
	ctx := context.Background()
	deps := cs.AppsV1().Deployments("default")
	d := testDeployment("web")
	two := int32(2)
	d.Spec.Replicas = &two
	d, err := deps.Create(ctx, d, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	setStatus := func(s appsv1.DeploymentStatus) {
		t.Helper()
		cur, err := deps.Get(ctx, "web", metav1.GetOptions{})
		if err != nil {
			t.Error(err)
			return
		}
		s.ObservedGeneration = cur.Generation
		cur.Status = s
		if _, err := deps.UpdateStatus(ctx, cur, metav1.UpdateOptions{}); err != nil {
			t.Error(err)
		}
	}

	// Not observed yet, then not done: --watch=false prints once.
	if err := run("rollout", "status", "deployment/web", "--watch=false"); err != nil || ta.stdout.String() != "Waiting for deployment spec update to be observed...\n" {
		t.Errorf("--watch=false: %v, %q", err, ta.stdout.String())
	}
	setStatus(appsv1.DeploymentStatus{Replicas: 2, UpdatedReplicas: 1})
	if err := run("rollout", "status", "deploy", "web", "--timeout", "300ms"); err == nil || err.Error() != "timed out waiting for the condition" {
		t.Errorf("timeout: %v, want timed out waiting for the condition", err)
	}
	if want := "Waiting for deployment \"web\" rollout to finish: 1 out of 2 new replicas have been updated...\n"; ta.stdout.String() != want {
		t.Errorf("timeout: stdout %q, want %q", ta.stdout.String(), want)
	}

	done := make(chan struct{})
	go func() {
		defer close(done)
		for _, s := range []appsv1.DeploymentStatus{
			{Replicas: 3, UpdatedReplicas: 2},
			{Replicas: 2, UpdatedReplicas: 2, AvailableReplicas: 1},
			{Replicas: 2, UpdatedReplicas: 2, AvailableReplicas: 2},
		} {
			time.Sleep(200 * time.Millisecond)
			setStatus(s)
		}
	}()
	err = run("rollout", "status", "deployment/web", "--timeout", "10s")
	<-done
	want := strings.Join([]string{
		`Waiting for deployment "web" rollout to finish: 1 out of 2 new replicas have been updated...`,
		`Waiting for deployment "web" rollout to finish: 1 old replicas are pending termination...`,
		`Waiting for deployment "web" rollout to finish: 1 of 2 updated replicas are available...`,
		`deployment "web" successfully rolled out`,
	}, "\n") + "\n"
	if err != nil || ta.stdout.String() != want {
		t.Errorf("rollout status: %v\n%s\nwant\n%s", err, ta.stdout.String(), want)
	}

	if err := run("rollout", "status", "deployment/nope"); err == nil || !strings.Contains(FormatError(err), `deployments.apps "nope" not found`) {
		t.Errorf("missing deployment: %v", err)
	}
}
