package registry

import (
	"slices"
	"strconv"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	apivalidation "k8s.io/apimachinery/pkg/api/validation"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	metav1validation "k8s.io/apimachinery/pkg/apis/meta/v1/validation"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/sets"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

const (
	// labelNodeRolePrefix labels carry a node's roles: node-role.kubernetes.io/<role>.
	labelNodeRolePrefix = "node-role.kubernetes.io/"
	// labelNodeRole is the older single-role label.
	labelNodeRole = "kubernetes.io/role"
)

func nodeKind() *Kind {
	info := corev1.NodeSystemInfo{}.SwaggerDoc()
	addrDoc := corev1.NodeStatus{}.SwaggerDoc()["addresses"]
	return &Kind{
		Group: "", Version: "v1", Kind: "Node",
		Resource: "nodes", Singular: "node",
		ShortNames: []string{"no"},
		Namespaced: false,
		Verbs:      verbsAll,
		Subresources: []Subresource{
			{Name: "proxy", Kind: "NodeProxyOptions", Verbs: verbsProxy},
			statusSub("Node"),
		},
		HasStatus: true,
		New:       func() runtime.Object { return &corev1.Node{} },
		NewList:   func() runtime.Object { return &corev1.NodeList{} },
		Default:   typed(defaultNode),
		Validate:  typedValidate(validateNode),
		Columns: []metav1.TableColumnDefinition{
			nameColumn(),
			column("Status", "string", "The status of the node"),
			column("Roles", "string", "The roles of the node"),
			ageColumn(),
			column("Version", "string", info["kubeletVersion"]),
			wideColumn("Internal-IP", "string", addrDoc),
			wideColumn("External-IP", "string", addrDoc),
			wideColumn("OS-Image", "string", info["osImage"]),
			wideColumn("Kernel-Version", "string", info["kernelVersion"]),
			wideColumn("Container-Runtime", "string", info["containerRuntimeVersion"]),
			wideColumn("Gossip", "string", "The node's state in gossip (shoal): alive, suspect, dead or left"),
			wideColumn("Raft-Role", "string", "The node's raft role (shoal): leader, voter or non-voter"),
		},
		Row:    typedRow(12, nodeRow),
		Fields: typedFields(nodeFields),
	}
}

// defaultNode is SetDefaults_NodeStatus: allocatable defaults to capacity.
func defaultNode(n *corev1.Node) {
	if n.Status.Allocatable == nil && n.Status.Capacity != nil {
		n.Status.Allocatable = n.Status.Capacity.DeepCopy()
	}
}

func validateNode(n, old *corev1.Node) field.ErrorList {
	var errs field.ErrorList
	if old == nil {
		errs = validateMeta(&n.ObjectMeta, nil, false, apivalidation.NameIsDNSSubdomain)
	} else {
		errs = validateMeta(&n.ObjectMeta, &old.ObjectMeta, false, nil)
	}
	spec := field.NewPath("spec")
	if n.Spec.PodCIDR != "" {
		errs = append(errs, validation.IsValidCIDR(spec.Child("podCIDR"), n.Spec.PodCIDR)...)
	}
	for i, c := range n.Spec.PodCIDRs {
		errs = append(errs, validation.IsValidCIDR(spec.Child("podCIDRs").Index(i), c)...)
	}
	if len(n.Spec.PodCIDRs) > 0 && n.Spec.PodCIDR != n.Spec.PodCIDRs[0] {
		errs = append(errs, field.Invalid(spec.Child("podCIDR"), n.Spec.PodCIDR, "must match first element of podCIDRs"))
	}
	errs = append(errs, validateTaints(n.Spec.Taints, spec.Child("taints"))...)
	if old != nil {
		if len(old.Spec.PodCIDRs) > 0 && !slices.Equal(n.Spec.PodCIDRs, old.Spec.PodCIDRs) {
			errs = append(errs, field.Forbidden(spec.Child("podCIDRs"), "node updates may not change podCIDR except from \"\" to valid"))
		}
		if old.Spec.ProviderID != "" && n.Spec.ProviderID != old.Spec.ProviderID {
			errs = append(errs, field.Forbidden(spec.Child("providerID"), "node updates may not change providerID except from \"\" to valid"))
		}
	}
	return errs
}

func validateTaints(taints []corev1.Taint, path *field.Path) field.ErrorList {
	var errs field.ErrorList
	seen := sets.New[string]()
	valid := []corev1.TaintEffect{corev1.TaintEffectNoSchedule, corev1.TaintEffectPreferNoSchedule, corev1.TaintEffectNoExecute}
	for i, t := range taints {
		idx := path.Index(i)
		errs = append(errs, metav1validation.ValidateLabelName(t.Key, idx.Child("key"))...)
		for _, msg := range validation.IsValidLabelValue(t.Value) {
			errs = append(errs, field.Invalid(idx.Child("value"), t.Value, msg))
		}
		switch {
		case t.Effect == "":
			errs = append(errs, field.Required(idx.Child("effect"), ""))
		case !slices.Contains(valid, t.Effect):
			errs = append(errs, field.NotSupported(idx.Child("effect"), t.Effect, valid))
		}
		k := t.Key + "\x00" + string(t.Effect)
		if seen.Has(k) {
			errs = append(errs, field.Duplicate(idx, "taints must be unique by key and effect pair"))
		}
		seen.Insert(k)
	}
	return errs
}

func nodeFields(n *corev1.Node) fields.Set {
	return mergeFields(objectMetaFields(&n.ObjectMeta, false), fields.Set{
		"spec.unschedulable": strconv.FormatBool(n.Spec.Unschedulable),
	})
}

// nodeRow is printNode: Name, Status, Roles, Age, Version | Internal-IP,
// External-IP, OS-Image, Kernel-Version, Container-Runtime.
func nodeRow(n *corev1.Node, now time.Time) []interface{} {
	var status []string
	for _, c := range n.Status.Conditions {
		if c.Type == corev1.NodeReady {
			if c.Status == corev1.ConditionTrue {
				status = append(status, string(c.Type))
			} else {
				status = append(status, "Not"+string(c.Type))
			}
			break
		}
	}
	if len(status) == 0 {
		status = append(status, "Unknown")
	}
	if n.Spec.Unschedulable {
		status = append(status, "SchedulingDisabled")
	}
	roles := strings.Join(nodeRoles(n), ",")
	if roles == "" {
		roles = "<none>"
	}
	info := n.Status.NodeInfo
	return []interface{}{
		n.Name,
		strings.Join(status, ","),
		roles,
		translateTimestampSince(n.CreationTimestamp, now),
		info.KubeletVersion,
		nodeAddress(n, corev1.NodeInternalIP),
		nodeAddress(n, corev1.NodeExternalIP),
		orUnknown(info.OSImage),
		orUnknown(info.KernelVersion),
		orUnknown(info.ContainerRuntimeVersion),
		orUnknown(n.Labels["shoal.io/gossip"]),
		orUnknown(n.Labels["shoal.io/raft-role"]),
	}
}

// nodeRoles returns the node's roles from its node-role labels, sorted.
func nodeRoles(n *corev1.Node) []string {
	roles := sets.New[string]()
	for k, v := range n.Labels {
		switch {
		case strings.HasPrefix(k, labelNodeRolePrefix):
			if role := strings.TrimPrefix(k, labelNodeRolePrefix); role != "" {
				roles.Insert(role)
			}
		case k == labelNodeRole && v != "":
			roles.Insert(v)
		}
	}
	return sets.List(roles)
}

func nodeAddress(n *corev1.Node, t corev1.NodeAddressType) string {
	for _, a := range n.Status.Addresses {
		if a.Type == t {
			return a.Address
		}
	}
	return "<none>"
}

func orUnknown(s string) string {
	if s == "" {
		return "<unknown>"
	}
	return s
}
