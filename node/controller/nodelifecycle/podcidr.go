package nodelifecycle

import (
	"fmt"
	"net"
)

// nextPodCIDR returns the lowest /24 of cluster that no node has, given the
// pod CIDRs already taken.
func nextPodCIDR(cluster string, taken map[string]bool) (string, error) {
	_, ipnet, err := net.ParseCIDR(cluster)
	if err != nil {
		return "", fmt.Errorf("cluster CIDR %q: %w", cluster, err)
	}
	ones, bits := ipnet.Mask.Size()
	if bits != 32 || ones > 24 {
		return "", fmt.Errorf("cluster CIDR %q: must be IPv4 and at least a /24", cluster)
	}
	base := ipnet.IP.To4()
	count := 1 << (24 - ones)
	for i := 0; i < count; i++ {
		ip := net.IPv4(base[0], base[1]+byte(i>>8), base[2]+byte(i), 0)
		cidr := fmt.Sprintf("%s/24", ip)
		if !taken[cidr] {
			return cidr, nil
		}
	}
	return "", fmt.Errorf("cluster CIDR %s has no free /24 left", cluster)
}

// takenPodCIDRs lists the pod CIDRs the cached nodes hold; the caller has
// waited for the cache to hold the nodes this controller made.
func (c *Controller) takenPodCIDRs() map[string]bool {
	taken := map[string]bool{}
	nodes, _ := c.followers()
	for _, n := range nodes.List() {
		if n.Spec.PodCIDR != "" {
			taken[n.Spec.PodCIDR] = true
		}
	}
	return taken
}
