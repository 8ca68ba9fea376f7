package endpoints

import (
	"math"

	corev1 "k8s.io/api/core/v1"
)

// maxEndpointsCapacity is how many addresses Kubernetes' endpoints
// controller writes into one Endpoints object; the rest are only in the
// Service's EndpointSlices.
const maxEndpointsCapacity = 1000

// truncatedAnnotation marks Endpoints that hold only part of the
// addresses (corev1.EndpointsOverCapacity: "truncated").
const truncatedAnnotation = corev1.EndpointsOverCapacity

// capSubsets returns subsets with at most maxEndpointsCapacity addresses
// and whether it dropped any, as Kubernetes' truncateEndpoints does: ready
// addresses before not-ready ones, each subset keeping its share of the
// truncated kind (rounded up, within what is left), the first addresses
// (by IP) of each. subsets itself is not changed.
func capSubsets(subsets []corev1.EndpointSubset) ([]corev1.EndpointSubset, bool) {
	ready, notReady := 0, 0
	for _, s := range subsets {
		ready += len(s.Addresses)
		notReady += len(s.NotReadyAddresses)
	}
	if ready+notReady <= maxEndpointsCapacity {
		return subsets, false
	}
	truncateReady := ready > maxEndpointsCapacity
	limit, total := maxEndpointsCapacity-ready, notReady
	if truncateReady {
		limit, total = maxEndpointsCapacity, ready
	}
	left := limit
	out := make([]corev1.EndpointSubset, len(subsets))
	for i, s := range subsets {
		n := len(s.NotReadyAddresses)
		if truncateReady {
			n = len(s.Addresses)
		}
		share := min(int(math.Ceil(float64(n)/float64(total)*float64(limit))), left)
		if truncateReady {
			s.Addresses = s.Addresses[:min(share, len(s.Addresses))]
			s.NotReadyAddresses = nil
			left -= len(s.Addresses)
		} else {
			s.NotReadyAddresses = s.NotReadyAddresses[:min(share, len(s.NotReadyAddresses))]
			left -= len(s.NotReadyAddresses)
		}
		out[i] = s
	}
	return out, true
}
