package deployment

import (
	"encoding/json"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/utils/ptr"
)

func TestDeploymentResolveFenceposts(t *testing.T) {
	for _, tc := range []struct {
		surge, unavailable intstr.IntOrString
		desired            int32
		wantS, wantU       int32
	}{
		{intstr.FromString("25%"), intstr.FromString("25%"), 1, 1, 0},
		{intstr.FromString("25%"), intstr.FromString("25%"), 3, 1, 0},
		{intstr.FromString("25%"), intstr.FromString("25%"), 4, 1, 1},
		{intstr.FromString("25%"), intstr.FromString("25%"), 10, 3, 2},
		{intstr.FromString("0%"), intstr.FromString("1%"), 2, 0, 1}, // both 0: unavailable 1
		{intstr.FromInt32(2), intstr.FromInt32(0), 5, 2, 0},
		{intstr.FromString("50%"), intstr.FromString("30%"), 3, 2, 0},
	} {
		s, u, err := resolveFenceposts(&tc.surge, &tc.unavailable, tc.desired)
		if err != nil || s != tc.wantS || u != tc.wantU {
			t.Errorf("%s/%s of %d: %d/%d %v, want %d/%d", tc.surge.String(), tc.unavailable.String(), tc.desired, s, u, err, tc.wantS, tc.wantU)
		}
	}
}

// TestDeploymentEqualIgnoreHash: the template kubectl rollout undo sends
// (hash label removed, creationTimestamp null) equals the ReplicaSet's.
func TestDeploymentEqualIgnoreHash(t *testing.T) {
	rsTmpl := testDeployment("web", 1, "app:v1").Spec.Template
	rsTmpl.Labels = cloneAndAddLabel(rsTmpl.Labels, appsv1.DefaultDeploymentUniqueLabelKey, "abc")
	sent := `{"metadata":{"creationTimestamp":null,"labels":{"app":"web"}},"spec":{"containers":[{"name":"app","image":"app:v1","ports":[{"containerPort":8080}],"resources":{}}]}}`
	var back corev1.PodTemplateSpec
	if err := json.Unmarshal([]byte(sent), &back); err != nil {
		t.Fatal(err)
	}
	if !EqualIgnoreHash(&rsTmpl, &back) {
		t.Error("undo template not equal to the replicaset's")
	}
	back.Spec.Containers[0].Image = "app:v2"
	if EqualIgnoreHash(&rsTmpl, &back) {
		t.Error("different images compare equal")
	}
	if _, ok := rsTmpl.Labels[appsv1.DefaultDeploymentUniqueLabelKey]; !ok {
		t.Error("EqualIgnoreHash changed its argument")
	}
}

func TestDeploymentPodTemplateHash(t *testing.T) {
	tmpl := testDeployment("web", 1, "app:v1").Spec.Template
	a := ComputePodTemplateHash(&tmpl, nil)
	if b := ComputePodTemplateHash(tmpl.DeepCopy(), nil); a != b {
		t.Errorf("hash not stable: %s %s", a, b)
	}
	if c := ComputePodTemplateHash(&tmpl, ptr.To[int32](1)); c == a {
		t.Error("collisionCount does not change the hash")
	}
	for _, r := range a {
		if !(r >= '0' && r <= '9' || r >= 'b' && r <= 'z') || r == 'e' || r == 'a' || r == 'i' || r == 'o' || r == 'u' {
			t.Errorf("hash %q has %q outside rand.SafeEncodeString's alphabet", a, r)
		}
	}
}
