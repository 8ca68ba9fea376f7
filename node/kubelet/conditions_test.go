package kubelet

import (
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

func TestConditionsFor(t *testing.T) {
	t0 := metav1.NewTime(time.Date(2026, 4, 1, 8, 0, 0, 0, time.UTC))
	t1 := metav1.NewTime(t0.Add(time.Minute))
	sufficient := func(typ corev1.NodeConditionType, reason, msg string) corev1.NodeCondition {
		return corev1.NodeCondition{Type: typ, Status: corev1.ConditionFalse, Reason: reason, Message: msg, LastHeartbeatTime: t0, LastTransitionTime: t0}
	}
	posted := []corev1.NodeCondition{
		{Type: corev1.NodeReady, Status: corev1.ConditionTrue, Reason: "KubeletReady"},
		sufficient(corev1.NodeMemoryPressure, "KubeletHasSufficientMemory", "kubelet has sufficient memory available"),
		sufficient(corev1.NodeDiskPressure, "KubeletHasNoDiskPressure", "kubelet has no disk pressure"),
		sufficient(corev1.NodePIDPressure, "KubeletHasSufficientPID", "kubelet has sufficient PID available"),
	}
	tests := []struct {
		name       string
		stored     []corev1.NodeCondition
		under      map[corev1.NodeConditionType]bool
		want       []string // type=status/reason/message
		wantEvents []string
		changed    bool
		moved      []corev1.NodeConditionType // transition time now t1
	}{
		{
			name: "first report", under: nil,
			want: []string{
				"MemoryPressure=False/KubeletHasSufficientMemory/kubelet has sufficient memory available",
				"DiskPressure=False/KubeletHasNoDiskPressure/kubelet has no disk pressure",
				"PIDPressure=False/KubeletHasSufficientPID/kubelet has sufficient PID available",
			},
			wantEvents: []string{"NodeHasSufficientMemory", "NodeHasNoDiskPressure", "NodeHasSufficientPID"},
			changed:    true,
			moved:      []corev1.NodeConditionType{corev1.NodeMemoryPressure, corev1.NodeDiskPressure, corev1.NodePIDPressure},
		},
		{
			name: "nothing changed: only the heartbeat moves", stored: posted,
			want: []string{
				"MemoryPressure=False/KubeletHasSufficientMemory/kubelet has sufficient memory available",
				"DiskPressure=False/KubeletHasNoDiskPressure/kubelet has no disk pressure",
				"PIDPressure=False/KubeletHasSufficientPID/kubelet has sufficient PID available",
			},
		},
		{
			name: "memory and disk pressure", stored: posted,
			under: map[corev1.NodeConditionType]bool{corev1.NodeMemoryPressure: true, corev1.NodeDiskPressure: true},
			want: []string{
				"MemoryPressure=True/KubeletHasInsufficientMemory/kubelet has insufficient memory available",
				"DiskPressure=True/KubeletHasDiskPressure/kubelet has disk pressure",
				"PIDPressure=False/KubeletHasSufficientPID/kubelet has sufficient PID available",
			},
			wantEvents: []string{"NodeHasInsufficientMemory", "NodeHasDiskPressure"},
			changed:    true,
			moved:      []corev1.NodeConditionType{corev1.NodeMemoryPressure, corev1.NodeDiskPressure},
		},
		{
			name: "PID pressure",
			stored: []corev1.NodeCondition{{Type: corev1.NodePIDPressure, Status: corev1.ConditionUnknown, Reason: "NodeStatusUnknown",
				LastHeartbeatTime: t0, LastTransitionTime: t0}},
			under: map[corev1.NodeConditionType]bool{corev1.NodePIDPressure: true},
			want: []string{
				"MemoryPressure=False/KubeletHasSufficientMemory/kubelet has sufficient memory available",
				"DiskPressure=False/KubeletHasNoDiskPressure/kubelet has no disk pressure",
				"PIDPressure=True/KubeletHasInsufficientPID/kubelet has insufficient PID available",
			},
			wantEvents: []string{"NodeHasSufficientMemory", "NodeHasNoDiskPressure", "NodeHasInsufficientPID"},
			changed:    true,
			moved:      []corev1.NodeConditionType{corev1.NodeMemoryPressure, corev1.NodeDiskPressure, corev1.NodePIDPressure},
		},
	}
	for _, tt := range tests {
		got, events := conditionsFor(tt.stored, tt.under, t1)
		var gotS []string
		for _, c := range got {
			gotS = append(gotS, fmt.Sprintf("%s=%s/%s/%s", c.Type, c.Status, c.Reason, c.Message))
			if !c.LastHeartbeatTime.Equal(&t1) {
				t.Errorf("%s: %s heartbeat %s, want %s", tt.name, c.Type, c.LastHeartbeatTime, t1)
			}
			wantTransition := t0
			if slices.Contains(tt.moved, c.Type) {
				wantTransition = t1
			}
			if !c.LastTransitionTime.Equal(&wantTransition) {
				t.Errorf("%s: %s transition %s, want %s", tt.name, c.Type, c.LastTransitionTime, wantTransition)
			}
		}
		if !slices.Equal(gotS, tt.want) {
			t.Errorf("%s: conditions\n%s\nwant\n%s", tt.name, strings.Join(gotS, "\n"), strings.Join(tt.want, "\n"))
		}
		if !slices.Equal(events, tt.wantEvents) {
			t.Errorf("%s: events %v, want %v", tt.name, events, tt.wantEvents)
		}
		if c := conditionsChanged(tt.stored, got); c != tt.changed {
			t.Errorf("%s: changed %v, want %v", tt.name, c, tt.changed)
		}
	}
}

func TestEvictionThresholds(t *testing.T) {
	ts, err := parseThresholds(DefaultEvictionHard)
	if err != nil {
		t.Fatal(err)
	}
	const mi, gi = 1 << 20, 1 << 30
	tests := []struct {
		name string
		obs  map[string]observation
		want []corev1.NodeConditionType
	}{
		{"plenty", map[string]observation{
			SignalMemoryAvailable: {available: 2 * gi, capacity: 8 * gi}, SignalNodeFsAvailable: {available: 50 * gi, capacity: 100 * gi},
			SignalImageFsAvailable: {available: 50 * gi, capacity: 100 * gi}, SignalNodeFsInodesFree: {available: 900, capacity: 1000},
			SignalPIDAvailable: {available: 10, capacity: 32768},
		}, nil},
		{"memory.available<100Mi", map[string]observation{SignalMemoryAvailable: {available: 99 * mi, capacity: 8 * gi}}, []corev1.NodeConditionType{corev1.NodeMemoryPressure}},
		{"memory.available at 100Mi is not below it", map[string]observation{SignalMemoryAvailable: {available: 100 * mi, capacity: 8 * gi}}, nil},
		{"nodefs.available<10%", map[string]observation{SignalNodeFsAvailable: {available: 9 * gi, capacity: 100 * gi}}, []corev1.NodeConditionType{corev1.NodeDiskPressure}},
		{"imagefs.available<15%", map[string]observation{SignalImageFsAvailable: {available: 14 * gi, capacity: 100 * gi}}, []corev1.NodeConditionType{corev1.NodeDiskPressure}},
		{"imagefs.available at 16%", map[string]observation{SignalImageFsAvailable: {available: 16 * gi, capacity: 100 * gi}}, nil},
		{"nodefs.inodesFree<5%", map[string]observation{SignalNodeFsInodesFree: {available: 40, capacity: 1000}}, []corev1.NodeConditionType{corev1.NodeDiskPressure}},
		{"no pid threshold by default", map[string]observation{SignalPIDAvailable: {available: 0, capacity: 32768}}, nil},
	}
	for _, tt := range tests {
		got := underPressure(ts, tt.obs)
		var gotL []corev1.NodeConditionType
		for typ := range got {
			gotL = append(gotL, typ)
		}
		slices.Sort(gotL)
		if !slices.Equal(gotL, tt.want) {
			t.Errorf("%s: under pressure %v, want %v", tt.name, gotL, tt.want)
		}
	}
	pid, err := parseThresholds(map[string]string{SignalPIDAvailable: "1000"})
	if err != nil {
		t.Fatal(err)
	}
	if got := underPressure(pid, map[string]observation{SignalPIDAvailable: {available: 999, capacity: 32768}}); !got[corev1.NodePIDPressure] {
		t.Errorf("pid.available<1000 with 999 left: %v, want PIDPressure", got)
	}
	for _, bad := range []map[string]string{{"memory.free": "1Gi"}, {SignalNodeFsAvailable: "110%"}, {SignalMemoryAvailable: "lots"}} {
		if _, err := parseThresholds(bad); err == nil {
			t.Errorf("parseThresholds(%v) accepted it", bad)
		}
	}
	// The signals of this machine can be read.
	obs := observeSignals(t.TempDir(), "")
	for _, s := range []string{SignalMemoryAvailable, SignalNodeFsAvailable, SignalImageFsAvailable, SignalPIDAvailable} {
		if o, ok := obs[s]; !ok || o.capacity <= 0 || o.available < 0 || o.available > o.capacity {
			t.Errorf("signal %s: %+v (read: %v)", s, o, ok)
		}
	}
}

func TestPressureTransitionPeriod(t *testing.T) {
	p := &pressureMemory{period: 5 * time.Minute}
	t0 := time.Date(2026, 4, 1, 8, 0, 0, 0, time.UTC)
	mem := map[corev1.NodeConditionType]bool{corev1.NodeMemoryPressure: true}
	for _, step := range []struct {
		at   time.Duration
		seen map[corev1.NodeConditionType]bool
		want bool
	}{
		{0, mem, true},
		{time.Minute, nil, true}, // the threshold is no longer met, the condition holds
		{4*time.Minute + 59*time.Second, nil, true},
		{5 * time.Minute, nil, false}, // five minutes after it was last met
		{6 * time.Minute, mem, true},
	} {
		if got := p.update(step.seen, t0.Add(step.at))[corev1.NodeMemoryPressure]; got != step.want {
			t.Errorf("at %s: MemoryPressure %v, want %v", step.at, got, step.want)
		}
	}
}

// TestNodeStatusHeartbeats runs the kubelet on a clock the test moves: it
// reports the three pressure conditions with the kubelet's words and
// records NodeHasSufficientMemory..., writes nothing more while nothing
// changes, and moves the heartbeats once a minute.
func TestNodeStatusHeartbeats(t *testing.T) {
	e := newLoopEnv(t)
	var mu sync.Mutex
	now := time.Date(2026, 4, 1, 8, 0, 0, 0, time.UTC)
	// A clock the test moves, ticking a nanosecond per read so that
	// events named by their time stay apart.
	e.now = func() time.Time { mu.Lock(); defer mu.Unlock(); now = now.Add(time.Nanosecond); return now }
	advance := func(d time.Duration) { mu.Lock(); now = now.Add(d); mu.Unlock() }
	e.tune = func(tu *Tuning) { tu.NodeStatusUpdate = 20 * time.Millisecond }
	// The leader's Ready comes first; the kubelet's conditions go before it.
	n, err := e.CS.CoreV1().Nodes().Get(e.Ctx, testNode, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	n.Status.Conditions = []corev1.NodeCondition{{Type: corev1.NodeReady, Status: corev1.ConditionTrue, Reason: "KubeletReady"}}
	if _, err := e.CS.CoreV1().Nodes().UpdateStatus(e.Ctx, n, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	e.start()
	node := func() *corev1.Node {
		n, err := e.CS.CoreV1().Nodes().Get(e.Ctx, testNode, metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		return n
	}
	cond := func(n *corev1.Node, typ corev1.NodeConditionType) *corev1.NodeCondition {
		for i := range n.Status.Conditions {
			if n.Status.Conditions[i].Type == typ {
				return &n.Status.Conditions[i]
			}
		}
		return nil
	}
	var first *corev1.Node
	e.eventually("the pressure conditions", func() (bool, string) {
		first = node()
		for _, typ := range []corev1.NodeConditionType{corev1.NodeMemoryPressure, corev1.NodeDiskPressure, corev1.NodePIDPressure} {
			if c := cond(first, typ); c == nil || c.Status != corev1.ConditionFalse {
				return false, fmt.Sprintf("%s: %+v", typ, c)
			}
		}
		return true, ""
	})
	if c := cond(first, corev1.NodeMemoryPressure); c.Reason != "KubeletHasSufficientMemory" || c.Message != "kubelet has sufficient memory available" {
		t.Errorf("MemoryPressure %s/%q", c.Reason, c.Message)
	}
	var order []string
	for _, c := range first.Status.Conditions {
		order = append(order, string(c.Type))
	}
	if strings.Join(order, ",") != "MemoryPressure,DiskPressure,PIDPressure,Ready" {
		t.Errorf("conditions in the order %v, want Ready last as in Kubernetes", order)
	}
	e.eventually("the node events", func() (bool, string) {
		l, err := e.CS.CoreV1().Events("default").List(e.Ctx, metav1.ListOptions{FieldSelector: "involvedObject.kind=Node,involvedObject.name=" + testNode})
		if err != nil {
			return false, err.Error()
		}
		var got []string
		for _, ev := range l.Items {
			got = append(got, ev.Reason+": "+ev.Message)
		}
		want := "NodeHasSufficientMemory: Node " + testNode + " status is now: NodeHasSufficientMemory"
		return slices.Contains(got, want) && len(got) == 3, fmt.Sprintf("%v", got)
	})
	// As the kubelet's recordNodeStatusEvent: about the Node, its name
	// standing for its uid, from the kubelet of this node, once each.
	l, err := e.CS.CoreV1().Events("default").List(e.Ctx, metav1.ListOptions{FieldSelector: "involvedObject.kind=Node"})
	if err != nil {
		t.Fatal(err)
	}
	for _, ev := range l.Items {
		o := ev.InvolvedObject
		if o.Name != testNode || o.UID != testNode || o.Namespace != "" || ev.Type != corev1.EventTypeNormal ||
			ev.Source.Component != "kubelet" || ev.Source.Host != testNode || ev.Count != 1 {
			t.Errorf("node event %s: involvedObject %+v type %s source %+v count %d", ev.Reason, o, ev.Type, ev.Source, ev.Count)
		}
	}

	// Idle: many reads, no write.
	rv := first.ResourceVersion
	time.Sleep(200 * time.Millisecond)
	advance(59 * time.Second)
	time.Sleep(200 * time.Millisecond)
	if got := node().ResourceVersion; got != rv {
		t.Errorf("the idle node was written within the minute (resourceVersion %s -> %s)", rv, got)
	}
	advance(2 * time.Second)
	e.eventually("the heartbeat a minute later", func() (bool, string) {
		c := cond(node(), corev1.NodeMemoryPressure)
		mu.Lock()
		want := metav1.NewTime(now.Truncate(time.Second))
		mu.Unlock()
		return c.LastHeartbeatTime.Equal(&want) && c.LastTransitionTime.Equal(&cond(first, corev1.NodeMemoryPressure).LastTransitionTime),
			fmt.Sprintf("heartbeat %s transition %s", c.LastHeartbeatTime, c.LastTransitionTime)
	})
}

// TestNodeStatusReportsPressure: a threshold this machine is below (more
// memory available than it has) makes MemoryPressure True at once.
func TestNodeStatusReportsPressure(t *testing.T) {
	e := newLoopEnv(t)
	e.tune = func(tu *Tuning) {
		tu.NodeStatusUpdate = 20 * time.Millisecond
		tu.EvictionHard = map[string]string{SignalMemoryAvailable: "1000Ti", SignalNodeFsAvailable: "10%"}
	}
	e.start()
	e.eventually("MemoryPressure True", func() (bool, string) {
		n, err := e.CS.CoreV1().Nodes().Get(e.Ctx, testNode, metav1.GetOptions{})
		if err != nil {
			return false, err.Error()
		}
		var got []string
		for _, c := range n.Status.Conditions {
			got = append(got, fmt.Sprintf("%s=%s/%s/%s", c.Type, c.Status, c.Reason, c.Message))
		}
		return slices.Contains(got, "MemoryPressure=True/KubeletHasInsufficientMemory/kubelet has insufficient memory available") &&
			slices.Contains(got, "DiskPressure=False/KubeletHasNoDiskPressure/kubelet has no disk pressure"), strings.Join(got, "; ")
	})
	e.eventually("the NodeHasInsufficientMemory event", func() (bool, string) {
		l, err := e.CS.CoreV1().Events("default").List(e.Ctx, metav1.ListOptions{FieldSelector: "reason=NodeHasInsufficientMemory"})
		if err != nil {
			return false, err.Error()
		}
		return len(l.Items) == 1 && l.Items[0].InvolvedObject.Kind == "Node", fmt.Sprintf("%d events", len(l.Items))
	})
}
