#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-2-Clause OR GPL-2.0
# tests/fuzz/run.sh ELF_SECONDS UNWIND_SECONDS - runs the libFuzzer targets
# (fuzz_elf, fuzz_unwind) for that long each, on their seeds plus the corpus
# kept in .output/fuzz/corpus_NAME, and prints one "PASS name" or
# "FAIL name: why" line per target; the fuzzer's own output goes to
# .output/fuzz/NAME.log, a crashing input to .output/fuzz/crash-*.
set -u
cd "$(dirname "$0")/../.." || exit 1
dir=.output/fuzz
rc=0

# fuzz NAME SECONDS SEEDS
fuzz() {
	local name=$1 secs=$2 seeds=$3 log=$dir/$1.log status runs
	mkdir -p "$dir/corpus_$name"
	if [ ! -x "$dir/$name" ] || [ ! -d "$seeds" ]; then
		echo "FAIL $name: $dir/$name or $seeds not built (run make test or make fuzz)"
		rc=1
		return
	fi
	LSAN_OPTIONS=suppressions=tests/fuzz/lsan.supp "$dir/$name" -max_total_time="$secs" \
		-max_len=65536 -timeout=10 -rss_limit_mb=2048 -artifact_prefix="$dir/" \
		-print_final_stats=1 "$dir/corpus_$name" "$seeds" >"$log" 2>&1
	status=$?
	runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log")
	if [ "$status" -eq 0 ]; then
		echo "PASS $name ($secs s, ${runs:-?} inputs)"
	else
		echo "FAIL $name: fuzzer exited $status: $(grep -m1 -E 'ERROR|deadly signal|Timeout|runtime error' "$log")"
		tail -n 40 "$log"
		rc=1
	fi
}

fuzz fuzz_elf "${1:-15}" "$dir/seeds"
fuzz fuzz_unwind "${2:-15}" "$dir/seeds_unwind"
exit "$rc"
