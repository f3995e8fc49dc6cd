#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-2-Clause OR GPL-2.0
# bench/run.sh - measures ember's overhead against a no-profiler baseline and perf, printing "name value unit" lines.
#
# A fixed-work job (bench/fixed_work.c) is timed alone, under a whole-system
# `ember record -F 99` and under `perf record -F 99 -a -g`; each timing is the
# median of RUNS runs, interleaved so drift hits every mode alike.  While ember
# runs, kernel.bpf_stats_enabled is on so bpftool reports do_sample's cost.
set -eu

cd "$(dirname "$0")/.."

EMBER=${EMBER:-.output/ember}
PYTHON=${PYTHON:-/usr/bin/python3}
RUNS=${RUNS:-3}
ROUNDS=${ROUNDS:-100}
HZ=99
OUT=.output/bench
mkdir -p "$OUT"

[ -x "$EMBER" ] || { echo "bench: $EMBER not built (run make)" >&2; exit 1; }
[ "$(id -u)" -eq 0 ] || { echo "bench: must run as root (BPF, perf -a)" >&2; exit 1; }

cc -O2 -g -fno-omit-frame-pointer -Wall -Wextra bench/fixed_work.c -o "$OUT/fixed_work"

old_stats=$(sysctl -n kernel.bpf_stats_enabled)
prof_pid=
cleanup() {
	[ -n "$prof_pid" ] && kill -INT "$prof_pid" 2>/dev/null && wait "$prof_pid" 2>/dev/null
	sysctl -q -w kernel.bpf_stats_enabled="$old_stats" >/dev/null || true
	rm -f "$OUT/perf.data" "$OUT/perf.data.old" "$OUT/ember.folded"
}
trap cleanup EXIT

job() {
	local out
	out=$("$OUT/fixed_work" "$ROUNDS") || { echo "bench: fixed_work failed" >&2; exit 1; }
	echo "${out#wall=}" | cut -d' ' -f1
}

median() {
	sort -g | awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'
}

# Waits until the profiler with pid $1 is sampling: for ember, its do_sample
# program is loaded; then one more second for attach and startup work to settle.
wait_ember() {
	local i
	for i in $(seq 150); do
		kill -0 "$1" 2>/dev/null || { echo "bench: ember exited early" >&2; exit 1; }
		"$PYTHON" bench/prog_stats.py do_sample "$1" >/dev/null 2>&1 && { sleep 1; return; }
		sleep 0.1
	done
	echo "bench: ember's do_sample never appeared" >&2
	exit 1
}

# perf re-raises SIGINT after writing its data, so 130 is a clean stop too.
stop_prof() {
	local rc=0
	kill -INT "$prof_pid"
	wait "$prof_pid" || rc=$?
	prof_pid=
	if [ "$rc" -ne 0 ] && [ "$rc" -ne 130 ]; then
		echo "bench: profiler exited with $rc" >&2
		exit 1
	fi
}

base=() ember=() perf=()
bpf_ns=0 bpf_cnt=0
have_perf=1
command -v perf >/dev/null || have_perf=0

job >/dev/null # warm up page cache and CPU frequency

for r in $(seq "$RUNS"); do
	base+=("$(job)")

	sysctl -q -w kernel.bpf_stats_enabled=1 >/dev/null
	"$EMBER" record -F "$HZ" -o "$OUT/ember.folded" 2>"$OUT/ember.stderr" &
	prof_pid=$!
	wait_ember "$prof_pid"
	ember+=("$(job)")
	read -r ns cnt < <("$PYTHON" bench/prog_stats.py do_sample "$prof_pid")
	bpf_ns=$((bpf_ns + ns))
	bpf_cnt=$((bpf_cnt + cnt))
	stop_prof
	sysctl -q -w kernel.bpf_stats_enabled="$old_stats" >/dev/null

	if [ "$have_perf" -eq 1 ]; then
		perf record -q -e cpu-clock -F "$HZ" -a -g -o "$OUT/perf.data" >/dev/null 2>&1 &
		prof_pid=$!
		sleep 1
		kill -0 "$prof_pid" 2>/dev/null || { echo "bench: perf record exited early" >&2; exit 1; }
		perf+=("$(job)")
		stop_prof
	fi
done

b=$(printf '%s\n' "${base[@]}" | median)
e=$(printf '%s\n' "${ember[@]}" | median)
echo "# fixed_work $ROUNDS rounds, median of $RUNS runs, ${HZ} Hz, $(nproc) CPUs"
echo "baseline_time $b s"
echo "ember_time $e s"
awk -v a="$e" -v b="$b" 'BEGIN { printf "ember_slowdown %.4f ratio\n", a / b }'
if [ "$have_perf" -eq 1 ]; then
	p=$(printf '%s\n' "${perf[@]}" | median)
	echo "perf_time $p s"
	awk -v a="$p" -v b="$b" 'BEGIN { printf "perf_slowdown %.4f ratio\n", a / b }'
else
	echo "# perf not installed: no perf_slowdown"
fi
if [ "$bpf_cnt" -gt 0 ]; then
	echo "bpf_runs $bpf_cnt samples"
	awk -v n="$bpf_ns" -v c="$bpf_cnt" 'BEGIN { printf "bpf_ns_per_sample %.0f ns\n", n / c }'
else
	echo "# do_sample never ran: no bpf_ns_per_sample"
fi

# BPF time per sample against a minimal two-stack program, side by side;
# BPF_COST_BENCH=0 skips it.
if [ "${BPF_COST_BENCH:-1}" != 0 ]; then
	bash bench/bpf_cost.sh
fi

# The .eh_frame unwinder: BPF cost, table size and build time, completeness vs perf;
# UNWIND_BENCH=0 skips it.
if [ "${UNWIND_BENCH:-1}" != 0 ]; then
	bash bench/unwind_bench.sh
fi

# CPython frames walked in BPF, against the native walk alone; PYTHON_BENCH=0 skips it.
if [ "${PYTHON_BENCH:-1}" != 0 ]; then
	bash bench/python_bench.sh
fi

# The web API over 24 h of a busy store vs 10 minutes; WEB_BENCH=0 skips it.
if [ "${WEB_BENCH:-1}" != 0 ]; then
	bash bench/web_bench.sh
fi

# The main loop's longest stall on a week-old store at its size cap; STORE_BENCH=0 skips it.
if [ "${STORE_BENCH:-1}" != 0 ]; then
	bash bench/store_bench.sh
fi

# The agent and export benchmarks (RSS under churn, store growth, export speed);
# AGENT_BENCH=0 skips them.
if [ "${AGENT_BENCH:-1}" != 0 ]; then
	cleanup
	trap - EXIT
	bash bench/agent_bench.sh
fi
