#!/usr/bin/env bash
# Installs what shoal's tests need when it is missing. Safe to run twice.
set -euo pipefail
cd "$(dirname "$0")/.."

if ! command -v go >/dev/null 2>&1 && [ -x /usr/local/go/bin/go ]; then
	export PATH=$PATH:/usr/local/go/bin
fi
go mod download

# kubectl is optional: the e2e tests that drive it skip when it is absent.
if ! command -v kubectl >/dev/null 2>&1; then
	echo "deps: kubectl not found; the kubectl e2e steps will be skipped" >&2
fi
