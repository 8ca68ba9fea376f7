package apiserver

import (
	"testing"

	authenticationv1 "k8s.io/api/authentication/v1"
	authorizationv1 "k8s.io/api/authorization/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// kubectl auth whoami and auth can-i (with --list) get Kubernetes' answers
// for a system:masters user.
func TestSelfReviews(t *testing.T) {
	e := newTestEnv(t)
	who, err := e.cs.AuthenticationV1().SelfSubjectReviews().Create(e.ctx, &authenticationv1.SelfSubjectReview{}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if u := who.Status.UserInfo; u.Username != "admin" || len(u.Groups) != 2 || u.Groups[0] != "system:masters" {
		t.Errorf("whoami: %+v, want admin in system:masters", u)
	}

	can, err := e.cs.AuthorizationV1().SelfSubjectAccessReviews().Create(e.ctx, &authorizationv1.SelfSubjectAccessReview{
		Spec: authorizationv1.SelfSubjectAccessReviewSpec{ResourceAttributes: &authorizationv1.ResourceAttributes{
			Namespace: "default", Verb: "create", Resource: "pods"}},
	}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if !can.Status.Allowed || can.Spec.ResourceAttributes.Resource != "pods" {
		t.Errorf("can-i create pods: %+v", can)
	}

	_, err = e.cs.AuthorizationV1().SelfSubjectAccessReviews().Create(e.ctx, &authorizationv1.SelfSubjectAccessReview{}, metav1.CreateOptions{})
	if !apierrors.IsInvalid(err) || err.Error() != `SelfSubjectAccessReview.authorization.k8s.io "" is invalid: spec.resourceAttributes: Invalid value: null: exactly one of nonResourceAttributes or resourceAttributes must be specified` {
		t.Errorf("review without attributes: %v, want 422 Invalid", err)
	}

	rules, err := e.cs.AuthorizationV1().SelfSubjectRulesReviews().Create(e.ctx, &authorizationv1.SelfSubjectRulesReview{
		Spec: authorizationv1.SelfSubjectRulesReviewSpec{Namespace: "default"}}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if len(rules.Status.ResourceRules) != 1 || rules.Status.ResourceRules[0].Verbs[0] != "*" || len(rules.Status.NonResourceRules) != 1 {
		t.Errorf("can-i --list: %+v", rules.Status)
	}

	// Discovery lists both groups, as kubectl auth needs.
	for _, gv := range []string{"authentication.k8s.io/v1", "authorization.k8s.io/v1"} {
		rl, err := e.cs.Discovery().ServerResourcesForGroupVersion(gv)
		if err != nil || len(rl.APIResources) == 0 {
			t.Errorf("discovery of %s: %v %+v", gv, err, rl)
		}
	}
}
