package endpoints

import (
	"fmt"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

func addrs(n int) []corev1.EndpointAddress {
	out := make([]corev1.EndpointAddress, n)
	for i := range out {
		out[i].IP = fmt.Sprintf("10.43.%d.%d", i/200, i%200+1)
	}
	return out
}

// TestCapSubsets: Kubernetes' truncation of Endpoints to 1,000 addresses,
// ready ones first, each subset keeping its share.
func TestCapSubsets(t *testing.T) {
	for _, tc := range []struct {
		name            string
		in              []corev1.EndpointSubset
		ready, notReady []int // per subset, after
		truncated       bool
	}{
		{"at the cap", []corev1.EndpointSubset{{Addresses: addrs(990), NotReadyAddresses: addrs(10)}}, []int{990}, []int{10}, false},
		{"not ready cut first", []corev1.EndpointSubset{{Addresses: addrs(600), NotReadyAddresses: addrs(500)}}, []int{600}, []int{400}, true},
		{"ready over the cap: not ready dropped", []corev1.EndpointSubset{{Addresses: addrs(1001), NotReadyAddresses: addrs(5)}}, []int{1000}, []int{0}, true},
		{"shares by subset", []corev1.EndpointSubset{{Addresses: addrs(900)}, {Addresses: addrs(300)}}, []int{750, 250}, []int{0, 0}, true},
		{"not ready shares", []corev1.EndpointSubset{{Addresses: addrs(400), NotReadyAddresses: addrs(300)}, {NotReadyAddresses: addrs(900)}}, []int{400, 0}, []int{150, 450}, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before := len(tc.in[0].Addresses)
			got, truncated := capSubsets(tc.in)
			if truncated != tc.truncated || len(got) != len(tc.in) {
				t.Fatalf("truncated %v (want %v), %d subsets", truncated, tc.truncated, len(got))
			}
			for i, s := range got {
				if len(s.Addresses) != tc.ready[i] || len(s.NotReadyAddresses) != tc.notReady[i] {
					t.Fatalf("subset %d: %d ready, %d not ready; want %d, %d", i, len(s.Addresses), len(s.NotReadyAddresses), tc.ready[i], tc.notReady[i])
				}
			}
			if len(tc.in[0].Addresses) != before {
				t.Fatal("the subsets given were changed")
			}
		})
	}
}

// TestEndpointsOverCapacity: past 1,000 pods the Endpoints hold 1,000
// addresses and say they are truncated, while the slices hold every pod;
// back under the cap the annotation goes.
func TestEndpointsOverCapacity(t *testing.T) {
	e := newSliceEnv(t)
	ips := map[string]bool{}
	for _, st := range []struct {
		name      string
		change    func()
		addresses int
		truncated bool
		slices    int
	}{{
		name: "1001 ready pods",
		change: func() {
			e.addPods(0, 1001)
			for i := range 1001 {
				ips[podIP(i)] = true
			}
		},
		addresses: 1000, truncated: true, slices: 11,
	}, {
		name: "two pods removed",
		change: func() {
			for _, i := range []int{3, 500} {
				e.deletePod(i)
				delete(ips, podIP(i))
			}
		},
		// Slices are not compacted: the two holes stay.
		addresses: 999, truncated: false, slices: 11,
	}} {
		st.change()
		e.pass()
		ep, err := e.CS.CoreV1().Endpoints("default").Get(e.Ctx, "web", metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		n := 0
		for _, s := range ep.Subsets {
			n += len(s.Addresses) + len(s.NotReadyAddresses)
		}
		v, ok := ep.Annotations["endpoints.kubernetes.io/over-capacity"]
		if n != st.addresses || ok != st.truncated || ok && v != "truncated" {
			t.Fatalf("%s: Endpoints hold %d addresses, annotation %q (%v); want %d, truncated %v", st.name, n, v, ok, st.addresses, st.truncated)
		}
		if got := e.checkSlices(ips); len(got) != st.slices {
			t.Fatalf("%s: %d slices (%v), want %d", st.name, len(got), got, st.slices)
		}
	}
}
