#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-2-Clause OR GPL-2.0
# bench/web_bench.sh - how long the web API takes to answer over a day of a
# busy host, against the same answers over 10 minutes (the baseline).
#
# Uses `web_gen busy` (tests/web/gen.c: 24 h ending at 2023-11-14T22:13:20Z,
# 200 processes, 20,000 stacks, ~4.1M sample rows as the rollups leave
# them, with the sums store/sums.c keeps), cached in .output/bench/ until
# tests/web/gen.c or the store's sources change.  Starts
# `ember serve` on a free loopback port, times each endpoint with curl
# (best of RUNS) and prints "name value unit" lines.
set -u

cd "$(dirname "$0")/.." || exit 1

RUNS=${RUNS:-3}
DB=.output/bench/web_busy.db
T0=1700000000	# web_gen's end of data, Unix seconds
DAY_FROM=$((T0 - 86400))
TEN_FROM=$((T0 - 600))

die() { echo "web_bench: $*" >&2; exit 1; }

make --no-print-directory -s .output/ember .output/web_gen >/dev/null || die "build failed"
mkdir -p .output/bench
# Keyed by the generator's and the store's sources (a new schema needs a
# new file); a relinked web_gen alone writes the same store.
KEY=$(cat tests/web/gen.c store/*.c store/*.h | sha1sum | cut -d' ' -f1)
if [ ! -s "$DB" ] || [ "$(cat "$DB.key" 2>/dev/null)" != "$KEY" ]; then
	rm -f "$DB" "$DB-wal" "$DB-shm" "$DB.key"
	start=$(date +%s.%N)
	.output/web_gen busy "$DB" || die "web_gen failed"
	echo "$KEY" >"$DB.key"
	echo "web_gen_busy_s $(echo "$(date +%s.%N) - $start" | bc) s"
fi
echo "web_store_rows $(sqlite3 "$DB" 'SELECT count(*) FROM samples') rows"
echo "web_store_bytes $(stat -c %s "$DB") bytes"

# A free port: bind 0, read it back, release it.
PORT=$(/usr/bin/python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
.output/ember serve --db "$DB" --listen "127.0.0.1:$PORT" >/dev/null 2>.output/bench/serve.stderr &
SERVER=$!
trap 'kill $SERVER 2>/dev/null; wait $SERVER 2>/dev/null' EXIT
for _ in $(seq 50); do
	kill -0 "$SERVER" 2>/dev/null || die "ember serve exited: $(tail -1 .output/bench/serve.stderr)"
	curl -sf -o /dev/null "http://127.0.0.1:$PORT/" && break
	sleep 0.1
done

# best_time PATH: the fastest of RUNS requests, in seconds; fails on a non-200.
best_time() {
	local best="" t i code
	for i in $(seq "$RUNS"); do
		read -r code t < <(curl -s -o /dev/null -w '%{http_code} %{time_total}\n' \
			"http://127.0.0.1:$PORT$1")
		[ "$code" = 200 ] || die "$1: HTTP $code"
		if [ -z "$best" ] || [ "$(echo "$t < $best" | bc)" = 1 ]; then
			best=$t
		fi
	done
	echo "$best"
}

for ep in flamegraph timeline processes; do
	day=$(best_time "/api/$ep?from=$DAY_FROM&to=$T0") || exit 1
	ten=$(best_time "/api/$ep?from=$TEN_FROM&to=$T0") || exit 1
	echo "web_${ep}_24h_s $day s"
	echo "web_${ep}_10m_s $ten s"
	echo "web_${ep}_24h_vs_10m $(echo "scale=1; $day / $ten" | bc) x"
done
