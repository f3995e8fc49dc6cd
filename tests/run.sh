#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-2-Clause OR GPL-2.0
# tests/run.sh - runs the unit tests, every tests/e2e/test_*.py and tests/pkg/test_*.py, echoes their PASS/FAIL/SKIP lines and prints "N passed, N failed".
#
# Each test program prints one line per test: "PASS name", "FAIL name: why"
# or "SKIP name: why".  A program that crashes, times out or exits non-zero
# counts as one more failure, so a broken test cannot pass silently.
set -u

cd "$(dirname "$0")/.." || exit 1

PYTHON=${PYTHON:-/usr/bin/python3}
TEST_TIMEOUT=${TEST_TIMEOUT:-900}
passed=0
failed=0
skipped=0
log=$(mktemp)
trap 'rm -f "$log"' EXIT

# run_prog LABEL CMD... : runs one test program, streaming its output, then tallies it.
run_prog() {
	local label=$1 rc t0=$SECONDS
	shift
	echo "# $label"
	timeout --kill-after=10 "$TEST_TIMEOUT" "$@" 2>&1 | tee "$log"
	rc=${PIPESTATUS[0]}
	echo "# $label took $((SECONDS - t0)) s"
	local p f s
	p=$(grep -c '^PASS ' "$log")
	f=$(grep -c '^FAIL ' "$log")
	s=$(grep -c '^SKIP ' "$log")
	passed=$((passed + p))
	failed=$((failed + f))
	skipped=$((skipped + s))
	if [ "$rc" -eq 124 ] || [ "$rc" -eq 137 ]; then
		echo "FAIL $label: timed out after ${TEST_TIMEOUT}s"
		failed=$((failed + 1))
	elif [ "$rc" -ne 0 ] && [ "$f" -eq 0 ]; then
		# Test programs exit 1 when a test failed; anything else (or a
		# non-zero exit with no FAIL line) means the program itself broke.
		echo "FAIL $label: exited with status $rc"
		failed=$((failed + 1))
	elif [ "$rc" -ne 0 ] && [ "$rc" -ne 1 ]; then
		echo "FAIL $label: exited with status $rc"
		failed=$((failed + 1))
	elif [ $((p + f + s)) -eq 0 ]; then
		echo "FAIL $label: ran no test"
		failed=$((failed + 1))
	fi
}

run_prog layering "$PYTHON" tests/layering.py

if [ -x .output/unit_tests ]; then
	run_prog unit_tests .output/unit_tests .output/fixtures
else
	echo "FAIL unit_tests: .output/unit_tests not built (run make test)"
	failed=$((failed + 1))
fi

if [ -x .output/store_tests ]; then
	store_dir=$(mktemp -d)
	run_prog store_tests .output/store_tests "$store_dir"
	rm -rf "$store_dir"
else
	echo "FAIL store_tests: .output/store_tests not built (run make test)"
	failed=$((failed + 1))
fi

if [ -x .output/unwind_tests ]; then
	run_prog unwind_tests .output/unwind_tests
else
	echo "FAIL unwind_tests: .output/unwind_tests not built (run make test)"
	failed=$((failed + 1))
fi

# The fuzz targets (tests/fuzz/): FUZZ_TEST_SECONDS (15) split between
# fuzz_elf and fuzz_unwind; `make fuzz` runs them longer.
fuzz_s=${FUZZ_TEST_SECONDS:-15}
run_prog fuzz bash tests/fuzz/run.sh $((fuzz_s / 2)) $((fuzz_s - fuzz_s / 2))

if [ ! -x "$PYTHON" ]; then
	echo "FAIL e2e: $PYTHON not found"
	failed=$((failed + 1))
else
	for t in tests/e2e/test_*.py; do
		[ -e "$t" ] || continue
		run_prog "$(basename "$t" .py)" "$PYTHON" "$t"
	done
fi

# The Debian package and the unit's capabilities (tests/pkg/): make deb,
# lintian, dpkg -i/-r/--purge, apt install, and the agent as the user ember
# with exactly the unit's capabilities.
for t in tests/pkg/test_*.py; do
	[ -e "$t" ] || continue
	run_prog "pkg_$(basename "$t" .py)" "$PYTHON" "$t"
done

# Web API and viewer (tests/web/): make test builds web_gen and installs
# chromium and playwright-core; in CI a missing piece is a failure.
if [ -x .output/web_gen ]; then
	run_prog web_api "$PYTHON" tests/web/test_api.py
else
	echo "FAIL web_api: .output/web_gen not built (run make test)"
	failed=$((failed + 1))
fi
if command -v node >/dev/null && [ -x /usr/bin/chromium ] &&
	[ -d tests/web/node_modules/playwright-core ]; then
	run_prog web_browser node tests/web/test_browser.js
elif [ "${CI:-}" = true ]; then
	echo "FAIL web_browser: node, /usr/bin/chromium or playwright-core missing (run make test)"
	failed=$((failed + 1))
else
	echo "SKIP web_browser: node, /usr/bin/chromium or playwright-core missing (run make test)"
	skipped=$((skipped + 1))
fi

# Fleet push (tests/push/): the reference receiver is first checked against
# independent clients (Grafana's Node SDK, connect-node, curl), then the
# agent pushes to it.  make test installs node and the npm packages.
if command -v node >/dev/null && [ -d tests/push/node_modules/@connectrpc/connect-node ]; then
	run_prog push_calibrate node tests/push/calibrate.mjs
	run_prog push "$PYTHON" tests/push/test_push.py
else
	echo "FAIL push: node or tests/push/node_modules missing (run make test)"
	failed=$((failed + 1))
fi

# Kernel matrix (tests/vm/): ember inside qemu on Debian's 5.10, 6.1 and
# 6.12 kernels; without qemu or the kernel images it SKIPs (FAILs in CI).
run_prog vm_kernels "$PYTHON" tests/vm/test_kernels.py

if [ "$skipped" -gt 0 ]; then
	echo "$passed passed, $failed failed, $skipped skipped"
else
	echo "$passed passed, $failed failed"
fi
[ "$failed" -eq 0 ]
