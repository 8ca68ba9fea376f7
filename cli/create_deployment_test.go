package cli

import "testing"

func TestDeploymentForLikeKubectl(t *testing.T) {
	cases := []struct{ image, container string }{
		{"gcr.io/google-samples/kubernetes-bootcamp:v1", "kubernetes-bootcamp"},
		{"nginx", "nginx"},
		{"docker.io/library/nginx@sha256:abc", "nginx"},
		{"registry:5000/team/app:1.2", "app"},
	}
	for _, tc := range cases {
		if got := containerNameFor(tc.image); got != tc.container {
			t.Errorf("containerNameFor(%q) = %q, want %q", tc.image, got, tc.container)
		}
	}
	d := deploymentFor("kubernetes-bootcamp", []string{"gcr.io/google-samples/kubernetes-bootcamp:v1"}, 1, 8080)
	if d.Spec.Selector.MatchLabels["app"] != "kubernetes-bootcamp" || d.Spec.Template.Labels["app"] != "kubernetes-bootcamp" || d.Labels["app"] != "kubernetes-bootcamp" {
		t.Fatalf("labels and selector: %+v %+v", d.Labels, d.Spec.Selector)
	}
	if *d.Spec.Replicas != 1 || len(d.Spec.Template.Spec.Containers) != 1 || d.Spec.Template.Spec.Containers[0].Ports[0].ContainerPort != 8080 {
		t.Fatalf("spec: %+v", d.Spec)
	}
}
