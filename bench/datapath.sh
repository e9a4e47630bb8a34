#!/bin/sh
# SPDX-License-Identifier: MIT
# Datapath benchmarks: tc ns/packet and connect() latency (see bench/datapath.c).
# usage: bench/datapath.sh [RESULTS.jsonl]
set -eu
cd "$(dirname "$0")/.."
make -s build/bench_datapath
exec build/bench_datapath "$@"
