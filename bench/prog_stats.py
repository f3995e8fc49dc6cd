# SPDX-License-Identifier: BSD-2-Clause OR GPL-2.0
"""prog_stats.py - prints "RUN_TIME_NS RUN_CNT" of the BPF program whose name starts with NAME
(do_sample covers both variants) held by PID.

The programs are found through PID's own file descriptors (/proc/PID/fdinfo names each BPF
program's id), so other profilers on the host, ember's included, never get in the way;
bpftool gives each id's name and counters."""

import json
import os
import re
import subprocess
import sys


def prog_ids(pid):
    ids = set()
    for fd in os.listdir(f"/proc/{pid}/fdinfo"):
        try:
            with open(f"/proc/{pid}/fdinfo/{fd}") as f:
                m = re.search(r"^prog_id:\s*(\d+)", f.read(), re.M)
        except OSError:
            continue
        if m:
            ids.add(int(m.group(1)))
    return sorted(ids)


def main():
    name, pid = sys.argv[1], int(sys.argv[2])
    for pid_id in prog_ids(pid):
        r = subprocess.run(["bpftool", "prog", "show", "id", str(pid_id), "-j"], capture_output=True,
                           text=True)
        if r.returncode:
            continue
        p = json.loads(r.stdout)
        if str(p.get("name", "")).startswith(name):
            print(p.get("run_time_ns", 0), p.get("run_cnt", 0))
            return 0
    print(f"no BPF program {name} held by pid {pid}", file=sys.stderr)
    return 1


if __name__ == "__main__":
    sys.exit(main())
