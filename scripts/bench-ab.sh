#!/bin/bash
# bench-ab.sh BEFORE_DIR AFTER_DIR [ROUNDS]: the benchmarks of the follow
# layer (docs/benchmarks.md), before and after, back to back and
# alternating, from test binaries built first so that no build runs
# between measurements. BEFORE_DIR and AFTER_DIR are checkouts (git
# worktrees) of the two commits.
set -eu
before=${1:?usage: bench-ab.sh BEFORE_DIR AFTER_DIR [ROUNDS]}
after=${2:?usage: bench-ab.sh BEFORE_DIR AFTER_DIR [ROUNDS]}
rounds=${3:-3}
bin=$(mktemp -d)
trap 'rm -rf "$bin"' EXIT

# rsdir is where the ReplicaSet benchmark lives in a checkout (it moved
# when node/controller was split by kind).
rsdir() { if [ -d "$1/node/controller/replicaset" ]; then echo "$1/node/controller/replicaset"; else echo "$1/node/controller"; fi; }

for side in before after; do
	dir=$before; [ "$side" = after ] && dir=$after
	(cd "$dir" &&
		go test -c -o "$bin/$side-svc.test" ./node/servicesync/ &&
		go test -c -o "$bin/$side-sched.test" ./node/scheduler/ &&
		go test -c -o "$bin/$side-rs.test" "$(rsdir "$dir")" &&
		go test -c -o "$bin/$side-node.test" ./node/)
done
for i in $(seq "$rounds"); do
	for side in before after; do
		dir=$before; [ "$side" = after ] && dir=$after
		echo "== round $i $side"
		(cd "$dir/node/servicesync" && "$bin/$side-svc.test" -test.run '^$' -test.bench ResolverFromStore -test.benchtime 3s) | grep '^Benchmark' || true
		(cd "$dir/node/scheduler" && "$bin/$side-sched.test" -test.run '^$' -test.bench 'Schedule1000Nodes/binding-idle128' -test.benchtime 3x) | grep '^Benchmark'
		(cd "$(rsdir "$dir")" && "$bin/$side-rs.test" -test.run '^$' -test.bench ScaleTo1000 -test.benchtime 1x) | grep '^Benchmark'
		(cd "$dir/node" && "$bin/$side-node.test" -test.run '^$' -test.bench ScaleDeployment0To1000 -test.benchtime 1x 2>/dev/null) | grep '^Benchmark'
	done
done
