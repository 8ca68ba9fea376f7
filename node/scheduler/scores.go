package scheduler

import "math/rand/v2"

// maxNodeScore is what one score plugin gives its favourite node.
const maxNodeScore = 100

// Score weights, as in kube-scheduler's default profile (where spreading
// is PodTopologySpread's, weight 2).
const (
	weightLeastAllocated = 1
	weightBalanced       = 1
	weightSpread         = 2
)

// leastAllocated favours nodes with the most room left once p is there:
// the mean over cpu and memory of the free fraction, 0..100.
func leastAllocated(p *podInfo, n *nodeState) int64 {
	return (freeScore(n.nonzero.cpu+p.nonzero.cpu, n.alloc.cpu) + freeScore(n.nonzero.mem+p.nonzero.mem, n.alloc.mem)) / 2
}

func freeScore(requested, capacity int64) int64 {
	if capacity <= 0 || requested > capacity {
		return 0
	}
	return (capacity - requested) * maxNodeScore / capacity
}

// balanced favours nodes whose cpu and memory would be used in the same
// proportion: 100 * (1 - standard deviation of the two fractions).
func balanced(p *podInfo, n *nodeState) int64 {
	cpu := fraction(n.nonzero.cpu+p.nonzero.cpu, n.alloc.cpu)
	mem := fraction(n.nonzero.mem+p.nonzero.mem, n.alloc.mem)
	d := cpu - mem
	if d < 0 {
		d = -d
	}
	return int64((1 - d/2) * maxNodeScore)
}

func fraction(requested, capacity int64) float64 {
	if capacity <= 0 || requested >= capacity {
		return 1
	}
	return float64(requested) / float64(capacity)
}

// spread favours nodes running fewer pods of p's controller:
// 100 * (max - count) / max over the feasible nodes (kube-scheduler's
// SelectorSpread). Pods without a controller score the same everywhere.
func spread(p *podInfo, n *nodeState, maxCount int32) int64 {
	if p.owner == "" || maxCount == 0 {
		return maxNodeScore
	}
	return int64(maxCount-n.ownerPods(p.owner)) * maxNodeScore / int64(maxCount)
}

// score is the weighted sum of the scores of p on n.
func score(p *podInfo, n *nodeState, maxCount int32) int64 {
	return weightLeastAllocated*leastAllocated(p, n) + weightBalanced*balanced(p, n) + weightSpread*spread(p, n, maxCount)
}

// selectHost picks the best scoring of the feasible nodes; ties go to one
// of them at random (reservoir sampling, as kube-scheduler does).
func selectHost(p *podInfo, feasible []*nodeState, rnd *rand.Rand) *nodeState {
	var maxCount int32
	if p.owner != "" {
		for _, n := range feasible {
			maxCount = max(maxCount, n.ownerPods(p.owner))
		}
	}
	var (
		best      *nodeState
		bestScore int64 = -1
		ties      int
	)
	for _, n := range feasible {
		sc := score(p, n, maxCount)
		switch {
		case sc > bestScore:
			best, bestScore, ties = n, sc, 1
		case sc == bestScore:
			ties++
			if rnd.IntN(ties) == 0 {
				best = n
			}
		}
	}
	return best
}

// numFeasibleNodesToFind is how many feasible nodes a pod's search stops
// at: all of them in small clusters, an adaptive share (50% minus 1% per
// 125 nodes, at least 5%, at least 100 nodes) in large ones, as
// kube-scheduler's percentageOfNodesToScore; pct > 0 overrides the share.
func numFeasibleNodesToFind(all, pct int) int {
	const minFeasible = 100
	if all < minFeasible || pct >= 100 {
		return all
	}
	if pct <= 0 {
		pct = max(50-all/125, 5)
	}
	return max(all*pct/100, minFeasible)
}
