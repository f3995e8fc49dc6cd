# SPDX-License-Identifier: BSD-2-Clause OR GPL-2.0
"""test_unwind_slots.py - end-to-end tests of the unwind-table slots over time: more distinct
executables than --unwind-files allows still get tables once the earlier ones are gone, and a
binary rewritten in place (same inode) gets a new table instead of the old one's rows."""

import os
import shutil
import subprocess
import sys
import tempfile
import time

sys.dont_write_bytecode = True  # keep the work tree clean
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from ember_e2e import (Recording, by_comm, parse_folded, parse_summary, run_suite, total,  # noqa: E402
                       user_frames, workload)

CHAIN = ["nofp_outer", "nofp_middle", "nofp_leaf"]
MAIN_ROOT = ["_start", "__libc_start_main", "__libc_start_call_main", "main", "nofp_outer"]
THREAD_ROOTS = ("__clone3", "clone3", "__clone", "clone")
COPIES_OVER = 48    # distinct executables run beyond the live files on the host
LATE = 12           # the last copies, which must unwind through tables
TESTS = ["slots_reused", "rebuilt_in_place"]
TMP = tempfile.mkdtemp(prefix="ember-slots-")


def base(frame):
    return frame.split("@")[0]


def whole(frames):
    """True when a nofp_chain stack runs from its root (main or clone) to the leaf."""
    u = [base(x) for x in user_frames(frames)]
    return u[-3:] == CHAIN and (u[:5] == MAIN_ROOT or (u and u[0] in THREAD_ROOTS))


def live_files():
    """Distinct executable files mapped by processes now: an upper bound on the slots live
    processes can hold in ember (it loads tables only for processes it samples)."""
    files = set()
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            with open(f"/proc/{pid}/maps") as f:
                for line in f:
                    parts = line.split()
                    if len(parts) >= 6 and "x" in parts[1] and parts[5].startswith("/"):
                        files.add((parts[3], parts[4]))
        except OSError:
            pass
    return len(files)


def run_copy(path, seconds):
    p = subprocess.run([path, str(seconds)], capture_output=True, text=True, timeout=60)
    assert p.returncode == 0, f"{path} exited with {p.returncode}"


def run_copies(paths, seconds, at_once=4):
    """Runs @paths, @at_once at a time, each to completion."""
    for i in range(0, len(paths), at_once):
        procs = [subprocess.Popen([p, str(seconds)], stdout=subprocess.DEVNULL)
                 for p in paths[i:i + at_once]]
        for path, p in zip(paths[i:i + at_once], procs):
            assert p.wait(timeout=60) == 0, f"{path} exited with {p.returncode}"


def t_slots_reused():
    # room for everything running now plus a margin (the 8 copies running at once among
    # them), then more distinct binaries than that
    slots = max(8, live_files() + 24)
    n = slots - 24 + COPIES_OVER
    src = workload("nofp_chain")
    copies = []
    for i in range(n):
        path = os.path.join(TMP, f"slot{i:03d}")
        shutil.copy(src, path)     # a new inode each
        copies.append(path)
    out = os.path.join(TMP, "slots.folded")
    rec = Recording(["--unwind-files", str(slots), "-d", "600", "-o", out], out)
    try:
        rec.wait_ready()
        # the early ones only need to be sampled once to take a slot
        run_copies(copies[:-LATE], 0.05, at_once=8)
        run_copies(copies[-LATE:], 0.4)
        stopped = rec.proc.poll() is not None
        rec.stop()
        rc, _, err = rec.result(timeout=60)
        assert not stopped, f"ember stopped (exit {rc}) before the workloads did: {err.strip()[-600:]}"
        assert rc == 0, f"ember exited with {rc}: {err.strip()[-300:]}"
    finally:
        rec.kill()
    s = parse_summary(err)
    stacks = parse_folded(rec.folded)
    print(f"# {n} distinct binaries, --unwind-files {slots}: unwind_tables_evicted="
          f"{s.get('unwind_tables_evicted')} unwind_tables_no_room={s.get('unwind_tables_no_room')}",
          flush=True)
    assert int(s.get("unwind_tables_evicted", 0)) > 0, \
        f"{n} binaries never filled {slots} slots (unwind_tables_evicted=0): the test proves nothing"
    good = n_all = 0
    for path in copies[-LATE:]:
        mine = by_comm(stacks, os.path.basename(path))
        ok = sum(c for f, c in mine if whole(f))
        assert total(mine) >= 10, f"{os.path.basename(path)}: only {total(mine)} samples"
        assert ok >= 0.5 * total(mine), \
            f"{os.path.basename(path)} (late): {ok}/{total(mine)} samples unwound root..leaf"
        good += ok
        n_all += total(mine)
    assert good >= 0.85 * n_all, f"late binaries: {good}/{n_all} samples unwound root..leaf (want 85%)"


def t_rebuilt_in_place():
    path = os.path.join(TMP, "rebuilt")
    again = os.path.join(TMP, "rebuilt2")   # a symlink: the same file under another comm
    shutil.copy(workload("nofp_chain"), path)
    os.symlink(path, again)
    ino = os.stat(path).st_ino
    out = os.path.join(TMP, "rebuilt.folded")
    rec = Recording(["-d", "600", "-o", out], out)
    try:
        rec.wait_ready()
        run_copy(path, 1.0)
        time.sleep(0.5)
        # the same inode, other contents: `cat new > old`, as a build writing in place does
        with open(workload("nofp_shifted"), "rb") as src, open(path, "r+b") as dst:
            data = src.read()
            dst.truncate(0)
            dst.write(data)
        assert os.stat(path).st_ino == ino, "the rewrite did not keep the inode"
        run_copy(again, 1.5)
        assert rec.proc.poll() is None, "ember stopped before the workloads did"
        rec.stop()
        rc, _, err = rec.result(timeout=60)
        assert rc == 0, f"ember exited with {rc}: {err.strip()[-300:]}"
    finally:
        rec.kill()
    stacks = parse_folded(rec.folded)
    first, second = by_comm(stacks, "rebuilt"), by_comm(stacks, "rebuilt2")
    ok1 = sum(c for f, c in first if whole(f))
    ok2 = sum(c for f, c in second if whole(f))
    print(f"# before the rewrite {ok1}/{total(first)}, after {ok2}/{total(second)} samples whole",
          flush=True)
    assert total(first) >= 50 and ok1 >= 0.8 * total(first), \
        f"the original binary: {ok1}/{total(first)} samples unwound root..leaf"
    assert total(second) >= 50, f"the rewritten binary: only {total(second)} samples"
    assert ok2 >= 0.8 * total(second), \
        f"the rewritten binary: {ok2}/{total(second)} samples unwound root..leaf (want 80%; a stale table?)"


if __name__ == "__main__":
    run_suite(TESTS, globals(), tmp=TMP)
