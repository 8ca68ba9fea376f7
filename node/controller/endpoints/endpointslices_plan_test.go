package endpoints

import (
	"fmt"
	"testing"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
)

// TestPlanSlices: what a pass writes for existing slices that are not
// simply the last pass's: duplicates a pass on a stale cache made, the
// single slice older versions wrote, a slice over the cap, changed ports,
// a Service without endpoints.
func TestPlanSlices(t *testing.T) {
	svc := &corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: "default", UID: "uid-web"}}
	node := "node-a"
	subsets := func(n int, port int32) []corev1.EndpointSubset {
		if n == 0 {
			return nil
		}
		s := corev1.EndpointSubset{Ports: []corev1.EndpointPort{{Name: "http", Port: port, Protocol: corev1.ProtocolTCP}}}
		for i := range n {
			s.Addresses = append(s.Addresses, corev1.EndpointAddress{IP: podIP(i), NodeName: &node,
				TargetRef: &corev1.ObjectReference{Kind: "Pod", Namespace: "default", Name: fmt.Sprintf("web-%04d", i)}})
		}
		return []corev1.EndpointSubset{s}
	}
	// slice is a slice of svc as this controller writes it, holding the
	// endpoints [from, to) of subsets(to, port).
	slice := func(name string, from, to int, port int32) *discoveryv1.EndpointSlice {
		s := newSlice(svc, []discoveryv1.EndpointPort{})
		s.Name, s.UID = name, types.UID("uid-"+name)
		if to > 0 {
			m := slicePortMappings(subsets(to, port))[fmt.Sprintf("http/TCP/%d,", port)]
			s.Ports, s.Endpoints = m.ports, m.endpoints[from:to]
		}
		return s
	}
	legacy := slice("web", 0, 250, 8080)
	legacy.OwnerReferences = nil
	for _, tc := range []struct {
		name                   string
		subsets                []corev1.EndpointSubset
		existing               []*discoveryv1.EndpointSlice
		create, update, remove int
		removed                string
	}{
		{"unchanged", subsets(250, 8080), []*discoveryv1.EndpointSlice{slice("a", 0, 100, 8080), slice("b", 100, 200, 8080), slice("c", 200, 250, 8080)}, 0, 0, 0, ""},
		{"a stale pass's duplicate", subsets(250, 8080), []*discoveryv1.EndpointSlice{slice("a", 0, 100, 8080), slice("b", 100, 200, 8080), slice("c", 200, 250, 8080), slice("d", 0, 100, 8080)}, 0, 0, 1, "d"},
		{"the single slice of older versions", subsets(250, 8080), []*discoveryv1.EndpointSlice{legacy}, 3, 0, 1, "web"},
		{"over the cap", subsets(150, 8080), []*discoveryv1.EndpointSlice{slice("a", 0, 150, 8080)}, 1, 1, 0, ""},
		{"ports changed", subsets(150, 9090), []*discoveryv1.EndpointSlice{slice("a", 0, 100, 8080), slice("b", 100, 150, 8080)}, 0, 2, 0, ""},
		{"no endpoints: a placeholder", nil, nil, 1, 0, 0, ""},
		{"no endpoints left: the placeholder kept", nil, []*discoveryv1.EndpointSlice{slice("p", 0, 0, 0)}, 0, 0, 0, ""},
		{"no endpoints left: emptied", nil, []*discoveryv1.EndpointSlice{slice("a", 0, 100, 8080), slice("b", 100, 150, 8080)}, 0, 1, 1, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := planSlices(svc, tc.subsets, tc.existing)
			if len(p.create) != tc.create || len(p.update) != tc.update || len(p.remove) != tc.remove {
				t.Fatalf("%d creates, %d updates, %d deletes; want %d, %d, %d", len(p.create), len(p.update), len(p.remove), tc.create, tc.update, tc.remove)
			}
			if tc.removed != "" && p.remove[0].Name != tc.removed {
				t.Fatalf("deletes %s, want %s", p.remove[0].Name, tc.removed)
			}
			// What the slices hold after the plan: every endpoint once,
			// at most 100 a slice.
			after := map[string]*discoveryv1.EndpointSlice{}
			for _, s := range tc.existing {
				after[s.Name] = s
			}
			for _, s := range p.remove {
				delete(after, s.Name)
			}
			for _, s := range p.update {
				after[s.Name] = s
			}
			for i, s := range p.create {
				after[fmt.Sprint("new-", i)] = s
			}
			seen := map[string]bool{}
			for name, s := range after {
				if len(s.Endpoints) > maxEndpointsPerSlice || !ownedBy(s, svc) {
					t.Fatalf("slice %s: %d endpoints, owners %v", name, len(s.Endpoints), s.OwnerReferences)
				}
				for _, ep := range s.Endpoints {
					if seen[ep.Addresses[0]] {
						t.Fatalf("%s twice", ep.Addresses[0])
					}
					seen[ep.Addresses[0]] = true
				}
			}
			want := 0
			for _, s := range tc.subsets {
				want += len(s.Addresses)
			}
			if len(seen) != want {
				t.Fatalf("slices hold %d endpoints, want %d", len(seen), want)
			}
		})
	}
}
