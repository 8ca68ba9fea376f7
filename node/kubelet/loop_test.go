package kubelet

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	"github.com/shoal-project/shoal/runtime"
	"github.com/shoal-project/shoal/runtime/fake"
)

func TestLoopPodRuns(t *testing.T) {
	e := newLoopEnv(t)
	if _, err := e.CS.CoreV1().ConfigMaps("default").Create(e.Ctx, &corev1.ConfigMap{
		ObjectMeta: metav1.ObjectMeta{Name: "cfg"}, Data: map[string]string{"greeting": "hello", "app.conf": "x=1"},
	}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	e.start()
	pod := testPod("web", "busybox:1.36")
	c := &pod.Spec.Containers[0]
	c.Command = []string{"sh", "-c", "echo $(GREETING) from $(POD)"}
	c.Env = []corev1.EnvVar{
		{Name: "POD", ValueFrom: &corev1.EnvVarSource{FieldRef: &corev1.ObjectFieldSelector{FieldPath: "metadata.name"}}},
		{Name: "GREETING", ValueFrom: &corev1.EnvVarSource{ConfigMapKeyRef: &corev1.ConfigMapKeySelector{
			LocalObjectReference: corev1.LocalObjectReference{Name: "cfg"}, Key: "greeting"}}},
	}
	c.VolumeMounts = []corev1.VolumeMount{{Name: "conf", MountPath: "/etc/app"}, {Name: "scratch", MountPath: "/tmp/s"}}
	pod.Spec.Volumes = []corev1.Volume{
		{Name: "conf", VolumeSource: corev1.VolumeSource{ConfigMap: &corev1.ConfigMapVolumeSource{LocalObjectReference: corev1.LocalObjectReference{Name: "cfg"}}}},
		{Name: "scratch", VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}},
	}
	created := e.createPod(pod)

	e.eventually("pod Running and Ready", func() (bool, string) {
		p := e.GetPod("web")
		r := findCondition(p.Status.Conditions, corev1.PodReady)
		return p.Status.Phase == corev1.PodRunning && r != nil && r.Status == corev1.ConditionTrue, fmt.Sprintf("%+v", p.Status)
	})
	p := e.GetPod("web")
	st := p.Status
	if st.PodIP == "" || !strings.HasPrefix(st.PodIP, "10.42.0.") || len(st.PodIPs) != 1 || st.HostIP != "192.0.2.10" || st.StartTime == nil {
		t.Errorf("addresses: podIP %q podIPs %v hostIP %q startTime %v", st.PodIP, st.PodIPs, st.HostIP, st.StartTime)
	}
	if st.QOSClass != corev1.PodQOSBestEffort {
		t.Errorf("qosClass %q not kept", st.QOSClass)
	}
	for _, ct := range []corev1.PodConditionType{corev1.PodInitialized, corev1.ContainersReady, corev1.PodReadyToStartContainers} {
		if cond := findCondition(st.Conditions, ct); cond == nil || cond.Status != corev1.ConditionTrue {
			t.Errorf("condition %s: %+v", ct, cond)
		}
	}
	cs := st.ContainerStatuses[0]
	if cs.State.Running == nil || !cs.Ready || cs.Started == nil || !*cs.Started || cs.RestartCount != 0 ||
		!strings.HasPrefix(cs.ContainerID, "containerd://") || cs.Image != "docker.io/library/busybox:1.36" ||
		cs.ImageID != "docker.io/library/busybox@sha256:0123abcd" {
		t.Errorf("container status %+v", cs)
	}

	cfg, _ := e.rt.config("app")
	if !slices.Equal(cfg.Command, []string{"sh", "-c", "echo hello from web"}) {
		t.Errorf("command %q", cfg.Command)
	}
	if !slices.Contains(cfg.Env, "GREETING=hello") || !slices.Contains(cfg.Env, "POD=web") {
		t.Errorf("env %q", cfg.Env)
	}
	if cfg.Resources.CPUShares != 2 || cfg.Labels[labelPodUID] != string(created.UID) {
		t.Errorf("resources %+v labels %v", cfg.Resources, cfg.Labels)
	}
	if len(cfg.Mounts) != 2 || !cfg.Mounts[0].ReadOnly || cfg.Mounts[1].ReadOnly {
		t.Fatalf("mounts %+v", cfg.Mounts)
	}
	if b, err := os.ReadFile(filepath.Join(cfg.Mounts[0].HostPath, "app.conf")); err != nil || string(b) != "x=1" {
		t.Errorf("configmap file: %q %v", b, err)
	}
	if !strings.HasPrefix(cfg.Mounts[1].HostPath, filepath.Join(e.root, "pods", string(created.UID), "volumes", pluginEmptyDir)) {
		t.Errorf("emptyDir at %s", cfg.Mounts[1].HostPath)
	}

	for _, want := range [][2]string{
		{"Pulled", `Successfully pulled image "busybox:1.36" in `},
		{"Created", "Created container: app"},
		{"Started", "Started container app"},
	} {
		ev := e.hasEvent("web", want[0], want[1])
		if ev.Source.Component != "kubelet" || ev.Source.Host != testNode || ev.ReportingController != "kubelet" ||
			ev.InvolvedObject.FieldPath != "spec.containers{app}" || ev.InvolvedObject.UID != created.UID ||
			ev.InvolvedObject.Kind != "Pod" || ev.InvolvedObject.APIVersion != "v1" || ev.Count != 1 || ev.FirstTimestamp.IsZero() {
			t.Errorf("event %s: %+v", want[0], ev)
		}
	}
	e.hasEvent("web", "Pulling", `Pulling image "busybox:1.36"`)

	// The configmap volume follows the configmap.
	cm, _ := e.CS.CoreV1().ConfigMaps("default").Get(e.Ctx, "cfg", metav1.GetOptions{})
	cm.Data["app.conf"] = "x=2"
	if _, err := e.CS.CoreV1().ConfigMaps("default").Update(e.Ctx, cm, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	e.eventually("configmap volume refreshed", func() (bool, string) {
		b, _ := os.ReadFile(filepath.Join(cfg.Mounts[0].HostPath, "app.conf"))
		return string(b) == "x=2", string(b)
	})

	// ContainerID serves logs and exec.
	id, err := e.k.ContainerID("default", "web", "app", false)
	if err != nil || "containerd://"+id != cs.ContainerID {
		t.Errorf("ContainerID = %q, %v; want the status's %s", id, err, cs.ContainerID)
	}
	if _, err := e.k.ContainerID("default", "web", "", true); !errors.Is(err, ErrNotFound) ||
		err.Error() != `previous terminated container "app" in pod "web" not found` {
		t.Errorf("previous: %v", err)
	}
	if _, err := e.k.ContainerID("default", "web", "nope", false); !errors.Is(err, ErrNotFound) || !apierrors.IsBadRequest(err) {
		t.Errorf("unknown container: %v", err)
	}
	if _, err := e.k.ContainerID("default", "nope", "", false); !errors.Is(err, ErrNotFound) || !apierrors.IsNotFound(err) {
		t.Errorf("unknown pod: %v", err)
	}
}

func TestLoopImagePullBackOff(t *testing.T) {
	e := newLoopEnv(t)
	e.rt.set(func() {
		e.rt.failPull["registry.example/app:v9"] = errors.New(`failed to resolve reference "registry.example/app:v9": not found`)
	})
	e.start()
	reasons := e.watchReasons("bad")
	e.createPod(testPod("bad", "registry.example/app:v9"))

	e.eventually("ErrImagePull then ImagePullBackOff", func() (bool, string) {
		r := reasons()
		i := slices.Index(r, waitErrImagePull)
		return i >= 0 && slices.Contains(r[i:], waitImagePullBackOff), fmt.Sprint(r)
	})
	p := e.GetPod("bad")
	if p.Status.Phase != corev1.PodPending {
		t.Errorf("phase %s, want Pending", p.Status.Phase)
	}
	e.hasEvent("bad", "Failed", `Failed to pull image "registry.example/app:v9": image pull failed: failed to resolve reference`)
	e.hasEvent("bad", "Failed", "Error: ErrImagePull")
	e.hasEvent("bad", "Failed", "Error: ImagePullBackOff")
	ev := e.hasEvent("bad", "BackOff", `Back-off pulling image "registry.example/app:v9"`)
	if ev.Type != corev1.EventTypeNormal {
		t.Errorf("BackOff event type %s", ev.Type)
	}
	// Repeats are aggregated into one event with a growing count.
	e.eventually("aggregated BackOff event", func() (bool, string) {
		n, count := 0, int32(0)
		for _, ev := range e.events("bad") {
			if ev.Reason == "BackOff" {
				n++
				count = ev.Count
			}
		}
		return n == 1 && count > 1, fmt.Sprintf("%d BackOff events, count %d", n, count)
	})
	// The pull is retried after the back-off; once it works the pod runs.
	e.rt.set(func() { delete(e.rt.failPull, "registry.example/app:v9") })
	e.eventually("pod Running after the registry recovers", func() (bool, string) {
		p := e.GetPod("bad")
		return p.Status.Phase == corev1.PodRunning, string(p.Status.Phase)
	})
}

func TestLoopCrashLoopBackOff(t *testing.T) {
	e := newLoopEnv(t)
	e.rt.set(func() { e.rt.behave["app"] = fakeBehaviour{code: 1, reason: "Error"} })
	e.start()
	reasons := e.watchReasons("crash")
	created := e.createPod(testPod("crash", "busybox:1.36"))

	e.eventually("CrashLoopBackOff with restarts", func() (bool, string) {
		p := e.GetPod("crash")
		cs := p.Status.ContainerStatuses
		if len(cs) == 0 {
			return false, "no status"
		}
		return cs[0].RestartCount >= 3 && slices.Contains(reasons(), waitCrashLoopBackOff), fmt.Sprintf("%+v %v", cs[0], reasons())
	})
	p := e.GetPod("crash")
	cs := p.Status.ContainerStatuses[0]
	if p.Status.Phase != corev1.PodRunning {
		t.Errorf("phase %s, want Running (restartPolicy Always)", p.Status.Phase)
	}
	if lt := cs.LastTerminationState.Terminated; lt == nil || lt.ExitCode != 1 || lt.Reason != "Error" || lt.ContainerID == "" {
		t.Errorf("lastState %+v", cs.LastTerminationState)
	}
	e.hasEvent("crash", "BackOff", fmt.Sprintf("Back-off restarting failed container app in pod crash_default(%s)", created.UID))
	// Only the newest two attempts are kept in the runtime.
	e.rt.mu.Lock()
	n := len(e.rt.containers)
	e.rt.mu.Unlock()
	if n > 3 {
		t.Errorf("%d containers kept in the runtime", n)
	}
	if _, err := e.k.ContainerID("default", "crash", "app", true); err != nil {
		t.Errorf("previous container: %v", err)
	}
}

func TestLoopRestartPolicyNever(t *testing.T) {
	e := newLoopEnv(t)
	e.rt.set(func() {
		e.rt.behave["ok"] = fakeBehaviour{runFor: 50 * time.Millisecond}
		e.rt.behave["fail"] = fakeBehaviour{code: 3}
	})
	e.start()
	ok := testPod("job-ok", "busybox:1.36")
	ok.Spec.Containers[0].Name = "ok"
	ok.Spec.RestartPolicy = corev1.RestartPolicyNever
	fail := testPod("job-fail", "busybox:1.36")
	fail.Spec.Containers[0].Name = "fail"
	fail.Spec.RestartPolicy = corev1.RestartPolicyOnFailure
	fail.Spec.InitContainers = []corev1.Container{{Name: "ok", Image: "busybox:1.36"}}
	e.createPod(ok)
	e.createPod(fail)
	e.eventually("job-ok Succeeded", func() (bool, string) {
		p := e.GetPod("job-ok")
		return p.Status.Phase == corev1.PodSucceeded, fmt.Sprintf("%+v", p.Status)
	})
	p := e.GetPod("job-ok")
	if term := p.Status.ContainerStatuses[0].State.Terminated; term == nil || term.Reason != "Completed" || term.ExitCode != 0 {
		t.Errorf("state %+v", p.Status.ContainerStatuses[0].State)
	}
	if r := findCondition(p.Status.Conditions, corev1.PodReady); r.Reason != "PodCompleted" {
		t.Errorf("Ready %+v", r)
	}
	// The init container ran to completion, then the app container
	// restarts on failure.
	e.eventually("job-fail restarting after its init container", func() (bool, string) {
		p := e.GetPod("job-fail")
		if len(p.Status.InitContainerStatuses) == 0 || len(p.Status.ContainerStatuses) == 0 {
			return false, "no statuses"
		}
		ini := p.Status.InitContainerStatuses[0]
		return ini.State.Terminated != nil && ini.Ready && p.Status.ContainerStatuses[0].RestartCount >= 1, fmt.Sprintf("%+v", p.Status)
	})
}

func TestLoopDeletePod(t *testing.T) {
	e := newLoopEnv(t)
	e.start()
	created := e.createPod(testPod("gone", "busybox:1.36"))
	e.eventually("pod Running", func() (bool, string) {
		p := e.GetPod("gone")
		return p.Status.Phase == corev1.PodRunning, string(p.Status.Phase)
	})
	if err := e.CS.CoreV1().Pods("default").Delete(e.Ctx, "gone", metav1.DeleteOptions{GracePeriodSeconds: ptr.To[int64](7)}); err != nil {
		t.Fatal(err)
	}
	e.eventually("pod object removed", func() (bool, string) {
		_, err := e.CS.CoreV1().Pods("default").Get(e.Ctx, "gone", metav1.GetOptions{})
		return apierrors.IsNotFound(err), fmt.Sprint(err)
	})
	e.rt.mu.Lock()
	stops, sandboxes := slices.Clone(e.rt.stops), len(e.rt.sandboxes)
	e.rt.mu.Unlock()
	if len(stops) != 1 || stops[0] != (fakeStop{name: "app", grace: 7 * time.Second}) {
		t.Errorf("stops %+v, want app with 7s grace", stops)
	}
	if sandboxes != 0 {
		t.Errorf("%d sandboxes left", sandboxes)
	}
	if _, err := os.Stat(filepath.Join(e.root, "pods", string(created.UID))); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("pod directory left: %v", err)
	}
	e.hasEvent("gone", "Killing", "Stopping container app")
}

func TestLoopOrphansAndAdoption(t *testing.T) {
	e := newLoopEnv(t)
	// A pod that is still bound here, with its sandbox and running
	// container from before a restart.
	kept := e.createPod(testPod("kept", "busybox:1.36"))
	ctx := e.Ctx
	sb, _ := e.rt.RunSandbox(ctx, runtime.SandboxConfig{UID: string(kept.UID), Namespace: "default", Name: "kept"})
	id, _ := e.rt.CreateContainer(ctx, sb.ID, runtime.ContainerConfig{Name: "app", Image: "busybox:1.36"})
	_ = e.rt.StartContainer(ctx, id)
	// A sandbox whose pod is gone, and a stale pod directory.
	ghost, _ := e.rt.RunSandbox(ctx, runtime.SandboxConfig{UID: "ghost-uid", Namespace: "default", Name: "ghost"})
	gid, _ := e.rt.CreateContainer(ctx, ghost.ID, runtime.ContainerConfig{Name: "app", Image: "busybox:1.36"})
	_ = e.rt.StartContainer(ctx, gid)
	stale := filepath.Join(e.root, "pods", "stale-uid", "volumes", pluginEmptyDir, "v")
	if err := os.MkdirAll(stale, 0o755); err != nil {
		t.Fatal(err)
	}
	e.start()

	e.eventually("orphan removed", func() (bool, string) {
		e.rt.mu.Lock()
		_, ok := e.rt.sandboxes[ghost.ID]
		e.rt.mu.Unlock()
		_, err := os.Stat(filepath.Join(e.root, "pods", "stale-uid"))
		return !ok && errors.Is(err, os.ErrNotExist), fmt.Sprintf("sandbox left %v, dir: %v", ok, err)
	})
	e.eventually("adopted pod Running with its container", func() (bool, string) {
		p := e.GetPod("kept")
		cs := p.Status.ContainerStatuses
		return p.Status.Phase == corev1.PodRunning && len(cs) == 1 && cs[0].ContainerID == "containerd://"+id, fmt.Sprintf("%+v", p.Status)
	})
	e.rt.mu.Lock()
	defer e.rt.mu.Unlock()
	if n := len(e.rt.containers); n != 1 {
		t.Errorf("%d containers, want the adopted one only", n)
	}
	if c := e.rt.containers[id]; c == nil || c.status.State != runtime.StateRunning {
		t.Errorf("adopted container not running: %+v", c)
	}
}

func TestLoopProbes(t *testing.T) {
	e := newLoopEnv(t)
	var (
		mu      sync.Mutex
		healthy = map[string]bool{"ready": false, "live": true}
	)
	e.rt.set(func() {
		e.rt.exec = func(id string, cmd []string) int {
			mu.Lock()
			defer mu.Unlock()
			if healthy[cmd[0]] {
				return 0
			}
			return 1
		}
	})
	e.start()
	pod := testPod("probed", "busybox:1.36")
	probe := func(cmd string) *corev1.Probe {
		return &corev1.Probe{ProbeHandler: corev1.ProbeHandler{Exec: &corev1.ExecAction{Command: []string{cmd}}},
			PeriodSeconds: 1, FailureThreshold: 1, SuccessThreshold: 1, TimeoutSeconds: 1}
	}
	pod.Spec.Containers[0].ReadinessProbe = probe("ready")
	pod.Spec.Containers[0].LivenessProbe = probe("live")
	e.createPod(pod)
	e.eventually("running, not ready", func() (bool, string) {
		p := e.GetPod("probed")
		r := findCondition(p.Status.Conditions, corev1.PodReady)
		return p.Status.Phase == corev1.PodRunning && r != nil && r.Status == corev1.ConditionFalse, fmt.Sprintf("%+v", p.Status)
	})
	e.hasEvent("probed", "Unhealthy", "Readiness probe failed: ")
	mu.Lock()
	healthy["ready"] = true
	mu.Unlock()
	e.eventually("ready", func() (bool, string) {
		p := e.GetPod("probed")
		r := findCondition(p.Status.Conditions, corev1.PodReady)
		return r != nil && r.Status == corev1.ConditionTrue && p.Status.ContainerStatuses[0].Ready, fmt.Sprintf("%+v", p.Status)
	})
	mu.Lock()
	healthy["live"] = false
	mu.Unlock()
	e.hasEvent("probed", "Killing", "Container app failed liveness probe, will be restarted")
	mu.Lock()
	healthy["live"] = true
	mu.Unlock()
	e.eventually("restarted", func() (bool, string) {
		p := e.GetPod("probed")
		cs := p.Status.ContainerStatuses[0]
		return cs.RestartCount >= 1 && cs.State.Running != nil, fmt.Sprintf("%+v", cs)
	})
}

// TestLoopRuntimeFake runs the kubelet over runtime/fake, the fake the
// control-plane tests use.
func TestLoopRuntimeFake(t *testing.T) {
	e := newLoopEnv(t)
	rt := fake.New()
	rt.SetFaults(func(f *fake.Faults) {
		f.RunFor["crash:1"] = time.Millisecond
		f.ExitCode["crash:1"] = 2
	})
	e.use = rt
	e.start()
	e.createPod(testPod("web", "busybox:1.36"))
	e.createPod(testPod("crash", "crash:1"))
	e.eventually("web Running", func() (bool, string) {
		p := e.GetPod("web")
		return p.Status.Phase == corev1.PodRunning && len(p.Status.ContainerStatuses) == 1 && p.Status.ContainerStatuses[0].Ready, fmt.Sprintf("%+v", p.Status)
	})
	e.eventually("crash restarting", func() (bool, string) {
		p := e.GetPod("crash")
		cs := p.Status.ContainerStatuses
		return len(cs) == 1 && cs[0].RestartCount >= 2 && cs[0].LastTerminationState.Terminated != nil &&
			cs[0].LastTerminationState.Terminated.ExitCode == 2, fmt.Sprintf("%+v", p.Status)
	})
	if err := e.CS.CoreV1().Pods("default").Delete(e.Ctx, "web", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	e.eventually("web removed", func() (bool, string) {
		_, err := e.CS.CoreV1().Pods("default").Get(e.Ctx, "web", metav1.GetOptions{})
		return apierrors.IsNotFound(err), fmt.Sprint(err)
	})
}
