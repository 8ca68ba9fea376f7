package resourcemetrics

import (
	"encoding/json"
	"sort"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	metricsv1beta1 "k8s.io/metrics/pkg/apis/metrics/v1beta1"
)

// cpuQuantity is a rate in nanocores as metrics-server writes it
// ("250051234n").
func cpuQuantity(nanocores uint64) resource.Quantity {
	return *resource.NewScaledQuantity(int64(nanocores), resource.Nano)
}

// memoryQuantity is a byte count as metrics-server writes it ("1024Ki").
func memoryQuantity(bytes uint64) resource.Quantity {
	return *resource.NewQuantity(int64(bytes), resource.BinarySI)
}

// toNodeMetrics turns a node's Summary into its NodeMetrics; ok is false
// while the node has no CPU rate or memory figure yet.
func toNodeMetrics(node *corev1.Node, s *Summary, now time.Time) (metricsv1beta1.NodeMetrics, bool) {
	cpu, mem := s.Node.CPU, s.Node.Memory
	if cpu == nil || cpu.UsageNanoCores == nil || mem == nil || mem.WorkingSetBytes == nil {
		return metricsv1beta1.NodeMetrics{}, false
	}
	return metricsv1beta1.NodeMetrics{
		ObjectMeta: metav1.ObjectMeta{Name: node.Name, Labels: node.Labels, CreationTimestamp: metav1.NewTime(now)},
		Timestamp:  metav1.NewTime(cpu.Time),
		Window:     metav1.Duration{Duration: cpu.Window},
		Usage: corev1.ResourceList{
			corev1.ResourceCPU:    cpuQuantity(*cpu.UsageNanoCores),
			corev1.ResourceMemory: memoryQuantity(*mem.WorkingSetBytes),
		},
	}, true
}

// toPodMetrics turns a pod's stats into its PodMetrics; ok is false unless
// every running container has a CPU rate and a memory figure (a pod with
// a container just started or restarted waits for its next sample rather
// than show a partial sum). The pod's window is its longest container's.
func toPodMetrics(pod *corev1.Pod, ps *PodStats, now time.Time) (metricsv1beta1.PodMetrics, bool) {
	pm := metricsv1beta1.PodMetrics{
		ObjectMeta: metav1.ObjectMeta{Name: pod.Name, Namespace: pod.Namespace, Labels: pod.Labels, CreationTimestamp: metav1.NewTime(now)},
		Containers: []metricsv1beta1.ContainerMetrics{},
	}
	if len(ps.Containers) == 0 {
		return pm, false
	}
	for _, c := range ps.Containers {
		if c.CPU == nil || c.CPU.UsageNanoCores == nil || c.Memory == nil || c.Memory.WorkingSetBytes == nil {
			return pm, false
		}
		if c.CPU.Time.After(pm.Timestamp.Time) {
			pm.Timestamp = metav1.NewTime(c.CPU.Time)
		}
		if c.CPU.Window > pm.Window.Duration {
			pm.Window.Duration = c.CPU.Window
		}
		pm.Containers = append(pm.Containers, metricsv1beta1.ContainerMetrics{
			Name: c.Name,
			Usage: corev1.ResourceList{
				corev1.ResourceCPU:    cpuQuantity(*c.CPU.UsageNanoCores),
				corev1.ResourceMemory: memoryQuantity(*c.Memory.WorkingSetBytes),
			},
		})
	}
	return pm, true
}

// Tables, for `kubectl get nodes.metrics.k8s.io` and `get podmetrics`:
// metrics-server's columns (Name, one per resource, Window).

var (
	nameColumn    = metav1.TableColumnDefinition{Name: "Name", Type: "string", Format: "name", Description: "Name of the resource"}
	windowColumn  = metav1.TableColumnDefinition{Name: "Window", Type: "string", Format: "duration"}
	usageColumns  = []corev1.ResourceName{corev1.ResourceCPU, corev1.ResourceMemory}
	tableTypeMeta = metav1.TypeMeta{Kind: "Table", APIVersion: "meta.k8s.io/v1"}
)

func newTable() *metav1.Table {
	t := &metav1.Table{TypeMeta: tableTypeMeta, ColumnDefinitions: []metav1.TableColumnDefinition{nameColumn}, Rows: []metav1.TableRow{}}
	for _, r := range usageColumns {
		t.ColumnDefinitions = append(t.ColumnDefinitions, metav1.TableColumnDefinition{Name: string(r), Type: "string", Format: "quantity"})
	}
	t.ColumnDefinitions = append(t.ColumnDefinitions, windowColumn)
	return t
}

// tableRow renders one row; includeObject is None, Metadata (the
// default) or Object, as for every other resource.
func tableRow(meta *metav1.ObjectMeta, usage corev1.ResourceList, window time.Duration, obj runtime.Object, includeObject string) metav1.TableRow {
	cells := []interface{}{meta.Name}
	for _, r := range usageColumns {
		q := usage[r]
		cells = append(cells, q.String())
	}
	cells = append(cells, window.String())
	row := metav1.TableRow{Cells: cells}
	var raw []byte
	switch includeObject {
	case "None":
		return row
	case "Object":
		raw, _ = json.Marshal(obj)
	default:
		raw, _ = json.Marshal(&metav1.PartialObjectMetadata{
			TypeMeta:   metav1.TypeMeta{Kind: "PartialObjectMetadata", APIVersion: "meta.k8s.io/v1"},
			ObjectMeta: *meta,
		})
	}
	row.Object = runtime.RawExtension{Raw: raw}
	return row
}

func nodeTable(items []metricsv1beta1.NodeMetrics, includeObject string) *metav1.Table {
	t := newTable()
	for i := range items {
		m := &items[i]
		t.Rows = append(t.Rows, tableRow(&m.ObjectMeta, m.Usage, m.Window.Duration, withKind(m, "NodeMetrics"), includeObject))
	}
	return t
}

func podTable(items []metricsv1beta1.PodMetrics, includeObject string) *metav1.Table {
	t := newTable()
	for i := range items {
		m := &items[i]
		usage := corev1.ResourceList{}
		for _, c := range m.Containers {
			for r, q := range c.Usage {
				sum := usage[r]
				sum.Add(q)
				usage[r] = sum
			}
		}
		t.Rows = append(t.Rows, tableRow(&m.ObjectMeta, usage, m.Window.Duration, withKind(m, "PodMetrics"), includeObject))
	}
	return t
}

// withKind is a copy of obj with its kind and apiVersion set, as a single
// object is answered.
func withKind(obj runtime.Object, kind string) runtime.Object {
	cp := obj.DeepCopyObject()
	cp.GetObjectKind().SetGroupVersionKind(metricsv1beta1.SchemeGroupVersion.WithKind(kind))
	return cp
}

func sortNodeMetrics(items []metricsv1beta1.NodeMetrics) {
	sort.Slice(items, func(i, j int) bool { return items[i].Name < items[j].Name })
}
