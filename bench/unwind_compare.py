# SPDX-License-Identifier: BSD-2-Clause OR GPL-2.0
"""unwind_compare.py - how often user stacks reach the process root under ember's --unwind auto and
--unwind fp, and how well auto's leaf-to-root chains agree with perf --call-graph dwarf, on Debian's
frame-pointer-less python3.11, xz and perl doing real work.  Prints `name value unit` lines."""

import collections
import os
import random
import re
import shutil
import subprocess
import sys
import tempfile
import time

EMBER = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".output", "ember")
ROOTS = ("_start", "__clone3", "clone3", "__clone", "clone")
TMP = tempfile.mkdtemp(prefix="ember-unwind-bench-")

PY = """
import time, json
def leaf(d):
    return json.dumps(d, sort_keys=True)
def middle(d):
    return [leaf(d) for _ in range(10)]
t = time.time()
while time.time() - t < 4:
    middle({"a": list(range(50)), "b": {"c": "x" * 100}})
"""
PERL = r'my $s = join("", map { chr(97 + $_ % 26) } 1..5000); my $t = time; my $n = 0;' \
       r' while (time - $t < 4) { while ($s =~ /([aeiou])[^aeiou]{2,}(?=\1)/g) { $n++ } } print "$n\n";'


def workloads():
    py = os.path.join(TMP, "loop.py")
    with open(py, "w") as f:
        f.write(PY)
    # 104 MB of 4,000 words in a fixed order: xz -9 works about 3 s on it here, like the other
    # two (26 MB took 0.7 s, and the ~20 ms of its exit weighed four times as much).  Seeded,
    # so every run compresses the same bytes.
    data = os.path.join(TMP, "data")
    rnd = random.Random(1)
    words = [rnd.randbytes(6).hex().encode() for _ in range(4000)]
    with open(data, "wb") as f:
        f.write(b"".join(words[(i * 7919) % 4000] + b" " for i in range(4000)) * 2000)
    return [("python3.11", ["/usr/bin/python3.11", py]),
            ("xz", ["/usr/bin/xz", "-9", "-T1", "-k", "-c", data]),
            ("perl", ["/usr/bin/perl", "-e", PERL])]


def ember_stacks(mode, cmd, comm):
    out = os.path.join(TMP, "e.folded")
    rec = subprocess.Popen([EMBER, "record", "--unwind", mode, "-d", "60", "-o", out],
                           stderr=subprocess.PIPE, text=True)
    time.sleep(2.0)
    # A long-running agent already holds the tables of python3, perl and libc when one starts:
    # warm it with the same files under another name (its samples do not count), then measure.
    warm = os.path.join(TMP, "warm_" + os.path.basename(cmd[0]))
    if not os.path.exists(warm):
        os.symlink(shutil.which(cmd[0]), warm)
    w = subprocess.Popen([warm] + cmd[1:], stdout=subprocess.DEVNULL)
    time.sleep(1.5)
    w.kill()
    w.wait()
    time.sleep(1.0)
    subprocess.run(cmd, stdout=subprocess.DEVNULL, check=True)
    rec.send_signal(2)
    rec.communicate(timeout=60)
    stacks = []
    with open(out, errors="replace") as f:
        for line in f:
            frames, count = line.rstrip("\n").rsplit(" ", 1)
            frames = frames.split(";")
            if frames[0] != comm:
                continue
            # perf shows neither inlined nor Python frames: compare native frames only
            user = [x.split("@")[0] for x in frames[1:] if not x.endswith(("_[k]", "_[i]", "_[py]"))]
            stacks.append((tuple("?" if "+0x" in x or x == "[unknown]" else x for x in user), int(count)))
    return stacks


def perf_stacks(cmd, comm):
    data = os.path.join(TMP, "perf.data")
    subprocess.run(["perf", "record", "-q", "-F", "99", "-e", "cpu-clock", "--call-graph", "dwarf",
                    "-o", data, "--"] + cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True)
    text = subprocess.run(["perf", "script", "-i", data], capture_output=True, text=True,
                          errors="replace").stdout
    stacks = []
    for block in text.split("\n\n"):
        lines = block.strip("\n").split("\n")
        if not lines or not lines[0].startswith(comm):
            continue
        user = []
        frames = [re.match(r"\s*([0-9a-f]+) (.*) \((.*)\)$", ln) for ln in lines[1:]]
        frames = [m for m in frames if m]
        for i, m in enumerate(frames):
            if "kernel" in m.group(3):
                continue
            # perf shows no inlined frames, but it marks a libc memcpy/memmove leaf "inlined"
            # though no line below shares its address: that one is the sample's real leaf
            if m.group(3) == "inlined" and not (i == 0 and len(frames) > 1 and
                                                frames[1].group(1) != m.group(1)):
                continue
            name = re.sub(r"\+0x[0-9a-f]+$", "", m.group(2)).split("@")[0]
            user.append("?" if name == "[unknown]" else name)
        stacks.append((tuple(reversed(user)), 1))
    return stacks


def reached_root(chain):
    """Main-thread stacks pass through __libc_start_call_main; threads start at clone."""
    return bool(chain) and (chain[0] in ROOTS or "__libc_start_call_main" in chain)


def root_rate(stacks):
    """Among samples with a user context: one taken after the process let go of its memory
    (exit_mm(): an xz -9 spends ~2% of its time unmapping 674 MB at exit) or in a kernel thread
    has no user stack for any profiler to walk.  perf's per-task events never see that part."""
    n = sum(c for s, c in stacks if s)
    return sum(c for s, c in stacks if reached_root(s)) / n if n else 0.0


def no_user_share(stacks):
    n = sum(c for _, c in stacks)
    return sum(c for s, c in stacks if not s) / n if n else 0.0


def normalize(chain):
    """Makes chains comparable across tools: perf looks return addresses up without the -1, so a
    call at the very end of __libc_start_main is charged to the next symbol and that frame is lost;
    runs of unnamed frames collapse to one."""
    out = []
    for name in chain:
        # glibc's memcpy variants are aliases of its memmove ones: one address, two names
        name = name.replace("__memcpy_", "__memmove_")
        # ember shows the Python frames an eval loop ran in its place (left out above)
        if name in ("__libc_start_main", "_PyEval_EvalFrameDefault") or (out and out[-1] == name == "?"):
            continue
        out.append(name)
    return tuple(out)


def agreement(a, b):
    """Histogram intersection of two chain distributions: 1.0 when identical."""
    def dist(stacks):
        d, n = collections.Counter(), sum(c for _, c in stacks)
        for s, c in stacks:
            d[normalize(s)] += c / n
        return d
    da, db = dist(a), dist(b)
    return sum(min(da[k], db[k]) for k in da)


def main():
    if not os.access(EMBER, os.X_OK):
        sys.exit("unwind_compare: build ember first")
    for comm, cmd in workloads():
        auto = ember_stacks("auto", cmd, comm)
        fp = ember_stacks("fp", cmd, comm)
        perf = perf_stacks(cmd, comm)
        name = comm.replace(".", "")
        print(f"unwind_root_rate_{name}_auto {root_rate(auto):.3f} ratio", flush=True)
        print(f"unwind_root_rate_{name}_fp {root_rate(fp):.3f} ratio", flush=True)
        print(f"unwind_root_rate_{name}_perf_dwarf {root_rate(perf):.3f} ratio", flush=True)
        print(f"unwind_no_user_stack_{name}_auto {no_user_share(auto):.3f} ratio", flush=True)
        print(f"unwind_chain_agreement_{name}_auto_vs_perf {agreement(auto, perf):.3f} ratio", flush=True)
        print(f"unwind_chain_agreement_{name}_fp_vs_perf {agreement(fp, perf):.3f} ratio", flush=True)


if __name__ == "__main__":
    main()
