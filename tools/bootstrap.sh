#!/bin/sh
# SPDX-License-Identifier: MIT
# Install the Debian packages steer needs to build, test and demo, if missing.
# Shared by `make`, `make check`, `make demo` and .ci/run. qemu, kmod (depmod),
# busybox and python3-venv serve the kernel matrix: tests/kernels/test_matrix
# installs virtme-ng from PyPI into build/vng-venv itself.
set -eu

PKGS="clang llvm make gcc pkg-config libbpf-dev libelf-dev zlib1g-dev
libcurl4-openssl-dev libcjson-dev libyaml-dev linux-libc-dev bpftool
iproute2 iptables jq nginx-light containernetworking-plugins gnuplot-nox
openssl python3 python3-kubernetes prometheus libclang-rt-14-dev util-linux curl
qemu-system-x86 kmod busybox-static python3-venv nftables dnsmasq-base iputils-ping"

missing=""
for p in $PKGS; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" ||
		missing="$missing $p"
done
[ -z "$missing" ] && exit 0

if [ "$(id -u)" != 0 ]; then
	echo "bootstrap: missing Debian packages:$missing" >&2
	echo "bootstrap: run as root, or: apt-get install$missing" >&2
	exit 1
fi
echo "bootstrap: installing$missing"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
# shellcheck disable=SC2086
apt-get install -y -qq --no-install-recommends $missing >/dev/null
