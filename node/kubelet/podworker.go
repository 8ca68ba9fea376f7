package kubelet

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sort"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"

	"github.com/shoal-project/shoal/runtime"
)

// sandboxTimeout bounds making a sandbox (network namespace, CNI), as the
// kubelet's runtime-request-timeout (2m) bounds its runtime calls: a hung
// plugin must not hold a start slot for ever.
const sandboxTimeout = 2 * time.Minute

// podWorker owns one pod (by uid): it alone touches the pod's sandbox,
// containers and volumes. Its state lives in its goroutine; only wake is
// called from outside. The life of a worker is drawn in doc.go.
type podWorker struct {
	k               *Kubelet
	uid             types.UID
	namespace, name string
	wakeCh          chan struct{}
	changedCh       chan struct{} // the pod changed: sync even while backing off
	prober          *prober
	pod             *corev1.Pod // last seen, nil before the first sync
	sandbox         *runtime.Sandbox
	volumes         map[string]volume
	waiting         map[string]*corev1.ContainerStateWaiting
	images          map[string]*runtime.Image
	killedForProbe  map[string]bool // container ids stopped by a failed probe
	terminated      bool            // containers stopped for deletion
	terminalStopped bool            // sandbox stopped after the pod finished
	startHeld       bool            // holds a slot of the kubelet's startGate
	// written is the pod as the worker's last status write returned it,
	// at writtenAt: newer than the cache's until the cache catches up.
	written   *corev1.Pod
	writtenAt time.Time
	// For the metrics: when the worker started (the kubelet first saw the
	// pod), whether its start was counted, its containers as last listed.
	seen          time.Time
	startObserved bool
	listed        map[string]*runtime.ContainerStatus
}

func newPodWorker(k *Kubelet, uid types.UID, namespace, name string) *podWorker {
	w := &podWorker{
		k: k, uid: uid, namespace: namespace, name: name,
		wakeCh:         make(chan struct{}, 1),
		changedCh:      make(chan struct{}, 1),
		waiting:        make(map[string]*corev1.ContainerStateWaiting),
		images:         make(map[string]*runtime.Image),
		killedForProbe: make(map[string]bool),
		seen:           time.Now(),
	}
	w.prober = newProber(w)
	return w
}

// wake asks the worker for a sync; it never blocks. A worker whose last
// sync failed waits out its back-off first.
func (w *podWorker) wake() {
	select {
	case w.wakeCh <- struct{}{}:
	default:
	}
}

// podChanged asks the worker for a sync now, even while it backs off
// after a failure: the pod object changed.
func (w *podWorker) podChanged() {
	select {
	case w.changedCh <- struct{}{}:
	default:
	}
}

// run syncs until the pod is gone and torn down, or ctx ends.
func (w *podWorker) run(ctx context.Context) {
	defer w.prober.stopAll()
	// However it ends (ctx too), a worker no longer counts its pod.
	defer w.k.stats.running.forget(w.uid)
	t := time.NewTimer(0)
	defer t.Stop()
	retry := syncRetry{policy: w.k.cfg.Tuning.SyncBackOff}
	for {
		select {
		case <-ctx.Done():
			return
		case <-w.changedCh:
		case <-w.wakeCh:
			if retry.failing() {
				continue // the timer retries when the back-off ends
			}
		case <-t.C:
		}
		done, err := w.syncOnce(ctx)
		w.count(done)
		next := w.k.cfg.Tuning.PodSync
		switch {
		case err != nil && ctx.Err() == nil:
			next = w.failed(&retry, err)
		case err == nil && retry.failing():
			fails, since := retry.succeed()
			w.k.log.Info("pod sync recovered", "pod", w.namespace+"/"+w.name, "uid", w.uid,
				"failures", fails, "after", time.Since(since).Round(time.Millisecond))
		}
		if done {
			return
		}
		if !t.Stop() {
			select {
			case <-t.C:
			default:
			}
		}
		t.Reset(next)
	}
}

// failed records a failed sync and returns the delay before the next
// attempt; the error is logged as a warning when it is new or changed,
// its repeats only at debug level.
func (w *podWorker) failed(retry *syncRetry, err error) time.Duration {
	delay, changed := retry.fail(err, time.Now())
	level := slog.LevelDebug
	if changed {
		level = slog.LevelWarn
	}
	w.k.log.Log(context.Background(), level, "pod sync", "pod", w.namespace+"/"+w.name, "uid", w.uid,
		"error", err, "failures", retry.fails, "retry_in", delay)
	return delay
}

// syncOnce makes one pass; done is true once the pod no longer exists and
// everything it had on this node is gone.
func (w *podWorker) syncOnce(ctx context.Context) (done bool, err error) {
	pod := w.newest(w.k.storedPod(w.namespace, w.name))
	if pod == nil || pod.UID != w.uid || pod.Spec.NodeName != w.k.cfg.NodeName {
		// Gone (or an orphan found in the runtime): tear down.
		if err := w.teardown(ctx, w.pod, orphanGrace); err != nil {
			return false, err
		}
		w.k.crash.Forget(string(w.uid) + "/")
		w.k.pulls.Forget(string(w.uid) + "_")
		return true, nil
	}
	w.pod = pod
	if pod.DeletionTimestamp != nil {
		return false, w.terminate(ctx, pod)
	}
	if pod.Status.Phase == corev1.PodSucceeded || pod.Status.Phase == corev1.PodFailed {
		return false, w.finish(ctx)
	}
	return false, w.syncPod(ctx, pod)
}

// cacheLag bounds how long the cache may take to hold a write the worker
// made: it takes milliseconds, and a written pod older than this is not
// trusted over the cache (whose resourceVersions a restore may rewind).
const cacheLag = 5 * time.Second

// wrote remembers the pod as a status write returned it.
func (w *podWorker) wrote(pod *corev1.Pod) {
	w.written, w.writtenAt = pod, time.Now()
}

// newest is cached (the cache's copy of the pod), or the pod as the
// worker last wrote it when the cache does not hold that write yet, so
// the worker computes its next status from its own last one and does not
// write it again.
func (w *podWorker) newest(cached *corev1.Pod) *corev1.Pod {
	if w.written == nil || cached == nil {
		return cached
	}
	if cached.UID != w.written.UID || !newerThan(w.written.ResourceVersion, cached.ResourceVersion) ||
		time.Since(w.writtenAt) > cacheLag {
		w.written = nil // the cache has caught up
		return cached
	}
	return w.written.DeepCopy()
}

// syncPod moves a live pod one step towards its spec and reports its
// status.
func (w *podWorker) syncPod(ctx context.Context, pod *corev1.Pod) error {
	k := w.k
	k.caches.holdsBefore(ctx, pod)
	vols, err := setupVolumes(k.podDir(pod.UID), pod, k.objects())
	if err != nil {
		k.events.record(pod, "", corev1.EventTypeWarning, reasonFailedMount, err.Error())
		if w.sandbox == nil {
			return w.report(ctx, pod, nil, nil)
		}
		// A running pod keeps running on its last good volumes; nothing new
		// starts until they can be set up.
		latest, previous, err := w.listContainers(ctx)
		if err != nil {
			return err
		}
		return w.report(ctx, pod, latest, previous)
	}
	w.volumes = vols
	if w.sandbox == nil {
		// The pod's first start: one slot of the start gate until its
		// containers have been started.
		if err := w.holdStart(ctx); err != nil {
			return nil
		}
		defer w.releaseStart()
		// The pod may have been deleted while the worker queued: the next
		// sync tears it down instead.
		if cur, ok := k.caches.pods.Get(pod.Namespace, pod.Name); !ok || cur.UID != pod.UID || cur.DeletionTimestamp != nil {
			w.wake()
			return nil
		}
		sbCtx, cancel := context.WithTimeout(ctx, sandboxTimeout)
		sb, err := k.rt.RunSandbox(sbCtx, sandboxConfig(pod, k.cfg.ClusterDNS, k.cfg.ClusterDomain))
		cancel()
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			k.events.record(pod, "", corev1.EventTypeWarning, reasonFailedSandbox, "Failed to create pod sandbox: "+err.Error())
			return w.report(ctx, pod, nil, nil)
		}
		w.sandbox = sb
	}
	latest, previous, err := w.listContainers(ctx)
	if err != nil {
		return err
	}
	if w.startContainers(ctx, pod, latest) {
		if latest, previous, err = w.listContainers(ctx); err != nil {
			return err
		}
	}
	w.releaseStart() // the status write below needs no slot
	w.prober.sync(ctx, pod, latest)
	return w.report(ctx, pod, latest, previous)
}

// startContainers runs the init containers in order, then the app
// containers, restarting exited ones as the restart policy says; it
// reports whether it changed anything in the runtime.
func (w *podWorker) startContainers(ctx context.Context, pod *corev1.Pod, latest map[string]*runtime.ContainerStatus) bool {
	changed := false
	initialized := true
	if cond := findCondition(pod.Status.Conditions, corev1.PodInitialized); cond == nil || cond.Status != corev1.ConditionTrue {
		for i := range pod.Spec.InitContainers {
			c := &pod.Spec.InitContainers[i]
			cur := latest[c.Name]
			if cur != nil && cur.State == runtime.StateExited && cur.ExitCode == 0 {
				delete(w.waiting, c.Name)
				continue
			}
			initialized = false
			switch {
			case cur == nil:
				w.waiting[c.Name] = w.startContainer(ctx, pod, c, 0)
				changed = true
			case cur.State == runtime.StateExited || cur.State == runtime.StateCreated:
				if pod.Spec.RestartPolicy != corev1.RestartPolicyNever {
					changed = w.restart(ctx, pod, c, cur) || changed
				}
			}
			break
		}
	}
	if !initialized {
		return changed
	}
	for i := range pod.Spec.Containers {
		c := &pod.Spec.Containers[i]
		cur := latest[c.Name]
		switch {
		case cur == nil:
			w.waiting[c.Name] = w.startContainer(ctx, pod, c, 0)
			changed = true
		case cur.State == runtime.StateRunning:
			delete(w.waiting, c.Name)
			if w.prober.failed(cur.ID) && !w.killedForProbe[cur.ID] {
				w.killForProbe(ctx, pod, c, cur)
				changed = true
			}
		case cur.State == runtime.StateExited || cur.State == runtime.StateCreated:
			if shouldRestart(pod.Spec.RestartPolicy, exitCode(cur)) {
				changed = w.restart(ctx, pod, c, cur) || changed
			} else {
				delete(w.waiting, c.Name)
			}
		}
	}
	return changed
}

// restart starts the next attempt of an exited container unless it is
// backing off (CrashLoopBackOff).
func (w *podWorker) restart(ctx context.Context, pod *corev1.Pod, c *corev1.Container, cur *runtime.ContainerStatus) bool {
	k := w.k
	key := w.crashKey(c.Name)
	now := k.cfg.Now()
	if in, d := k.crash.InBackOffSince(key, finishedAt(cur), now); in {
		podDesc := fmt.Sprintf("%s_%s(%s)", pod.Name, pod.Namespace, pod.UID)
		k.events.record(pod, containerField(pod, c.Name), corev1.EventTypeWarning, reasonBackOff,
			fmt.Sprintf("Back-off restarting failed container %s in pod %s", c.Name, podDesc))
		w.waiting[c.Name] = &corev1.ContainerStateWaiting{
			Reason:  waitCrashLoopBackOff,
			Message: fmt.Sprintf("back-off %s restarting failed container=%s pod=%s", d, c.Name, podDesc),
		}
		return false
	}
	k.crash.Next(key, finishedAt(cur), now)
	k.stats.restarts.Inc()
	w.waiting[c.Name] = w.startContainer(ctx, pod, c, cur.Attempt+1)
	return true
}

// listContainers reads the sandbox's containers: the newest attempt of
// each name and the one before it. Older attempts are removed (the kubelet
// keeps one dead container per name, for logs --previous).
func (w *podWorker) listContainers(ctx context.Context) (latest, previous map[string]*runtime.ContainerStatus, err error) {
	all, err := w.k.rt.ListContainers(ctx, w.sandbox.ID)
	if err != nil {
		return nil, nil, fmt.Errorf("list containers: %w", err)
	}
	byName := map[string][]*runtime.ContainerStatus{}
	for _, cs := range all {
		byName[cs.Name] = append(byName[cs.Name], cs)
	}
	latest, previous = map[string]*runtime.ContainerStatus{}, map[string]*runtime.ContainerStatus{}
	for name, list := range byName {
		sortAttempts(list)
		latest[name] = list[0]
		if len(list) > 1 {
			previous[name] = list[1]
		}
		for _, old := range list[min(len(list), 2):] {
			if old.State == runtime.StateRunning {
				continue
			}
			if err := w.k.rt.RemoveContainer(ctx, old.ID); err != nil && !errors.Is(err, runtime.ErrNotFound) {
				w.k.log.Debug("remove old container", "container_id", old.ID, "error", err)
			}
		}
	}
	return latest, previous, nil
}

// sortAttempts orders a container's attempts newest first.
func sortAttempts(list []*runtime.ContainerStatus) {
	sort.SliceStable(list, func(i, j int) bool {
		if list[i].Attempt != list[j].Attempt {
			return list[i].Attempt > list[j].Attempt
		}
		return list[i].CreatedAt.After(list[j].CreatedAt)
	})
}

// report computes the pod's status and writes it when it changed.
func (w *podWorker) report(ctx context.Context, pod *corev1.Pod, latest, previous map[string]*runtime.ContainerStatus) error {
	k := w.k
	w.lookupImages(ctx, pod, latest)
	ready, started := w.prober.results(pod, latest)
	st := computeStatus(&statusInput{
		pod: pod, now: k.cfg.Now(), hostIP: k.hostIP(), scheme: k.containerScheme(),
		sandbox: w.sandbox, latest: latest, previous: previous,
		waiting: w.waiting, images: w.images, ready: ready, started: started,
	})
	w.listed = latest
	w.observeStart(pod, st)
	return w.writeStatus(ctx, pod, st)
}

// lookupImages fills in the image of containers the worker did not pull
// itself (adopted after a restart).
func (w *podWorker) lookupImages(ctx context.Context, pod *corev1.Pod, latest map[string]*runtime.ContainerStatus) {
	for _, cs := range [][]corev1.Container{pod.Spec.InitContainers, pod.Spec.Containers} {
		for _, c := range cs {
			if w.images[c.Name] != nil || latest[c.Name] == nil {
				continue
			}
			if img, err := w.k.rt.ImageStatus(ctx, c.Image); err == nil {
				w.images[c.Name] = img
			}
		}
	}
}

// podIP is the pod's address as the worker knows it.
func (w *podWorker) podIP(pod *corev1.Pod) string {
	if w.sandbox != nil && w.sandbox.IP != "" {
		return w.sandbox.IP
	}
	return pod.Status.PodIP
}
