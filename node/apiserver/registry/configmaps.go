package registry

import (
	"time"

	corev1 "k8s.io/api/core/v1"
	apiequality "k8s.io/apimachinery/pkg/api/equality"
	apivalidation "k8s.io/apimachinery/pkg/api/validation"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/apimachinery/pkg/util/validation/field"
	"k8s.io/utils/ptr"
)

// maxDataSize bounds the data of a ConfigMap or Secret (1 MiB).
const maxDataSize = 1 * 1024 * 1024

func configMapKind() *Kind {
	return &Kind{
		Group: "", Version: "v1", Kind: "ConfigMap",
		Resource: "configmaps", Singular: "configmap",
		ShortNames: []string{"cm"},
		Namespaced: true,
		Verbs:      verbsAll,
		New:        func() runtime.Object { return &corev1.ConfigMap{} },
		NewList:    func() runtime.Object { return &corev1.ConfigMapList{} },
		Default:    func(runtime.Object) {},
		Validate:   typedValidate(validateConfigMap),
		Columns: []metav1.TableColumnDefinition{
			nameColumn(),
			column("Data", "string", corev1.ConfigMap{}.SwaggerDoc()["data"]),
			ageColumn(),
		},
		Row: typedRow(3, func(cm *corev1.ConfigMap, now time.Time) []interface{} {
			return []interface{}{cm.Name, int64(len(cm.Data) + len(cm.BinaryData)), translateTimestampSince(cm.CreationTimestamp, now)}
		}),
		Fields: typedFields(func(cm *corev1.ConfigMap) fields.Set { return objectMetaFields(&cm.ObjectMeta, true) }),
	}
}

func validateConfigMap(cm, old *corev1.ConfigMap) field.ErrorList {
	var errs field.ErrorList
	if old == nil {
		errs = validateMeta(&cm.ObjectMeta, nil, true, apivalidation.NameIsDNSSubdomain)
	} else {
		errs = validateMeta(&cm.ObjectMeta, &old.ObjectMeta, true, nil)
	}
	size := 0
	for _, key := range sortedKeys(cm.Data) {
		size += len(key) + len(cm.Data[key])
		errs = append(errs, validateDataKey(key, field.NewPath("data").Key(key))...)
	}
	for _, key := range sortedKeys(cm.BinaryData) {
		size += len(key) + len(cm.BinaryData[key])
		p := field.NewPath("binaryData").Key(key)
		errs = append(errs, validateDataKey(key, p)...)
		if _, dup := cm.Data[key]; dup {
			errs = append(errs, field.Invalid(p, key, "duplicate of key present in data"))
		}
	}
	if size > maxDataSize {
		errs = append(errs, field.TooLong(field.NewPath(""), "", maxDataSize))
	}
	if old != nil && ptr.Deref(old.Immutable, false) {
		if !ptr.Deref(cm.Immutable, false) {
			errs = append(errs, field.Forbidden(field.NewPath("immutable"), "field is immutable when `immutable` is set"))
		}
		if !apiequality.Semantic.DeepEqual(cm.Data, old.Data) {
			errs = append(errs, field.Forbidden(field.NewPath("data"), "field is immutable when `immutable` is set"))
		}
		if !apiequality.Semantic.DeepEqual(cm.BinaryData, old.BinaryData) {
			errs = append(errs, field.Forbidden(field.NewPath("binaryData"), "field is immutable when `immutable` is set"))
		}
	}
	return errs
}

func validateDataKey(key string, path *field.Path) field.ErrorList {
	var errs field.ErrorList
	for _, msg := range validation.IsConfigMapKey(key) {
		errs = append(errs, field.Invalid(path, key, msg))
	}
	return errs
}
