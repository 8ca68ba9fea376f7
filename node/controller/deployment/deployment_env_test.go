package deployment

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apiequality "k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/client-go/tools/record"
	"k8s.io/utils/ptr"

	"github.com/shoal-project/shoal/internal/apitest"
	"github.com/shoal-project/shoal/node/controller/controllertest"
)

// testEnv is controllertest's, with a deployment controller over it
// whose clock is fake (at apitest.T0) and whose events are recorded in
// memory. Tests drive the controller one sync at a time and play the
// ReplicaSet controller themselves.
type testEnv struct {
	*controllertest.Env
	c   *Controller
	rec *record.FakeRecorder
	// events is every event recorded so far.
	events []string
}

func newDepEnv(t *testing.T) *testEnv {
	t.Helper()
	e := &testEnv{Env: controllertest.New(t)}
	e.Clock.Set(apitest.T0)
	e.c = New(e.Deps)
	e.rec = record.NewFakeRecorder(10000)
	e.c.rec = e.rec
	return e
}

// testDeployment is a deployment of app=name running image.
func testDeployment(name string, replicas int32, image string) *appsv1.Deployment {
	labels := map[string]string{"app": name}
	return &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "default"},
		Spec: appsv1.DeploymentSpec{
			Replicas: ptr.To(replicas),
			Selector: &metav1.LabelSelector{MatchLabels: labels},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: labels},
				Spec: corev1.PodSpec{Containers: []corev1.Container{{
					Name: "app", Image: image,
					Ports: []corev1.ContainerPort{{ContainerPort: 8080}},
				}}},
			},
		},
	}
}

func withStrategy(surge, unavailable intstr.IntOrString) func(*appsv1.Deployment) {
	return func(d *appsv1.Deployment) {
		d.Spec.Strategy = appsv1.DeploymentStrategy{
			Type:          appsv1.RollingUpdateDeploymentStrategyType,
			RollingUpdate: &appsv1.RollingUpdateDeployment{MaxSurge: &surge, MaxUnavailable: &unavailable},
		}
	}
}

func (e *testEnv) create(d *appsv1.Deployment, opts ...func(*appsv1.Deployment)) *appsv1.Deployment {
	e.TB.Helper()
	for _, o := range opts {
		o(d)
	}
	out, err := e.CS.AppsV1().Deployments(d.Namespace).Create(e.Ctx, d, metav1.CreateOptions{})
	if err != nil {
		e.TB.Fatalf("create deployment %s: %v", d.Name, err)
	}
	return out
}

func (e *testEnv) get(name string) *appsv1.Deployment {
	e.TB.Helper()
	d, err := e.CS.AppsV1().Deployments("default").Get(e.Ctx, name, metav1.GetOptions{})
	if err != nil {
		e.TB.Fatalf("get deployment %s: %v", name, err)
	}
	return d
}

// update changes the deployment as a user would, retrying on conflicts.
func (e *testEnv) update(name string, fn func(*appsv1.Deployment)) {
	e.TB.Helper()
	for range 10 {
		d := e.get(name)
		fn(d)
		_, err := e.CS.AppsV1().Deployments("default").Update(e.Ctx, d, metav1.UpdateOptions{})
		if err == nil {
			return
		}
		if !apierrors.IsConflict(err) {
			e.TB.Fatalf("update deployment %s: %v", name, err)
		}
	}
	e.TB.Fatalf("update deployment %s: too many conflicts", name)
}

func (e *testEnv) setImage(name, image string) {
	e.TB.Helper()
	e.update(name, func(d *appsv1.Deployment) { d.Spec.Template.Spec.Containers[0].Image = image })
}

// sync runs one controller pass over the deployment and collects the
// events it recorded.
func (e *testEnv) sync(name string) {
	e.TB.Helper()
	e.Synced() // as a sync woken by the last write's event
	var err error
	for range 5 {
		if err = e.c.syncKey(e.Ctx, "default/"+name); err == nil || !apierrors.IsConflict(err) {
			break
		}
	}
	if err != nil {
		e.TB.Fatalf("sync %s: %v", name, err)
	}
	e.drainEvents()
}

func (e *testEnv) drainEvents() {
	for {
		select {
		case ev := <-e.rec.Events:
			e.events = append(e.events, ev)
		default:
			return
		}
	}
}

// replicaSets lists the ReplicaSets controlled by the deployment, by
// revision.
func (e *testEnv) replicaSets(name string) []*appsv1.ReplicaSet {
	e.TB.Helper()
	d := e.get(name)
	list, err := e.CS.AppsV1().ReplicaSets("default").List(e.Ctx, metav1.ListOptions{})
	if err != nil {
		e.TB.Fatalf("list replicasets: %v", err)
	}
	var out []*appsv1.ReplicaSet
	for i := range list.Items {
		rs := &list.Items[i]
		if ref := metav1.GetControllerOf(rs); ref != nil && ref.UID == d.UID {
			out = append(out, rs)
		}
	}
	slices.SortFunc(out, byRevision)
	return out
}

// newReplicaSet is the ReplicaSet whose template is the deployment's.
func (e *testEnv) newReplicaSet(name string) *appsv1.ReplicaSet {
	e.TB.Helper()
	d := e.get(name)
	for _, rs := range e.replicaSets(name) {
		if EqualIgnoreHash(&rs.Spec.Template, &d.Spec.Template) {
			return rs
		}
	}
	return nil
}

// podsCreated plays the ReplicaSet controller after a pass: each
// ReplicaSet now has spec.replicas pods; removed pods were available ones
// (the worst case), new ones are not available yet.
func (e *testEnv) podsCreated(name string) {
	e.TB.Helper()
	e.setStatus(name, func(rs *appsv1.ReplicaSet) {
		n := ptr.Deref(rs.Spec.Replicas, 0)
		rs.Status.Replicas = n
		rs.Status.AvailableReplicas = min(rs.Status.AvailableReplicas, n)
		rs.Status.ReadyReplicas = rs.Status.AvailableReplicas
	})
}

// podsAvailable: every pod of every ReplicaSet is ready and available.
func (e *testEnv) podsAvailable(name string) {
	e.TB.Helper()
	e.setStatus(name, func(rs *appsv1.ReplicaSet) {
		n := ptr.Deref(rs.Spec.Replicas, 0)
		rs.Status.Replicas, rs.Status.ReadyReplicas, rs.Status.AvailableReplicas = n, n, n
	})
}

func (e *testEnv) setStatus(name string, fn func(*appsv1.ReplicaSet)) {
	e.TB.Helper()
	for _, rs := range e.replicaSets(name) {
		before := *rs.Status.DeepCopy()
		fn(rs)
		rs.Status.ObservedGeneration = rs.Generation
		rs.Status.FullyLabeledReplicas = rs.Status.Replicas
		if apiequality.Semantic.DeepEqual(before, rs.Status) {
			continue
		}
		if _, err := e.CS.AppsV1().ReplicaSets("default").UpdateStatus(e.Ctx, rs, metav1.UpdateOptions{}); err != nil {
			e.TB.Fatalf("update status of replicaset %s: %v", rs.Name, err)
		}
	}
}

// complete says whether the deployment is done the way kubectl rollout
// status judges it, with the Progressing condition to match and no old
// replica left.
func (e *testEnv) complete(name string) bool {
	e.TB.Helper()
	d := e.get(name)
	n := ptr.Deref(d.Spec.Replicas, 1)
	s := d.Status
	if s.ObservedGeneration < d.Generation || s.UpdatedReplicas != n || s.Replicas != n || s.AvailableReplicas != n {
		return false
	}
	if c := getDeploymentCondition(s, appsv1.DeploymentProgressing); c == nil || c.Reason != reasonNewRSAvailable {
		return false
	}
	for _, rs := range e.replicaSets(name) {
		if !EqualIgnoreHash(&rs.Spec.Template, &d.Spec.Template) && ptr.Deref(rs.Spec.Replicas, 0) != 0 {
			return false
		}
	}
	return true
}

// rollOut drives the deployment to completion with the simulated
// ReplicaSet controller, calling check after every change.
func (e *testEnv) rollOut(name string, check func(step string)) {
	e.TB.Helper()
	for i := range 200 {
		e.sync(name)
		check(fmt.Sprintf("pass %d", i))
		if e.complete(name) {
			return
		}
		e.podsCreated(name)
		check(fmt.Sprintf("pass %d, pods created", i))
		e.podsAvailable(name)
		check(fmt.Sprintf("pass %d, pods available", i))
	}
	e.TB.Fatalf("deployment %s not complete after 200 passes: %s", name, e.describe(name))
}

// describe summarises the deployment and its ReplicaSets for failures.
func (e *testEnv) describe(name string) string {
	d := e.get(name)
	var b strings.Builder
	st, _ := json.Marshal(d.Status)
	fmt.Fprintf(&b, "deployment gen=%d status=%s\n", d.Generation, st)
	for _, rs := range e.replicaSets(name) {
		fmt.Fprintf(&b, "  rs %s rev=%s spec=%d status=%d/%d/%d\n", rs.Name, rs.Annotations[RevisionAnnotation],
			ptr.Deref(rs.Spec.Replicas, 0), rs.Status.Replicas, rs.Status.ReadyReplicas, rs.Status.AvailableReplicas)
	}
	return b.String()
}

// totals are the sums over the deployment's ReplicaSets.
func (e *testEnv) totals(name string) (spec, pods, available int32) {
	for _, rs := range e.replicaSets(name) {
		spec += ptr.Deref(rs.Spec.Replicas, 0)
		pods += rs.Status.Replicas
		available += rs.Status.AvailableReplicas
	}
	return spec, pods, available
}

func (e *testEnv) hasEvent(substr string) bool {
	e.drainEvents()
	for _, ev := range e.events {
		if strings.Contains(ev, substr) {
			return true
		}
	}
	return false
}
