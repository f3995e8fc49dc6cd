# SPDX-License-Identifier: BSD-2-Clause OR GPL-2.0
"""test_exit_maps.py - end-to-end test that processes living a few milliseconds get named user frames: their mappings, sent by BPF at exit, stand in for /proc/PID/maps read too late."""

import os
import subprocess
import sys
import tempfile

sys.dont_write_bytecode = True  # keep the work tree clean
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from ember_e2e import (Recording, by_comm, parse_folded, parse_summary, run_suite,  # noqa: E402
                       user_frames, workload)

RUNS = int(os.environ.get("EXIT_MAPS_RUNS", "200"))
BATCH = int(os.environ.get("EXIT_MAPS_BATCH", "8"))  # started together, so the collector falls behind as under real churn
BURN_MS = int(os.environ.get("EXIT_MAPS_MS", "3"))
MIN_NAMED = 0.9  # main (maps read at first sample only) measures 78-87% here

TESTS = ["short_processes_named", "exit_maps_counted", "short_processes_unread"]

TMP = tempfile.mkdtemp(prefix="ember-e2e-")
results = {}


def churn_recording():
    """Records at 999 Hz while RUNS stack_churn processes of BURN_MS ms run one after another."""
    if results:
        return results
    out_path = os.path.join(TMP, "churn.folded")
    rec = Recording(["-F", "999", "-o", out_path], out_path)
    try:
        rec.wait_ready()
        churn = workload("stack_churn")
        for i in range(0, RUNS, BATCH):
            procs = [subprocess.Popen([churn, str(j), str(BURN_MS)])
                     for j in range(i, min(i + BATCH, RUNS))]
            for p in procs:
                assert p.wait(timeout=30) == 0, f"stack_churn exited with {p.returncode}"
        rec.stop()
        rc, _, err = rec.result(timeout=60)
    finally:
        rec.kill()
    assert rc == 0, f"ember record exited with {rc}: {err.strip()[-400:]}"
    results.update(stacks=parse_folded(rec.folded), stderr=err)
    return results


def named_fraction():
    """(named, chain, total) samples of stack_churn that have user frames.

    named: no user frame is "[unknown]" (what a process whose mappings were
    never read shows); chain: the known churn_* chain is there.  Many
    samples fall in the dynamic loader (named, but not the chain), so the
    chain alone would understate what the fix does.
    """
    res = churn_recording()
    named = chain = total = 0
    for frames, count in by_comm(res["stacks"], "stack_churn"):
        user = user_frames(frames)
        if not user:
            continue  # exec, page faults and exit in the kernel: no user stack
        total += count
        if "[unknown]" not in user:
            named += count
        if any(f.startswith("churn_") for f in user):
            chain += count
    return named, chain, total


def t_short_processes_named():
    named, chain, total = named_fraction()
    print(f"# stack_churn samples with user frames: {total}, without [unknown]: {named}"
          f" ({100.0 * named / max(total, 1):.1f}%), with the churn_* chain: {chain}"
          f" ({100.0 * chain / max(total, 1):.1f}%)", flush=True)
    assert total >= RUNS, f"only {total} samples of {RUNS} runs of {BURN_MS} ms at 999 Hz"
    assert named >= MIN_NAMED * total, (
        f"only {named} of {total} samples of short stack_churn processes have no [unknown]"
        f" user frame (want >= {MIN_NAMED:.0%})")


def t_exit_maps_counted():
    s = parse_summary(churn_recording()["stderr"])
    for k in ("exit_maps_sent", "exit_maps_received", "exit_maps_used", "exit_vmas_matched"):
        assert isinstance(s.get(k), int), f"summary has no {k}=: {s}"
    assert s["exit_maps_received"] > 0, f"no mappings were sent at exit: {s}"
    assert s["exit_maps_received"] <= s["exit_maps_sent"], f"received more than sent: {s}"
    assert s["exit_vmas_matched"] > 0, f"no mapping sent at exit matched an open file: {s}"


def t_short_processes_unread():
    """With the exit hook, a process of a few ms is named from its exit mappings alone: /proc is not read for it."""
    s = parse_summary(churn_recording()["stderr"])
    for k in ("processes_deferred", "processes_unread"):
        assert isinstance(s.get(k), int), f"summary has no {k}=: {s}"
    print(f"# {RUNS} short processes (and their forks before exec): deferred"
          f" {s['processes_deferred']}, never read {s['processes_unread']}", flush=True)
    assert s["processes_unread"] <= s["processes_deferred"], f"more unread than deferred: {s}"
    assert s["processes_unread"] >= RUNS // 2, (
        f"only {s['processes_unread']} of {RUNS} processes of {BURN_MS} ms went unread: {s}")


if __name__ == "__main__":
    run_suite(TESTS, globals(), tmp=TMP)
