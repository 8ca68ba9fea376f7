package kubelet

import (
	"testing"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"

	"github.com/shoal-project/shoal/runtime"
)

func TestResources(t *testing.T) {
	q := resource.MustParse
	for _, tc := range []struct {
		name             string
		limits, requests corev1.ResourceList
		want             runtime.Resources
	}{
		{name: "best effort", want: runtime.Resources{CPUShares: 2}},
		{name: "memory limit", limits: corev1.ResourceList{corev1.ResourceMemory: q("128Mi")},
			want: runtime.Resources{MemoryLimitBytes: 128 << 20, CPUShares: 2}},
		{name: "cpu limit and request", limits: corev1.ResourceList{corev1.ResourceCPU: q("500m")},
			requests: corev1.ResourceList{corev1.ResourceCPU: q("250m")},
			want:     runtime.Resources{CPUQuota: 50000, CPUPeriod: 100000, CPUShares: 256}},
		{name: "whole cpus", limits: corev1.ResourceList{corev1.ResourceCPU: q("2")},
			requests: corev1.ResourceList{corev1.ResourceCPU: q("1")},
			want:     runtime.Resources{CPUQuota: 200000, CPUPeriod: 100000, CPUShares: 1024}},
		{name: "request defaults to limit", limits: corev1.ResourceList{corev1.ResourceCPU: q("100m")},
			want: runtime.Resources{CPUQuota: 10000, CPUPeriod: 100000, CPUShares: 102}},
		{name: "tiny values hit the minimums", limits: corev1.ResourceList{corev1.ResourceCPU: q("1m")},
			requests: corev1.ResourceList{corev1.ResourceCPU: q("1m")},
			want:     runtime.Resources{CPUQuota: 1000, CPUPeriod: 100000, CPUShares: 2}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := &corev1.Container{Resources: corev1.ResourceRequirements{Limits: tc.limits, Requests: tc.requests}}
			if got := resources(c); got != tc.want {
				t.Errorf("got %+v, want %+v", got, tc.want)
			}
		})
	}
}

func TestImageHelpers(t *testing.T) {
	for _, tc := range []struct{ image, host, repo string }{
		{"nginx", "docker.io", "nginx"},
		{"library/nginx:1.25", "docker.io", "library/nginx"},
		{"gcr.io/google-samples/kubernetes-bootcamp:v1", "gcr.io", "gcr.io/google-samples/kubernetes-bootcamp"},
		{"localhost:5000/app@sha256:abc", "localhost:5000", "localhost:5000/app"},
		{"index.docker.io/library/busybox", "docker.io", "index.docker.io/library/busybox"},
	} {
		if got := registryHost(tc.image); got != tc.host {
			t.Errorf("registryHost(%q) = %q, want %q", tc.image, got, tc.host)
		}
		if got := repository(tc.image); got != tc.repo {
			t.Errorf("repository(%q) = %q, want %q", tc.image, got, tc.repo)
		}
	}
	for img, want := range map[string]corev1.PullPolicy{
		"nginx": corev1.PullAlways, "nginx:latest": corev1.PullAlways, "nginx:1.25": corev1.PullIfNotPresent,
		"localhost:5000/app": corev1.PullAlways, "app@sha256:abc": corev1.PullIfNotPresent,
	} {
		if got := defaultPullPolicy(img); got != want {
			t.Errorf("defaultPullPolicy(%q) = %s, want %s", img, got, want)
		}
	}
	got := imageID(&runtime.Image{Ref: "docker.io/library/busybox:1.36", ID: "sha256:cfg", Digest: "sha256:man"})
	if got != "docker.io/library/busybox@sha256:man" {
		t.Errorf("imageID = %q", got)
	}
}

func TestAuthFromSecret(t *testing.T) {
	s := &corev1.Secret{Type: corev1.SecretTypeDockerConfigJson, Data: map[string][]byte{
		corev1.DockerConfigJsonKey: []byte(`{"auths":{"https://index.docker.io/v1/":{"auth":"dXNlcjpwYXNz"},"reg.example:5000":{"username":"u","password":"p"}}}`),
	}}
	if a := authFromSecret(s, "docker.io"); a == nil || a.Username != "user" || a.Password != "pass" || a.Auth != "dXNlcjpwYXNz" {
		t.Errorf("docker hub auth %+v", a)
	}
	if a := authFromSecret(s, "reg.example:5000"); a == nil || a.Username != "u" || a.Password != "p" {
		t.Errorf("registry auth %+v", a)
	}
	if a := authFromSecret(s, "gcr.io"); a != nil {
		t.Errorf("auth for an unknown registry: %+v", a)
	}
}
