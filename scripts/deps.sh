#!/usr/bin/env bash
# Installs what shoal's tests need when it is missing. Safe to run twice.
# As root it installs Debian's containerd, runc, CNI plugins, nftables,
# iproute2 and busybox-static; without root the tests that need them skip.
set -euo pipefail
cd "$(dirname "$0")/.."

if ! command -v go >/dev/null 2>&1 && [ -x /usr/local/go/bin/go ]; then
	export PATH=$PATH:/usr/local/go/bin
fi
go mod download

need=()
command -v containerd >/dev/null 2>&1 || need+=(containerd)
command -v runc >/dev/null 2>&1 || need+=(runc)
[ -x /usr/lib/cni/bridge ] || [ -x /opt/cni/bin/bridge ] || need+=(containernetworking-plugins)
command -v nft >/dev/null 2>&1 || need+=(nftables)
command -v ip >/dev/null 2>&1 || need+=(iproute2)
command -v nsenter >/dev/null 2>&1 || need+=(util-linux)
dpkg -s busybox-static >/dev/null 2>&1 || [ -x /usr/bin/busybox ] || need+=(busybox-static)
# Load generators of the benchmarks (make bench): dnsd with dnsperf, Services with wrk.
command -v dnsperf >/dev/null 2>&1 || need+=(dnsperf)
command -v wrk >/dev/null 2>&1 || need+=(wrk)

if [ ${#need[@]} -gt 0 ]; then
	if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
		echo "deps: installing ${need[*]}"
		export DEBIAN_FRONTEND=noninteractive
		apt-get update -qq
		apt-get install -y -qq "${need[@]}" >/dev/null
	else
		echo "deps: missing ${need[*]} (run as root to install); the tests that need them will skip" >&2
	fi
fi

# kubectl is optional: the e2e steps that drive it skip when it is absent.
if ! command -v kubectl >/dev/null 2>&1; then
	echo "deps: kubectl not found; the kubectl e2e steps will be skipped" >&2
fi
