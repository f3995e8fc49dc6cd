# SPDX-License-Identifier: BSD-2-Clause OR GPL-2.0
"""test_bad_input.py - `ember record` rejects bad arguments with one clear stderr line, a non-zero exit and no output file."""

import os
import shutil
import subprocess
import sys
import tempfile

sys.dont_write_bytecode = True  # keep the work tree clean
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from ember_e2e import EMBER, Runner  # noqa: E402

# (test name, extra args (None: unwritable -o), required exit status or None for any non-zero, usage error?)
CASES = [
    ("bad_unknown_flag", ["--no-such-flag"], 2, True),
    ("bad_freq_zero", ["-F", "0"], 2, True),
    ("bad_freq_too_high", ["-F", "100000"], 2, True),
    ("bad_freq_not_number", ["-F", "fast"], 2, True),
    ("bad_duration_negative", ["-d", "-1"], 2, True),
    ("bad_duration_not_number", ["-d", "abc"], 2, True),
    ("bad_pid_nonexistent", ["-p", "999999999"], None, False),
    ("bad_pid_not_number", ["-p", "12x"], 2, True),
    ("bad_only_both", ["--kernel-only", "--user-only"], 2, True),
    ("bad_output_unwritable", None, None, False),
]

TMP = tempfile.mkdtemp(prefix="ember-bad-")


def check(name, extra, want_rc, usage):
    out_path = os.path.join(TMP, name + ".folded")
    if extra is None:
        out_path = "/nonexistent/dir/x.folded"
        argv = [EMBER, "record", "-d", "1", "-o", out_path]
    else:
        dur = [] if "-d" in extra else ["-d", "1"]
        argv = [EMBER, "record"] + dur + extra + ["-o", out_path]
    # strace, where present, proves that flag errors never reach bpf().
    strace = shutil.which("strace") if usage and os.geteuid() == 0 else None
    trace = os.path.join(TMP, name + ".strace")
    if strace:
        argv = [strace, "-f", "-qq", "-e", "trace=bpf", "-o", trace] + argv
    try:
        r = subprocess.run(argv, capture_output=True, text=True, errors="replace", timeout=30)
    except subprocess.TimeoutExpired:
        raise AssertionError(f"{' '.join(argv)} did not exit within 30 s")
    cmd = " ".join(argv[argv.index(EMBER):])
    lines = [l for l in r.stderr.split("\n") if l != ""]
    assert r.returncode != 0, f"`{cmd}` exited 0"
    assert r.returncode > 0, f"`{cmd}` died of signal {-r.returncode}"
    if want_rc is not None:
        assert r.returncode == want_rc, f"`{cmd}` exited {r.returncode}, want {want_rc}"
    assert len(lines) == 1, f"`{cmd}` printed {len(lines)} stderr lines, want 1: {r.stderr[:400]!r}"
    assert len(lines[0]) >= 10, f"`{cmd}` error message is too terse: {lines[0]!r}"
    assert r.stdout == "", f"`{cmd}` wrote to stdout: {r.stdout[:200]!r}"
    if out_path:
        assert not os.path.exists(out_path), f"`{cmd}` left {out_path} behind"
    if strace and os.path.exists(trace):
        with open(trace) as f:
            calls = [l for l in f if "bpf(" in l]
        assert not calls, f"`{cmd}` called bpf() {len(calls)} times before rejecting its arguments"


def main():
    runner = Runner()
    if not os.access(EMBER, os.X_OK):
        def not_built():
            raise AssertionError(f"{EMBER} not built (run make)")
        for name, *_ in CASES:
            runner.run(name, not_built)
        runner.exit()
    try:
        for name, extra, want_rc, usage in CASES:
            runner.run(name, check, name, extra, want_rc, usage)
    finally:
        shutil.rmtree(TMP, ignore_errors=True)
    runner.exit()


if __name__ == "__main__":
    main()
