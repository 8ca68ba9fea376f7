package registry

import (
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apiequality "k8s.io/apimachinery/pkg/api/equality"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/utils/ptr"
)

// defaulted runs the kind's Default on obj and checks it is idempotent.
func defaulted[T runtime.Object](t *testing.T, obj T) T {
	t.Helper()
	gvks, _, err := Scheme().ObjectKinds(obj)
	if err != nil {
		t.Fatal(err)
	}
	k, ok := ForGVK(gvks[0])
	if !ok {
		t.Fatalf("no kind for %v", gvks[0])
	}
	k.Default(obj)
	again := obj.DeepCopyObject()
	k.Default(again)
	if !apiequality.Semantic.DeepEqual(obj, again) {
		t.Errorf("%s defaulting is not idempotent", gvks[0].Kind)
	}
	return obj
}

func bareContainer() corev1.Container {
	return corev1.Container{Name: "app", Image: "gcr.io/google-samples/kubernetes-bootcamp:v1"}
}

// wantPodSpecDefaults checks the PodSpec defaults Kubernetes applies.
func wantPodSpecDefaults(t *testing.T, spec *corev1.PodSpec) {
	t.Helper()
	if spec.RestartPolicy != corev1.RestartPolicyAlways || spec.DNSPolicy != corev1.DNSClusterFirst ||
		ptr.Deref(spec.TerminationGracePeriodSeconds, 0) != 30 || spec.SchedulerName != "default-scheduler" ||
		spec.SecurityContext == nil || !ptr.Deref(spec.EnableServiceLinks, false) {
		t.Errorf("pod spec defaults: restart %q dns %q grace %v scheduler %q sc %v links %v",
			spec.RestartPolicy, spec.DNSPolicy, spec.TerminationGracePeriodSeconds, spec.SchedulerName, spec.SecurityContext, spec.EnableServiceLinks)
	}
	c := spec.Containers[0]
	if c.TerminationMessagePath != "/dev/termination-log" || c.TerminationMessagePolicy != corev1.TerminationMessageReadFile {
		t.Errorf("container termination message defaults: %q %q", c.TerminationMessagePath, c.TerminationMessagePolicy)
	}
}

func TestDefaultBareDeployment(t *testing.T) {
	// The body kubectl create deployment sends, with "strategy":{}.
	d := defaulted(t, &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: "kubernetes-bootcamp"},
		Spec: appsv1.DeploymentSpec{
			Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "kubernetes-bootcamp"}},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"app": "kubernetes-bootcamp"}},
				Spec:       corev1.PodSpec{Containers: []corev1.Container{bareContainer()}},
			},
			Strategy: appsv1.DeploymentStrategy{},
		},
	})
	if ptr.Deref(d.Spec.Replicas, 0) != 1 {
		t.Errorf("replicas = %v", d.Spec.Replicas)
	}
	s := d.Spec.Strategy
	if s.Type != appsv1.RollingUpdateDeploymentStrategyType || s.RollingUpdate == nil ||
		*s.RollingUpdate.MaxSurge != intstr.FromString("25%") || *s.RollingUpdate.MaxUnavailable != intstr.FromString("25%") {
		t.Errorf("strategy = %+v", s)
	}
	if ptr.Deref(d.Spec.RevisionHistoryLimit, 0) != 10 || ptr.Deref(d.Spec.ProgressDeadlineSeconds, 0) != 600 {
		t.Errorf("revisionHistoryLimit %v progressDeadlineSeconds %v", d.Spec.RevisionHistoryLimit, d.Spec.ProgressDeadlineSeconds)
	}
	wantPodSpecDefaults(t, &d.Spec.Template.Spec)
	if got := d.Spec.Template.Spec.Containers[0].ImagePullPolicy; got != corev1.PullIfNotPresent {
		t.Errorf("imagePullPolicy = %q", got)
	}

	// Recreate keeps a nil rollingUpdate.
	r := defaulted(t, &appsv1.Deployment{Spec: appsv1.DeploymentSpec{Strategy: appsv1.DeploymentStrategy{Type: appsv1.RecreateDeploymentStrategyType}}})
	if r.Spec.Strategy.RollingUpdate != nil {
		t.Errorf("Recreate got rollingUpdate %+v", r.Spec.Strategy.RollingUpdate)
	}
}

func TestDefaultBarePod(t *testing.T) {
	pod := defaulted(t, &corev1.Pod{
		Spec: corev1.PodSpec{Containers: []corev1.Container{{
			Name: "nginx", Image: "nginx",
			Ports: []corev1.ContainerPort{{ContainerPort: 80}},
			LivenessProbe: &corev1.Probe{ProbeHandler: corev1.ProbeHandler{
				HTTPGet: &corev1.HTTPGetAction{Port: intstr.FromInt32(80)},
			}},
			Resources: corev1.ResourceRequirements{Limits: corev1.ResourceList{corev1.ResourceCPU: resourceQ("500m")}},
		}}},
	})
	wantPodSpecDefaults(t, &pod.Spec)
	c := pod.Spec.Containers[0]
	if c.ImagePullPolicy != corev1.PullAlways {
		t.Errorf("untagged image pull policy = %q", c.ImagePullPolicy)
	}
	if c.Ports[0].Protocol != corev1.ProtocolTCP {
		t.Errorf("port protocol = %q", c.Ports[0].Protocol)
	}
	p := c.LivenessProbe
	if p.TimeoutSeconds != 1 || p.PeriodSeconds != 10 || p.SuccessThreshold != 1 || p.FailureThreshold != 3 || p.HTTPGet.Path != "/" || p.HTTPGet.Scheme != corev1.URISchemeHTTP {
		t.Errorf("probe defaults = %+v", p)
	}
	if q := c.Resources.Requests[corev1.ResourceCPU]; q.String() != "500m" {
		t.Errorf("requests from limits = %v", c.Resources.Requests)
	}
}

func TestDefaultPullPolicy(t *testing.T) {
	cases := map[string]corev1.PullPolicy{
		"nginx":                       corev1.PullAlways,
		"nginx:latest":                corev1.PullAlways,
		"nginx:1.25":                  corev1.PullIfNotPresent,
		"localhost:5000/app":          corev1.PullAlways,
		"localhost:5000/app:v2":       corev1.PullIfNotPresent,
		"busybox@sha256:0123456789ab": corev1.PullIfNotPresent,
	}
	for image, want := range cases {
		if got := defaultPullPolicy(image); got != want {
			t.Errorf("defaultPullPolicy(%q) = %q, want %q", image, got, want)
		}
	}
}

func TestDefaultBareService(t *testing.T) {
	// The body kubectl expose sends.
	svc := defaulted(t, &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Name: "kubernetes-bootcamp"},
		Spec: corev1.ServiceSpec{
			Type:     corev1.ServiceTypeNodePort,
			Ports:    []corev1.ServicePort{{Port: 8080}},
			Selector: map[string]string{"app": "kubernetes-bootcamp"},
		},
	})
	s := svc.Spec
	if s.SessionAffinity != corev1.ServiceAffinityNone || s.ExternalTrafficPolicy != corev1.ServiceExternalTrafficPolicyCluster ||
		ptr.Deref(s.InternalTrafficPolicy, "") != corev1.ServiceInternalTrafficPolicyCluster ||
		ptr.Deref(s.IPFamilyPolicy, "") != corev1.IPFamilyPolicySingleStack ||
		len(s.IPFamilies) != 1 || s.IPFamilies[0] != corev1.IPv4Protocol {
		t.Errorf("service defaults = %+v", s)
	}
	if p := s.Ports[0]; p.Protocol != corev1.ProtocolTCP || p.TargetPort != intstr.FromInt32(8080) {
		t.Errorf("port = %+v", p)
	}

	plain := defaulted(t, &corev1.Service{Spec: corev1.ServiceSpec{Ports: []corev1.ServicePort{{Port: 80, TargetPort: intstr.FromString("http")}}}})
	if plain.Spec.Type != corev1.ServiceTypeClusterIP || plain.Spec.ExternalTrafficPolicy != "" || plain.Spec.Ports[0].TargetPort != intstr.FromString("http") {
		t.Errorf("ClusterIP defaults = %+v", plain.Spec)
	}

	ext := defaulted(t, &corev1.Service{Spec: corev1.ServiceSpec{Type: corev1.ServiceTypeExternalName, ExternalName: "example.com"}})
	if ext.Spec.IPFamilies != nil || ext.Spec.IPFamilyPolicy != nil || ext.Spec.InternalTrafficPolicy != nil {
		t.Errorf("ExternalName got IP fields: %+v", ext.Spec)
	}
}

func TestDefaultReplicationController(t *testing.T) {
	rc := defaulted(t, &corev1.ReplicationController{
		Spec: corev1.ReplicationControllerSpec{Template: &corev1.PodTemplateSpec{
			ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"app": "web"}},
			Spec:       corev1.PodSpec{Containers: []corev1.Container{bareContainer()}},
		}},
	})
	if rc.Spec.Selector["app"] != "web" || rc.Labels["app"] != "web" || ptr.Deref(rc.Spec.Replicas, 0) != 1 {
		t.Errorf("rc defaults: selector %v labels %v replicas %v", rc.Spec.Selector, rc.Labels, rc.Spec.Replicas)
	}
	wantPodSpecDefaults(t, &rc.Spec.Template.Spec)

	rs := defaulted(t, &appsv1.ReplicaSet{})
	if ptr.Deref(rs.Spec.Replicas, 0) != 1 {
		t.Errorf("rs replicas = %v", rs.Spec.Replicas)
	}
}

func TestDefaultSecretNamespaceNode(t *testing.T) {
	s := defaulted(t, &corev1.Secret{StringData: map[string]string{"user": "admin"}})
	if s.Type != corev1.SecretTypeOpaque || string(s.Data["user"]) != "admin" || s.StringData != nil {
		t.Errorf("secret = %+v", s)
	}
	ns := defaulted(t, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "dev"}})
	if ns.Status.Phase != corev1.NamespaceActive || ns.Labels[corev1.LabelMetadataName] != "dev" {
		t.Errorf("namespace = %+v", ns)
	}
	n := defaulted(t, &corev1.Node{Status: corev1.NodeStatus{Capacity: corev1.ResourceList{corev1.ResourceCPU: resourceQ("2")}}})
	if q := n.Status.Allocatable[corev1.ResourceCPU]; q.String() != "2" {
		t.Errorf("allocatable = %v", n.Status.Allocatable)
	}
}

func TestPrepareForCreate(t *testing.T) {
	pk, _ := Lookup("", "v1", "pods")
	pod := &corev1.Pod{
		Spec:   corev1.PodSpec{Containers: []corev1.Container{bareContainer()}},
		Status: corev1.PodStatus{Phase: corev1.PodRunning, PodIP: "10.42.0.9"},
	}
	pk.PrepareForCreate(pod)
	if pod.Status.Phase != corev1.PodPending || pod.Status.QOSClass != corev1.PodQOSBestEffort || pod.Status.PodIP != "" {
		t.Errorf("pod status = %+v", pod.Status)
	}

	nk, _ := Lookup("", "v1", "namespaces")
	ns := &corev1.Namespace{}
	nk.PrepareForCreate(ns)
	if ns.Status.Phase != corev1.NamespaceActive || len(ns.Spec.Finalizers) != 1 || ns.Spec.Finalizers[0] != corev1.FinalizerKubernetes {
		t.Errorf("namespace = %+v", ns)
	}

	dk, _ := Lookup("apps", "v1", "deployments")
	d := &appsv1.Deployment{Spec: appsv1.DeploymentSpec{Replicas: ptr.To[int32](1)}}
	dk.PrepareForCreate(d)
	if d.Generation != 1 {
		t.Errorf("generation = %d", d.Generation)
	}
	same := d.DeepCopy()
	dk.PrepareForUpdate(same, d)
	if same.Generation != 1 {
		t.Errorf("unchanged spec bumped generation to %d", same.Generation)
	}
	scaled := d.DeepCopy()
	scaled.Spec.Replicas = ptr.To[int32](4)
	dk.PrepareForUpdate(scaled, d)
	if scaled.Generation != 2 {
		t.Errorf("spec change: generation = %d, want 2", scaled.Generation)
	}
}

func TestQOSClass(t *testing.T) {
	guaranteed := corev1.ResourceList{corev1.ResourceCPU: resourceQ("1"), corev1.ResourceMemory: resourceQ("1Gi")}
	cases := []struct {
		res  corev1.ResourceRequirements
		want corev1.PodQOSClass
	}{
		{corev1.ResourceRequirements{}, corev1.PodQOSBestEffort},
		{corev1.ResourceRequirements{Limits: guaranteed, Requests: guaranteed}, corev1.PodQOSGuaranteed},
		{corev1.ResourceRequirements{Requests: corev1.ResourceList{corev1.ResourceCPU: resourceQ("100m")}}, corev1.PodQOSBurstable},
	}
	for _, c := range cases {
		pod := &corev1.Pod{Spec: corev1.PodSpec{Containers: []corev1.Container{{Resources: c.res}}}}
		if got := computePodQOS(pod); got != c.want {
			t.Errorf("qos(%v) = %s, want %s", c.res, got, c.want)
		}
	}
}
