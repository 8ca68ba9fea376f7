package cli

import (
	"context"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// TestGetColumns checks kubectl's columns for the kinds the tutorial
// shows, as shoal's API server renders them and the CLI prints them, and
// `get all`'s grouping.
func TestGetColumns(t *testing.T) {
	cs, ta, run := realAPIApp(t)
	ctx := context.Background()
	d := testDeployment("web")
	rs := &appsv1.ReplicaSet{ObjectMeta: metav1.ObjectMeta{Name: "web-abc", Labels: d.Labels}, Spec: appsv1.ReplicaSetSpec{Selector: d.Spec.Selector, Template: d.Spec.Template}}
	svc := &corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: "web"}, Spec: corev1.ServiceSpec{ClusterIP: "10.43.0.10", Selector: d.Labels, Ports: []corev1.ServicePort{{Port: 80}}}}
	for _, create := range []func() error{
		func() error {
			_, err := cs.CoreV1().Pods("default").Create(ctx, testPod("web", map[string]string{"app": "web"}), metav1.CreateOptions{})
			return err
		},
		func() error {
			_, err := cs.AppsV1().Deployments("default").Create(ctx, d, metav1.CreateOptions{})
			return err
		},
		func() error {
			_, err := cs.AppsV1().ReplicaSets("default").Create(ctx, rs, metav1.CreateOptions{})
			return err
		},
		func() error {
			_, err := cs.CoreV1().Services("default").Create(ctx, svc, metav1.CreateOptions{})
			return err
		},
		func() error {
			_, err := cs.CoreV1().Nodes().Create(ctx, &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "node-a"}}, metav1.CreateOptions{})
			return err
		},
		func() error {
			_, err := cs.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "empty"}}, metav1.CreateOptions{})
			return err
		},
	} {
		if err := create(); err != nil {
			t.Fatal(err)
		}
	}
	for _, tc := range []struct {
		args           []string
		stdout, stderr string // stdout as lines() gives it
	}{
		{[]string{"get", "all"}, `
NAME READY STATUS RESTARTS
pod/web 0/1 Pending 0

NAME TYPE CLUSTER-IP EXTERNAL-IP PORT(S)
service/web ClusterIP 10.43.0.10 <none> 80/TCP

NAME READY UP-TO-DATE AVAILABLE
deployment.apps/web 0/1 0 0

NAME DESIRED CURRENT READY
replicaset.apps/web-abc 1 0 0`, ""},
		{[]string{"get", "all", "-o", "wide"}, `
NAME READY STATUS RESTARTS IP NODE NOMINATED NODE READINESS GATES
pod/web 0/1 Pending 0 <none> <none> <none> <none>

NAME TYPE CLUSTER-IP EXTERNAL-IP PORT(S) SELECTOR
service/web ClusterIP 10.43.0.10 <none> 80/TCP app=web

NAME READY UP-TO-DATE AVAILABLE CONTAINERS IMAGES SELECTOR
deployment.apps/web 0/1 0 0 app busybox app=web

NAME DESIRED CURRENT READY CONTAINERS IMAGES SELECTOR
replicaset.apps/web-abc 1 0 0 app busybox app=web`, ""},
		{[]string{"get", "deployments,svc", "--show-labels", "-A"}, `
NAMESPACE NAME READY UP-TO-DATE AVAILABLE LABELS
default deployment.apps/web 0/1 0 0 app=web

NAMESPACE NAME TYPE CLUSTER-IP EXTERNAL-IP PORT(S) LABELS
default service/web ClusterIP 10.43.0.10 <none> 80/TCP <none>`, ""},
		{[]string{"get", "pods"}, `
NAME READY STATUS RESTARTS
web 0/1 Pending 0`, ""},
		{[]string{"get", "nodes"}, `
NAME STATUS ROLES VERSION
node-a Unknown <none>`, ""},
		// shoal adds GOSSIP and RAFT-ROLE after kubectl's wide columns.
		{[]string{"get", "nodes", "-o", "wide"}, `
NAME STATUS ROLES VERSION INTERNAL-IP EXTERNAL-IP OS-IMAGE KERNEL-VERSION CONTAINER-RUNTIME GOSSIP RAFT-ROLE
node-a Unknown <none> <none> <none> <unknown> <unknown> <unknown> <unknown> <unknown>`, ""},
		{[]string{"get", "all", "-n", "empty"}, "", "No resources found in empty namespace.\n"},
	} {
		if err := run(tc.args...); err != nil {
			t.Errorf("%v: %v", tc.args, err)
			continue
		}
		got := strings.Join(lines(ta.stdout.String()), "\n")
		if want := strings.TrimPrefix(tc.stdout, "\n"); got != want || ta.stderr.String() != tc.stderr {
			t.Errorf("%v:\n%s\nstderr %q\nwant\n%s\nstderr %q", tc.args, got, ta.stderr.String(), want, tc.stderr)
		}
	}
}
