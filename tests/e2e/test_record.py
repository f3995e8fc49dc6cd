# SPDX-License-Identifier: BSD-2-Clause OR GPL-2.0
"""test_record.py - end-to-end tests of `ember record` under real BPF: stacks, sample counts, filters and output format (by the output's extension)."""

import gzip
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
import xml.etree.ElementTree as ET

sys.dont_write_bytecode = True  # keep the work tree clean
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from ember_e2e import (Recording, by_comm, go_pprof, is_kernel, kernel_frames, parse_folded, parse_summary,  # noqa: E402
                       run_suite, start_workload, total, user_frames)

HZ = 99
CHAIN = ["main", "chain_a", "chain_b", "spin"]

TESTS = [
    "record_exits_cleanly", "output_well_formed", "summary_line", "cpu_chain_stack",
    "cpu_chain_sample_count", "cpu_chain_symbolized", "syscall_kernel_frames",
    "user_before_kernel", "short_lived_symbolized", "pid_filter_stdout",
    "kernel_only", "user_only", "no_symbol_versions",
    "record_ext_pprof", "record_ext_html", "record_ext_svg", "record_ext_txt",
]

TMP = tempfile.mkdtemp(prefix="ember-e2e-")
results = {}  # recording name -> dict(rc, folded, stderr, stacks, workload info)


def record(name, args, workloads, delay=0.0, folded=True):
    """Starts ember with args, starts each (name, args) workload once ember is sampling, waits for all.

    Stores rc, stdout/stderr, parsed stacks and each workload's output in results[name].
    """
    if name in results:
        return results[name]
    res = {"error": None}
    results[name] = res
    out_path = args[args.index("-o") + 1] if "-o" in args else None
    if out_path == "-":
        out_path = None
    elif not out_path:
        out_path = os.path.join(TMP, name + ".folded")
        args = args + ["-o", out_path]
    rec = Recording(args, out_path)
    procs = []
    try:
        rec.wait_ready()
        time.sleep(delay)
        for wname, wargs in workloads:
            procs.append((wname, start_workload(wname, *wargs)))
        res["pids"] = {wname: p.pid for wname, p in procs}
        for wname, p in procs:
            out, err = p.communicate(timeout=60)
            assert p.returncode == 0, f"workload {wname} exited with {p.returncode}: {err.strip()}"
            res[wname] = dict(kv.split("=", 1) for kv in out.split() if "=" in kv)
        assert rec.proc.poll() is None, "ember finished before the workloads did: the window is too short"
        rc, out, err = rec.result(timeout=60)
        res.update(rc=rc, stdout=out, stderr=err, folded=rec.folded, out_path=out_path)
        assert rc == 0, f"ember record {' '.join(args)} exited with {rc}: {err.strip()[-400:]}"
        if folded:
            res["stacks"] = parse_folded(rec.folded)
    except AssertionError as e:
        res["error"] = str(e)
    finally:
        rec.kill()
        for _, p in procs:
            if p.poll() is None:
                p.kill()
                p.communicate()
    return res


def get(name):
    res = results[name]
    assert not res["error"], f"recording '{name}' failed: {res['error']}"
    return res


# --- recordings -----------------------------------------------------------

def rec_main():
    # The workload starts once ember samples and runs 4 s of a 6 s window.
    return record("main", ["-d", "6", "-F", str(HZ)], [("cpu_chain", [4])])


def rec_sys():
    # short_lived starts and exits in the middle of the window, on the other CPU.
    return record("sys", ["-d", "5", "-F", str(HZ)], [("syscall_loop", [3]), ("short_lived", [0.5])], delay=0.5)


# --- tests ----------------------------------------------------------------

def t_record_exits_cleanly():
    res = get("main")
    assert os.path.exists(res["out_path"]), "-o FILE was not created"
    assert res["stdout"] == "", f"ember wrote to stdout despite -o FILE: {res['stdout'][:200]!r}"


def t_output_well_formed():
    for name in ("main", "sys"):
        res = get(name)
        assert res["stacks"], f"recording '{name}' is empty"
        for frames, _ in res["stacks"]:
            assert frames[0].strip() != "", f"empty comm in {';'.join(frames)!r}"


def t_summary_line():
    res = get("main")
    s = parse_summary(res["stderr"])
    assert isinstance(s.get("samples"), int) and s["samples"] > 0, f"bad samples= in summary: {s}"
    got = total(res["stacks"])
    assert got <= s["samples"], f"output holds {got} samples but summary says samples={s['samples']}"
    others = {k: v for k, v in s.items() if k != "samples"}
    assert others, "summary has no loss counters"
    bad = [k for k, v in others.items() if isinstance(v, int) and v < 0]
    assert not bad, f"negative counters: {bad}"


def t_cpu_chain_stack():
    res = get("main")
    mine = by_comm(res["stacks"], "cpu_chain")
    n = total(mine)
    assert n > 0, "no samples with comm cpu_chain"
    good = sum(c for f, c in mine if user_frames(f)[-len(CHAIN):] == CHAIN)
    share = good / n
    if share < 0.9:
        top = sorted(mine, key=lambda x: -x[1])[:3]
        raise AssertionError(f"only {good}/{n} ({share:.0%}) cpu_chain samples end in {';'.join(CHAIN)}; "
                             f"top stacks: {[(';'.join(f), c) for f, c in top]}")


def t_cpu_chain_sample_count():
    res = get("main")
    cpu = float(res["cpu_chain"]["cpu"])
    expect = cpu * HZ
    got = total(by_comm(res["stacks"], "cpu_chain"))
    assert abs(got - expect) <= 0.1 * expect, \
        f"cpu_chain got {got} samples, expected {expect:.0f} (cpu={cpu:.3f}s * {HZ} Hz) within 10%"


def t_cpu_chain_symbolized():
    res = get("main")
    mine = by_comm(res["stacks"], "cpu_chain")
    names = {f for frames, _ in mine for f in user_frames(frames)}
    missing = [f for f in CHAIN if f not in names]
    assert not missing, f"frames not symbolized by name: {missing}; saw {sorted(names)[:20]}"


def t_syscall_kernel_frames():
    res = get("sys")
    mine = by_comm(res["stacks"], "syscall_loop")
    n = total(mine)
    assert n > 0, "no samples with comm syscall_loop"
    good = sum(c for f, c in mine if "do_syscalls" in user_frames(f) and kernel_frames(f))
    assert good >= 0.3 * n, \
        f"only {good}/{n} syscall_loop samples have do_syscalls followed by kernel frames; " \
        f"top: {[(';'.join(f), c) for f, c in sorted(mine, key=lambda x: -x[1])[:3]]}"
    # Syscalls come from do_syscalls itself, so it must be the innermost user frame there.
    leaf = sum(c for f, c in mine if kernel_frames(f) and user_frames(f) and user_frames(f)[-1] == "do_syscalls")
    assert leaf >= 0.3 * n, f"only {leaf}/{n} samples have do_syscalls as the user leaf above kernel frames"


def t_user_before_kernel():
    for name in ("main", "sys"):
        for frames, _ in get(name)["stacks"]:
            seen_k = False
            for f in frames[1:]:
                if is_kernel(f):
                    seen_k = True
                elif seen_k:
                    raise AssertionError(f"user frame {f!r} after a kernel frame in {';'.join(frames)[:300]!r}")


def t_no_symbol_versions():
    # perf shows __libc_start_main, not __libc_start_main@@GLIBC_2.34
    frames = {f for name in ("main", "sys") for fs, _ in get(name)["stacks"] for f in fs[1:]}
    versioned = sorted(f for f in frames if "@GLIBC" in f or "@@" in f)
    assert not versioned, f"frames with symbol versions: {versioned[:5]}"
    assert any(f.startswith("__libc_start_main") for f in frames), "no __libc_start_main frame to check"


def t_short_lived_symbolized():
    res = get("sys")
    mine = by_comm(res["stacks"], "short_lived")
    n = total(mine)
    assert n > 0, "no samples with comm short_lived"
    names = {f for frames, _ in mine for f in user_frames(frames)}
    missing = [f for f in ("short_a", "short_spin") if f not in names]
    assert not missing, f"short_lived frames not symbolized: {missing}; saw {sorted(names)[:20]}"
    good = sum(c for f, c in mine if user_frames(f)[-2:] == ["short_a", "short_spin"])
    assert good >= 0.8 * n, f"only {good}/{n} short_lived samples end in short_a;short_spin"


def t_pid_filter_stdout():
    # cpu_chain is the target; syscall_loop runs beside it and must not show up.
    target = start_workload("cpu_chain", 6)
    noise = start_workload("syscall_loop", 6)
    try:
        time.sleep(0.2)
        rec = Recording(["-p", str(target.pid), "-d", "3", "-F", str(HZ), "-o", "-"], "-")
        rc, out, err = rec.result(timeout=60)
        assert rc == 0, f"ember -p exited with {rc}: {err.strip()[-400:]}"
        stacks = parse_folded(out)
        assert stacks, "-p PID -o - printed nothing on stdout"
        comms = {f[0] for f, _ in stacks}
        assert comms == {"cpu_chain"}, f"-p {target.pid} recorded other processes: {sorted(comms)}"
        # ember samples ~3 s of a thread that is always on a CPU.
        n = total(stacks)
        assert n >= 0.5 * 3 * HZ, f"-p recorded only {n} samples in 3 s of a busy process"
    finally:
        for p in (target, noise):
            p.kill()
            p.communicate()


def t_kernel_only():
    res = record("kernel_only", ["--kernel-only", "-d", "3", "-F", str(HZ)], [("syscall_loop", [2])])
    res = get("kernel_only")
    for frames, _ in res["stacks"]:
        user = [f for f in frames[1:] if not is_kernel(f)]
        assert not user, f"--kernel-only output has user frames {user[:3]} in {';'.join(frames)[:300]!r}"
    mine = by_comm(res["stacks"], "syscall_loop")
    n = total(mine)
    assert n > 0, "no syscall_loop samples under --kernel-only"
    withk = sum(c for f, c in mine if kernel_frames(f))
    assert withk >= 0.3 * n, f"only {withk}/{n} syscall_loop samples have kernel frames"


def t_user_only():
    res = record("user_only", ["--user-only", "-d", "3", "-F", str(HZ)], [("cpu_chain", [1]), ("syscall_loop", [1])])
    res = get("user_only")
    for frames, _ in res["stacks"]:
        k = [f for f in frames[1:] if is_kernel(f)]
        assert not k, f"--user-only output has kernel frames {k[:3]} in {';'.join(frames)[:300]!r}"
    mine = by_comm(res["stacks"], "cpu_chain")
    assert any(user_frames(f)[-len(CHAIN):] == CHAIN for f, _ in mine), \
        "--user-only lost the cpu_chain user stack"
    sysl = by_comm(res["stacks"], "syscall_loop")
    assert any("do_syscalls" in f for f, _ in sysl), "--user-only lost syscall_loop's user stack"


# --- output by extension -----------------------------------------------------

def record_as(ext):
    """A 4 s recording of 1 s of cpu_chain written to a file ending in @ext; returns its path."""
    path = os.path.join(TMP, "out" + ext)
    res = record("ext" + ext, ["-d", "4", "-F", str(HZ), "-o", path], [("cpu_chain", [1])], folded=False)
    res = get("ext" + ext)
    assert os.path.getsize(path) > 0, f"-o {path} is empty"
    assert res["stdout"] == "", f"ember wrote to stdout despite -o {path}"
    return path


def t_record_ext_pprof():
    path = record_as(".pb.gz")
    with open(path, "rb") as f:
        assert f.read(2) == b"\x1f\x8b", "-o x.pb.gz is not gzip"
    out = go_pprof(["-top", "-sample_index=samples", "-nodecount=1000"], path, TMP)
    m = re.search(r"of (\d+) total", out)
    assert m and int(m.group(1)) > 0, f"no samples in pprof -top: {out[:300]!r}"
    assert re.search(r"\sspin$", out, re.M), f"cpu_chain's spin not in pprof -top: {out[:600]!r}"


def t_record_ext_html():
    with open(record_as(".html"), encoding="utf-8") as f:
        page = f.read()
    assert page.lstrip().lower().startswith("<!doctype html>"), f"not an HTML page: {page[:80]!r}"
    assert not re.search(r"<script[^>]+src=|<link[^>]+href=", page), "the page loads files; it must be self-contained"
    m = re.search(r'<script type="application/json" id="ember-data">(.*?)</script>', page, re.S)
    assert m, "no embedded profile (ember-data)"
    data = json.loads(m.group(1))
    names = {f["name"] for f in data["frames"]}
    assert data["total"] > 0 and {"cpu_chain", "chain_a", "spin"} <= names, \
        f"viewer data lacks the cpu_chain stack: total={data['total']}, {sorted(names)[:20]}"
    assert 'id="flame"' in page, "the viewer's flame graph canvas is missing"


def t_record_ext_svg():
    path = record_as(".svg")
    root = ET.parse(path).getroot()
    ns = "{http://www.w3.org/2000/svg}"
    assert root.tag == ns + "svg", f"root element is {root.tag}"
    titles = [t.text or "" for t in root.iter(ns + "title")]
    assert any(t.startswith("spin ") for t in titles), f"no spin frame among {titles[:10]}"
    assert root.find(f".//{ns}script") is not None, "no inline script: the SVG is not interactive"
    assert not re.search(r'(href|src)="(https?:)?//', open(path).read()), "the SVG refers to the network"


def t_record_ext_txt():
    path = record_as(".txt")
    with open(path) as f:
        stacks = parse_folded(f.read())
    mine = by_comm(stacks, "cpu_chain")
    assert any(user_frames(fr)[-len(CHAIN):] == CHAIN for fr, _ in mine), "-o x.txt lost the cpu_chain stack"


def main():
    run_suite(TESTS, globals(), (rec_main, rec_sys), TMP)


if __name__ == "__main__":
    main()
