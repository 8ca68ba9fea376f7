package kubelet

import (
	"errors"
	"fmt"
	"math"
	"sort"
	"strconv"
	"strings"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	"k8s.io/apimachinery/pkg/util/validation"
)

// objects are the API objects a pod refers to, read from the node's
// cache: shared objects, to read only. Both getters return errNotFound
// (wrapped) when absent.
type objects interface {
	configMap(namespace, name string) (*corev1.ConfigMap, error)
	secret(namespace, name string) (*corev1.Secret, error)
}

var errNotFound = errors.New("not found")

// envInput is what resolving a container's environment needs besides the
// pod: its addresses and the node's allocatable (for resourceFieldRef of
// unset limits).
type envInput struct {
	pod                 *corev1.Pod
	container           *corev1.Container
	podIP, hostIP       string
	nodeAllocatable     corev1.ResourceList
	objs                objects
	invalidNamesSkipped []string // filled: envFrom keys that are not valid names
}

// envList is an ordered environment: a later set of a name replaces the
// value in place.
type envList struct {
	names []string
	vals  map[string]string
}

func (e *envList) set(k, v string) {
	if e.vals == nil {
		e.vals = map[string]string{}
	}
	if _, ok := e.vals[k]; !ok {
		e.names = append(e.names, k)
	}
	e.vals[k] = v
}

// strings renders NAME=value pairs in first-set order.
func (e *envList) strings() []string {
	out := make([]string, 0, len(e.names))
	for _, k := range e.names {
		out = append(out, k+"="+e.vals[k])
	}
	return out
}

// makeEnv is the kubelet's makeEnvironmentVariables: envFrom first (in
// order, prefix applied, invalid names skipped), then env in order, each
// value expanded against the variables defined before it. Errors are
// worded as the kubelet words them (they become CreateContainerConfigError).
func makeEnv(in *envInput) ([]string, error) {
	var env envList
	ns := in.pod.Namespace
	for _, from := range in.container.EnvFrom {
		switch {
		case from.ConfigMapRef != nil:
			ref := from.ConfigMapRef
			optional := ref.Optional != nil && *ref.Optional
			cm, err := in.objs.configMap(ns, ref.Name)
			if err != nil {
				if errors.Is(err, errNotFound) && optional {
					continue
				}
				return nil, err
			}
			for _, k := range sortedKeys(cm.Data) {
				in.setFrom(&env, from.Prefix+k, cm.Data[k])
			}
		case from.SecretRef != nil:
			ref := from.SecretRef
			optional := ref.Optional != nil && *ref.Optional
			s, err := in.objs.secret(ns, ref.Name)
			if err != nil {
				if errors.Is(err, errNotFound) && optional {
					continue
				}
				return nil, err
			}
			keys := make([]string, 0, len(s.Data))
			for k := range s.Data {
				keys = append(keys, k)
			}
			sort.Strings(keys)
			for _, k := range keys {
				in.setFrom(&env, from.Prefix+k, string(s.Data[k]))
			}
		}
	}
	for _, v := range in.container.Env {
		if v.ValueFrom == nil {
			env.set(v.Name, expand(v.Value, env.vals))
			continue
		}
		val, ok, err := in.valueFrom(v.ValueFrom)
		if err != nil {
			return nil, err
		}
		if ok {
			env.set(v.Name, val)
		}
	}
	return env.strings(), nil
}

func (in *envInput) setFrom(env *envList, name, val string) {
	if len(validation.IsEnvVarName(name)) > 0 {
		in.invalidNamesSkipped = append(in.invalidNamesSkipped, name)
		return
	}
	env.set(name, val)
}

// valueFrom resolves one env var source; ok is false when an optional
// source is missing (the variable is then not set).
func (in *envInput) valueFrom(src *corev1.EnvVarSource) (string, bool, error) {
	ns := in.pod.Namespace
	switch {
	case src.FieldRef != nil:
		v, err := in.fieldValue(src.FieldRef.FieldPath)
		return v, err == nil, err
	case src.ResourceFieldRef != nil:
		v, err := in.resourceValue(src.ResourceFieldRef)
		return v, err == nil, err
	case src.ConfigMapKeyRef != nil:
		ref := src.ConfigMapKeyRef
		optional := ref.Optional != nil && *ref.Optional
		cm, err := in.objs.configMap(ns, ref.Name)
		if err != nil {
			if errors.Is(err, errNotFound) && optional {
				return "", false, nil
			}
			return "", false, err
		}
		if v, ok := cm.Data[ref.Key]; ok {
			return v, true, nil
		}
		if b, ok := cm.BinaryData[ref.Key]; ok {
			return string(b), true, nil
		}
		if optional {
			return "", false, nil
		}
		return "", false, fmt.Errorf("couldn't find key %v in ConfigMap %v/%v", ref.Key, ns, ref.Name)
	case src.SecretKeyRef != nil:
		ref := src.SecretKeyRef
		optional := ref.Optional != nil && *ref.Optional
		s, err := in.objs.secret(ns, ref.Name)
		if err != nil {
			if errors.Is(err, errNotFound) && optional {
				return "", false, nil
			}
			return "", false, err
		}
		if b, ok := s.Data[ref.Key]; ok {
			return string(b), true, nil
		}
		if optional {
			return "", false, nil
		}
		return "", false, fmt.Errorf("couldn't find key %v in Secret %v/%v", ref.Key, ns, ref.Name)
	}
	return "", false, nil
}

// fieldValue is podFieldSelectorRuntimeValue plus the metadata fields of
// ExtractFieldPathAsString.
func (in *envInput) fieldValue(path string) (string, error) {
	pod := in.pod
	if k, ok := subscript(path, "metadata.labels"); ok {
		return pod.Labels[k], nil
	}
	if k, ok := subscript(path, "metadata.annotations"); ok {
		return pod.Annotations[k], nil
	}
	switch path {
	case "metadata.name":
		return pod.Name, nil
	case "metadata.namespace":
		return pod.Namespace, nil
	case "metadata.uid":
		return string(pod.UID), nil
	case "metadata.labels":
		return formatMap(pod.Labels), nil
	case "metadata.annotations":
		return formatMap(pod.Annotations), nil
	case "spec.nodeName":
		return pod.Spec.NodeName, nil
	case "spec.serviceAccountName":
		return pod.Spec.ServiceAccountName, nil
	case "status.hostIP", "status.hostIPs":
		return in.hostIP, nil
	case "status.podIP", "status.podIPs":
		if pod.Spec.HostNetwork {
			return in.hostIP, nil
		}
		return in.podIP, nil
	}
	return "", fmt.Errorf("unsupported fieldPath: %v", path)
}

// subscript parses prefix['key'].
func subscript(path, prefix string) (string, bool) {
	rest, ok := strings.CutPrefix(path, prefix+"['")
	if !ok || !strings.HasSuffix(rest, "']") {
		return "", false
	}
	return strings.TrimSuffix(rest, "']"), true
}

// formatMap is the downward API's rendering of labels: k="v" lines, sorted.
func formatMap(m map[string]string) string {
	var b strings.Builder
	for _, k := range sortedKeys(m) {
		fmt.Fprintf(&b, "%s=%q\n", k, m[k])
	}
	return strings.TrimSuffix(b.String(), "\n")
}

// resourceValue is ExtractContainerResourceValue with unset limits taken
// from the node's allocatable, as the kubelet does.
func (in *envInput) resourceValue(ref *corev1.ResourceFieldSelector) (string, error) {
	c := in.container
	if ref.ContainerName != "" && ref.ContainerName != c.Name {
		c = nil
		for i := range in.pod.Spec.Containers {
			if in.pod.Spec.Containers[i].Name == ref.ContainerName {
				c = &in.pod.Spec.Containers[i]
			}
		}
		if c == nil {
			return "", fmt.Errorf("container %q not found in pod", ref.ContainerName)
		}
	}
	divisor := ref.Divisor
	if divisor.IsZero() {
		divisor = resource.MustParse("1")
	}
	limit := func(name corev1.ResourceName) resource.Quantity {
		if q, ok := c.Resources.Limits[name]; ok {
			return q
		}
		return in.nodeAllocatable[name]
	}
	switch ref.Resource {
	case "limits.cpu":
		return cpuString(limit(corev1.ResourceCPU), divisor), nil
	case "limits.memory":
		return bytesString(limit(corev1.ResourceMemory), divisor), nil
	case "limits.ephemeral-storage":
		return bytesString(limit(corev1.ResourceEphemeralStorage), divisor), nil
	case "requests.cpu":
		return cpuString(c.Resources.Requests[corev1.ResourceCPU], divisor), nil
	case "requests.memory":
		return bytesString(c.Resources.Requests[corev1.ResourceMemory], divisor), nil
	case "requests.ephemeral-storage":
		return bytesString(c.Resources.Requests[corev1.ResourceEphemeralStorage], divisor), nil
	}
	return "", fmt.Errorf("unsupported container resource : %v", ref.Resource)
}

func cpuString(q, divisor resource.Quantity) string {
	if divisor.MilliValue() == 0 {
		return "0"
	}
	return strconv.FormatInt(int64(math.Ceil(float64(q.MilliValue())/float64(divisor.MilliValue()))), 10)
}

func bytesString(q, divisor resource.Quantity) string {
	if divisor.Value() == 0 {
		return "0"
	}
	return strconv.FormatInt(int64(math.Ceil(float64(q.Value())/float64(divisor.Value()))), 10)
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// expand is Kubernetes' $(VAR) expansion (third_party/forked/golang/
// expansion): $(NAME) becomes the value of NAME when it is defined and
// stays as written otherwise; $$ is a literal $; any other $ is kept.
func expand(input string, vars map[string]string) string {
	var buf strings.Builder
	checkpoint := 0
	for cursor := 0; cursor < len(input); cursor++ {
		if input[cursor] != '$' || cursor+1 >= len(input) {
			continue
		}
		buf.WriteString(input[checkpoint:cursor])
		read, isVar, advance := readVariableName(input[cursor+1:])
		if isVar {
			if v, ok := vars[read]; ok {
				buf.WriteString(v)
			} else {
				buf.WriteString("$(" + read + ")")
			}
		} else {
			buf.WriteString(read)
		}
		cursor += advance
		checkpoint = cursor + 1
	}
	return buf.String() + input[checkpoint:]
}

// readVariableName reads what follows a '$': the name and true for
// "(NAME)", else the bytes to copy; advance is how many bytes it consumed.
func readVariableName(input string) (string, bool, int) {
	switch input[0] {
	case '$':
		return "$", false, 1
	case '(':
		for i := 1; i < len(input); i++ {
			if input[i] == ')' {
				return input[1:i], true, i + 1
			}
		}
		return "$(", false, 1
	default:
		return "$" + input[0:1], false, 1
	}
}

// expandAll expands every string of ss against the container's final
// environment (command and args, as the kubelet does).
func expandAll(ss []string, env []string) []string {
	if len(ss) == 0 {
		return nil
	}
	vars := make(map[string]string, len(env))
	for _, kv := range env {
		k, v, _ := strings.Cut(kv, "=")
		vars[k] = v
	}
	out := make([]string, len(ss))
	for i, s := range ss {
		out[i] = expand(s, vars)
	}
	return out
}
