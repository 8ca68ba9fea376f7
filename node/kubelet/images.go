package kubelet

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"

	"github.com/shoal-project/shoal/runtime"
)

// Waiting reasons of image problems, as the kubelet reports them.
const (
	waitErrImagePull      = "ErrImagePull"
	waitImagePullBackOff  = "ImagePullBackOff"
	waitErrImageNeverPull = "ErrImageNeverPull"
	waitInvalidImageName  = "InvalidImageName"
)

// ensureImage makes c's image present as its pull policy says. On failure
// it returns the waiting state the container reports and has recorded the
// kubelet's events.
func (w *podWorker) ensureImage(ctx context.Context, pod *corev1.Pod, c *corev1.Container) (*runtime.Image, *corev1.ContainerStateWaiting) {
	k := w.k
	field := containerField(pod, c.Name)
	fail := func(reason, message string) *corev1.ContainerStateWaiting {
		k.events.record(pod, field, corev1.EventTypeWarning, reasonFailed, "Error: "+reason)
		return &corev1.ContainerStateWaiting{Reason: reason, Message: message}
	}
	if strings.TrimSpace(c.Image) == "" {
		return nil, fail(waitInvalidImageName, fmt.Sprintf("Failed to apply default image tag %q: couldn't parse image name %q: invalid reference format", c.Image, c.Image))
	}
	policy := c.ImagePullPolicy
	if policy == "" {
		policy = defaultPullPolicy(c.Image)
	}
	if policy != corev1.PullAlways {
		img, err := k.rt.ImageStatus(ctx, c.Image)
		if err == nil {
			k.events.record(pod, field, corev1.EventTypeNormal, reasonPulled, fmt.Sprintf("Container image %q already present on machine", c.Image))
			return img, nil
		}
		if !errors.Is(err, runtime.ErrNotFound) {
			return nil, fail(waitErrImagePull, err.Error())
		}
		if policy == corev1.PullNever {
			msg := fmt.Sprintf("Container image %q is not present with pull policy of Never", c.Image)
			k.events.record(pod, field, corev1.EventTypeWarning, reasonErrImageNever, msg)
			return nil, fail(waitErrImageNeverPull, msg)
		}
	}
	key := string(pod.UID) + "_" + c.Image
	if in, _ := k.pulls.InBackOffSinceUpdate(key, k.cfg.Now()); in {
		msg := fmt.Sprintf("Back-off pulling image %q", c.Image)
		k.events.record(pod, field, corev1.EventTypeNormal, reasonBackOff, msg)
		return nil, fail(waitImagePullBackOff, msg)
	}
	k.events.record(pod, field, corev1.EventTypeNormal, reasonPulling, fmt.Sprintf("Pulling image %q", c.Image))
	start := time.Now()
	var (
		img *runtime.Image
		err error
	)
	w.yieldStart(ctx, func() { img, err = k.rt.PullImage(ctx, c.Image, w.pullAuth(pod, c.Image)) })
	if err != nil {
		if ctx.Err() != nil {
			return nil, &corev1.ContainerStateWaiting{Reason: "ContainerCreating"}
		}
		k.events.record(pod, field, corev1.EventTypeWarning, reasonFailed, fmt.Sprintf("Failed to pull image %q: %v", c.Image, err))
		k.pulls.Next(key, k.cfg.Now(), k.cfg.Now())
		return nil, fail(waitErrImagePull, err.Error())
	}
	d := time.Since(start).Round(time.Millisecond)
	msg := fmt.Sprintf("Successfully pulled image %q in %s (%s including waiting)", c.Image, d, d)
	if img.Size > 0 {
		msg += fmt.Sprintf(". Image size: %d bytes.", img.Size)
	}
	k.events.record(pod, field, corev1.EventTypeNormal, reasonPulled, msg)
	return img, nil
}

// defaultPullPolicy is Always for an untagged or ":latest" image, else
// IfNotPresent (the API defaults it; this covers objects that skipped it).
func defaultPullPolicy(image string) corev1.PullPolicy {
	if strings.Contains(image, "@") {
		return corev1.PullIfNotPresent
	}
	name := image
	if i := strings.LastIndex(name, "/"); i >= 0 {
		name = name[i+1:]
	}
	_, tag, ok := strings.Cut(name, ":")
	if !ok || tag == "latest" {
		return corev1.PullAlways
	}
	return corev1.PullIfNotPresent
}

// imageID is how the kubelet reports an image: repository@digest (e.g.
// docker.io/library/busybox@sha256:...), else the runtime's id.
func imageID(img *runtime.Image) string {
	if img == nil {
		return ""
	}
	if img.Digest != "" && img.Ref != "" {
		return repository(img.Ref) + "@" + img.Digest
	}
	return img.ID
}

// repository strips a reference's tag and digest.
func repository(ref string) string {
	ref, _, _ = strings.Cut(ref, "@")
	slash := strings.LastIndex(ref, "/")
	if colon := strings.LastIndex(ref, ":"); colon > slash {
		ref = ref[:colon]
	}
	return ref
}

// registryHost is the registry an image reference points at, with Docker
// Hub's aliases folded to docker.io.
func registryHost(image string) string {
	first, _, ok := strings.Cut(image, "/")
	if !ok || (!strings.ContainsAny(first, ".:") && first != "localhost") {
		return "docker.io"
	}
	return normalizeRegistry(first)
}

func normalizeRegistry(h string) string {
	h = strings.TrimPrefix(strings.TrimPrefix(h, "https://"), "http://")
	h, _, _ = strings.Cut(h, "/")
	switch h {
	case "index.docker.io", "registry-1.docker.io", "registry.hub.docker.com":
		return "docker.io"
	}
	return h
}

// dockerConfig is the content of a kubernetes.io/dockerconfigjson secret
// (and, without the "auths" wrapper, of a kubernetes.io/dockercfg one).
type dockerConfig struct {
	Auths map[string]dockerAuth `json:"auths"`
}

type dockerAuth struct {
	Username string `json:"username"`
	Password string `json:"password"`
	Auth     string `json:"auth"`
}

// pullAuth finds credentials for image among the pod's imagePullSecrets.
func (w *podWorker) pullAuth(pod *corev1.Pod, image string) *runtime.RegistryAuth {
	host := registryHost(image)
	for _, ref := range pod.Spec.ImagePullSecrets {
		s, err := w.k.objects().secret(pod.Namespace, ref.Name)
		if err != nil {
			continue
		}
		if a := authFromSecret(s, host); a != nil {
			return a
		}
	}
	return nil
}

// authFromSecret reads the credentials for registry host from a docker
// config secret.
func authFromSecret(s *corev1.Secret, host string) *runtime.RegistryAuth {
	var auths map[string]dockerAuth
	switch s.Type {
	case corev1.SecretTypeDockerConfigJson:
		var cfg dockerConfig
		if json.Unmarshal(s.Data[corev1.DockerConfigJsonKey], &cfg) != nil {
			return nil
		}
		auths = cfg.Auths
	case corev1.SecretTypeDockercfg:
		if json.Unmarshal(s.Data[corev1.DockerConfigKey], &auths) != nil {
			return nil
		}
	default:
		return nil
	}
	for registry, a := range auths {
		if normalizeRegistry(registry) != host {
			continue
		}
		out := &runtime.RegistryAuth{Username: a.Username, Password: a.Password, Auth: a.Auth}
		if out.Username == "" && a.Auth != "" {
			if dec, err := base64.StdEncoding.DecodeString(a.Auth); err == nil {
				out.Username, out.Password, _ = strings.Cut(string(dec), ":")
			}
		}
		return out
	}
	return nil
}
