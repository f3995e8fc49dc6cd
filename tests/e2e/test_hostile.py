# SPDX-License-Identifier: BSD-2-Clause OR GPL-2.0
"""test_hostile.py - end-to-end tests that files a local user controls cannot stall ember.

A binary whose .gnu_debuglink names a FIFO: ember looks for the debug file
next to the binary, and a blocking open() of a FIFO waits for a writer
forever.  ember must finish on time and still name the frames (from the
binary's own symbol table).  A process running JIT code (no table covers
its pcs) must not make BPF ask for its maps to be re-read five times a
second forever.
"""

import os
import shutil
import subprocess
import sys
import tempfile
import time

sys.dont_write_bytecode = True  # keep the work tree clean
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from ember_e2e import (Agent, Recording, by_comm, parse_folded, parse_summary,  # noqa: E402
                       run_suite, total, user_frames, workload)

TESTS = ["fifo_debuglink_does_not_block", "rescans_back_off", "store_is_private", "shared_dir_untouched",
         "forged_build_id_keeps_names"]
TMP = tempfile.mkdtemp(prefix="ember-e2e-")
CHAIN = ["main", "chain_a", "chain_b", "spin"]


def fifo_binary():
    """cpu_chain without its DWARF, its .gnu_debuglink naming a FIFO beside it."""
    exe = os.path.join(TMP, "fifo_chain")
    debug = exe + ".debug"
    shutil.copy(workload("cpu_chain"), exe)
    subprocess.run(["objcopy", "--only-keep-debug", exe, debug], check=True)
    subprocess.run(["objcopy", "--strip-debug", exe], check=True)
    subprocess.run(["objcopy", "--add-gnu-debuglink=" + debug, exe], check=True)
    os.unlink(debug)
    os.mkfifo(debug)
    return exe


def t_fifo_debuglink_does_not_block():
    exe = fifo_binary()
    proc = subprocess.Popen([exe, "6"], stdout=subprocess.DEVNULL)
    out = os.path.join(TMP, "fifo.folded")
    try:
        time.sleep(0.3)
        rec = Recording(["-d", "2", "-p", str(proc.pid), "-o", out], out)
        start = time.monotonic()
        rc, _, err = rec.result(timeout=30)  # a blocked open never returns
        took = time.monotonic() - start
    finally:
        proc.kill()
        proc.wait()
    assert rc == 0, f"ember exited {rc}: {err.strip()[-300:]}"
    assert took < 20, f"ember took {took:.1f} s for a 2 s recording"
    mine = by_comm(parse_folded(rec.folded), "fifo_chain")
    n = total(mine)
    named = sum(c for f, c in mine if user_frames(f)[-4:] == CHAIN)
    assert n > 0, "no fifo_chain samples"
    assert named >= 0.8 * n, f"{named}/{n} fifo_chain samples named main;chain_a;chain_b;spin"


def t_rescans_back_off():
    proc = subprocess.Popen([workload("jit_spin"), "8"], stdout=subprocess.DEVNULL)
    out = os.path.join(TMP, "jit.folded")
    try:
        time.sleep(0.3)
        rec = Recording(["-d", "5", "-p", str(proc.pid), "-o", out], out)
        rc, _, err = rec.result(timeout=60)
    finally:
        proc.kill()
        proc.wait()
    assert rc == 0, f"ember exited {rc}: {err.strip()[-300:]}"
    s = parse_summary(err)
    print(f"# jit_spin, 5 s: rescans_requested={s['rescans_requested']} "
          f"rescans_held_back={s['rescans_held_back']}", flush=True)
    assert s["rescans_held_back"] > 0, "no rescan was held back: the JIT pcs never asked for one"
    # 200 ms doubling: asks at 0, 0.2, 0.6, 1.4, 3.0 s (at 5 per second it was 25)
    assert s["rescans_requested"] <= 7, f"{s['rescans_requested']} rescans in 5 s"


def t_store_is_private():
    """The store holds every process's stacks: only the agent's user and group may read it,
    whatever the umask (0750 directory, 0640 files)."""
    db = os.path.join(TMP, "private", "ember.db")
    for round_, umask in enumerate((0o077, 0o000)):
        old = os.umask(umask)
        try:
            agent = Agent(["--db", db, "--window", "1"])
        finally:
            os.umask(old)
        rc, err = agent.run_for(1.5)
        assert rc == 0, f"agent exited {rc}: {err.strip()[-300:]}"
        for f in (db, db + "-wal", db + "-shm"):
            if os.path.exists(f):
                mode = os.stat(f).st_mode & 0o777
                assert mode == 0o640, f"round {round_} (umask {umask:03o}): {f} is {mode:o}, want 640"
        mode = os.stat(os.path.dirname(db)).st_mode & 0o777
        assert mode == 0o750, f"round {round_} (umask {umask:03o}): its directory is {mode:o}, want 750"
        if round_ == 0:
            os.chmod(db, 0o644)  # as an older ember left it
            os.chmod(os.path.dirname(db), 0o755)


def t_shared_dir_untouched():
    """A store put in a shared directory (sticky like /tmp, or holding other files) leaves
    that directory's mode alone: only the store's own files become 0640."""
    for name, mode in (("sticky", 0o1777), ("shared", 0o755)):
        d = os.path.join(TMP, name)
        os.makedirs(d, exist_ok=True)
        os.chmod(d, mode)
        with open(os.path.join(d, "someone_else.txt"), "w") as f:
            f.write("not ember's\n")
        agent = Agent(["--db", os.path.join(d, "ember.db"), "--window", "1"])
        rc, err = agent.run_for(1.5)
        assert rc == 0, f"agent exited {rc}: {err.strip()[-300:]}"
        got = os.stat(d).st_mode & 0o7777
        assert got == mode, f"the {name} directory became {got:o}, was {mode:o}"
        got = os.stat(os.path.join(d, "ember.db")).st_mode & 0o777
        assert got == 0o640, f"the store in the {name} directory is {got:o}, want 640"


def t_forged_build_id_keeps_names():
    """A user's file claiming cpu_chain's build id must not rename cpu_chain's frames."""
    forged = os.path.join(TMP, "forged_chain")
    shutil.copy(workload("cpu_chain"), forged)
    subprocess.run(["objcopy", "--strip-debug", "--redefine-sym", "spin=evil_spin",
                    "--redefine-sym", "chain_b=evil_b", forged], check=True)
    os.chown(forged, 65534, 65534)  # nobody's file, same build id
    os.chmod(forged, 0o755)
    out = os.path.join(TMP, "forged.folded")
    rec = Recording(["-d", "4", "-o", out], out)
    procs = []
    try:
        rec.wait_ready()
        procs.append(subprocess.Popen([forged, "5"], stdout=subprocess.DEVNULL))
        time.sleep(1.5)  # its file is open first, under the build id it claims
        procs.append(subprocess.Popen([workload("cpu_chain"), "3"], stdout=subprocess.DEVNULL))
        rc, _, err = rec.result(timeout=60)
    finally:
        rec.kill()
        for p in procs:
            p.kill()
            p.wait()
    assert rc == 0, f"ember exited {rc}: {err.strip()[-300:]}"
    stacks = parse_folded(rec.folded)
    real = {f for fs, _ in by_comm(stacks, "cpu_chain") for f in user_frames(fs)}
    fake = {f for fs, _ in by_comm(stacks, "forged_chain") for f in user_frames(fs)}
    assert "spin" in real and "chain_b" in real, f"cpu_chain frames: {sorted(real)[:12]}"
    assert not any(f.startswith("evil_") for f in real), f"cpu_chain named by the forged file: {sorted(real)}"
    assert "evil_spin" in fake, f"forged_chain frames: {sorted(fake)[:12]}"


if __name__ == "__main__":
    run_suite(TESTS, globals(), tmp=TMP)
