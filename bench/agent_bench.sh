#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-2-Clause OR GPL-2.0
# bench/agent_bench.sh - `ember agent` under process churn (RSS, store growth) and `ember export` speed on 24 h of data; prints "name value unit" lines.
#
# 1. Runs `ember agent --window 2` for CHURN_SECONDS (default 120) while a loop
#    spawns ~CHURN_RATE (default 50) short processes per second: /bin/true,
#    stack_churn (a few ms of CPU under seed-dependent 6-21 frame stacks),
#    python3 and perl one-liners.
#    Reports VmRSS at the start and at the end, and the store's growth per hour.
#    AGENT_ARGS adds agent flags (e.g. "--unwind fp").  AGENT_BENCH_EXPORT=0
#    stops after this part.
# 2. bench/gen_store.c writes 24 h of synthetic 10 s windows (200 stacks of
#    15-30 frames over 20 processes per window) through the store API and rolls
#    them up with the default policy; then times `ember export` of the whole
#    24 h against the last 10 minutes (median of EXPORT_RUNS runs, default 3).
set -eu

cd "$(dirname "$0")/.."

EMBER=${EMBER:-.output/ember}
PYTHON=${PYTHON:-/usr/bin/python3}
CHURN_SECONDS=${CHURN_SECONDS:-120}
CHURN_RATE=${CHURN_RATE:-50}
EXPORT_RUNS=${EXPORT_RUNS:-3}
GEN_HOURS=${GEN_HOURS:-24}
OUT=.output/bench
CHURN=.output/workloads/stack_churn
mkdir -p "$OUT"

[ -x "$EMBER" ] || { echo "agent_bench: $EMBER not built (run make)" >&2; exit 1; }
[ "$(id -u)" -eq 0 ] || { echo "agent_bench: must run as root (BPF)" >&2; exit 1; }
[ -x "$CHURN" ] || make --no-print-directory "$CHURN" >/dev/null

agent_pid= load_pid=
cleanup() {
	[ -n "$load_pid" ] && kill "$load_pid" 2>/dev/null && wait "$load_pid" 2>/dev/null
	[ -n "$agent_pid" ] && kill -INT "$agent_pid" 2>/dev/null && wait "$agent_pid" 2>/dev/null
	rm -f "$OUT"/agent.db "$OUT"/agent.db-wal "$OUT"/agent.db-shm "$OUT"/gen.db "$OUT"/gen.db-wal \
		"$OUT"/gen.db-shm "$OUT"/export.out
}
trap cleanup EXIT

median() {
	sort -g | awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'
}

rss_kb() {
	awk '/^VmRSS:/ { print $2 }' "/proc/$1/status"
}

# utime + stime of a process, in clock ticks.
cpu_ticks() {
	awk '{ print $14 + $15 }' "/proc/$1/stat"
}

# Logical size of a store in bytes, WAL content included (what a reader sees).
store_bytes() {
	"$PYTHON" -c 'import sqlite3, sys
c = sqlite3.connect("file:" + sys.argv[1] + "?mode=ro", uri=True, timeout=10)
print(c.execute("PRAGMA page_count").fetchone()[0] * c.execute("PRAGMA page_size").fetchone()[0])' "$1"
}

# Waits until the agent has logged N window lines.
wait_windows() {
	local i
	for i in $(seq 300); do
		kill -0 "$agent_pid" 2>/dev/null || { echo "agent_bench: ember agent exited early" >&2; exit 1; }
		[ "$(grep -c 'info: window:' "$OUT/agent.stderr" || true)" -ge "$1" ] && return
		sleep 0.1
	done
	echo "agent_bench: the agent logged no window in 30 s" >&2
	exit 1
}

# ---- 1. agent under process churn ----------------------------------------------
rm -f "$OUT"/agent.db*
"$EMBER" agent --db "$OUT/agent.db" --window 2 --listen 127.0.0.1:0 ${AGENT_ARGS:-} 2>"$OUT/agent.stderr" &
agent_pid=$!
wait_windows 1
rss0=$(rss_kb "$agent_pid")
bytes0=$(store_bytes "$OUT/agent.db")
cpu0=$(cpu_ticks "$agent_pid")

# Every 0.1 s: CHURN_RATE/10 processes. Of every 8: three /bin/true, three
# stack_churn (2 ms under a seed-dependent stack), then one python3 and one
# perl, so the symbolizer sees interpreters with large symbol tables too.
per_tick=$(( (CHURN_RATE + 5) / 10 ))
CHURN_N=$per_tick CHURN_BIN=$CHURN PY=$PYTHON bash -c '
	i=0
	while :; do
		for j in $(seq "$CHURN_N"); do
			case $((i % 8)) in
			0|2|4) /bin/true & ;;
			6) "$PY" -c "import json; json.dumps(list(range($i % 5000)))" & ;;
			7) perl -e "my \$s = 0; \$s += \$_ for 1..($i % 20000); print STDERR q()" & ;;
			*) "$CHURN_BIN" $i 2 & ;;
			esac
			i=$((i + 1))
		done
		sleep 0.1
		wait
		echo $i >"'"$OUT"'/churn.count"
	done' &
load_pid=$!
t0=$(date +%s.%N)
# RSS every RSS_EVERY s (default 30) as comments, to tell warm-up from a leak
rss_line="# agent_rss_timeline_MB 0s:$(awk -v k="$rss0" 'BEGIN { printf "%.1f", k / 1024 }')"
# the first CPU_WARMUP s (default 10) pay once for what every later
# process finds ready (DWARF opened, libc's inflated, tables built)
warm=$(( ${CPU_WARMUP:-10} < CHURN_SECONDS ? ${CPU_WARMUP:-10} : 0 ))
sleep "$warm"
cpuw=$(cpu_ticks "$agent_pid")
tw=$(date +%s.%N)
left=$((CHURN_SECONDS - warm))
while [ "$left" -gt 0 ]; do
	step=$(( left < ${RSS_EVERY:-30} ? left : ${RSS_EVERY:-30} ))
	sleep "$step"
	left=$((left - step))
	rss_line="$rss_line $((CHURN_SECONDS - left))s:$(awk -v k="$(rss_kb "$agent_pid")" 'BEGIN { printf "%.1f", k / 1024 }')"
done
kill "$load_pid" 2>/dev/null || true
wait "$load_pid" 2>/dev/null || true
load_pid=
t1=$(date +%s.%N)
spawned=$(cat "$OUT/churn.count" 2>/dev/null || echo 0)
rss1=$(rss_kb "$agent_pid")
hwm1=$(awk '/^VmHWM:/ { print $2 }' "/proc/$agent_pid/status")
anon1=$(awk '/^RssAnon:/ { print $2 }' "/proc/$agent_pid/status")
file1=$(awk '/^RssFile:/ { print $2 }' "/proc/$agent_pid/status")
cpu1=$(cpu_ticks "$agent_pid")
kill -INT "$agent_pid"
rc=0
wait "$agent_pid" || rc=$?
agent_pid=
[ "$rc" -eq 0 ] || { echo "agent_bench: ember agent exited with $rc" >&2; tail -3 "$OUT/agent.stderr" >&2; exit 1; }
bytes1=$(store_bytes "$OUT/agent.db")
nwin=$(grep -c 'info: window:' "$OUT/agent.stderr" || true)
lost=$(grep -o ' lost=[0-9]*' "$OUT/agent.stderr" | awk -F= '{ s += $2 } END { print s + 0 }')
failures=$(grep -o ' bpf_failures=[0-9]*' "$OUT/agent.stderr" | awk -F= '{ s += $2 } END { print s + 0 }')

echo "# agent --window 2 for ${CHURN_SECONDS}s (CHURN_SECONDS), ~${CHURN_RATE} processes/s (CHURN_RATE), $(nproc) CPUs"
awk -v n="$spawned" -v a="$t0" -v b="$t1" 'BEGIN { printf "churn_rate %.1f procs/s\n", n / (b - a) }'
echo "agent_windows $nwin windows"
echo "agent_lost_samples $lost samples"
echo "agent_bpf_failures $failures events"
echo "# (lost: samples BPF could not count; failures: walks cut short, stacks or events not kept; by kind on /metrics)"
awk -v c="$((cpu1 - cpu0))" -v hz="$(getconf CLK_TCK)" -v a="$t0" -v b="$t1" \
	'BEGIN { printf "agent_cpu_percent_of_one_core %.2f percent\n", 100 * c / hz / (b - a) }'
awk -v c="$((cpu1 - cpuw))" -v hz="$(getconf CLK_TCK)" -v a="$tw" -v b="$t1" \
	'BEGIN { printf "agent_cpu_steady_percent_of_one_core %.2f percent\n", 100 * c / hz / (b - a) }'
echo "# (steady: after the first ${warm}s of churn (CPU_WARMUP), which pay once for DWARF opened and tables built)"
awk -v k="$rss0" 'BEGIN { printf "agent_rss_start %.1f MB\n", k / 1024 }'
awk -v k="$rss1" 'BEGIN { printf "agent_rss_after_churn %.1f MB\n", k / 1024 }'
awk -v a="$anon1" -v f="$file1" 'BEGIN { printf "# (after churn: %.1f MB anonymous, %.1f MB file-backed)\n", a / 1024, f / 1024 }'
awk -v k="$hwm1" 'BEGIN { printf "agent_rss_peak %.1f MB\n", k / 1024 }'
echo "# (peak: VmHWM over the whole run, start-up included; --memory-limit is checked every 20 ms while draining and after each window)"
echo "$rss_line"
awk -v a="$bytes0" -v b="$bytes1" -v s0="$t0" -v s1="$t1" \
	'BEGIN { printf "store_bytes_per_hour %.1f MB\n", (b - a) / 1048576 / ((s1 - s0) / 3600) }'
echo "# (raw 2 s windows; the agent rolls windows older than 1 h up to 1 min, so a long-running store grows slower)"

# The same store as the rollups leave it after a day (10 min windows; short-lived
# processes merged by comm and executable), unused rows collected and the file
# vacuumed: what each day of this churn costs once rolled up.  Extrapolated
# linearly from CHURN_SECONDS, which overstates it (a merged process is stored
# once per 10 min bucket however many times it ran).
cc -O2 -Wall -Istore -Iutil store/*.c util/log.c bench/rollup_store.c -lsqlite3 -lpthread -o "$OUT/rollup_store"
cp "$OUT/agent.db" "$OUT/rolled.db"
rows0=$(sqlite3 "$OUT/rolled.db" 'SELECT count(*) FROM samples')
procs0=$(sqlite3 "$OUT/rolled.db" 'SELECT count(*) FROM procs')
"$OUT/rollup_store" "$OUT/rolled.db"
sqlite3 "$OUT/rolled.db" "DELETE FROM procs WHERE id NOT IN (SELECT proc FROM samples);
DELETE FROM strings WHERE id NOT IN (SELECT name FROM frames UNION ALL SELECT module FROM frames
 UNION ALL SELECT file FROM frames UNION ALL SELECT build_id FROM frames UNION ALL SELECT comm FROM procs
 UNION ALL SELECT exe FROM procs UNION ALL SELECT cgroup FROM procs); VACUUM;"
echo "rolled_sample_rows $rows0 -> $(sqlite3 "$OUT/rolled.db" 'SELECT count(*) FROM samples') rows"
echo "rolled_processes $procs0 -> $(sqlite3 "$OUT/rolled.db" 'SELECT count(*) FROM procs') processes"
awk -v b="$(stat -c %s "$OUT/rolled.db")" -v s0="$t0" -v s1="$t1" \
	'BEGIN { printf "store_bytes_per_day_rolled_up %.1f MB\n", b / 1048576 / ((s1 - s0) / 86400) }'
rm -f "$OUT/rolled.db"

[ "${AGENT_BENCH_EXPORT:-1}" = 0 ] && exit 0

# ---- 2. export of 24 h vs 10 min -------------------------------------------------
cc -O2 -Wall -Istore -Iutil store/*.c util/log.c bench/gen_store.c -lsqlite3 -lpthread -o "$OUT/gen_store"
rm -f "$OUT"/gen.db*
gen=$("$OUT/gen_store" "$OUT/gen.db" "$GEN_HOURS" 10 200 20)
echo "# gen_store: ${GEN_HOURS} h of 10 s windows, 200 stacks x 20 processes, default rollup"
echo "$gen"
awk -v b="$(stat -c %s "$OUT/gen.db")" 'BEGIN { printf "gen_store_size %.1f MB\n", b / 1048576 }'

time_export() {
	local s e
	s=$(date +%s.%N)
	"$EMBER" export --db "$OUT/gen.db" --from "$1" --to now -o "$OUT/export.out" \
		|| { echo "agent_bench: export --from $1 failed" >&2; exit 1; }
	e=$(date +%s.%N)
	awk -v a="$s" -v b="$e" 'BEGIN { printf "%.4f\n", b - a }'
}

t24=() t10=()
for r in $(seq "$EXPORT_RUNS"); do
	t24+=("$(time_export "-$((GEN_HOURS + 1))h")")
	t10+=("$(time_export -10m)")
done
a=$(printf '%s\n' "${t24[@]}" | median)
b=$(printf '%s\n' "${t10[@]}" | median)
echo "export_24h_s $a s"
echo "export_10m_s $b s"
awk -v a="$a" -v b="$b" 'BEGIN { printf "export_24h_vs_10m %.1f ratio\n", a / b }'
