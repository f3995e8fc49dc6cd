#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-2-Clause OR GPL-2.0
# bench/bpf_cost.sh - ember's BPF time per sample as a ratio to a minimal two-stack program
# (bench/stack_baseline.bpf.c: a kernel and a user stack id, one hash update), both sampling
# the same job at the same time, for kernel-only, frame-pointer and .eh_frame table walks
# at user stack depths 5, 10 and 20.  Prints "name value unit" lines.
#
# Both programs run side by side on the same perf events' schedule for SECS seconds, while
# depth_spin keeps both CPUs busy DEPTH calls below main; ember's cost is the delta of its
# program's run_time_ns / run_cnt over exactly the baseline's run.
set -eu

cd "$(dirname "$0")/.."

EMBER=${EMBER:-.output/ember}
PYTHON=${PYTHON:-/usr/bin/python3}
OUT=.output/bench
HZ=${BPF_COST_HZ:-999}
SECS=${BPF_COST_SECS:-5}

old_stats=$(sysctl -n kernel.bpf_stats_enabled)
pids=()
cleanup() {
	for p in "${pids[@]}"; do kill -INT "$p" 2>/dev/null && wait "$p" 2>/dev/null; done
	sysctl -q -w kernel.bpf_stats_enabled="$old_stats" >/dev/null || true
}
trap cleanup EXIT
sysctl -q -w kernel.bpf_stats_enabled=1

# ns_cnt PID: "run_time_ns run_cnt" of ember's do_sample in PID
ns_cnt() { "$PYTHON" bench/prog_stats.py do_sample "$1"; }

measure() {
	local name=$1 depth=$2 flags=$3 spin ember out i ns0 cnt0 ns1 cnt1 bns bcnt
	"$OUT/depth_spin" "$depth" $((SECS + 30)) &
	spin=$!
	# shellcheck disable=SC2086 # flags are several words
	"$EMBER" record -F "$HZ" $flags -o /dev/null 2>"$OUT/bpf_cost.err" &
	ember=$!
	pids=("$spin" "$ember")
	for i in $(seq 150); do
		ns_cnt "$ember" >/dev/null 2>&1 && break
		kill -0 "$ember" 2>/dev/null || { echo "bench: ember exited: $(tail -1 "$OUT/bpf_cost.err")" >&2; exit 1; }
		sleep 0.1
	done
	sleep 3	# tables built, caches warm
	read -r ns0 cnt0 < <(ns_cnt "$ember")
	out=$("$OUT/stack_baseline" "$HZ" "$SECS")
	read -r ns1 cnt1 < <(ns_cnt "$ember")
	kill -INT "$ember" "$spin" 2>/dev/null
	wait "$ember" 2>/dev/null || true
	wait "$spin" 2>/dev/null || true
	pids=()
	bns=$(echo "$out" | sed -n 's/.*run_time_ns=\([0-9]*\).*/\1/p')
	bcnt=$(echo "$out" | sed -n 's/.*run_cnt=\([0-9]*\).*/\1/p')
	awk -v n="$name" -v d="$depth" -v en=$((ns1 - ns0)) -v ec=$((cnt1 - cnt0)) -v bn="$bns" -v bc="$bcnt" \
		'BEGIN {
			if (ec <= 0 || bc <= 0) { printf "# %s depth %d: no samples\n", n, d; exit }
			e = en / ec; b = bn / bc
			printf "# %s depth %d: ember %.0f ns/sample (%d runs), baseline %.0f ns/sample (%d runs)\n", n, d, e, ec, b, bc
			printf "bpf_cost_%s_depth%d %.2f ratio\n", n, d, e / b
		}'
}

echo "# BPF time per sample vs a two-stack baseline, ${HZ} Hz, ${SECS} s side by side, $(nproc) CPUs"
# BPF_COST_DEPTHS and BPF_COST_MODES pick a part (e.g. "10" and "dwarf") for a quick look
for depth in ${BPF_COST_DEPTHS:-5 10 20}; do
	for mode in ${BPF_COST_MODES:-kernel_only fp dwarf}; do
		case $mode in
		kernel_only) measure kernel_only "$depth" "--kernel-only" ;;
		fp) measure fp "$depth" "--unwind fp" ;;
		dwarf) measure dwarf "$depth" "--unwind auto" ;;
		esac
	done
done
