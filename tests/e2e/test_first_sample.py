# SPDX-License-Identifier: BSD-2-Clause OR GPL-2.0
"""test_first_sample.py - end-to-end test that a new process whose files already have unwind
tables is unwound whole from its first samples: BPF seeds its entry (the executable's text from
the mm, one more file per sample through bpf_find_vma) before user space has read its maps.

The agent is stopped (SIGSTOP) while the new processes run, so user space reads none of them
and BPF alone unwinds them; they are named afterwards from the mappings sent at their exit.
Without seeding their samples fall back to frame pointers, which nofp_chain lacks."""

import os
import signal
import subprocess
import sys
import tempfile
import time

sys.dont_write_bytecode = True  # keep the work tree clean
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from ember_e2e import (Recording, by_comm, nofp_whole, parse_folded, parse_summary,  # noqa: E402
                       run_suite, total, workload)

RUNS = 16           # fresh processes, each under its own comm (a symlink: the same inode)
TESTS = ["new_processes_whole"]
TMP = tempfile.mkdtemp(prefix="ember-first-")



def t_new_processes_whole():
    src = workload("nofp_chain")
    links = []
    for i in range(RUNS):
        path = os.path.join(TMP, f"fresh{i:02d}")
        os.symlink(src, path)
        links.append(path)
    out = os.path.join(TMP, "first.folded")
    rec = Recording(["-F", "999", "-d", "60", "-o", out], out)
    try:
        rec.wait_ready()
        # one run loads the tables of nofp_chain and libc; the fresh ones find them loaded
        subprocess.run([src, "0.5"], stdout=subprocess.DEVNULL, timeout=30, check=True)
        time.sleep(0.5)
        rec.proc.send_signal(signal.SIGSTOP)
        try:
            for path in links:
                subprocess.run([path, "0.03"], stdout=subprocess.DEVNULL, timeout=30, check=True)
        finally:
            rec.proc.send_signal(signal.SIGCONT)
        time.sleep(1.5)
        rec.stop()
        rc, _, err = rec.result(timeout=60)
        assert rc == 0, f"ember exited with {rc}: {err.strip()[-300:]}"
    finally:
        rec.kill()
    s = parse_summary(err)
    stacks = parse_folded(rec.folded)
    good = n = 0
    for path in links:
        mine = by_comm(stacks, os.path.basename(path))
        good += sum(c for f, c in mine if nofp_whole(f))
        n += total(mine)
    print(f"# {RUNS} processes of 30 ms: {good}/{n} samples whole; unwind_procs_seeded="
          f"{s.get('unwind_procs_seeded')} unwind_seed_maps_added={s.get('unwind_seed_maps_added')} "
          f"unwind_seed_find_vma_busy={s.get('unwind_seed_find_vma_busy')}", flush=True)
    assert n >= RUNS * 5, f"only {n} samples of {RUNS} processes of 30 ms at 999 Hz"
    assert int(s.get("unwind_seed_maps_added", 0)) > 0, "no mapping was added to a seeded entry"
    assert good >= 0.9 * n, f"{good}/{n} samples of new processes unwound root..leaf (want 90%)"


if __name__ == "__main__":
    run_suite(TESTS, globals(), tmp=TMP)
