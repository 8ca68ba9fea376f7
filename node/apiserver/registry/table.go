package registry

import (
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/duration"
)

// Column descriptions, as Kubernetes' printers take them from the API's
// swagger docs.
var (
	metaDoc = metav1.ObjectMeta{}.SwaggerDoc()
)

// nameColumn is the first column of every Table.
func nameColumn() metav1.TableColumnDefinition {
	return metav1.TableColumnDefinition{Name: "Name", Type: "string", Format: "name", Description: metaDoc["name"]}
}

// ageColumn is the Age column of every Table.
func ageColumn() metav1.TableColumnDefinition {
	return metav1.TableColumnDefinition{Name: "Age", Type: "string", Description: metaDoc["creationTimestamp"]}
}

func column(name, typ, desc string) metav1.TableColumnDefinition {
	return metav1.TableColumnDefinition{Name: name, Type: typ, Description: desc}
}

func wideColumn(name, typ, desc string) metav1.TableColumnDefinition {
	return metav1.TableColumnDefinition{Name: name, Type: typ, Description: desc, Priority: 1}
}

// containerColumns are the wide Containers, Images, Selector columns of the
// workload Tables.
func containerColumns(selectorDoc string) []metav1.TableColumnDefinition {
	return []metav1.TableColumnDefinition{
		wideColumn("Containers", "string", "Names of each container in the template."),
		wideColumn("Images", "string", "Images referenced by each container in the template."),
		wideColumn("Selector", "string", selectorDoc),
	}
}

// translateTimestampSince is Kubernetes' age formatting: "<unknown>" for a
// zero time, else a human duration such as "5m" or "2d3h".
func translateTimestampSince(ts metav1.Time, now time.Time) string {
	if ts.IsZero() {
		return "<unknown>"
	}
	return duration.HumanDuration(now.Sub(ts.Time))
}

// translateMicroTimestampSince is translateTimestampSince for MicroTime.
func translateMicroTimestampSince(ts metav1.MicroTime, now time.Time) string {
	if ts.IsZero() {
		return "<unknown>"
	}
	return duration.HumanDuration(now.Sub(ts.Time))
}

// layoutContainerCells joins container names and images with commas.
func layoutContainerCells(containers []corev1.Container) (names, images string) {
	n := make([]string, len(containers))
	im := make([]string, len(containers))
	for i, c := range containers {
		n[i] = c.Name
		im[i] = c.Image
	}
	return strings.Join(n, ","), strings.Join(im, ",")
}

// selectorString renders a label selector the way kubectl's wide Selector
// column does.
func selectorString(sel *metav1.LabelSelector) string {
	s, err := metav1.LabelSelectorAsSelector(sel)
	if err != nil {
		return "<error>"
	}
	return s.String()
}
