package registry

import (
	"maps"
	"slices"
	"time"

	corev1 "k8s.io/api/core/v1"
	apiequality "k8s.io/apimachinery/pkg/api/equality"
	apivalidation "k8s.io/apimachinery/pkg/api/validation"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/validation/field"
	"k8s.io/utils/ptr"
)

func secretKind() *Kind {
	doc := corev1.Secret{}.SwaggerDoc()
	return &Kind{
		Group: "", Version: "v1", Kind: "Secret",
		Resource: "secrets", Singular: "secret",
		Namespaced: true,
		Verbs:      verbsAll,
		New:        func() runtime.Object { return &corev1.Secret{} },
		NewList:    func() runtime.Object { return &corev1.SecretList{} },
		Default:    typed(defaultSecret),
		Validate:   typedValidate(validateSecret),
		Columns: []metav1.TableColumnDefinition{
			nameColumn(),
			column("Type", "string", doc["type"]),
			column("Data", "string", doc["data"]),
			ageColumn(),
		},
		Row: typedRow(4, func(s *corev1.Secret, now time.Time) []interface{} {
			return []interface{}{s.Name, string(s.Type), int64(len(s.Data)), translateTimestampSince(s.CreationTimestamp, now)}
		}),
		Fields: typedFields(func(s *corev1.Secret) fields.Set {
			return mergeFields(objectMetaFields(&s.ObjectMeta, true), fields.Set{"type": string(s.Type)})
		}),
	}
}

// defaultSecret sets type Opaque and folds stringData into data, as the
// v1 conversion does, so stored secrets never carry stringData.
func defaultSecret(s *corev1.Secret) {
	if s.Type == "" {
		s.Type = corev1.SecretTypeOpaque
	}
	if len(s.StringData) > 0 {
		if s.Data == nil {
			s.Data = map[string][]byte{}
		}
		for k, v := range s.StringData {
			s.Data[k] = []byte(v)
		}
	}
	s.StringData = nil
}

// secretRequiredKeys are the data keys each typed secret must carry.
var secretRequiredKeys = map[corev1.SecretType][]string{
	corev1.SecretTypeDockercfg:        {corev1.DockerConfigKey},
	corev1.SecretTypeDockerConfigJson: {corev1.DockerConfigJsonKey},
	corev1.SecretTypeSSHAuth:          {corev1.SSHAuthPrivateKey},
	corev1.SecretTypeTLS:              {corev1.TLSCertKey, corev1.TLSPrivateKeyKey},
}

func validateSecret(s, old *corev1.Secret) field.ErrorList {
	var errs field.ErrorList
	if old == nil {
		errs = validateMeta(&s.ObjectMeta, nil, true, apivalidation.NameIsDNSSubdomain)
	} else {
		errs = validateMeta(&s.ObjectMeta, &old.ObjectMeta, true, nil)
	}
	dataPath := field.NewPath("data")
	size := 0
	for _, key := range sortedKeys(s.Data) {
		size += len(s.Data[key])
		errs = append(errs, validateDataKey(key, dataPath.Key(key))...)
	}
	if size > maxDataSize {
		errs = append(errs, field.TooLong(dataPath, "", maxDataSize))
	}
	for _, key := range secretRequiredKeys[s.Type] {
		if _, ok := s.Data[key]; !ok {
			errs = append(errs, field.Required(dataPath.Key(key), ""))
		}
	}
	switch s.Type {
	case corev1.SecretTypeServiceAccountToken:
		if s.Annotations[corev1.ServiceAccountNameKey] == "" {
			errs = append(errs, field.Required(field.NewPath("metadata", "annotations").Key(corev1.ServiceAccountNameKey), ""))
		}
	case corev1.SecretTypeBasicAuth:
		_, u := s.Data[corev1.BasicAuthUsernameKey]
		_, p := s.Data[corev1.BasicAuthPasswordKey]
		if !u && !p {
			errs = append(errs, field.Required(dataPath.Key(corev1.BasicAuthUsernameKey), ""))
			errs = append(errs, field.Required(dataPath.Key(corev1.BasicAuthPasswordKey), ""))
		}
	}
	if old != nil {
		errs = append(errs, apivalidation.ValidateImmutableField(s.Type, old.Type, field.NewPath("type"))...)
		if ptr.Deref(old.Immutable, false) {
			if !ptr.Deref(s.Immutable, false) {
				errs = append(errs, field.Forbidden(field.NewPath("immutable"), "field is immutable when `immutable` is set"))
			}
			if !apiequality.Semantic.DeepEqual(s.Data, old.Data) {
				errs = append(errs, field.Forbidden(dataPath, "field is immutable when `immutable` is set"))
			}
		}
	}
	return errs
}

// sortedKeys returns m's keys in order, for stable error lists.
func sortedKeys[V any](m map[string]V) []string {
	return slices.Sorted(maps.Keys(m))
}
