package containerd

import (
	"strconv"
	"strings"
	"time"

	"github.com/shoal-project/shoal/runtime"
)

// Container metadata lives in containerd labels, so ListContainers and
// ContainerStatus work after shoal restarts.
const (
	labelSandbox    = "io.shoal.sandbox"
	labelName       = "io.shoal.name"
	labelAttempt    = "io.shoal.attempt"
	labelImageRef   = "io.shoal.image"
	labelImageID    = "io.shoal.image-id"
	labelLogPath    = "io.shoal.log"
	labelTTY        = "io.shoal.tty"
	labelStopSignal = "io.shoal.stop-signal"
	labelCreated    = "io.shoal.created"
	labelStarted    = "io.shoal.started"
	labelFinished   = "io.shoal.finished"
	labelExitCode   = "io.shoal.exit-code"
	labelReason     = "io.shoal.reason"
	labelMessage    = "io.shoal.message"
	// userLabelPrefix prefixes ContainerConfig.Labels.
	userLabelPrefix = "io.shoal.label/"
)

func fmtTime(t time.Time) string { return t.UTC().Format(time.RFC3339Nano) }

func parseTime(s string) time.Time {
	t, _ := time.Parse(time.RFC3339Nano, s)
	return t
}

// statusFromLabels fills what the labels know; the caller adds the state
// of a live task.
func statusFromLabels(id string, l map[string]string) *runtime.ContainerStatus {
	attempt, _ := strconv.ParseUint(l[labelAttempt], 10, 32)
	st := &runtime.ContainerStatus{
		ID:        id,
		SandboxID: l[labelSandbox],
		Name:      l[labelName],
		Attempt:   uint32(attempt),
		Image:     l[labelImageRef],
		ImageID:   l[labelImageID],
		State:     runtime.StateCreated,
		CreatedAt: parseTime(l[labelCreated]),
		StartedAt: parseTime(l[labelStarted]),
		Reason:    l[labelReason],
		Message:   l[labelMessage],
		Labels:    map[string]string{},
	}
	for k, v := range l {
		if name, ok := strings.CutPrefix(k, userLabelPrefix); ok {
			st.Labels[name] = v
		}
	}
	if f := l[labelFinished]; f != "" {
		code, _ := strconv.ParseInt(l[labelExitCode], 10, 32)
		st.State, st.FinishedAt, st.ExitCode = runtime.StateExited, parseTime(f), int32(code)
	}
	return st
}

// exitReason is Kubernetes' reason for an exit.
func exitReason(code uint32, oom bool) string {
	switch {
	case oom:
		return "OOMKilled"
	case code == 0:
		return "Completed"
	default:
		return "Error"
	}
}
