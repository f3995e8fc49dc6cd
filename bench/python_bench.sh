#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-2-Clause OR GPL-2.0
# python_bench.sh - BPF cost of walking CPython frames: ns per sample of a python3.11 process
# whose hot loop runs 20 Python frames deep, with Python unwinding and, as the baseline in the
# same run, with --no-python (native table walk only).  Prints `name value unit` lines.
set -eu
cd "$(dirname "$0")/.."
EMBER=.output/ember
PYTHON=/usr/bin/python3.11
SECS=${PYTHON_BENCH_SECONDS:-6}

if [ ! -x "$PYTHON" ]; then
	echo "# $PYTHON missing: no python bench"
	exit 0
fi
tmp=$(mktemp -d)
py=
cleanup() {
	[ -n "$py" ] && kill "$py" 2>/dev/null
	rm -rf "$tmp"
}
trap cleanup EXIT

cat >"$tmp/deep.py" <<'PY'
def down(n):
    if n > 1:
        return down(n - 1)
    s = 0
    while True:
        for i in range(1000):
            s += i
down(19)  # with <module>: 20 Python frames
PY
"$PYTHON" "$tmp/deep.py" &
py=$!
sleep 1

# bpf_ns_per_sample and the python sample count from ember's summary, for $py only.
# Every CPU's samples run the program; those of other processes stop at the pid filter,
# the same in both runs.
cost() {
	local out=$tmp/err
	"$EMBER" record --bpf-stats -p "$py" -F 999 -d "$SECS" -o /dev/null "$@" 2>"$out"
	echo "$(grep -o 'bpf_ns_per_sample=[0-9]*' "$out" | cut -d= -f2)" \
		"$(grep -o ' samples=[0-9]*' "$out" | head -1 | cut -d= -f2)" \
		"$(grep -o 'python_frames=[0-9]*' "$out" | cut -d= -f2)"
}

read -r off n_off _ <<<"$(cost --no-python)"
read -r on n_on frames <<<"$(cost)"
echo "# python3.11, 20 Python frames deep, ${SECS} s at 999 Hz: $n_on samples, $frames Python frames walked"
echo "bpf_ns_per_sample_python20_native $off ns"
echo "bpf_ns_per_sample_python20_walk $on ns"
awk -v a="$on" -v b="$off" 'BEGIN { if (b > 0) printf "python_walk_cost %.3f ratio\n", a / b }'
awk -v f="$frames" -v n="$n_on" 'BEGIN { if (n > 0) printf "python_frames_per_sample %.1f frames\n", f / n }'
