# SPDX-License-Identifier: BSD-2-Clause OR GPL-2.0
"""test_unwind.py - end-to-end tests of .eh_frame unwinding in BPF: binaries without frame
pointers (a -O2 -fomit-frame-pointer workload, Debian's python3.11) get whole stacks, leaf to root."""

import os
import shutil
import subprocess
import sys
import tempfile

sys.dont_write_bytecode = True  # keep the work tree clean
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from ember_e2e import (Recording, by_comm, contains_run, parse_folded, parse_summary, run_suite,  # noqa: E402
                       start_workload, total, user_frames)

CHAIN = ["nofp_outer", "nofp_middle", "nofp_leaf"]
MAIN_ROOT = ["_start", "__libc_start_main", "__libc_start_call_main", "main"]
THREAD_ROOTS = ("__clone3", "clone3", "__clone", "clone")
PYTHON = "/usr/bin/python3.11"
PY_LOOP = """
import time
def leaf(n):
    s = 0
    for i in range(n):
        s += i * i
    return s
def middle(n):
    return leaf(n)
t = time.time()
while time.time() - t < 3:
    middle(1000)
"""

TESTS = ["nofp_chain_complete", "nofp_thread_reaches_clone", "unwind_counters",
         "fp_mode_still_works", "python_reaches_root"]
TMP = tempfile.mkdtemp(prefix="ember-unwind-")
runs = {}


def base(frame):
    """A frame name without symbol versions (__libc_start_main@@GLIBC_2.34)."""
    return frame.split("@")[0]


def record(name, args, cmd):
    """Records while running cmd (a list) to completion; keeps the parsed result in runs[name]."""
    if name in runs:
        return runs[name]
    out = os.path.join(TMP, name + ".folded")
    rec = Recording(args + ["-o", out], out)
    try:
        rec.wait_ready()
        if cmd[0].startswith("/"):
            p = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        else:
            p = start_workload(*cmd)
        p.communicate(timeout=60)
        assert p.returncode == 0, f"{cmd[0]} exited with {p.returncode}"
        assert rec.proc.poll() is None, "ember stopped before the workload did"
        rc, _, err = rec.result(timeout=60)
        assert rc == 0, f"ember exited with {rc}: {err.strip()[-300:]}"
        runs[name] = {"stacks": parse_folded(rec.folded), "summary": parse_summary(err)}
    finally:
        rec.kill()
    return runs[name]


def nofp_run(mode):
    return record("nofp_" + mode, ["--unwind", mode, "-d", "6"], ["nofp_chain", "3"])


def t_nofp_chain_complete():
    mine = by_comm(nofp_run("auto")["stacks"], "nofp_chain")
    n = total(mine)
    assert n >= 100, f"only {n} nofp_chain samples for 2 threads x 3 s x 99 Hz"
    good = sum(c for f, c in mine
               if [base(x) for x in user_frames(f)][-3:] == CHAIN
               and ([base(x) for x in user_frames(f)][:5] == MAIN_ROOT + ["nofp_outer"]
                    or user_frames(f)[0] in THREAD_ROOTS))
    assert good >= 0.95 * n, f"{good}/{n} samples have root..{';'.join(CHAIN)} (want 95%)"


def t_nofp_thread_reaches_clone():
    mine = by_comm(nofp_run("auto")["stacks"], "nofp_chain")
    thread = sum(c for f, c in mine if user_frames(f) and user_frames(f)[0] in THREAD_ROOTS
                 and contains_run(user_frames(f), ["start_thread"] + CHAIN))
    assert thread >= 0.4 * total(mine), f"only {thread}/{total(mine)} samples from the thread end at clone3"


def t_unwind_counters():
    s = nofp_run("auto")["summary"]
    walks, root = int(s.get("unwind_walks", 0)), int(s.get("unwind_reached_root", 0))
    assert walks > 0 and root >= 0.9 * walks, f"unwind_walks={walks} unwind_reached_root={root}"
    assert int(s.get("unwind_tables", 0)) > 0 and int(s.get("unwind_table_bytes", 0)) > 0, \
        "summary does not report loaded tables"


def t_fp_mode_still_works():
    run = nofp_run("fp")
    mine = by_comm(run["stacks"], "nofp_chain")
    assert total(mine) >= 100, f"--unwind fp lost samples: {total(mine)}"
    assert int(run["summary"].get("unwind_walks", -1)) == 0, "--unwind fp still walked tables"
    good = sum(c for f, c in mine if [base(x) for x in user_frames(f)][-3:] == CHAIN)
    print(f"# --unwind fp: {good}/{total(mine)} nofp_chain samples show the whole chain", flush=True)


def t_python_reaches_root():
    if not os.path.exists(PYTHON):
        raise AssertionError(f"{PYTHON} missing (make deps installs python3)")
    script = os.path.join(TMP, "loop.py")
    with open(script, "w") as f:
        f.write(PY_LOOP)
    mine = by_comm(record("python", ["-d", "5"], [PYTHON, script])["stacks"], "python3.11")
    n = total(mine)
    assert n >= 100, f"only {n} python3.11 samples"
    # the eval loop's frame, or the Python frames that take its place
    root = sum(c for f, c in mine if user_frames(f) and user_frames(f)[0] == "_start"
               and ("_PyEval_EvalFrameDefault" in f or any(x.endswith("_[py]") for x in f)))
    assert root >= 0.95 * n, f"{root}/{n} python3.11 stacks reach _start through the interpreter"


def main():
    run_suite(TESTS, globals(), (), TMP)


if __name__ == "__main__":
    main()
