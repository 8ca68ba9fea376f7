package apiserver

import (
	"bytes"
	"encoding/json"
	"net/http"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	autoscalingv1 "k8s.io/api/autoscaling/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/intstr"

	"github.com/shoal-project/shoal/node/apiserver/registry"
)

// bootcampDeployment is the tutorial's deployment, with a port and an env
// var that a `kubectl set image` patch must keep.
func bootcampDeployment() *appsv1.Deployment {
	d := testDeployment("kubernetes-bootcamp", 1)
	c := &d.Spec.Template.Spec.Containers[0]
	c.Image = "gcr.io/google-samples/kubernetes-bootcamp:v1"
	c.Ports = []corev1.ContainerPort{{ContainerPort: 8080}}
	c.Env = []corev1.EnvVar{{Name: "MODE", Value: "demo"}}
	return d
}

func TestPatchTypes(t *testing.T) {
	e := newTestEnv(t)
	if _, err := e.cs.AppsV1().Deployments("default").Create(e.ctx, bootcampDeployment(), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	const path = deployPath + "/kubernetes-bootcamp"
	tests := []struct {
		name  string
		pt    types.PatchType
		body  string
		check func(t *testing.T, d *appsv1.Deployment)
	}{
		{name: "kubectl set image (strategic merge)", pt: types.StrategicMergePatchType,
			body: `{"spec":{"template":{"spec":{"$setElementOrder/containers":[{"name":"kubernetes-bootcamp"}],"containers":[{"image":"docker.io/jocatalin/kubernetes-bootcamp:v2","name":"kubernetes-bootcamp"}]}}}}`,
			check: func(t *testing.T, d *appsv1.Deployment) {
				cs := d.Spec.Template.Spec.Containers
				if len(cs) != 1 || cs[0].Image != "docker.io/jocatalin/kubernetes-bootcamp:v2" {
					t.Fatalf("containers %+v, want one with the new image", cs)
				}
				if len(cs[0].Ports) != 1 || cs[0].Ports[0].ContainerPort != 8080 || len(cs[0].Env) != 1 || cs[0].ImagePullPolicy == "" {
					t.Errorf("set image lost container fields: %+v", cs[0])
				}
				if d.Generation != 2 {
					t.Errorf("generation %d, want 2", d.Generation)
				}
			}},
		{name: "kubectl label (merge)", pt: types.MergePatchType,
			body: `{"metadata":{"labels":{"version":"v1"}}}`,
			check: func(t *testing.T, d *appsv1.Deployment) {
				if d.Labels["version"] != "v1" || d.Labels["app"] != "kubernetes-bootcamp" {
					t.Errorf("labels %v", d.Labels)
				}
				if d.Generation != 2 {
					t.Errorf("a label patch bumped generation to %d", d.Generation)
				}
			}},
		{name: "kubectl rollout undo (JSON patch)", pt: types.JSONPatchType,
			body: `[{"op":"replace","path":"/spec/template/spec/containers/0/image","value":"gcr.io/google-samples/kubernetes-bootcamp:v1"},{"op":"replace","path":"/metadata/annotations","value":{"deployment.kubernetes.io/revision":"2"}}]`,
			check: func(t *testing.T, d *appsv1.Deployment) {
				if img := d.Spec.Template.Spec.Containers[0].Image; img != "gcr.io/google-samples/kubernetes-bootcamp:v1" {
					t.Errorf("image %q", img)
				}
				if d.Annotations["deployment.kubernetes.io/revision"] != "2" || len(d.Spec.Template.Spec.Containers[0].Env) != 1 {
					t.Errorf("annotations %v, env %v", d.Annotations, d.Spec.Template.Spec.Containers[0].Env)
				}
			}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rep := e.do("PATCH", path+"?fieldManager=kubectl", string(tt.pt), []byte(tt.body))
			if rep.code != http.StatusOK {
				t.Fatalf("HTTP %d: %s", rep.code, rep.body)
			}
			if bytes.Contains(rep.body, []byte("$setElementOrder")) {
				t.Errorf("a patch directive leaked into the object: %s", rep.body)
			}
			var d appsv1.Deployment
			if err := json.Unmarshal(rep.body, &d); err != nil {
				t.Fatal(err)
			}
			tt.check(t, &d)
			stored, err := e.cs.AppsV1().Deployments("default").Get(e.ctx, "kubernetes-bootcamp", metav1.GetOptions{})
			if err != nil {
				t.Fatal(err)
			}
			tt.check(t, stored)
		})
	}
}

func TestPatchErrors(t *testing.T) {
	e := newTestEnv(t)
	if _, err := e.cs.AppsV1().Deployments("default").Create(e.ctx, bootcampDeployment(), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	const path = deployPath + "/kubernetes-bootcamp"
	tests := []struct {
		name, ct, body string
		code           int
		reason         metav1.StatusReason
	}{
		{"server-side apply", "application/apply-patch+yaml", "spec:\n  replicas: 3\n", 415, metav1.StatusReasonUnsupportedMediaType},
		{"unknown patch type", "application/json", `{"spec":{"replicas":3}}`, 415, metav1.StatusReasonUnsupportedMediaType},
		{"malformed merge patch", "application/merge-patch+json", `{"spec":`, 400, metav1.StatusReasonBadRequest},
		{"malformed JSON patch", "application/json-patch+json", `{"op":"replace"}`, 400, metav1.StatusReasonBadRequest},
		{"JSON patch test fails", "application/json-patch+json", `[{"op":"test","path":"/spec/replicas","value":7}]`, 422, metav1.StatusReasonInvalid},
		{"patch makes it invalid", "application/merge-patch+json", `{"spec":{"replicas":-2}}`, 422, metav1.StatusReasonInvalid},
		{"patch renames", "application/merge-patch+json", `{"metadata":{"name":"other"}}`, 400, metav1.StatusReasonBadRequest},
		{"patch with a stale resourceVersion", "application/merge-patch+json", `{"metadata":{"resourceVersion":"1"},"spec":{"replicas":3}}`, 409, metav1.StatusReasonConflict},
		{"patch of a missing object", "application/merge-patch+json", `{}`, 404, metav1.StatusReasonNotFound},
	}
	for _, tt := range tests {
		p := path
		if tt.code == 404 {
			p = deployPath + "/missing"
		}
		st := e.status(e.do("PATCH", p, tt.ct, []byte(tt.body)), tt.code)
		if st.Reason != tt.reason {
			t.Errorf("%s: reason %q, want %q (%s)", tt.name, st.Reason, tt.reason, st.Message)
		}
	}
	d, err := e.cs.AppsV1().Deployments("default").Get(e.ctx, "kubernetes-bootcamp", metav1.GetOptions{})
	if err != nil || *d.Spec.Replicas != 1 || d.Generation != 1 {
		t.Errorf("failed patches changed the deployment: %v %+v", err, d)
	}
}

func TestScaleSubresource(t *testing.T) {
	e := newTestEnv(t)
	if _, err := e.cs.AppsV1().Deployments("default").Create(e.ctx, bootcampDeployment(), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	rep := e.do("PATCH", deployPath+"/kubernetes-bootcamp/scale", "application/merge-patch+json", []byte(`{"spec":{"replicas":4}}`))
	if rep.code != http.StatusOK {
		t.Fatalf("scale patch: %d %s", rep.code, rep.body)
	}
	var sc autoscalingv1.Scale
	if err := json.Unmarshal(rep.body, &sc); err != nil {
		t.Fatal(err)
	}
	if sc.Kind != "Scale" || sc.APIVersion != "autoscaling/v1" || sc.Spec.Replicas != 4 ||
		sc.Name != "kubernetes-bootcamp" || sc.Namespace != "default" || sc.UID == "" || sc.Status.Selector != "app=kubernetes-bootcamp" {
		t.Errorf("scale answer %s", rep.body)
	}
	d, err := e.cs.AppsV1().Deployments("default").Get(e.ctx, "kubernetes-bootcamp", metav1.GetOptions{})
	if err != nil || *d.Spec.Replicas != 4 || d.Generation != 2 || d.ResourceVersion != sc.ResourceVersion {
		t.Fatalf("deployment after scale: %v replicas %d generation %d rv %s (scale rv %s)", err, *d.Spec.Replicas, d.Generation, d.ResourceVersion, sc.ResourceVersion)
	}

	// The typed client reads and updates the Scale (its PUT body is protobuf).
	got, err := e.cs.AppsV1().Deployments("default").GetScale(e.ctx, "kubernetes-bootcamp", metav1.GetOptions{})
	if err != nil || got.Spec.Replicas != 4 {
		t.Fatalf("GetScale: %v %+v", err, got)
	}
	got.Spec.Replicas = 2
	if got, err = e.cs.AppsV1().Deployments("default").UpdateScale(e.ctx, "kubernetes-bootcamp", got, metav1.UpdateOptions{}); err != nil || got.Spec.Replicas != 2 {
		t.Fatalf("UpdateScale: %v %+v", err, got)
	}
	got.Spec.Replicas = 5 // stale resourceVersion now
	got.ResourceVersion = sc.ResourceVersion
	if _, err := e.cs.AppsV1().Deployments("default").UpdateScale(e.ctx, "kubernetes-bootcamp", got, metav1.UpdateOptions{}); err == nil {
		t.Error("UpdateScale with a stale resourceVersion succeeded")
	}
	st := e.status(e.do("PATCH", deployPath+"/kubernetes-bootcamp/scale", "application/merge-patch+json", []byte(`{"spec":{"replicas":-1}}`)), 422)
	if st.Details == nil || len(st.Details.Causes) == 0 || st.Details.Causes[0].Field != "spec.replicas" {
		t.Errorf("negative scale: %+v", st)
	}
	e.status(e.do("GET", "/api/v1/namespaces/default/configmaps/x/scale", "", nil), 404)
}

func TestProtobufCreate(t *testing.T) {
	e := newTestEnv(t)
	// What `kubectl create deployment` sends: strategy {} and status {}.
	d := testDeployment("kubernetes-bootcamp", 1)
	d.TypeMeta = metav1.TypeMeta{APIVersion: "apps/v1", Kind: "Deployment"}
	d.Spec.Template.Spec.Containers[0].Image = "gcr.io/google-samples/kubernetes-bootcamp:v1"
	info, ok := runtime.SerializerInfoForMediaType(registry.Codecs().SupportedMediaTypes(), runtime.ContentTypeProtobuf)
	if !ok {
		t.Fatal("no protobuf serializer")
	}
	var body bytes.Buffer
	if err := info.Serializer.Encode(d, &body); err != nil {
		t.Fatal(err)
	}
	rep := e.do("POST", deployPath+"?fieldManager=kubectl-create&fieldValidation=Strict", runtime.ContentTypeProtobuf, body.Bytes(),
		"Accept", "application/vnd.kubernetes.protobuf,application/json")
	if rep.code != http.StatusCreated {
		t.Fatalf("protobuf create: %d %s", rep.code, rep.body)
	}
	// The client put protobuf first: kube-apiserver answers in it.
	if ct := rep.header.Get("Content-Type"); ct != runtime.ContentTypeProtobuf {
		t.Errorf("answer Content-Type %q, want %s", ct, runtime.ContentTypeProtobuf)
	}
	var got appsv1.Deployment
	if _, _, err := info.Serializer.Decode(rep.body, nil, &got); err != nil {
		t.Fatal(err)
	}
	ru := got.Spec.Strategy.RollingUpdate
	want := intstr.FromString("25%")
	if got.Spec.Strategy.Type != appsv1.RollingUpdateDeploymentStrategyType || ru == nil || *ru.MaxSurge != want || *ru.MaxUnavailable != want {
		t.Errorf("strategy %+v, want RollingUpdate 25%%/25%%", got.Spec.Strategy)
	}
	if got.Kind != "Deployment" || got.Generation != 1 || got.Spec.Template.Spec.Containers[0].Image != "gcr.io/google-samples/kubernetes-bootcamp:v1" {
		t.Errorf("created %s", rep.body)
	}

	// A protobuf body of another kind is refused.
	var pod bytes.Buffer
	p := testPod("p", "", nil)
	p.TypeMeta = metav1.TypeMeta{APIVersion: "v1", Kind: "Pod"}
	if err := info.Serializer.Encode(p, &pod); err != nil {
		t.Fatal(err)
	}
	e.status(e.do("POST", deployPath, runtime.ContentTypeProtobuf, pod.Bytes()), 400)
	e.status(e.do("POST", deployPath, runtime.ContentTypeProtobuf, []byte("k8s\x00garbage")), 400)
}
