# SPDX-License-Identifier: BSD-2-Clause OR GPL-2.0
"""test_untrusted.py - end-to-end: a user's library cut while ember has it open, or crafted CFI.

A file mapped into the agent that its owner truncates kills the agent with SIGBUS on the next
read past the new end, so ember must never map a file that anyone but root can change.  dl_spin
dlopen()s libdl_spin.so (dlopen sets no ETXTBSY, so the file can be truncated while it runs),
copied into a temporary directory and given to the user nobody.  An agent (--window 1) names
lib_main;lib_a;lib_spin_a, dl_spin (SIGUSR1) moves on to lib_b;lib_spin_b, and right after the
agent named those (its DWARF is open then) the file is cut and dl_spin moves on to
lib_c;lib_spin_c, addresses not named yet, so the agent has to read the cut file.

- library_cut_while_open: the library keeps its loaded segments (dl_spin runs on) but loses its
  DWARF, symbol table and section headers.  The agent must stay alive, keep the windows it wrote,
  count the file in ember_elf_changed_total and log it once.
- debug_file_cut_while_open: the library is stripped and its .gnu_debuglink names a debug file
  beside it, which is truncated to 0 bytes.  The agent must stay alive and still name phase 2.
In both, none of the files may appear in the agent's /proc/PID/maps, checked every 50 ms.

- big_user_file_symtab_only: a user's binary grown past 512 MiB (sparse, at its end) would have
  all its DWARF read into the agent's heap; it is named from its symbol table, and logged.
- cfi_bomb_cut_off: dl_spin runs libdl_bomb.so, libdl_spin.so plus one FDE of 100,000 CFI rows
  (generated at build time), which makes libdw's row-by-row walk quadratic (about a minute).
  The agent must cut the build off at its time budget, count it in unwind_tables_cut_total, log
  it once, and go on sampling and naming dl_spin.
"""

import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request

sys.dont_write_bytecode = True  # keep the work tree clean
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from ember_e2e import (Agent, Recording, by_comm, parse_folded, run_ember, run_suite, poll_until,  # noqa: E402
                       total, user_frames, workload)

TESTS = ["library_cut_while_open", "debug_file_cut_while_open", "big_user_file_symtab_only",
         "cfi_bomb_cut_off"]
TMP = tempfile.mkdtemp(prefix="ember-e2e-")
NOBODY = 65534
PHASE1 = ["lib_main", "lib_a", "lib_spin_a"]
PHASE2 = ["lib_main", "lib_b", "lib_spin_b"]
PHASE3 = ["lib_main", "lib_c", "lib_spin_c"]


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def metrics(port):
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as r:
        text = r.read().decode()
    return {m.group(1): float(m.group(2)) for m in re.finditer(r"^ember_(\w+) (\S+)$", text, re.M)}


def loads_end(path):
    """File offset where the last PT_LOAD segment's bytes end (what dlopen mapped)."""
    out = subprocess.run(["readelf", "-lW", path], capture_output=True, text=True, check=True).stdout
    ends = [int(m.group(1), 16) + int(m.group(2), 16)
            for m in re.finditer(r"^\s*LOAD\s+(0x[0-9a-f]+)\s+\S+\s+\S+\s+(0x[0-9a-f]+)", out, re.M)]
    assert ends, f"no PT_LOAD in {path}"
    return max(ends)


def nobodys(path):
    os.chown(path, NOBODY, NOBODY)
    os.chmod(path, 0o755)


def stacks_of(db):
    r = run_ember(["export", "--db", db, "--comm", "dl_spin"], timeout=30)
    assert r.returncode == 0, f"export exited {r.returncode}: {r.stderr.strip()[-300:]}"
    return by_comm(parse_folded(r.stdout), "dl_spin")


def count_chain(stacks, chain):
    return sum(c for f, c in stacks if user_frames(f)[-len(chain):] == chain)


class MapsWatch(threading.Thread):
    """Reads /proc/PID/maps every 50 ms; .seen holds the lines naming any watched path."""

    def __init__(self, pid, watched):
        super().__init__(daemon=True)
        self.path, self.watched, self.seen, self.done = f"/proc/{pid}/maps", watched, set(), False

    def run(self):
        while not self.done:
            try:
                with open(self.path) as f:
                    self.seen.update(l.strip() for l in f if any(p in l for p in self.watched))
            except OSError:
                return
            time.sleep(0.05)


def run_cut(name, lib, cut, watched):
    """Agent + dl_spin running lib: phases 1 and 2 named, cut(), phase 3.

    Returns (phase-1 and -2 samples before the cut, final stacks, metrics, agent stderr, the
    agent's maps lines naming a watched path).
    """
    db = os.path.join(TMP, name + "-store", "ember.db")
    port = free_port()
    agent = Agent(["--db", db, "--window", "1", "--listen", f"127.0.0.1:{port}"])
    spin = watch = None
    try:
        agent.wait_ready()
        watch = MapsWatch(agent.proc.pid, watched)
        watch.start()
        spin = subprocess.Popen([workload("dl_spin"), lib, "30"], stdout=subprocess.DEVNULL)
        before = [poll_until(lambda: count_chain(stacks_of(db), PHASE1), 15, "phase 1 named in the store", 0.2)]
        spin.send_signal(signal.SIGUSR1)
        before.append(poll_until(lambda: count_chain(stacks_of(db), PHASE2), 15, "phase 2 named in the store",
                                 0.2))
        cut()
        spin.send_signal(signal.SIGUSR1)
        time.sleep(3.5)  # three windows of phase 3
        assert spin.poll() is None, f"dl_spin died ({spin.returncode}): the cut took away what it runs"
        assert agent.proc.poll() is None, f"the agent died after the cut ({agent.proc.returncode})"
        m = metrics(port)
        agent.stop()
        rc, _, err = agent.result(timeout=30)
        assert rc == 0, f"agent exited {rc}: {err.strip()[-300:]}"
    finally:
        if watch:
            watch.done = True
        agent.kill()
        if spin:
            spin.kill()
            spin.wait()
    return before, stacks_of(db), m, err, sorted(watch.seen)


def t_library_cut_while_open():
    d = os.path.join(TMP, "lib")
    os.makedirs(d)
    lib = os.path.join(d, "libdl_spin.so")
    shutil.copy(workload("libdl_spin.so"), lib)
    nobodys(lib)
    end = loads_end(lib)
    assert end < os.path.getsize(lib), "nothing after the loaded segments to cut"
    before, stacks, m, err, mapped = run_cut("lib", lib, lambda: os.truncate(lib, end), [d + "/"])
    assert not mapped, f"the agent maps the user's library: {mapped}"
    kept = [count_chain(stacks, PHASE1), count_chain(stacks, PHASE2)]
    assert kept[0] >= before[0] and kept[1] >= before[1], \
        f"phase 1, 2 samples: {before} before the cut, {kept} after"
    phase3 = sum(c for f, c in stacks if "lib_spin_c" in f or any(x.startswith("libdl_spin.so+") for x in f))
    assert phase3 > 0, f"no phase-3 samples in libdl_spin.so after the cut: {stacks[:6]}"
    assert m.get("elf_changed_total", 0) == 1, f"ember_elf_changed_total={m.get('elf_changed_total')}, want 1"
    logged = [l for l in err.splitlines() if "changed while open" in l and lib in l]
    assert len(logged) == 1, f"{len(logged)} 'changed while open' lines for {lib}, want 1"


def t_debug_file_cut_while_open():
    d = os.path.join(TMP, "debug")
    os.makedirs(d)
    lib = os.path.join(d, "libdl_spin.so")
    debug = lib + ".debug"
    shutil.copy(workload("libdl_spin.so"), lib)
    subprocess.run(["objcopy", "--only-keep-debug", lib, debug], check=True)
    subprocess.run(["objcopy", "--strip-debug", "--add-gnu-debuglink=" + debug, lib], check=True)
    nobodys(lib)
    nobodys(debug)
    before, stacks, m, err, mapped = run_cut("debug", lib, lambda: os.truncate(debug, 0), [d + "/"])
    assert not mapped, f"the agent maps the user's files: {mapped}"
    assert count_chain(stacks, PHASE1) >= before[0] and count_chain(stacks, PHASE2) >= before[1], \
        "phase 1 or 2 samples lost"
    named = count_chain(stacks, PHASE3)
    assert named > 0, f"phase 3 not named after its debug file was cut: {stacks[:6]}"


def t_big_user_file_symtab_only():
    exe = os.path.join(TMP, "big_chain")
    shutil.copy(workload("cpu_chain"), exe)
    os.truncate(exe, 600 << 20)  # a hole past the sections: nothing ELF reads changes
    nobodys(exe)
    out = os.path.join(TMP, "big.folded")
    rec = Recording(["-v", "-d", "4", "-o", out], out)  # -v: the info line
    proc = None
    try:
        rec.wait_ready()
        proc = subprocess.Popen([exe, "3"], stdout=subprocess.DEVNULL)
        rc, _, err = rec.result(timeout=60)
    finally:
        rec.kill()
        if proc:
            proc.kill()
            proc.wait()
    assert rc == 0, f"ember exited {rc}: {err.strip()[-300:]}"
    mine = by_comm(parse_folded(rec.folded), "big_chain")
    named = sum(c for f, c in mine if user_frames(f)[-3:] == ["chain_a", "chain_b", "spin"])
    assert total(mine) > 0 and named >= 0.8 * total(mine), f"{named}/{total(mine)} samples named from the symtab"
    logged = [l for l in err.splitlines() if "DWARF not read" in l and exe in l]
    assert len(logged) == 1, f"{len(logged)} 'DWARF not read' lines for {exe}, want 1"


def t_cfi_bomb_cut_off():
    db = os.path.join(TMP, "bomb-store", "ember.db")
    port = free_port()
    agent = Agent(["--db", db, "--window", "1", "--listen", f"127.0.0.1:{port}"])
    spin = None
    try:
        agent.wait_ready()
        spin = subprocess.Popen([workload("dl_spin"), workload("libdl_bomb.so"), "30"],
                                stdout=subprocess.DEVNULL)
        # the build takes the whole 5 s budget, then the windows must go on
        m = poll_until(lambda: (lambda m: m if m.get("unwind_tables_cut_total") else None)(metrics(port)),
                       20, "unwind_tables_cut_total > 0", 0.2)
        named = poll_until(lambda: count_chain(stacks_of(db), PHASE1), 15, "dl_spin named after the cut", 0.2)
        time.sleep(2)
        assert agent.proc.poll() is None, f"the agent died ({agent.proc.returncode})"
        m = metrics(port)
        agent.stop()
        rc, _, err = agent.result(timeout=30)
        assert rc == 0, f"agent exited {rc}: {err.strip()[-300:]}"
    finally:
        agent.kill()
        if spin:
            spin.kill()
            spin.wait()
    assert m["unwind_tables_cut_total"] == 1, f"unwind_tables_cut_total={m['unwind_tables_cut_total']}, want 1"
    logged = [l for l in err.splitlines() if "cut off" in l and "unwind table" in l]
    assert len(logged) == 1, f"{len(logged)} 'unwind table ... cut off' lines, want 1: {logged[:3]}"
    print(f"# cfi bomb: {named} dl_spin samples named while the table was cut; {logged[0]}", flush=True)


if __name__ == "__main__":
    run_suite(TESTS, globals(), tmp=TMP)
