package apiserver

import (
	"fmt"
	"net/http"
	"strings"

	authenticationv1 "k8s.io/api/authentication/v1"
	authenticationv1alpha1 "k8s.io/api/authentication/v1alpha1"
	authenticationv1beta1 "k8s.io/api/authentication/v1beta1"
	authorizationv1 "k8s.io/api/authorization/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/runtime/serializer"
	utilruntime "k8s.io/apimachinery/pkg/util/runtime"

	"github.com/shoal-project/shoal/node/apiserver/wire"
)

// Self reviews: `kubectl auth whoami` (authentication.k8s.io/v1
// SelfSubjectReview) and `kubectl auth can-i` (authorization.k8s.io/v1
// SelfSubjectAccessReview, and SelfSubjectRulesReview for --list). shoal
// has no RBAC: every authenticated caller, the admin token's user or a
// node by its certificate, may do everything, as a member of
// system:masters may in Kubernetes; the answers say so.

const (
	adminUser = "admin"
	// allowedReason is what RBAC says of a system:masters member.
	allowedReason = "shoal: every authenticated user may do everything (no RBAC); as system:masters in Kubernetes"
)

// selfReviewServices are the built-in APIServices of the reviews.
func selfReviewServices() []APIService {
	create := []string{"create"}
	var out []APIService
	// kubectl 1.27 asks v1beta1 (and v1alpha1) for whoami; v1 came in 1.28.
	reviews := map[string]runtime.Object{
		"v1":       &authenticationv1.SelfSubjectReview{},
		"v1beta1":  &authenticationv1beta1.SelfSubjectReview{},
		"v1alpha1": &authenticationv1alpha1.SelfSubjectReview{},
	}
	for _, v := range []string{"v1", "v1beta1", "v1alpha1"} {
		out = append(out, APIService{
			GroupVersion: schema.GroupVersion{Group: "authentication.k8s.io", Version: v},
			Resources: []metav1.APIResource{
				{Name: "selfsubjectreviews", Kind: "SelfSubjectReview", Verbs: create},
			},
			Types:   []runtime.Object{reviews[v]},
			Handler: selfSubjectReview(v),
		})
	}
	return append(out,
		APIService{
			GroupVersion: schema.GroupVersion{Group: "authorization.k8s.io", Version: "v1"},
			Resources: []metav1.APIResource{
				{Name: "selfsubjectaccessreviews", Kind: "SelfSubjectAccessReview", Verbs: create},
				{Name: "selfsubjectrulesreviews", Kind: "SelfSubjectRulesReview", Verbs: create},
			},
			Types:   []runtime.Object{&authorizationv1.SelfSubjectAccessReview{}, &authorizationv1.SelfSubjectRulesReview{}},
			Handler: http.HandlerFunc(serveAccessReview),
		})
}

// userOf is who sent r: a node by its certificate, else the admin token's
// user (authentication has already passed).
func userOf(r *http.Request) authenticationv1.UserInfo {
	if r.TLS != nil && len(r.TLS.VerifiedChains) > 0 && len(r.TLS.VerifiedChains[0]) > 0 {
		cert := r.TLS.VerifiedChains[0][0]
		return authenticationv1.UserInfo{
			Username: cert.Subject.CommonName,
			Groups:   append(append([]string{}, cert.Subject.Organization...), "system:authenticated"),
		}
	}
	return authenticationv1.UserInfo{Username: adminUser, Groups: []string{"system:masters", "system:authenticated"}}
}

// readReview decodes a review's body into obj after checking the method
// and the path's last element.
func readReview(w http.ResponseWriter, r *http.Request, resource string, obj runtime.Object) bool {
	if !checkReviewRequest(w, r, resource) {
		return false
	}
	body, err := readBody(r)
	if err != nil {
		wire.WriteStatus(w, err)
		return false
	}
	// JSON, YAML or protobuf, as clients send them.
	if _, _, err := reviewCodecs.UniversalDeserializer().Decode(body, nil, obj); err != nil {
		wire.WriteStatus(w, apierrors.NewBadRequest(fmt.Sprintf("decode %s: %v", resource, err)))
		return false
	}
	return true
}

// checkReviewRequest answers 404 or 405 unless r creates resource.
func checkReviewRequest(w http.ResponseWriter, r *http.Request, resource string) bool {
	if !strings.HasSuffix(strings.TrimSuffix(r.URL.Path, "/"), "/"+resource) {
		wire.WriteStatus(w, wire.NotFoundPath())
		return false
	}
	if r.Method != http.MethodPost {
		wire.WriteStatus(w, methodNotAllowed())
		return false
	}
	return true
}

// reviewCodecs decode the review kinds, which the store never holds.
var reviewCodecs = func() serializer.CodecFactory {
	s := runtime.NewScheme()
	utilruntime.Must(authenticationv1.AddToScheme(s))
	utilruntime.Must(authorizationv1.AddToScheme(s))
	return serializer.NewCodecFactory(s)
}()

// selfSubjectReview answers whoami in the given version; the review has no
// spec, and its status is the same in every version.
func selfSubjectReview(version string) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var rev authenticationv1.SelfSubjectReview
		if version == "v1" && !readReview(w, r, "selfsubjectreviews", &rev) {
			return
		}
		if version != "v1" && !checkReviewRequest(w, r, "selfsubjectreviews") {
			return
		}
		rev.TypeMeta = metav1.TypeMeta{APIVersion: "authentication.k8s.io/" + version, Kind: "SelfSubjectReview"}
		rev.Status.UserInfo = userOf(r)
		wire.WriteJSON(w, http.StatusCreated, &rev)
	})
}

func serveAccessReview(w http.ResponseWriter, r *http.Request) {
	path := strings.TrimSuffix(r.URL.Path, "/")
	switch {
	case strings.HasSuffix(path, "/selfsubjectaccessreviews"):
		var rev authorizationv1.SelfSubjectAccessReview
		if !readReview(w, r, "selfsubjectaccessreviews", &rev) {
			return
		}
		if (rev.Spec.ResourceAttributes == nil) == (rev.Spec.NonResourceAttributes == nil) {
			wire.WriteStatus(w, apierrors.NewInvalid(schema.GroupKind{Group: "authorization.k8s.io", Kind: "SelfSubjectAccessReview"}, "",
				fieldErrors("spec.resourceAttributes", rev.Spec.NonResourceAttributes, "exactly one of nonResourceAttributes or resourceAttributes must be specified")))
			return
		}
		rev.TypeMeta = metav1.TypeMeta{APIVersion: "authorization.k8s.io/v1", Kind: "SelfSubjectAccessReview"}
		rev.Status = authorizationv1.SubjectAccessReviewStatus{Allowed: true, Reason: allowedReason}
		wire.WriteJSON(w, http.StatusCreated, &rev)
	case strings.HasSuffix(path, "/selfsubjectrulesreviews"):
		var rev authorizationv1.SelfSubjectRulesReview
		if !readReview(w, r, "selfsubjectrulesreviews", &rev) {
			return
		}
		rev.TypeMeta = metav1.TypeMeta{APIVersion: "authorization.k8s.io/v1", Kind: "SelfSubjectRulesReview"}
		all := []string{"*"}
		rev.Status = authorizationv1.SubjectRulesReviewStatus{
			ResourceRules:    []authorizationv1.ResourceRule{{Verbs: all, APIGroups: all, Resources: all}},
			NonResourceRules: []authorizationv1.NonResourceRule{{Verbs: all, NonResourceURLs: all}},
		}
		wire.WriteJSON(w, http.StatusCreated, &rev)
	default:
		wire.WriteStatus(w, wire.NotFoundPath())
	}
}
