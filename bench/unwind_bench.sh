#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-2-Clause OR GPL-2.0
# unwind_bench.sh - cost of .eh_frame unwinding: BPF time per sample for table and frame-pointer walks
# at typical depth, table memory per MB of text, table build time for libc and python3.11, and how
# complete stacks are against perf --call-graph dwarf.  Prints `name value unit` lines.
set -eu
cd "$(dirname "$0")/.."
EMBER=.output/ember

# bpf_ns_per_sample from ember's summary while nofp_chain (2 threads, depth ~8) burns CPU.
bpf_cost() {
	local mode=$1 out
	out=$(mktemp)
	"$EMBER" record --bpf-stats --unwind "$mode" -d 6 -o /dev/null 2>"$out" &
	local pid=$!
	sleep 1.5
	.output/workloads/nofp_chain 3 >/dev/null
	wait "$pid"
	grep -o 'bpf_ns_per_sample=[0-9]*' "$out" | cut -d= -f2
	rm -f "$out"
}

echo "bpf_ns_per_sample_dwarf $(bpf_cost auto) ns"
echo "bpf_ns_per_sample_fp $(bpf_cost fp) ns"

# Table sizes and build times, measured by the unwind tests on this machine's libc and python.
.output/unwind_tests 2>&1 | awk '
	/^# bench .*libc.so.6/ { printf "unwind_build_libc %s ms\nunwind_bytes_per_text_mb_libc %d bytes\n", $5, $13 }
	/^# bench .*python3.11/ { printf "unwind_build_python311 %s ms\nunwind_bytes_per_text_mb_python311 %d bytes\n", $5, $13 }'

/usr/bin/python3 bench/unwind_compare.py
