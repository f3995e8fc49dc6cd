# SPDX-License-Identifier: BSD-2-Clause OR GPL-2.0
"""test_fallbacks.py - end-to-end tests of the program variants ember loads on older kernels, run on this kernel.

EMBER_DISABLE_FEATURES makes ember act as if the kernel lacked a feature,
so each fallback (frame-pointer program without bpf_loop, preallocated
unwind maps before 6.1, mappings sent with the first sample before 6.7,
none at all) is loaded into the real kernel and checked with real
workloads.  tests/vm/ proves the same on Debian's own old kernels.
"""

import os
import platform
import subprocess
import sys
import tempfile
import time

sys.dont_write_bytecode = True  # keep the work tree clean
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from ember_e2e import (Recording, by_comm, parse_folded, parse_summary, run_ember,  # noqa: E402
                       run_suite, start_workload, total, user_frames, workload)

TESTS = ["check_describes_kernel", "check_names_disabled", "fp_program", "prealloc_maps",
         "start_maps_find_vma", "no_maps_hook"]
TMP = tempfile.mkdtemp(prefix="ember-e2e-")
FP_CHAIN = ["main", "chain_a", "chain_b", "spin"]
NOFP_CHAIN = ["nofp_outer", "nofp_middle", "nofp_leaf"]
runs = {}


def base(frame):
    return frame.split(" ")[0].removesuffix("_[i]")


def record(name, disabled, short=2, only_workloads=False):
    """3 s of record with cpu_chain and nofp_chain started before, `short` short_lived runs after.

    only_workloads: sample only those two (-p), so the summary's counters are theirs.
    """
    if name in runs:
        return runs[name]
    procs = [start_workload("cpu_chain", 5), start_workload("nofp_chain", 5)]
    time.sleep(0.5)  # past their start-up, so their stacks are whole
    os.environ["EMBER_DISABLE_FEATURES"] = disabled
    out = os.path.join(TMP, name + ".folded")
    try:
        pids = ["-p", ",".join(str(p.pid) for p in procs)] if only_workloads else []
        rec = Recording(["-d", "3", "-o", out] + pids, out)
    finally:
        del os.environ["EMBER_DISABLE_FEATURES"]
    try:
        rec.wait_ready()
        time.sleep(0.5)
        for _ in range(short):
            subprocess.run([workload("short_lived"), "0.1"], check=True, capture_output=True)
        rc, _, err = rec.result(timeout=60)
        assert rc == 0, f"ember exited with {rc}: {err.strip()[-300:]}"
        runs[name] = {"stacks": parse_folded(rec.folded), "summary": parse_summary(err), "stderr": err}
    finally:
        rec.kill()
        for p in procs:
            p.kill()
            p.wait()
    return runs[name]


def share(stacks, comm, pred):
    mine = by_comm(stacks, comm)
    n = total(mine)
    good = sum(c for f, c in mine if pred([base(x) for x in user_frames(f)]))
    return good, n


def check_fp_chain(run):
    good, n = share(run["stacks"], "cpu_chain", lambda u: u[-4:] == FP_CHAIN)
    assert n >= 30, f"only {n} cpu_chain samples in 3 s at 99 Hz"
    assert good >= 0.9 * n, f"{good}/{n} cpu_chain samples have main;chain_a;chain_b;spin (want 90%)"


def short_named(run):
    good, n = share(run["stacks"], "short_lived", lambda u: "short_spin" in u)
    return good, n


def t_check_describes_kernel():
    r = run_ember(["check"])
    assert r.returncode == 0, f"ember check exited {r.returncode}: {r.stderr.strip()[-300:]}"
    assert platform.release() in r.stdout, f"ember check does not name kernel {platform.release()}"
    for name in ["btf", "bpf_loop", "no_prealloc_hash_in_perf_event", "vma_iterator_kfuncs",
                 "sched_process_exit_sees_mm", "bpf_find_vma"]:
        assert f"feature {name} " in r.stdout, f"ember check has no line for {name}"
    assert "privilege CAP_BPF" in r.stdout, "ember check does not list privileges"
    assert "sampling: yes" in r.stdout, f"ember check did not load the program: {r.stdout[-300:]}"


def t_check_names_disabled():
    env = dict(os.environ, EMBER_DISABLE_FEATURES="bpf_loop")
    r = subprocess.run([os.environ.get("EMBER", os.path.join(os.path.dirname(__file__), "..", "..",
                                                              ".output", "ember")), "check"],
                       capture_output=True, text=True, env=env, timeout=60)
    assert r.returncode == 0, f"ember check exited {r.returncode}"
    line = next((l for l in r.stdout.splitlines() if l.startswith("feature bpf_loop ")), "")
    assert " no " in line and "EMBER_DISABLE_FEATURES" in line, f"bpf_loop line: {line!r}"
    assert "user stacks: frame pointers only" in r.stdout, r.stdout[-300:]


def t_fp_program():
    run = record("fp", "bpf_loop")
    assert "table unwinding unavailable" in run["stderr"] and "frame pointers" in run["stderr"], \
        f"no notice about frame pointers: {run['stderr'][-400:]}"
    assert run["summary"]["unwind_walks"] == 0, "tables were walked without bpf_loop"
    check_fp_chain(run)


def t_prealloc_maps():
    run = record("prealloc", "no_prealloc_hash_in_perf_event", short=0, only_workloads=True)
    check_fp_chain(run)
    good, n = share(run["stacks"], "nofp_chain", lambda u: u[-3:] == NOFP_CHAIN)
    s = run["summary"]
    assert s["unwind_walks"] > 0, "no table walks with preallocated maps"
    # until its tables are built (about a second here) a process is walked with frame pointers
    assert s["unwind_reached_root"] >= 0.9 * s["unwind_walks"], \
        f"{s['unwind_reached_root']}/{s['unwind_walks']} table walks reached the root (want 90%)"
    assert good >= 0.5 * n, f"{good}/{n} nofp_chain samples whole with preallocated maps (want 50%)"


def t_start_maps_find_vma():
    run = record("find_vma", "vma_iterator_kfuncs")
    s = run["summary"]
    assert s["exit_maps_sent"] == 0, f"exit_maps_sent={s['exit_maps_sent']} without the VMA iterator"
    assert s["start_maps_sent"] > 0, "no mappings sent with first samples"
    good, n = short_named(run)
    assert n > 0, "no short_lived samples"
    bad = [";".join(f) for f, _ in by_comm(run["stacks"], "short_lived") if "short_spin" not in f]
    assert good >= 0.8 * n, f"{good}/{n} short_lived samples named (want 80%); others: {bad[:4]}"
    check_fp_chain(run)


def t_no_maps_hook():
    run = record("none", "vma_iterator_kfuncs,bpf_loop")
    s = run["summary"]
    assert s["exit_maps_sent"] == 0 and s["start_maps_sent"] == 0, \
        f"mappings sent: exit {s['exit_maps_sent']}, start {s['start_maps_sent']}"
    check_fp_chain(run)


if __name__ == "__main__":
    run_suite(TESTS, globals(), tmp=TMP)
