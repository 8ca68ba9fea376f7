package registry

import (
	"fmt"
	"reflect"
	"slices"
	"strings"

	corev1 "k8s.io/api/core/v1"
	apiequality "k8s.io/apimachinery/pkg/api/equality"
	"k8s.io/apimachinery/pkg/api/resource"
	apivalidation "k8s.io/apimachinery/pkg/api/validation"
	metav1validation "k8s.io/apimachinery/pkg/apis/meta/v1/validation"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/apimachinery/pkg/util/sets"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

// Validation of pods and pod templates, after k8s.io/kubernetes
// pkg/apis/core/validation (ValidatePodSpec and its helpers). It covers the
// rules a user meets in practice, with Kubernetes' field paths and messages;
// rarely used fields (security contexts, affinity, topology spread) are
// accepted as sent.

var (
	supportedPortProtocols = []corev1.Protocol{corev1.ProtocolSCTP, corev1.ProtocolTCP, corev1.ProtocolUDP}
	supportedRestartPolicy = []corev1.RestartPolicy{corev1.RestartPolicyAlways, corev1.RestartPolicyNever, corev1.RestartPolicyOnFailure}
	supportedDNSPolicies   = []corev1.DNSPolicy{corev1.DNSClusterFirstWithHostNet, corev1.DNSClusterFirst, corev1.DNSDefault, corev1.DNSNone}
	supportedPullPolicies  = []corev1.PullPolicy{corev1.PullAlways, corev1.PullIfNotPresent, corev1.PullNever}
	supportedTermMsgPolicy = []corev1.TerminationMessagePolicy{corev1.TerminationMessageFallbackToLogsOnError, corev1.TerminationMessageReadFile}
)

// validateDNS1123Label reports each DNS-1123 label violation of value at path.
func validateDNS1123Label(value string, path *field.Path) field.ErrorList {
	var errs field.ErrorList
	for _, msg := range validation.IsDNS1123Label(value) {
		errs = append(errs, field.Invalid(path, value, msg))
	}
	return errs
}

// validateDNS1123Subdomain reports each DNS-1123 subdomain violation.
func validateDNS1123Subdomain(value string, path *field.Path) field.ErrorList {
	var errs field.ErrorList
	for _, msg := range validation.IsDNS1123Subdomain(value) {
		errs = append(errs, field.Invalid(path, value, msg))
	}
	return errs
}

// validatePodTemplateSpec is ValidatePodTemplateSpec.
func validatePodTemplateSpec(t *corev1.PodTemplateSpec, path *field.Path) field.ErrorList {
	errs := metav1validation.ValidateLabels(t.Labels, path.Child("labels"))
	errs = append(errs, apivalidation.ValidateAnnotations(t.Annotations, path.Child("annotations"))...)
	errs = append(errs, validatePodSpec(&t.Spec, path.Child("spec"))...)
	if len(t.Spec.EphemeralContainers) > 0 {
		errs = append(errs, field.Forbidden(path.Child("spec", "ephemeralContainers"), "ephemeral containers not allowed in pod template"))
	}
	return errs
}

// validatePodTemplateForController is ValidatePodTemplateSpecForReplicaSet
// (and ForRC): the template must match the selector and restart Always.
func validatePodTemplateForController(t *corev1.PodTemplateSpec, selector labels.Selector, kindName string, path *field.Path) field.ErrorList {
	var errs field.ErrorList
	if !selector.Empty() && !selector.Matches(labels.Set(t.Labels)) {
		errs = append(errs, field.Invalid(path.Child("metadata", "labels"), t.Labels, "`selector` does not match template `labels`"))
	}
	errs = append(errs, validatePodTemplateSpec(t, path)...)
	if t.Spec.RestartPolicy != corev1.RestartPolicyAlways {
		errs = append(errs, field.NotSupported(path.Child("spec", "restartPolicy"), t.Spec.RestartPolicy, []corev1.RestartPolicy{corev1.RestartPolicyAlways}))
	}
	if t.Spec.ActiveDeadlineSeconds != nil {
		errs = append(errs, field.Forbidden(path.Child("spec", "activeDeadlineSeconds"), fmt.Sprintf("activeDeadlineSeconds in %s is not Supported", kindName)))
	}
	return errs
}

// validatePodSpec is ValidatePodSpec.
func validatePodSpec(spec *corev1.PodSpec, path *field.Path) field.ErrorList {
	volumes, errs := validateVolumes(spec.Volumes, path.Child("volumes"))
	names := sets.New[string]()
	errs = append(errs, validateContainers(spec.Containers, volumes, names, path.Child("containers"), true)...)
	errs = append(errs, validateContainers(spec.InitContainers, volumes, names, path.Child("initContainers"), false)...)
	errs = append(errs, validateRestartPolicy(spec.RestartPolicy, path.Child("restartPolicy"))...)
	if !slices.Contains(supportedDNSPolicies, spec.DNSPolicy) {
		errs = append(errs, field.NotSupported(path.Child("dnsPolicy"), spec.DNSPolicy, supportedDNSPolicies))
	}
	if spec.DNSPolicy == corev1.DNSNone && (spec.DNSConfig == nil || len(spec.DNSConfig.Nameservers) == 0) {
		errs = append(errs, field.Required(path.Child("dnsConfig", "nameservers"), fmt.Sprintf("must provide at least one DNS nameserver when DNS policy is %s", corev1.DNSNone)))
	}
	if len(spec.ServiceAccountName) > 0 {
		for _, msg := range apivalidation.NameIsDNSSubdomain(spec.ServiceAccountName, false) {
			errs = append(errs, field.Invalid(path.Child("serviceAccountName"), spec.ServiceAccountName, msg))
		}
	}
	if len(spec.NodeName) > 0 {
		for _, msg := range apivalidation.NameIsDNSSubdomain(spec.NodeName, false) {
			errs = append(errs, field.Invalid(path.Child("nodeName"), spec.NodeName, msg))
		}
	}
	if spec.ActiveDeadlineSeconds != nil && (*spec.ActiveDeadlineSeconds < 1 || *spec.ActiveDeadlineSeconds > 2147483647) {
		errs = append(errs, field.Invalid(path.Child("activeDeadlineSeconds"), *spec.ActiveDeadlineSeconds, validation.InclusiveRangeError(1, 2147483647)))
	}
	if len(spec.Hostname) > 0 {
		errs = append(errs, validateDNS1123Label(spec.Hostname, path.Child("hostname"))...)
	}
	if len(spec.Subdomain) > 0 {
		errs = append(errs, validateDNS1123Label(spec.Subdomain, path.Child("subdomain"))...)
	}
	errs = append(errs, metav1validation.ValidateLabels(spec.NodeSelector, path.Child("nodeSelector"))...)
	for i, tol := range spec.Tolerations {
		errs = append(errs, validateToleration(tol, path.Child("tolerations").Index(i))...)
	}
	return errs
}

func validateRestartPolicy(p corev1.RestartPolicy, path *field.Path) field.ErrorList {
	switch {
	case p == "":
		return field.ErrorList{field.Required(path, "")}
	case !slices.Contains(supportedRestartPolicy, p):
		return field.ErrorList{field.NotSupported(path, p, supportedRestartPolicy)}
	}
	return nil
}

func validateToleration(t corev1.Toleration, path *field.Path) field.ErrorList {
	var errs field.ErrorList
	if len(t.Key) > 0 {
		errs = append(errs, metav1validation.ValidateLabelName(t.Key, path.Child("key"))...)
	}
	if len(t.Key) == 0 && t.Operator != corev1.TolerationOpExists {
		errs = append(errs, field.Invalid(path.Child("operator"), t.Operator, "operator must be Exists when `key` is empty, which means \"match all values and all keys\""))
	}
	if t.TolerationSeconds != nil && t.Effect != corev1.TaintEffectNoExecute {
		errs = append(errs, field.Invalid(path.Child("effect"), t.Effect, "effect must be 'NoExecute' when `tolerationSeconds` is set"))
	}
	switch t.Operator {
	case corev1.TolerationOpEqual, "":
		for _, msg := range validation.IsValidLabelValue(t.Value) {
			errs = append(errs, field.Invalid(path.Child("operator"), t.Value, msg))
		}
	case corev1.TolerationOpExists:
		if len(t.Value) > 0 {
			errs = append(errs, field.Invalid(path.Child("operator"), t, "value must be empty when `operator` is 'Exists'"))
		}
	default:
		errs = append(errs, field.NotSupported(path.Child("operator"), t.Operator, []corev1.TolerationOperator{corev1.TolerationOpEqual, corev1.TolerationOpExists}))
	}
	if len(t.Effect) > 0 {
		valid := []corev1.TaintEffect{corev1.TaintEffectNoSchedule, corev1.TaintEffectPreferNoSchedule, corev1.TaintEffectNoExecute}
		if !slices.Contains(valid, t.Effect) {
			errs = append(errs, field.NotSupported(path.Child("effect"), t.Effect, valid))
		}
	}
	return errs
}

// validateVolumes returns the set of volume names and the errors.
func validateVolumes(vols []corev1.Volume, path *field.Path) (sets.Set[string], field.ErrorList) {
	var errs field.ErrorList
	names := sets.New[string]()
	for i, v := range vols {
		idx := path.Index(i)
		namePath := idx.Child("name")
		switch {
		case v.Name == "":
			errs = append(errs, field.Required(namePath, ""))
		case names.Has(v.Name):
			errs = append(errs, field.Duplicate(namePath, v.Name))
		default:
			errs = append(errs, validateDNS1123Label(v.Name, namePath)...)
			names.Insert(v.Name)
		}
		errs = append(errs, validateVolumeSource(&v.VolumeSource, idx)...)
	}
	return names, errs
}

// validateVolumeSource checks that exactly one volume type is set.
func validateVolumeSource(vs *corev1.VolumeSource, path *field.Path) field.ErrorList {
	var errs field.ErrorList
	rv := reflect.ValueOf(vs).Elem()
	rt := rv.Type()
	set := 0
	for i := 0; i < rv.NumField(); i++ {
		if rv.Field(i).IsNil() {
			continue
		}
		set++
		if set > 1 {
			name := strings.Split(rt.Field(i).Tag.Get("json"), ",")[0]
			errs = append(errs, field.Forbidden(path.Child(name), "may not specify more than 1 volume type"))
		}
	}
	if set == 0 {
		errs = append(errs, field.Required(path, "must specify a volume type"))
	}
	if vs.HostPath != nil && vs.HostPath.Path == "" {
		errs = append(errs, field.Required(path.Child("hostPath", "path"), ""))
	}
	if vs.ConfigMap != nil && vs.ConfigMap.Name == "" {
		errs = append(errs, field.Required(path.Child("configMap", "name"), ""))
	}
	if vs.Secret != nil && vs.Secret.SecretName == "" {
		errs = append(errs, field.Required(path.Child("secret", "secretName"), ""))
	}
	return errs
}

// validateContainers validates containers (or init containers); names
// collects names across both lists. requireOne reports an empty list.
func validateContainers(cs []corev1.Container, volumes sets.Set[string], names sets.Set[string], path *field.Path, requireOne bool) field.ErrorList {
	var errs field.ErrorList
	if len(cs) == 0 {
		if requireOne {
			errs = append(errs, field.Required(path, ""))
		}
		return errs
	}
	for i := range cs {
		c := &cs[i]
		idx := path.Index(i)
		namePath := idx.Child("name")
		switch {
		case c.Name == "":
			errs = append(errs, field.Required(namePath, ""))
		default:
			errs = append(errs, validateDNS1123Label(c.Name, namePath)...)
			if names.Has(c.Name) {
				errs = append(errs, field.Duplicate(namePath, c.Name))
			} else {
				names.Insert(c.Name)
			}
		}
		if len(c.Image) == 0 {
			errs = append(errs, field.Required(idx.Child("image"), ""))
		} else if strings.TrimSpace(c.Image) != c.Image {
			errs = append(errs, field.Invalid(idx.Child("image"), c.Image, "must not have leading or trailing whitespace"))
		}
		switch {
		case c.ImagePullPolicy == "":
			errs = append(errs, field.Required(idx.Child("imagePullPolicy"), ""))
		case !slices.Contains(supportedPullPolicies, c.ImagePullPolicy):
			errs = append(errs, field.NotSupported(idx.Child("imagePullPolicy"), c.ImagePullPolicy, supportedPullPolicies))
		}
		switch {
		case c.TerminationMessagePolicy == "":
			errs = append(errs, field.Required(idx.Child("terminationMessagePolicy"), "must be 'File' or 'FallbackToLogsOnError'"))
		case !slices.Contains(supportedTermMsgPolicy, c.TerminationMessagePolicy):
			errs = append(errs, field.Invalid(idx.Child("terminationMessagePolicy"), c.TerminationMessagePolicy, "must be 'File' or 'FallbackToLogsOnError'"))
		}
		errs = append(errs, validateContainerPorts(c.Ports, idx.Child("ports"))...)
		errs = append(errs, validateEnv(c.Env, idx.Child("env"))...)
		errs = append(errs, validateVolumeMounts(c.VolumeMounts, volumes, idx.Child("volumeMounts"))...)
		errs = append(errs, validateResources(&c.Resources, idx.Child("resources"))...)
		errs = append(errs, validateProbe(c.LivenessProbe, idx.Child("livenessProbe"), true)...)
		errs = append(errs, validateProbe(c.ReadinessProbe, idx.Child("readinessProbe"), false)...)
		errs = append(errs, validateProbe(c.StartupProbe, idx.Child("startupProbe"), true)...)
	}
	return errs
}

func validateContainerPorts(ports []corev1.ContainerPort, path *field.Path) field.ErrorList {
	var errs field.ErrorList
	names := sets.New[string]()
	for i, p := range ports {
		idx := path.Index(i)
		if len(p.Name) > 0 {
			if msgs := validation.IsValidPortName(p.Name); len(msgs) != 0 {
				for _, msg := range msgs {
					errs = append(errs, field.Invalid(idx.Child("name"), p.Name, msg))
				}
			} else if names.Has(p.Name) {
				errs = append(errs, field.Duplicate(idx.Child("name"), p.Name))
			} else {
				names.Insert(p.Name)
			}
		}
		if p.ContainerPort == 0 {
			errs = append(errs, field.Required(idx.Child("containerPort"), ""))
		} else {
			for _, msg := range validation.IsValidPortNum(int(p.ContainerPort)) {
				errs = append(errs, field.Invalid(idx.Child("containerPort"), p.ContainerPort, msg))
			}
		}
		if p.HostPort != 0 {
			for _, msg := range validation.IsValidPortNum(int(p.HostPort)) {
				errs = append(errs, field.Invalid(idx.Child("hostPort"), p.HostPort, msg))
			}
		}
		errs = append(errs, validateProtocol(p.Protocol, idx.Child("protocol"))...)
	}
	return errs
}

func validateProtocol(p corev1.Protocol, path *field.Path) field.ErrorList {
	switch {
	case p == "":
		return field.ErrorList{field.Required(path, "")}
	case !slices.Contains(supportedPortProtocols, p):
		return field.ErrorList{field.NotSupported(path, p, supportedPortProtocols)}
	}
	return nil
}

func validateEnv(env []corev1.EnvVar, path *field.Path) field.ErrorList {
	var errs field.ErrorList
	for i, e := range env {
		idx := path.Index(i)
		if len(e.Name) == 0 {
			errs = append(errs, field.Required(idx.Child("name"), ""))
		} else {
			for _, msg := range validation.IsRelaxedEnvVarName(e.Name) {
				errs = append(errs, field.Invalid(idx.Child("name"), e.Name, msg))
			}
		}
		if e.ValueFrom != nil {
			n := 0
			vf := e.ValueFrom
			for _, set := range []bool{vf.FieldRef != nil, vf.ResourceFieldRef != nil, vf.ConfigMapKeyRef != nil, vf.SecretKeyRef != nil, vf.FileKeyRef != nil} {
				if set {
					n++
				}
			}
			if n == 0 {
				errs = append(errs, field.Invalid(idx.Child("valueFrom"), "", "must specify one of: `fieldRef`, `resourceFieldRef`, `configMapKeyRef` or `secretKeyRef`"))
			} else if n > 1 {
				errs = append(errs, field.Invalid(idx.Child("valueFrom"), "", "may not have more than one field specified at a time"))
			}
			if len(e.Value) != 0 {
				errs = append(errs, field.Invalid(idx.Child("valueFrom"), "", "may not be specified when `value` is not empty"))
			}
		}
	}
	return errs
}

func validateVolumeMounts(mounts []corev1.VolumeMount, volumes sets.Set[string], path *field.Path) field.ErrorList {
	var errs field.ErrorList
	paths := sets.New[string]()
	for i, m := range mounts {
		idx := path.Index(i)
		if len(m.Name) == 0 {
			errs = append(errs, field.Required(idx.Child("name"), ""))
		} else if !volumes.Has(m.Name) {
			errs = append(errs, field.NotFound(idx.Child("name"), m.Name))
		}
		if len(m.MountPath) == 0 {
			errs = append(errs, field.Required(idx.Child("mountPath"), ""))
		} else if paths.Has(m.MountPath) {
			errs = append(errs, field.Invalid(idx.Child("mountPath"), m.MountPath, "must be unique"))
		} else {
			paths.Insert(m.MountPath)
		}
	}
	return errs
}

// isStandardContainerResource reports cpu, memory, ephemeral-storage and
// hugepages-<size>.
func isStandardContainerResource(name corev1.ResourceName) bool {
	switch name {
	case corev1.ResourceCPU, corev1.ResourceMemory, corev1.ResourceEphemeralStorage:
		return true
	}
	return strings.HasPrefix(string(name), corev1.ResourceHugePagesPrefix)
}

// overcommitAllowed is helper.IsOvercommitAllowed: native resources other
// than hugepages may have requests below limits.
func overcommitAllowed(name corev1.ResourceName) bool {
	native := !strings.Contains(string(name), "/") || strings.Contains(string(name), corev1.ResourceDefaultNamespacePrefix)
	return native && !strings.HasPrefix(string(name), corev1.ResourceHugePagesPrefix)
}

func validateResourceName(name corev1.ResourceName, path *field.Path) field.ErrorList {
	var errs field.ErrorList
	for _, msg := range validation.IsQualifiedName(string(name)) {
		errs = append(errs, field.Invalid(path, name, msg))
	}
	if len(errs) > 0 {
		return errs
	}
	if !strings.Contains(string(name), "/") {
		if !isStandardContainerResource(name) {
			errs = append(errs, field.Invalid(path, name, "must be a standard resource for containers"))
		}
	} else if strings.Contains(string(name), "kubernetes.io/") {
		errs = append(errs, field.Invalid(path, name, "must be a standard resource for containers"))
	}
	return errs
}

func validateQuantity(q resource.Quantity, path *field.Path) field.ErrorList {
	if q.Sign() < 0 {
		return field.ErrorList{field.Invalid(path, q.String(), "must be greater than or equal to 0")}
	}
	return nil
}

// validateResources is ValidateResourceRequirements for containers.
func validateResources(r *corev1.ResourceRequirements, path *field.Path) field.ErrorList {
	var errs field.ErrorList
	limPath, reqPath := path.Child("limits"), path.Child("requests")
	for _, name := range sortedResourceNames(r.Limits) {
		p := limPath.Key(string(name))
		errs = append(errs, validateResourceName(name, p)...)
		errs = append(errs, validateQuantity(r.Limits[name], p)...)
	}
	for _, name := range sortedResourceNames(r.Requests) {
		q := r.Requests[name]
		p := reqPath.Key(string(name))
		errs = append(errs, validateResourceName(name, p)...)
		errs = append(errs, validateQuantity(q, p)...)
		lim, ok := r.Limits[name]
		switch {
		case ok && q.Cmp(lim) != 0 && !overcommitAllowed(name):
			errs = append(errs, field.Invalid(reqPath, q.String(), fmt.Sprintf("must be equal to %s limit of %s", name, lim.String())))
		case ok && q.Cmp(lim) > 0:
			errs = append(errs, field.Invalid(reqPath, q.String(), fmt.Sprintf("must be less than or equal to %s limit of %s", name, lim.String())))
		case !ok && !overcommitAllowed(name):
			errs = append(errs, field.Required(limPath, "Limit must be set for non overcommitable resources"))
		}
	}
	return errs
}

func sortedResourceNames(l corev1.ResourceList) []corev1.ResourceName {
	names := make([]corev1.ResourceName, 0, len(l))
	for n := range l {
		names = append(names, n)
	}
	slices.Sort(names)
	return names
}

func validateProbe(p *corev1.Probe, path *field.Path, successMustBeOne bool) field.ErrorList {
	if p == nil {
		return nil
	}
	var errs field.ErrorList
	n := 0
	h := &p.ProbeHandler
	for _, set := range []bool{h.Exec != nil, h.HTTPGet != nil, h.TCPSocket != nil, h.GRPC != nil} {
		if set {
			n++
		}
	}
	if n == 0 {
		errs = append(errs, field.Required(path, "must specify a handler type"))
	} else if n > 1 {
		errs = append(errs, field.Forbidden(path, "may not specify more than 1 handler type"))
	}
	for name, v := range map[string]int32{
		"initialDelaySeconds": p.InitialDelaySeconds, "timeoutSeconds": p.TimeoutSeconds,
		"periodSeconds": p.PeriodSeconds, "successThreshold": p.SuccessThreshold,
		"failureThreshold": p.FailureThreshold,
	} {
		errs = append(errs, apivalidation.ValidateNonnegativeField(int64(v), path.Child(name))...)
	}
	if successMustBeOne && p.SuccessThreshold != 1 {
		errs = append(errs, field.Invalid(path.Child("successThreshold"), p.SuccessThreshold, "must be 1"))
	}
	if h.HTTPGet != nil {
		errs = append(errs, validatePortNumOrName(h.HTTPGet.Port, path.Child("httpGet", "port"))...)
	}
	if h.TCPSocket != nil {
		errs = append(errs, validatePortNumOrName(h.TCPSocket.Port, path.Child("tcpSocket", "port"))...)
	}
	if h.Exec != nil && len(h.Exec.Command) == 0 {
		errs = append(errs, field.Required(path.Child("exec", "command"), ""))
	}
	// Map iteration above is unordered; keep the list stable.
	slices.SortStableFunc(errs, func(a, b *field.Error) int { return strings.Compare(a.Field, b.Field) })
	return errs
}

// validatePortNumOrName is ValidatePortNumOrName.
func validatePortNumOrName(port intstr.IntOrString, path *field.Path) field.ErrorList {
	var errs field.ErrorList
	switch port.Type {
	case intstr.Int:
		for _, msg := range validation.IsValidPortNum(port.IntValue()) {
			errs = append(errs, field.Invalid(path, port.IntValue(), msg))
		}
	case intstr.String:
		for _, msg := range validation.IsValidPortName(port.StrVal) {
			errs = append(errs, field.Invalid(path, port.StrVal, msg))
		}
	default:
		errs = append(errs, field.InternalError(path, fmt.Errorf("unknown type: %v", port.Type)))
	}
	return errs
}

// podUpdatableFields is Kubernetes' list in its "pod updates may not change
// fields other than" message.
var podUpdatableFields = []string{
	"`spec.containers[*].image`",
	"`spec.initContainers[*].image`",
	"`spec.activeDeadlineSeconds`",
	"`spec.tolerations` (only additions to existing tolerations)",
	"`spec.terminationGracePeriodSeconds` (allow it to be set to 1 if it was previously negative)",
}

// validatePodSpecUpdate is the spec half of ValidatePodUpdate: only images,
// activeDeadlineSeconds, added tolerations and a negative grace period set
// to 1 may change. shoal also lets spec.nodeName go from empty to a node, so
// a binding written as an update is accepted.
func validatePodSpecUpdate(spec, old *corev1.PodSpec, path *field.Path) field.ErrorList {
	var errs field.ErrorList
	for i, c := range spec.Containers {
		if c.Image == "" {
			errs = append(errs, field.Required(path.Child("containers").Index(i).Child("image"), ""))
		}
	}
	for i, c := range spec.InitContainers {
		if c.Image == "" {
			errs = append(errs, field.Required(path.Child("initContainers").Index(i).Child("image"), ""))
		}
	}
	if old.ActiveDeadlineSeconds != nil {
		switch {
		case spec.ActiveDeadlineSeconds == nil:
			errs = append(errs, field.Invalid(path.Child("activeDeadlineSeconds"), spec.ActiveDeadlineSeconds, "must not update from a positive integer to nil value"))
		case *spec.ActiveDeadlineSeconds > *old.ActiveDeadlineSeconds:
			errs = append(errs, field.Invalid(path.Child("activeDeadlineSeconds"), *spec.ActiveDeadlineSeconds, "must be less than or equal to previous value"))
		}
	}

	munged := spec.DeepCopy()
	for i := range munged.Containers {
		if i < len(old.Containers) {
			munged.Containers[i].Image = old.Containers[i].Image
		}
	}
	for i := range munged.InitContainers {
		if i < len(old.InitContainers) {
			munged.InitContainers[i].Image = old.InitContainers[i].Image
		}
	}
	munged.ActiveDeadlineSeconds = old.ActiveDeadlineSeconds
	if tolerationsAdded(spec.Tolerations, old.Tolerations) {
		munged.Tolerations = old.Tolerations
	}
	if g, og := spec.TerminationGracePeriodSeconds, old.TerminationGracePeriodSeconds; g != nil && og != nil && *og < 0 && *g == 1 {
		munged.TerminationGracePeriodSeconds = og
	}
	if old.NodeName == "" {
		munged.NodeName = ""
	}
	if !apiequality.Semantic.DeepEqual(*munged, *old) {
		errs = append(errs, field.Forbidden(path, "pod updates may not change fields other than "+strings.Join(podUpdatableFields, ",")))
	}
	return errs
}

// tolerationsAdded reports whether every old toleration is still present.
func tolerationsAdded(tols, old []corev1.Toleration) bool {
	for _, o := range old {
		if !slices.ContainsFunc(tols, func(t corev1.Toleration) bool { return apiequality.Semantic.DeepEqual(t, o) }) {
			return false
		}
	}
	return true
}
