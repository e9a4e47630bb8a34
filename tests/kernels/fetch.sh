#!/bin/bash
# SPDX-License-Identifier: MIT
# Fetches one Debian kernel package once and caches its vmlinuz and modules
# under build/kernels/NAME/. Uses the Debian mirror that apt already uses,
# with a private sources list and apt state, so the system's apt is untouched.
#
# usage: tests/kernels/fetch.sh NAME SUITE     e.g. 5.10 bullseye
# prints the cache directory; exit 77 (with the reason) if it cannot be had.
set -eu
name=$1 suite=$2
top=$(cd "$(dirname "$0")/../.." && pwd)
cache=$top/build/kernels/$name
if [ -f "$cache/ok" ]; then
	echo "$cache"
	exit 0
fi

skip() { echo "kernel $name ($suite): $*" >&2; exit 77; }

mirror=$(sed -n 's/^URIs: *\(http[^ ]*\/debian\)\/*$/\1/p' /etc/apt/sources.list.d/*.sources \
	2>/dev/null | head -1)
[ -n "$mirror" ] || mirror=$(awk '$1 == "deb" && $2 ~ /\/debian\/?$/ { print $2; exit }' \
	/etc/apt/sources.list 2>/dev/null)
[ -n "$mirror" ] || skip "no Debian mirror in apt's sources to fetch it from"

apt=$top/build/kernels/apt-$suite
mkdir -p "$apt/lists/partial" "$apt/archives/partial" "$apt/etc/parts"
echo "deb [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] $mirror $suite main" \
	>"$apt/etc/sources.list"
opts=(-o Dir::Etc::SourceList="$apt/etc/sources.list" -o Dir::Etc::SourceParts=/dev/null
      -o Dir::Etc::Preferences="$apt/etc/preferences" -o Dir::Etc::PreferencesParts="$apt/etc/parts"
      -o Dir::State::Lists="$apt/lists" -o Dir::State::status=/dev/null
      -o Dir::Cache="$apt" -o Dir::Cache::archives="$apt/archives"
      -o APT::Architecture=amd64 -o Debug::NoLocking=1 -qq)
apt-get "${opts[@]}" update >"$apt/update.log" 2>&1 ||
	skip "apt-get update of $suite failed: $(tail -1 "$apt/update.log")"
# The metapackage names the current ABI's image package.
pkg=$(apt-cache "${opts[@]}" show linux-image-amd64 2>/dev/null |
	sed -n 's/^Depends: *\(linux-image-[0-9][^ ,]*-amd64\).*/\1/p' | sort -V | tail -1)
[ -n "$pkg" ] || skip "no linux-image-amd64 in $suite"
(cd "$apt/archives" && apt-get "${opts[@]}" download "$pkg" >"$apt/download.log" 2>&1) ||
	skip "apt-get download $pkg failed: $(tail -1 "$apt/download.log")"
rm -rf "$cache.tmp"
mkdir -p "$cache.tmp"
dpkg-deb -x "$apt/archives/$pkg"_*.deb "$cache.tmp/root"
vmlinuz=$(ls "$cache.tmp"/root/boot/vmlinuz-* | head -1)
[ -n "$vmlinuz" ] || skip "$pkg has no /boot/vmlinuz"
# virtme-ng finds the modules by walking up from the image to lib/modules.
ln "$vmlinuz" "$cache.tmp/vmlinuz"
basename "$vmlinuz" | sed 's/^vmlinuz-//' >"$cache.tmp/release"
echo "$pkg" >"$cache.tmp/package"
touch "$cache.tmp/ok"
rm -rf "$cache"
mv "$cache.tmp" "$cache"
rm -f "$apt/archives/$pkg"_*.deb
echo "$cache"
