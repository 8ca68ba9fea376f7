package registry

import (
	"testing"

	coordinationv1 "k8s.io/api/coordination/v1"
	"k8s.io/utils/ptr"
)

func TestValidateLease(t *testing.T) {
	for _, tc := range []struct {
		name string
		spec coordinationv1.LeaseSpec
		want string // "" for valid
	}{
		{"a node's heartbeat", coordinationv1.LeaseSpec{HolderIdentity: ptr.To("node-a"), LeaseDurationSeconds: ptr.To[int32](40)}, ""},
		{"empty spec", coordinationv1.LeaseSpec{}, ""},
		{"zero duration", coordinationv1.LeaseSpec{LeaseDurationSeconds: ptr.To[int32](0)},
			"spec.leaseDurationSeconds: Invalid value: 0: must be greater than 0"},
		{"negative transitions", coordinationv1.LeaseSpec{LeaseTransitions: ptr.To[int32](-1)},
			"spec.leaseTransitions: Invalid value: -1: must be greater than or equal to 0"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			l := &coordinationv1.Lease{ObjectMeta: meta("node-a"), Spec: tc.spec}
			l.Namespace = "kube-node-lease"
			errs := validateCreate(t, l)
			got := errs.ToAggregate()
			switch {
			case tc.want == "" && got != nil:
				t.Errorf("want valid, got %v", got)
			case tc.want != "" && (got == nil || got.Error() != tc.want):
				t.Errorf("want %q, got %v", tc.want, got)
			}
		})
	}
}
