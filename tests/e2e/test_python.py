# SPDX-License-Identifier: BSD-2-Clause OR GPL-2.0
"""test_python.py - end-to-end tests of CPython frames walked in BPF: real python3.11
processes started after ember, their Python functions named in order between the native
root and the native leaf, C extensions under their Python caller, reused code objects
never misnamed, and processes without a usable CPython left as they were (counted)."""

import os
import shutil
import subprocess
import sys
import tempfile
import time

sys.dont_write_bytecode = True  # keep the work tree clean
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from ember_e2e import (Agent, Recording, by_comm, contains_run, db_query, export,  # noqa: E402
                       parse_folded, parse_summary, run_suite, total, user_frames, workload)

PYTHON = "/usr/bin/python3.11"
THREAD_ROOTS = ("__clone3", "clone3", "__clone", "clone")
SECONDS = 4
# Fewest samples a script must get: the host may be busy (CPU shared with other work), so
# only a floor; the shares below are what is tested.
MIN_SAMPLES = 20
# ember's first seconds go to the processes already running (their unwind tables): the
# scripts start after that, so that what is measured is the Python walk.
SETTLE = 3

# Each script names its threads (comm) first, so other python3.11 processes on the host
# do not count, and runs for SECONDS.
COMM = "import sys\nwith open('/proc/self/comm', 'w') as f:\n    f.write(sys.argv[1])\n"
# Code objects are read from the live process: each script then idles a while, so an
# agent slowed down by a busy host still finds them (a process gone first leaves its
# frames unknown, counted as python_code_unreadable).
LINGER = "\nimport time as _t\n_t.sleep(4)\n"

# what hot.py and hotmod.py share: a method, a leaf and a loop calling them
WORK = """
import threading, time
class Worker:
    def method_c(self, n):
        return leaf_d(n)
def leaf_d(n):
    s = 0
    for i in range(n):
        s += i * i
    return s
def func_b(w, end):
    while time.time() < end:
        w.method_c(3000)
"""
HOT = COMM + WORK + """def func_a(end):
    func_b(Worker(), end)
t = threading.Thread(target=func_a, args=(time.time() + %d,))
t.start()
t.join()
""" % SECONDS + LINGER
HOT_CHAIN = ["func_a (hot.py)_[py]", "func_b (hot.py)_[py]", "Worker.method_c (hot.py)_[py]",
             "leaf_d (hot.py)_[py]"]

MODULE = WORK + """def func_a(seconds):
    func_b(Worker(), time.time() + seconds)
"""
MAIN = COMM + "import hotmod\nhotmod.func_a(%d)\n" % SECONDS + LINGER
MODULE_CHAIN = ["<module> (main.py)_[py]", "func_a (hotmod.py)_[py]", "func_b (hotmod.py)_[py]",
                "Worker.method_c (hotmod.py)_[py]", "leaf_d (hotmod.py)_[py]"]

ZLIB = COMM + """
import os, time, zlib
data = os.urandom(1 << 16)
def compress_loop(end):
    while time.time() < end:
        zlib.compress(data, 6)
def caller():
    compress_loop(time.time() + %d)
caller()
""" % SECONDS + LINGER

# Functions made by exec() and dropped again: their code objects are freed and the
# memory reused by the next ones.  An even one only ever calls hot_even.
EXEC = COMM + """
import time
def hot_even():
    s = 0
    for i in range(20000):
        s += i
def hot_odd():
    s = 0
    for i in range(20000):
        s += i
end = time.time() + %d
k = 0
while time.time() < end:
    kind = "even" if k %% 2 == 0 else "odd"
    ns = {"hot_even": hot_even, "hot_odd": hot_odd}
    exec("def fn_%%d_%%s():\\n    for _ in range(3):\\n        hot_%%s()\\n" %% (k, kind, kind), ns)
    ns["fn_%%d_%%s" %% (k, kind)]()
    del ns
    k += 1
""" % SECONDS + LINGER

PLAIN = COMM + """
import time
def spin(end):
    s = 0
    while time.time() < end:
        s += 1
spin(time.time() + %d)
""" % SECONDS

LINES = COMM + """
import time
def leaf_line(end):
    s = 0
    while time.time() < end:
        s += 1
leaf_line(time.time() + %d)
""" % SECONDS + LINGER

TESTS = ["python_lines_in_store", "python_thread_chain", "python_module_chain",
         "python_c_extension_under_caller", "python_exec_reuse_never_misnamed",
         "python_non_cpython_unchanged", "python_stripped_stays_native", "python_counters",
         "python_off_stays_native"]
TMP = tempfile.mkdtemp(prefix="ember-python-")
runs = {}


def script(name, text):
    path = os.path.join(TMP, name)
    with open(path, "w") as f:
        f.write(text)
    return path


def record(name, jobs, args=()):
    """Records while running jobs [(argv, cwd)] to completion, all at once."""
    if name in runs:
        return runs[name]
    if not os.path.exists(PYTHON):
        raise AssertionError(f"{PYTHON} missing (make test installs python3.11)")
    out = os.path.join(TMP, name + ".folded")
    rec = Recording(["-F", "199", "-d", str(SECONDS + 12), "-o", out] + list(args), out)
    procs = []
    try:
        rec.wait_ready()
        time.sleep(SETTLE)
        for argv, cwd in jobs:
            procs.append(subprocess.Popen(argv, cwd=cwd, stdout=subprocess.PIPE,
                                          stderr=subprocess.PIPE, text=True))
        for p in procs:
            _, err = p.communicate(timeout=60)
            assert p.returncode == 0, f"{p.args} exited with {p.returncode}: {err[-300:]}"
        assert rec.proc.poll() is None, "ember stopped before the scripts did"
        rec.stop()  # the scripts are done: no need to sit out -d
        rc, _, err = rec.result(timeout=60)
        assert rc == 0, f"ember exited with {rc}: {err.strip()[-300:]}"
        runs[name] = {"stacks": parse_folded(rec.folded), "summary": parse_summary(err), "stderr": err}
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
        rec.kill()
    return runs[name]


def main_run():
    """One recording of every script but the stripped one (they run side by side)."""
    os.makedirs(os.path.join(TMP, "mod"), exist_ok=True)
    script("mod/hotmod.py", MODULE)
    jobs = [([PYTHON, script("hot.py", HOT), "pyhot"], TMP),
            ([PYTHON, "main.py", "pymod"], os.path.join(TMP, "mod")),
            ([PYTHON, script("zl.py", ZLIB), "pyzlib"], TMP),
            ([PYTHON, script("ex.py", EXEC), "pyexec"], TMP)]
    script("mod/main.py", MAIN)
    return record("main", jobs)


def py(frame):
    return frame.endswith("_[py]")


def chain_share(stacks, comm, chain, roots):
    """(good, n): of comm's samples whose native walk reached a root (the tables of a new
    process take a moment to load; until then BPF falls back to frame pointers, see
    test_unwind.py), how many show chain as their innermost Python frames, in order, with
    only native frames below (the leaf)."""
    good = n = 0
    for f, c in by_comm(stacks, comm):
        u = user_frames(f)
        if not u or u[0] not in roots:
            continue
        n += c
        pyf = [x for x in u if py(x)]
        if pyf[-len(chain):] == chain:
            good += c
    return good, n


def t_python_thread_chain():
    stacks = main_run()["stacks"]
    chain = ["Thread.run (threading.py)_[py]"] + HOT_CHAIN
    good, n = chain_share(stacks, "pyhot", chain, THREAD_ROOTS)
    assert n >= MIN_SAMPLES, f"only {n} samples of the hot thread reach clone"
    named = [f for f, _ in by_comm(stacks, "pyhot") if contains_run(f, HOT_CHAIN)]
    assert named and "start_thread" in named[0], "no stack shows the chain under start_thread"
    print(f"# thread chain: {good}/{n} samples", flush=True)
    assert good >= 0.9 * n, \
        f"{good}/{n} thread samples show clone..{';'.join(chain)}..native leaf (want 90%)"


def t_python_module_chain():
    stacks = main_run()["stacks"]
    good, n = chain_share(stacks, "pymod", MODULE_CHAIN, ("_start",))
    assert n >= MIN_SAMPLES, f"only {n} samples of the module script reach _start"
    named = [f for f, _ in by_comm(stacks, "pymod") if contains_run(user_frames(f), MODULE_CHAIN)]
    assert named, "no stack shows the imported module's chain"
    u = user_frames(named[0])
    assert "Py_RunMain" in u[:u.index(MODULE_CHAIN[0])], f"native root missing: {';'.join(u)[:300]}"
    print(f"# module chain: {good}/{n} samples", flush=True)
    assert good >= 0.9 * n, f"{good}/{n} samples show _start..{';'.join(MODULE_CHAIN)}..leaf (want 90%)"


def t_python_c_extension_under_caller():
    mine = by_comm(main_run()["stacks"], "pyzlib")
    deflate = [(f, c) for f, c in mine if any(x.startswith("deflate") for x in user_frames(f))]
    n = total(deflate)
    assert n >= MIN_SAMPLES, f"only {n} samples in zlib's deflate"
    good = 0
    for f, c in deflate:
        u = user_frames(f)
        first = next(i for i, x in enumerate(u) if x.startswith("deflate"))
        if contains_run(u[:first], ["caller (zl.py)_[py]", "compress_loop (zl.py)_[py]"]) \
                and not any(py(x) for x in u[first:]):
            good += c
    print(f"# zlib under its caller: {good}/{n} samples", flush=True)
    assert good >= 0.9 * n, f"{good}/{n} deflate samples sit under caller;compress_loop (want 90%)"


def t_python_exec_reuse_never_misnamed():
    run = main_run()
    mine = by_comm(run["stacks"], "pyexec")
    named = wrong = 0
    for f, c in mine:
        u = user_frames(f)
        for i, x in enumerate(u[:-1]):
            if not x.startswith("fn_") or not py(x):
                continue
            kind = x.split(" ")[0].rsplit("_", 1)[1]
            nxt = u[i + 1]
            if py(nxt) and nxt.startswith("hot_"):
                named += c
                if not nxt.startswith("hot_" + kind + " "):
                    wrong += c
    assert named >= MIN_SAMPLES, f"only {named} samples name an exec'd function"
    assert wrong == 0, f"{wrong}/{named} samples name an exec'd function that did not run there"
    assert "python_code_stale" in run["summary"], "no python_code_stale counter in the summary"
    print(f"# exec'd functions: {named} samples named, python_code_stale="
          f"{run['summary']['python_code_stale']}", flush=True)


def stripped_run():
    """A python3.11 whose _PyRuntime is not exported (its name patched), as if stripped."""
    with open(PYTHON, "rb") as f:
        data = bytearray(f.read())
    i = data.find(b"\0_PyRuntime\0")
    assert i > 0, f"{PYTHON} does not export _PyRuntime"
    data[i + 1:i + 12] = b"_PyRuntimX\0"
    os.makedirs(os.path.join(TMP, "stripped"), exist_ok=True)
    exe = os.path.join(TMP, "stripped", "python3.11")
    with open(exe, "wb") as f:
        f.write(data)
    os.chmod(exe, 0o755)
    return record("stripped", [([exe, script("plain.py", PLAIN), "pystrip"], TMP)])


def t_python_non_cpython_unchanged():
    """A C program whose name says python (nofp_chain copied as python-fake): looked at,
    counted as not CPython, its stacks as before."""
    fake = os.path.join(TMP, "python-fake")
    shutil.copy(workload("nofp_chain"), fake)
    run = record("fake", [([fake, "3"], TMP)])
    mine = by_comm(run["stacks"], "python-fake")
    rooted = [(f, c) for f, c in mine if user_frames(f)[:1] == ["_start"]]
    assert total(rooted) >= MIN_SAMPLES, f"only {total(rooted)} python-fake samples reach _start"
    assert not any(py(x) for f, _ in mine for x in f), "Python frames in a C program"
    chain = sum(c for f, c in rooted
                if [x.split("@")[0] for x in user_frames(f)][-3:] == ["nofp_outer", "nofp_middle", "nofp_leaf"])
    assert chain >= 0.9 * total(rooted), f"{chain}/{total(rooted)} samples keep the C chain"
    assert run["summary"].get("python_not_cpython", 0) >= 1, "python_not_cpython not counted"


def t_python_stripped_stays_native():
    run = stripped_run()
    mine = by_comm(run["stacks"], "pystrip")
    n = total(mine)
    assert n >= MIN_SAMPLES, f"only {n} samples of the stripped python"
    assert not any(py(x) for f, _ in mine for x in f), "Python frames without _PyRuntime"
    rooted = [(f, c) for f, c in mine if user_frames(f)[:1] == ["_start"]]
    native = sum(c for f, c in rooted if "_PyEval_EvalFrameDefault" in user_frames(f))
    assert total(rooted) >= MIN_SAMPLES, f"only {total(rooted)} samples reach _start"
    assert native >= 0.9 * total(rooted), \
        f"{native}/{total(rooted)} samples reaching _start show the eval loop as before"
    assert run["summary"].get("python_no_runtime", 0) >= 1, "python_no_runtime not counted"


def t_python_counters():
    s = main_run()["summary"]
    assert s.get("python_processes", 0) >= 4, f"python_processes={s.get('python_processes')}"
    assert s.get("python_frames", 0) > 0 and s.get("python_eval_frames", 0) > 0, \
        "BPF counted no Python frames"
    for k in ("python_failed_no_tss_key", "python_failed_read_fault", "python_failed_depth_limit",
              "python_failed_no_thread_state", "python_failed_no_frame_left"):
        assert k in s, f"no {k} in the summary"
    frames = s["python_frames"]
    failed = s["python_failed_read_fault"] + s["python_failed_no_thread_state"]
    assert failed <= 0.05 * frames, f"{failed} failed Python walks for {frames} frames"


def t_python_off_stays_native():
    run = record("off", [([PYTHON, script("plain.py", PLAIN), "pyoff"], TMP)], ["--no-python"])
    mine = by_comm(run["stacks"], "pyoff")
    assert total(mine) >= MIN_SAMPLES, f"only {total(mine)} samples with --no-python"
    assert not any(py(x) for f, _ in mine for x in f), "Python frames with --no-python"
    assert run["summary"].get("python_frames", -1) == 0, "BPF walked Python with --no-python"
    assert run["summary"].get("python_processes_unwalked", 0) >= 1, "unwalked CPython not counted"


def t_python_lines_in_store():
    """The agent's store keeps a Python frame's file and line (pprof and the UI read them)."""
    path = script("lines.py", LINES)
    src = LINES.split("\n")
    loop = {src.index("    while time.time() < end:") + 1, src.index("        s += 1") + 1}
    db = os.path.join(TMP, "py.db")
    agent = Agent(["--db", db, "--window", "2", "-F", "199"])
    try:
        agent.wait_ready()
        time.sleep(SETTLE)
        p = subprocess.run([PYTHON, path, "pylines"], capture_output=True, text=True, timeout=60)
        assert p.returncode == 0, f"lines.py exited with {p.returncode}: {p.stderr[-300:]}"
        time.sleep(3)  # the last window
        agent.stop()
        rc, _, err = agent.result(timeout=30)
        assert rc == 0, f"ember agent exited with {rc}: {err.strip()[-300:]}"
    finally:
        agent.kill()
    rows = db_query(db, "SELECT n.s, f.s, fr.line FROM frames fr JOIN strings n ON n.id = fr.name"
                        " JOIN strings f ON f.id = fr.file WHERE fr.flags & 16")
    mine = [(bytes(n).decode(), bytes(f).decode(), line) for n, f, line in rows
            if bytes(n).startswith(b"leaf_line (lines.py)")]
    assert mine, f"no leaf_line frame stored among {len(rows)} Python frames"
    assert all(f == path for _, f, _ in mine), f"file not kept: {mine[:3]}"
    lines = {line for _, _, line in mine}
    assert lines & loop, f"lines {sorted(lines)} miss the loop's {sorted(loop)}"
    first = src.index("def leaf_line(end):") + 1
    assert all(first <= x <= max(loop) for x in lines), f"lines {sorted(lines)} outside leaf_line"
    # and out of the store: folded with _[py], the viewer's data with the python kind
    assert "<module> (lines.py)_[py];leaf_line (lines.py)_[py]" in export(db, "--comm", "pylines"), \
        "export --format folded lacks the Python chain"
    html = export(db, "--comm", "pylines", "--format", "html")
    assert '"kind":"python"' in html, "the viewer's data has no python kind"


def main():
    run_suite(TESTS, globals(), (), TMP)


if __name__ == "__main__":
    main()
