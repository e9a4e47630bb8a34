#!/bin/sh
# SPDX-License-Identifier: MIT
# Build the box's Kubernetes control plane (tools/kube) into OUT, showing
# progress: a cold build compiles ~2,000 packages for minutes.
#   tools/kube/build.sh OUT
set -eu
out=$(realpath -m "$1")
cd "$(dirname "$0")"
PATH=$PATH:/usr/local/go/bin
if ! command -v go >/dev/null 2>&1; then
	echo "kube: no Go toolchain (install Go >= 1.24 or put it in /usr/local/go)" >&2
	exit 1
fi
# go.sum is complete: a clean clone never rewrites it.
export GOFLAGS="${GOFLAGS:+$GOFLAGS }-mod=readonly"
total=$(go list -deps . | wc -l)
start=$(date +%s)
log=$out.log
mkdir -p "$(dirname "$out")"
# go build -v names each package as it compiles it; count them.
go build -v -trimpath -o "$out.tmp" . 2>"$log" &
pid=$!
while kill -0 $pid 2>/dev/null; do
	sleep 10
	kill -0 $pid 2>/dev/null || break
	printf '  %-8s kube: %d/%d packages, %ds\n' GO \
		"$(grep -vc '^#' "$log" || true)" "$total" $(($(date +%s) - start))
done
if ! wait $pid; then
	grep -v '^[a-zA-Z0-9._/-]*$' "$log" >&2 || cat "$log" >&2
	exit 1
fi
mv "$out.tmp" "$out"
printf '  %-8s kube: built in %ds (%s)\n' GO $(($(date +%s) - start)) \
	"$(go list -m -f '{{.Version}}' k8s.io/kubernetes)"
