# SPDX-License-Identifier: BSD-2-Clause OR GPL-2.0
"""test_late.py - end-to-end tests of what arrives after ember starts: a CPU brought online
later (or taken offline and back) is sampled, and kernel symbols that appear later (modules, BPF
programs) are named after a kallsyms reload."""

import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time

sys.dont_write_bytecode = True  # keep the work tree clean
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from ember_e2e import (Recording, Skip, by_comm, parse_folded, parse_summary, run_suite,  # noqa: E402
                       total, workload)

CPU = 1
ONLINE = f"/sys/devices/system/cpu/cpu{CPU}/online"
FREQ = 99
TESTS = ["cpu_online_after_start", "cpu_offline_and_back"]
TMP = tempfile.mkdtemp(prefix="ember-late-")
COMM = "late_burn"  # a copy of nofp_chain under a name no other test runs


def set_online(on):
    with open(ONLINE, "w") as f:
        f.write("1" if on else "0")


def hotplug_possible():
    """Whether CPU 1 can be taken offline here (it exists, is online, and has a switch)."""
    if os.cpu_count() < 2 or not os.path.exists(ONLINE):
        raise Skip(f"no {ONLINE}: this machine cannot take CPU {CPU} offline")
    with open(ONLINE) as f:
        assert f.read().strip() == "1", f"CPU {CPU} is offline before the test"


def online_count():
    n = 0
    with open("/sys/devices/system/cpu/online") as f:
        for part in f.read().strip().split(","):
            a, _, b = part.partition("-")
            n += int(b or a) - int(a) + 1
    return n


def perf_fds(pid):
    n = 0
    for fd in os.listdir(f"/proc/{pid}/fd"):
        try:
            n += os.readlink(f"/proc/{pid}/fd/{fd}") == "anon_inode:[perf_event]"
        except OSError:
            pass
    return n


def wait_events(rec, timeout=30):
    """Waits until ember holds one perf event per online CPU: its program being loaded
    (wait_ready) does not mean the events are open yet on a loaded machine."""
    want = online_count()
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert rec.proc.poll() is None, "ember exited while starting"
        if perf_fds(rec.proc.pid) >= want:
            time.sleep(0.3)
            return
        time.sleep(0.1)
    raise AssertionError(f"ember did not open {want} perf events within {timeout}s")


def pinned_burn(seconds):
    """Runs a copy of nofp_chain pinned to CPU 1; returns the CPU seconds it got there."""
    path = os.path.join(TMP, COMM)
    if not os.path.exists(path):
        shutil.copy(workload("nofp_chain"), path)
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    p = subprocess.run(["taskset", "-c", str(CPU), path, str(seconds)],
                       capture_output=True, text=True, timeout=60)
    assert p.returncode == 0, f"taskset {COMM} exited with {p.returncode}: {p.stderr.strip()}"
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return (after.ru_utime + after.ru_stime) - (before.ru_utime + before.ru_stime)


def check_sampled(rec, cpu_s, what):
    stacks = parse_folded(rec.folded)
    s = parse_summary(rec.stderr)
    n = total(by_comm(stacks, COMM))
    want = cpu_s * FREQ
    print(f"# {what}: {COMM} got {cpu_s:.2f} CPU s on CPU {CPU}, {n} samples "
          f"(expected about {want:.0f}); cpus_sampled={s.get('cpus_sampled')} "
          f"cpus_reopened={s.get('cpus_reopened')}", flush=True)
    assert n >= 0.7 * want, f"{what}: {n} samples of a workload pinned to CPU {CPU} ({want:.0f} expected)"
    assert int(s.get("cpus_reopened", 0)) >= 1, f"{what}: cpus_reopened={s.get('cpus_reopened')}"
    assert int(s.get("cpus_sampled", 0)) == os.cpu_count(), f"{what}: cpus_sampled={s.get('cpus_sampled')}"


def record_across(name, before_start, after_ready):
    """Records while @before_start() and @after_ready() change CPU 1, then burns on it.

    CPU 1 is online again whatever happens."""
    hotplug_possible()
    out = os.path.join(TMP, name + ".folded")
    rec = None
    try:
        before_start()
        rec = Recording(["-F", str(FREQ), "-d", "600", "-o", out], out)
        rec.wait_ready()
        wait_events(rec)
        after_ready()
        # ember looks at its CPUs once a second: a CPU back online is sampled again within
        # two looks, three when it flapped inside a second after being busy (the samples
        # counted before the flap vouch for the event once more), so wait a little longer
        time.sleep(3.5)
        cpu_s = pinned_burn(1.5)
        held = perf_fds(rec.proc.pid)
        if rec.proc.poll() is not None:
            rc, _, err = rec.result(timeout=10)
            raise AssertionError(f"ember stopped (exit {rc}) while the workload ran: {err.strip()[-300:]}")
        assert held == online_count(), f"ember holds {held} perf events for {online_count()} CPUs"
        if rec.proc.poll() is not None:
            rc, _, err = rec.result(timeout=10)
            raise AssertionError(f"ember stopped (exit {rc}) before the workload did: {err.strip()[-300:]}")
        rec.stop()
        rc, _, err = rec.result(timeout=60)
        assert rc == 0, f"ember exited with {rc}: {err.strip()[-300:]}"
    finally:
        set_online(True)
        if rec:
            rec.kill()
    return rec, cpu_s


def t_cpu_online_after_start():
    rec, cpu_s = record_across("online_after_start", lambda: set_online(False),
                               lambda: set_online(True))
    check_sampled(rec, cpu_s, "CPU offline at start, then online")


def t_cpu_offline_and_back():
    def flap():
        set_online(False)
        time.sleep(0.5)
        set_online(True)
    rec, cpu_s = record_across("offline_and_back", lambda: None, flap)
    check_sampled(rec, cpu_s, "CPU taken offline and back while sampling")


if __name__ == "__main__":
    run_suite(TESTS, globals(), tmp=TMP)
