# SPDX-License-Identifier: BSD-2-Clause OR GPL-2.0
"""test_unwind_slots.py - end-to-end test of unwind-table identity: a binary rewritten in place
(same inode) gets a new table instead of the old one's rows.  (Slots freed and retried loads
are covered by the unit test unwinder_retry_backoff_and_slots over real BPF maps.)"""

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
TESTS = ["rebuilt_in_place"]
TMP = tempfile.mkdtemp(prefix="ember-slots-")


def base(frame):
    return frame.split("@")[0]


def whole(frames):
    """True when a nofp_chain stack runs from its root (main or clone) to the leaf."""
    u = [base(x) for x in user_frames(frames)]
    return u[-3:] == CHAIN and (u[:5] == MAIN_ROOT or (u and u[0] in THREAD_ROOTS))


def run_copy(path, seconds):
    p = subprocess.run([path, str(seconds)], capture_output=True, text=True, timeout=60)
    assert p.returncode == 0, f"{path} exited with {p.returncode}"


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
