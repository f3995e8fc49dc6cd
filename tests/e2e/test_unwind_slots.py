# SPDX-License-Identifier: BSD-2-Clause OR GPL-2.0
"""test_unwind_slots.py - end-to-end tests of the unwind-table slots over time: more distinct
executables than --unwind-files allows still get tables once the earlier ones are gone (a burst
of binaries holding every free slot is killed, and a new binary run right after must find their
slots free at once, not after the next drain), and a binary rewritten in place (same inode) gets
a new table instead of the old one's rows."""

import os
import re
import shutil
import subprocess
import sys
import tempfile
import time

sys.dont_write_bytecode = True  # keep the work tree clean
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from ember_e2e import (EMBER, Recording, by_comm, nofp_whole, parse_folded, parse_summary,  # noqa: E402
                       run_suite, total, workload)

MARGIN = 24         # slots beyond the files mapped now, ember's own included
BURST = MARGIN + 8   # distinct binaries that hold slots, all gone just before each late one
LATE = 8            # the late copies, which must unwind through tables
# enough samples of short processes, but rarely one in the dynamic loader before libc is
# mapped (that read misses libc, and the re-read BPF asks for waits 200 ms)
FREQ = 199
TESTS = ["slots_reused", "rebuilt_in_place"]
TMP = tempfile.mkdtemp(prefix="ember-slots-")



def maps_files(path):
    """(device, inode) of the executable file mappings in a /proc/PID/maps."""
    files = set()
    try:
        with open(path) as f:
            for line in f:
                parts = line.split()
                if len(parts) >= 6 and "x" in parts[1] and parts[5].startswith("/"):
                    major, minor = parts[3].split(":")
                    files.add((os.makedev(int(major, 16), int(minor, 16)), int(parts[4])))
    except OSError:
        pass
    return files


def ember_files():
    """The files ember maps itself (it samples itself too): its binary and libraries."""
    files = set()
    r = subprocess.run(["ldd", EMBER], capture_output=True, text=True, timeout=30)
    paths = [EMBER] + re.findall(r"(/\S+) \(0x", r.stdout)
    for p in paths:
        try:
            st = os.stat(p)
            files.add((st.st_dev, st.st_ino))
        except OSError:
            pass
    return files


def live_files():
    """Distinct executable files mapped by processes now, ember's own included: an upper
    bound on the slots live processes can hold in ember (it loads tables only for processes
    it samples)."""
    files = ember_files()
    for pid in os.listdir("/proc"):
        if pid.isdigit():
            files |= maps_files(f"/proc/{pid}/maps")
    return len(files)


def run_copy(path, seconds, nice=0):
    p = subprocess.run([path, str(seconds)], capture_output=True, text=True, timeout=60,
                       preexec_fn=(lambda: os.nice(nice)) if nice else None)
    assert p.returncode == 0, f"{path} exited with {p.returncode}"


def cpu_ticks(pid):
    """Clock ticks of CPU @pid has used (all its threads), 0 when unreadable."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return int(fields[11]) + int(fields[12])    # utime, stime
    except (OSError, IndexError, ValueError):
        return 0


def settle(rec, timeout=30):
    """Starts @rec, ahead of the host's other work, and waits until it is idle: its first
    drains name every process on the host, and a loaded host can stretch them to seconds in
    which it reads no new process (a short one would be gone before it is read)."""
    os.setpriority(os.PRIO_PROCESS, rec.proc.pid, -10)
    rec.wait_ready()
    deadline = time.monotonic() + timeout
    last = cpu_ticks(rec.proc.pid)
    while time.monotonic() < deadline:
        time.sleep(0.5)
        now = cpu_ticks(rec.proc.pid)
        if now - last <= 0.05 * os.sysconf("SC_CLK_TCK"):
            return
        last = now


def burst(paths):
    """Runs @paths at once, at low priority, until each has burnt two clock ticks of CPU
    (sampled about 4 times at FREQ, so it holds a slot if it got one), then kills them all
    together: their slots fall idle at the same moment."""
    procs = [subprocess.Popen([p, "60"], stdout=subprocess.DEVNULL,
                              preexec_fn=lambda: os.nice(5)) for p in paths]
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline and any(cpu_ticks(p.pid) < 2 for p in procs):
        time.sleep(0.05)
    time.sleep(0.3)     # for ember to read the last of them
    for p in procs:
        p.kill()
    for p in procs:
        p.wait(timeout=30)


def t_slots_reused():
    slots = live_files() + MARGIN
    src = workload("nofp_chain")
    late, held = [], []
    for i in range(LATE):
        for j in range(BURST):
            held.append(os.path.join(TMP, f"b{i:02d}{j:02d}"))
            shutil.copy(src, held[-1])     # a new inode each
        late.append(os.path.join(TMP, f"late{i:02d}"))
        shutil.copy(src, late[-1])
    out = os.path.join(TMP, "slots.folded")
    rec = Recording(["-F", str(FREQ), "--unwind-files", str(slots), "-d", "600", "-o", out],
                    out)
    try:
        # a host busy with other work must not delay ember's reading of the late ones: what
        # is measured is whether their slots are free when it does
        settle(rec)
        t0 = time.monotonic()
        for i in range(LATE):
            # more binaries than there is room for, all gone just now: the late one
            # must find their slots free at once
            burst(held[i * BURST:(i + 1) * BURST])
            run_copy(late[i], 0.5, nice=-5)     # ahead of the host's other work, after ember
        t1 = time.monotonic()
        stopped = rec.proc.poll() is not None
        rec.stop()
        rc, _, err = rec.result(timeout=60)
        print(f"# bursts and late copies {t1 - t0:.1f} s, ember's stop {time.monotonic() - t1:.1f} s",
              flush=True)
        assert not stopped, f"ember stopped (exit {rc}) before the workloads did: {err.strip()[-600:]}"
        assert rc == 0, f"ember exited with {rc}: {err.strip()[-300:]}"
    finally:
        rec.kill()
    s = parse_summary(err)
    stacks = parse_folded(rec.folded)
    print(f"# {LATE * (BURST + 1)} distinct binaries, --unwind-files {slots}: " +
          " ".join(f"{k}={s.get(k)}" for k in (
              "unwind_tables_evicted", "unwind_tables_no_room", "unwind_starved_rereads",
              "unwind_slots_used", "unwind_slots_mapped", "unwind_processes",
              "processes_tracked")), flush=True)
    assert int(s.get("unwind_tables_evicted", 0)) > 0, \
        f"{LATE * (BURST + 1)} binaries never filled {slots} slots (unwind_tables_evicted=0): the test proves nothing"
    per = []    # (whole, all) samples of each late copy
    for path in late:
        mine = by_comm(stacks, os.path.basename(path))
        per.append((sum(c for f, c in mine if nofp_whole(f)), total(mine)))
    shown = " ".join(f"{ok}/{n}" for ok, n in per)
    print(f"# late binaries, samples whole: {shown}", flush=True)
    for path, (ok, n) in zip(late, per):
        assert n >= 40, f"{os.path.basename(path)}: only {n} samples"
    # one late copy may lose its start to an agent stalled by a loaded host (it is left out of
    # the total too), not two: without slots freed at exit most of them lose most samples
    halves = sum(ok < 0.5 * n for ok, n in per)
    assert halves <= 1, \
        f"{halves} of {LATE} late binaries unwound root..leaf in less than half their samples: {shown}"
    rest = sorted(per, key=lambda x: x[0] / x[1])[1:]
    good, n_all = sum(ok for ok, _ in rest), sum(n for _, n in rest)
    assert good >= 0.85 * n_all, \
        f"late binaries but the worst: {good}/{n_all} samples unwound root..leaf (want 85%)"
    # a process entry outliving the registry's is a leak the gauges must show
    assert "unwind_processes" in s and "processes_tracked" in s, "no unwind_processes gauge"
    assert int(s["unwind_processes"]) <= int(s["processes_tracked"]), \
        f"unwind_processes={s['unwind_processes']} > processes_tracked={s['processes_tracked']}"


def t_rebuilt_in_place():
    path = os.path.join(TMP, "rebuilt")
    again = os.path.join(TMP, "rebuilt2")   # a symlink: the same file under another comm
    shutil.copy(workload("nofp_chain"), path)
    os.symlink(path, again)
    ino = os.stat(path).st_ino
    out = os.path.join(TMP, "rebuilt.folded")
    rec = Recording(["-d", "600", "-o", out], out)
    try:
        settle(rec)
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
    ok1 = sum(c for f, c in first if nofp_whole(f))
    ok2 = sum(c for f, c in second if nofp_whole(f))
    print(f"# before the rewrite {ok1}/{total(first)}, after {ok2}/{total(second)} samples whole",
          flush=True)
    assert total(first) >= 50 and ok1 >= 0.8 * total(first), \
        f"the original binary: {ok1}/{total(first)} samples unwound root..leaf"
    assert total(second) >= 50, f"the rewritten binary: only {total(second)} samples"
    assert ok2 >= 0.8 * total(second), \
        f"the rewritten binary: {ok2}/{total(second)} samples unwound root..leaf (want 80%; a stale table?)"


if __name__ == "__main__":
    run_suite(TESTS, globals(), tmp=TMP)
