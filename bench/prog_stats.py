# SPDX-License-Identifier: BSD-2-Clause OR GPL-2.0
"""prog_stats.py - prints "RUN_TIME_NS RUN_CNT" of the BPF program whose name starts with NAME (do_sample covers both variants) held by PID, from `bpftool prog show -j`."""

import json
import subprocess
import sys


def main():
    name, pid = sys.argv[1], int(sys.argv[2])
    progs = json.loads(subprocess.run(["bpftool", "prog", "show", "-j"], capture_output=True,
                                      text=True, check=True).stdout or "[]")
    for p in progs:
        if not str(p.get("name", "")).startswith(name):
            continue
        if "pids" in p and not any(x.get("pid") == pid for x in p["pids"]):
            continue
        print(p.get("run_time_ns", 0), p.get("run_cnt", 0))
        return 0
    print(f"no BPF program {name} held by pid {pid}", file=sys.stderr)
    return 1


if __name__ == "__main__":
    sys.exit(main())
