package kubelet

import (
	"encoding/json"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/shoal-project/shoal/runtime"
)

func TestComputeStatus(t *testing.T) {
	now := time.Date(2026, 1, 2, 3, 4, 5, 600, time.UTC)
	started := now.Add(-time.Minute)
	running := func(id string, attempt uint32) *runtime.ContainerStatus {
		return &runtime.ContainerStatus{ID: id, Name: "app", Attempt: attempt, State: runtime.StateRunning, StartedAt: started}
	}
	exited := func(name, id string, attempt uint32, code int32, reason string) *runtime.ContainerStatus {
		return &runtime.ContainerStatus{ID: id, Name: name, Attempt: attempt, State: runtime.StateExited,
			StartedAt: started, FinishedAt: started.Add(time.Second), ExitCode: code, Reason: reason}
	}
	crashWait := &corev1.ContainerStateWaiting{Reason: waitCrashLoopBackOff, Message: "back-off 10s restarting failed container=app pod=p_default(u)"}
	type want struct {
		phase        corev1.PodPhase
		state        string // waiting reason, "running", or terminated reason
		lastState    string // terminated reason of lastState, "" for none
		restarts     int32
		ready        corev1.ConditionStatus
		readyReason  string
		initialized  corev1.ConditionStatus
		containerID  string
		initState    string
		initReady    bool
		readyMessage string
	}
	for _, tc := range []struct {
		name     string
		restart  corev1.RestartPolicy
		init     bool
		latest   []*runtime.ContainerStatus
		previous []*runtime.ContainerStatus
		waiting  map[string]*corev1.ContainerStateWaiting
		ready    map[string]bool
		sandbox  bool
		want     want
	}{
		{name: "creating", sandbox: true, want: want{phase: corev1.PodPending, state: waitContainerCreating,
			ready: corev1.ConditionFalse, readyReason: "ContainersNotReady", readyMessage: "containers with unready status: [app]", initialized: corev1.ConditionTrue}},
		{name: "running and ready", sandbox: true, latest: []*runtime.ContainerStatus{running("c1", 0)}, ready: map[string]bool{"c1": true},
			want: want{phase: corev1.PodRunning, state: "running", ready: corev1.ConditionTrue, initialized: corev1.ConditionTrue, containerID: "containerd://c1"}},
		{name: "running, not ready", sandbox: true, latest: []*runtime.ContainerStatus{running("c1", 0)},
			want: want{phase: corev1.PodRunning, state: "running", ready: corev1.ConditionFalse, readyReason: "ContainersNotReady", initialized: corev1.ConditionTrue, containerID: "containerd://c1"}},
		{name: "image pull back-off", sandbox: true,
			waiting: map[string]*corev1.ContainerStateWaiting{"app": {Reason: waitImagePullBackOff, Message: `Back-off pulling image "x"`}},
			want:    want{phase: corev1.PodPending, state: waitImagePullBackOff, ready: corev1.ConditionFalse, readyReason: "ContainersNotReady", initialized: corev1.ConditionTrue}},
		{name: "crash loop", sandbox: true, latest: []*runtime.ContainerStatus{exited("app", "c3", 3, 1, "Error")},
			previous: []*runtime.ContainerStatus{exited("app", "c2", 2, 1, "Error")},
			waiting:  map[string]*corev1.ContainerStateWaiting{"app": crashWait},
			want: want{phase: corev1.PodRunning, state: waitCrashLoopBackOff, lastState: "Error", restarts: 3,
				ready: corev1.ConditionFalse, readyReason: "ContainersNotReady", initialized: corev1.ConditionTrue, containerID: "containerd://c3"}},
		{name: "restarted after OOM", sandbox: true, latest: []*runtime.ContainerStatus{running("c2", 1)},
			previous: []*runtime.ContainerStatus{exited("app", "c1", 0, 137, "OOMKilled")}, ready: map[string]bool{"c2": true},
			want: want{phase: corev1.PodRunning, state: "running", lastState: "OOMKilled", restarts: 1, ready: corev1.ConditionTrue, initialized: corev1.ConditionTrue, containerID: "containerd://c2"}},
		{name: "completed, Never", restart: corev1.RestartPolicyNever, sandbox: true, latest: []*runtime.ContainerStatus{exited("app", "c1", 0, 0, "")},
			want: want{phase: corev1.PodSucceeded, state: "Completed", ready: corev1.ConditionFalse, readyReason: "PodCompleted", initialized: corev1.ConditionTrue, containerID: "containerd://c1"}},
		{name: "failed, Never", restart: corev1.RestartPolicyNever, sandbox: true, latest: []*runtime.ContainerStatus{exited("app", "c1", 0, 2, "")},
			want: want{phase: corev1.PodFailed, state: "Error", ready: corev1.ConditionFalse, readyReason: "PodFailed", initialized: corev1.ConditionTrue, containerID: "containerd://c1"}},
		{name: "OOMKilled, OnFailure, backing off", restart: corev1.RestartPolicyOnFailure, sandbox: true,
			latest:  []*runtime.ContainerStatus{exited("app", "c1", 0, 137, "OOMKilled")},
			waiting: map[string]*corev1.ContainerStateWaiting{"app": crashWait},
			want: want{phase: corev1.PodRunning, state: waitCrashLoopBackOff, lastState: "OOMKilled", ready: corev1.ConditionFalse,
				readyReason: "ContainersNotReady", initialized: corev1.ConditionTrue, containerID: "containerd://c1"}},
		{name: "completed, OnFailure", restart: corev1.RestartPolicyOnFailure, sandbox: true, latest: []*runtime.ContainerStatus{exited("app", "c1", 0, 0, "Completed")},
			want: want{phase: corev1.PodSucceeded, state: "Completed", ready: corev1.ConditionFalse, readyReason: "PodCompleted", initialized: corev1.ConditionTrue, containerID: "containerd://c1"}},
		{name: "init running", init: true, sandbox: true,
			latest: []*runtime.ContainerStatus{{ID: "i1", Name: "setup", State: runtime.StateRunning, StartedAt: started}},
			want: want{phase: corev1.PodPending, state: waitPodInitializing, initState: "running", ready: corev1.ConditionFalse,
				readyReason: "ContainersNotReady", initialized: corev1.ConditionFalse}},
		{name: "init done, app running", init: true, sandbox: true,
			latest: []*runtime.ContainerStatus{exited("setup", "i1", 0, 0, "Completed"), running("c1", 0)}, ready: map[string]bool{"c1": true},
			want: want{phase: corev1.PodRunning, state: "running", initState: "Completed", initReady: true, ready: corev1.ConditionTrue,
				initialized: corev1.ConditionTrue, containerID: "containerd://c1"}},
		{name: "init failed, Never", init: true, restart: corev1.RestartPolicyNever, sandbox: true,
			latest: []*runtime.ContainerStatus{exited("setup", "i1", 0, 1, "Error")},
			want: want{phase: corev1.PodFailed, state: waitPodInitializing, initState: "Error", ready: corev1.ConditionFalse,
				readyReason: "PodFailed", initialized: corev1.ConditionFalse}},
		{name: "init crash loop", init: true, sandbox: true,
			latest:  []*runtime.ContainerStatus{exited("setup", "i1", 1, 1, "Error")},
			waiting: map[string]*corev1.ContainerStateWaiting{"setup": crashWait},
			want: want{phase: corev1.PodPending, state: waitPodInitializing, initState: waitCrashLoopBackOff, ready: corev1.ConditionFalse,
				readyReason: "ContainersNotReady", initialized: corev1.ConditionFalse}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			pod := &corev1.Pod{
				ObjectMeta: metav1.ObjectMeta{Name: "p", Namespace: "default", UID: "u"},
				Spec:       corev1.PodSpec{RestartPolicy: tc.restart, Containers: []corev1.Container{{Name: "app", Image: "busybox"}}},
				Status: corev1.PodStatus{Phase: corev1.PodPending, QOSClass: corev1.PodQOSBestEffort, Conditions: []corev1.PodCondition{
					{Type: corev1.PodScheduled, Status: corev1.ConditionTrue},
				}},
			}
			if pod.Spec.RestartPolicy == "" {
				pod.Spec.RestartPolicy = corev1.RestartPolicyAlways
			}
			if tc.init {
				pod.Spec.InitContainers = []corev1.Container{{Name: "setup", Image: "busybox"}}
			}
			in := &statusInput{
				pod: pod, now: now, hostIP: "192.0.2.1", scheme: "containerd",
				latest: map[string]*runtime.ContainerStatus{}, previous: map[string]*runtime.ContainerStatus{},
				waiting: tc.waiting, ready: tc.ready, started: tc.ready,
				images: map[string]*runtime.Image{"app": {Ref: "docker.io/library/busybox:latest", Digest: "sha256:d"}},
			}
			if tc.sandbox {
				in.sandbox = &runtime.Sandbox{ID: "sb", IP: "10.42.0.7", Ready: true}
			}
			for _, cs := range tc.latest {
				in.latest[cs.Name] = cs
			}
			for _, cs := range tc.previous {
				in.previous[cs.Name] = cs
			}
			st := computeStatus(in)
			w := tc.want
			if st.Phase != w.phase {
				t.Errorf("phase %s, want %s", st.Phase, w.phase)
			}
			if st.QOSClass != corev1.PodQOSBestEffort || findCondition(st.Conditions, corev1.PodScheduled) == nil {
				t.Errorf("qosClass and PodScheduled must be kept: %+v", st)
			}
			cs := st.ContainerStatuses[0]
			if got := stateName(cs.State); got != w.state {
				t.Errorf("state %s, want %s (%+v)", got, w.state, cs.State)
			}
			if got := ""; cs.LastTerminationState.Terminated != nil {
				got = cs.LastTerminationState.Terminated.Reason
				if got != w.lastState {
					t.Errorf("lastState %s, want %s", got, w.lastState)
				}
			} else if w.lastState != "" {
				t.Errorf("no lastState, want %s", w.lastState)
			}
			if cs.RestartCount != w.restarts || cs.ContainerID != w.containerID {
				t.Errorf("restartCount %d containerID %q, want %d %q", cs.RestartCount, cs.ContainerID, w.restarts, w.containerID)
			}
			if cs.Image != "docker.io/library/busybox:latest" || cs.ImageID != "docker.io/library/busybox@sha256:d" {
				t.Errorf("image %q imageID %q", cs.Image, cs.ImageID)
			}
			if tc.init {
				ics := st.InitContainerStatuses[0]
				if got := stateName(ics.State); got != w.initState || ics.Ready != w.initReady {
					t.Errorf("init state %s ready %v, want %s %v", got, ics.Ready, w.initState, w.initReady)
				}
			}
			ready := findCondition(st.Conditions, corev1.PodReady)
			if ready.Status != w.ready || ready.Reason != w.readyReason {
				t.Errorf("Ready %s/%s, want %s/%s", ready.Status, ready.Reason, w.ready, w.readyReason)
			}
			if w.readyMessage != "" && ready.Message != w.readyMessage {
				t.Errorf("Ready message %q, want %q", ready.Message, w.readyMessage)
			}
			if cr := findCondition(st.Conditions, corev1.ContainersReady); cr.Status != ready.Status {
				t.Errorf("ContainersReady %s differs from Ready %s", cr.Status, ready.Status)
			}
			if ini := findCondition(st.Conditions, corev1.PodInitialized); ini.Status != w.initialized {
				t.Errorf("Initialized %s, want %s", ini.Status, w.initialized)
			}
			if st.PodIP != "10.42.0.7" || len(st.PodIPs) != 1 || st.HostIP != "192.0.2.1" || len(st.HostIPs) != 1 {
				t.Errorf("addresses %q %v %q %v", st.PodIP, st.PodIPs, st.HostIP, st.HostIPs)
			}
			if st.StartTime == nil || !st.StartTime.Time.Equal(now.Truncate(time.Second)) {
				t.Errorf("startTime %v", st.StartTime)
			}
			if ready.LastTransitionTime.IsZero() {
				t.Error("Ready has no lastTransitionTime")
			}
		})
	}
}

func stateName(s corev1.ContainerState) string {
	switch {
	case s.Running != nil:
		return "running"
	case s.Terminated != nil:
		return s.Terminated.Reason
	case s.Waiting != nil:
		return s.Waiting.Reason
	}
	return ""
}

// TestStatusStable checks that a status computed again from the same
// inputs, over the stored copy of itself, is equal to it: the kubelet must
// not rewrite an unchanged status (transition times kept, times in whole
// seconds as they are stored).
func TestStatusStable(t *testing.T) {
	t0 := time.Date(2026, 1, 2, 3, 4, 5, 600, time.UTC)
	pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "p", Namespace: "default", UID: "u"},
		Spec: corev1.PodSpec{RestartPolicy: corev1.RestartPolicyAlways, Containers: []corev1.Container{{Name: "app", Image: "busybox"}}}}
	in := &statusInput{pod: pod, now: t0, scheme: "containerd", sandbox: &runtime.Sandbox{IP: "10.42.0.2", Ready: true},
		latest: map[string]*runtime.ContainerStatus{"app": {ID: "c1", Name: "app", State: runtime.StateRunning, StartedAt: t0.Add(-time.Second)}},
		ready:  map[string]bool{"c1": true}, started: map[string]bool{"c1": true}}
	first := computeStatus(in)
	stored := roundTrip(t, first)
	pod.Status = stored
	in.now = t0.Add(time.Minute)
	second := computeStatus(in)
	if !statusEqual(stored, second) {
		t.Errorf("status changed without a change:\n%+v\n%+v", stored, second)
	}
	// A readiness change moves the transition time of Ready only.
	in.ready = map[string]bool{}
	third := computeStatus(in)
	r := findCondition(third.Conditions, corev1.PodReady)
	if r.Status != corev1.ConditionFalse || !r.LastTransitionTime.Time.Equal(t0.Add(time.Minute).Truncate(time.Second)) {
		t.Errorf("Ready after readiness loss: %+v", r)
	}
	if i := findCondition(third.Conditions, corev1.PodInitialized); !i.LastTransitionTime.Time.Equal(t0.Truncate(time.Second)) {
		t.Errorf("Initialized transition moved: %+v", i)
	}
}

func roundTrip(t *testing.T, st corev1.PodStatus) corev1.PodStatus {
	t.Helper()
	b, err := json.Marshal(st)
	if err != nil {
		t.Fatal(err)
	}
	var out corev1.PodStatus
	if err := json.Unmarshal(b, &out); err != nil {
		t.Fatal(err)
	}
	return out
}

func statusEqual(a, b corev1.PodStatus) bool { return equality.Semantic.DeepEqual(a, b) }
