#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-2-Clause OR GPL-2.0
# bench/store_bench.sh - how long the agent's main loop stalls on the store at the size cap
# of a week-old store while retention, rollups and garbage collection run; prints "name value unit" lines.
#
# bench/store_stall.c builds the store (7 days + 2 h as the rollups leave it, STALL_ROWS rows
# per 10 s window, default 300: about 100 MB), caps it at its size and commits STALL_WINDOWS
# (120) windows one every 100 ms, with the housekeeping on the keeper thread as the agent runs
# it.  The baseline is the median commit of the same run.  STALL_SYNC=1 also measures the
# housekeeping on the committing thread itself (as the agent did before the keeper).
set -eu

cd "$(dirname "$0")/.."

OUT=.output/bench
mkdir -p "$OUT"
cc -O2 -Wall -Istore -Iutil store/*.c util/log.c bench/store_stall.c -lsqlite3 -lpthread \
	-o "$OUT/store_stall"
trap 'rm -f "$OUT"/stall.db "$OUT"/stall.db-wal "$OUT"/stall.db-shm' EXIT
modes=keeper
[ "${STALL_SYNC:-0}" = 1 ] && modes="sync keeper"
for m in $modes; do
	"$OUT/store_stall" "$OUT/stall.db" "$m" "${STALL_ROWS:-300}" "${STALL_WINDOWS:-120}" 100
done
