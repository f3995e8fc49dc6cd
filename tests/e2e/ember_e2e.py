# SPDX-License-Identifier: BSD-2-Clause OR GPL-2.0
"""ember_e2e.py - shared helpers for the end-to-end tests: run ember and workloads, parse folded stacks, report PASS/FAIL/SKIP."""

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
import traceback

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
EMBER = os.environ.get("EMBER", os.path.join(ROOT, ".output", "ember"))
WORKLOADS = os.path.join(ROOT, ".output", "workloads")
IN_CI = os.environ.get("CI") == "true"

LINE_RE = re.compile(r"^([^\n]+) (\d+)$")


class Skip(Exception):
    """Raised by a test that cannot run here (never used for BPF in CI)."""


class Runner:
    """Runs named test functions and prints one PASS/FAIL/SKIP line for each."""

    def __init__(self):
        self.failed = 0

    def run(self, name, fn, *args):
        try:
            fn(*args)
        except Skip as e:
            print(f"SKIP {name}: {e}", flush=True)
        except AssertionError as e:
            self.failed += 1
            print(f"FAIL {name}: {one_line(str(e)) or 'assertion failed'}", flush=True)
        except Exception as e:  # a crash in a test is a failure of that test
            self.failed += 1
            print(f"FAIL {name}: {type(e).__name__}: {one_line(str(e))}", flush=True)
            traceback.print_exc(file=sys.stdout)
        else:
            print(f"PASS {name}", flush=True)

    def unavailable(self, names, why):
        """Reports tests that cannot run: SKIP locally, FAIL in CI (CI must run BPF tests)."""
        for name in names:
            if IN_CI:
                self.failed += 1
                print(f"FAIL {name}: {why} (CI=true: BPF tests must run)", flush=True)
            else:
                print(f"SKIP {name}: {why}", flush=True)

    def exit(self):
        sys.exit(1 if self.failed else 0)


def run_suite(tests, namespace, setups=(), tmp=None):
    """Runs the setups, then every t_<name> of tests found in namespace, and exits.

    Without BPF the tests SKIP (FAIL when CI=true); without the ember binary they FAIL.
    """
    runner = Runner()
    why = bpf_unavailable_reason()
    if why:
        runner.unavailable(tests, why)
        runner.exit()
    if not os.access(EMBER, os.X_OK):
        def not_built():
            raise AssertionError(f"{EMBER} not built (run make)")
        for t in tests:
            runner.run(t, not_built)
        runner.exit()
    try:
        for setup in setups:
            setup()
        for t in tests:
            runner.run(t, namespace["t_" + t])
    finally:
        if tmp:
            shutil.rmtree(tmp, ignore_errors=True)
    runner.exit()


def one_line(s):
    return " ".join(s.split())


def bpf_unavailable_reason():
    """Returns why BPF tests cannot run here, or None if they can."""
    if os.geteuid() != 0:
        return "not root"
    if not os.path.exists("/sys/kernel/btf/vmlinux"):
        return "kernel has no BTF (/sys/kernel/btf/vmlinux)"
    if not os.access(EMBER, os.X_OK):
        return None  # not an environment problem: the tests will FAIL on it
    return None


def workload(name):
    path = os.path.join(WORKLOADS, name)
    assert os.access(path, os.X_OK), f"workload {path} not built (run make test)"
    return path


def build_id(path):
    """The GNU build id of ELF file PATH in hex, as readelf -n prints it."""
    r = subprocess.run(["readelf", "-n", path], capture_output=True, text=True, check=True)
    for line in r.stdout.splitlines():
        if "Build ID:" in line:
            return line.split()[-1]
    raise AssertionError(f"{path} has no build id")


def parse_folded(text):
    """Parses folded stacks into a list of (frames, count); frames[0] is comm.

    Asserts the format: 'frame;frame;... COUNT' per line, no empty frames,
    positive counts, and no stack printed twice.
    """
    stacks = []
    seen = set()
    for n, line in enumerate(text.split("\n"), 1):
        if line == "" and n == len(text.split("\n")):
            break  # the trailing newline
        m = LINE_RE.match(line)
        assert m, f"line {n} is malformed: {line[:200]!r}"
        frames = m.group(1).split(";")
        count = int(m.group(2))
        assert all(f != "" for f in frames), f"line {n} has an empty frame: {line[:200]!r}"
        assert count > 0, f"line {n} has count 0: {line[:200]!r}"
        assert m.group(1) not in seen, f"line {n} repeats a stack: {line[:200]!r}"
        seen.add(m.group(1))
        stacks.append((frames, count))
    return stacks


def is_kernel(frame):
    return frame.endswith("_[k]")


def user_frames(frames):
    """User frames of a parsed line (comm excluded), outermost first."""
    return [f for f in frames[1:] if not is_kernel(f)]


NOFP_CHAIN = ["nofp_outer", "nofp_middle", "nofp_leaf"]
NOFP_MAIN_ROOT = ["_start", "__libc_start_main", "__libc_start_call_main", "main", "nofp_outer"]
THREAD_ROOTS = ("__clone3", "clone3", "__clone", "clone")


def nofp_whole(frames):
    """True when a nofp_chain stack runs from its root (main or clone) to its leaf; symbol
    versions (__libc_start_main@@GLIBC_2.34) are left out."""
    u = [x.split("@")[0] for x in user_frames(frames)]
    return u[-3:] == NOFP_CHAIN and (u[:5] == NOFP_MAIN_ROOT or (u and u[0] in THREAD_ROOTS))


def kernel_frames(frames):
    return [f for f in frames[1:] if is_kernel(f)]


def by_comm(stacks, comm):
    return [(f, c) for f, c in stacks if f[0] == comm]


def total(stacks):
    return sum(c for _, c in stacks)


def parse_summary(stderr):
    """Returns the key=value pairs of ember's 'ember: ...' summary line (ints where possible)."""
    lines = [l for l in stderr.splitlines() if l.startswith("ember: ") and "samples=" in l]
    assert lines, f"no 'ember: ... samples=N' summary on stderr: {stderr[-500:]!r}"
    out = {}
    for k, v in re.findall(r"([A-Za-z_][A-Za-z0-9_]*)=(\S+)", lines[-1]):
        try:
            out[k] = int(v)
        except ValueError:
            out[k] = v
    return out


def contains_run(seq, run):
    n = len(run)
    return any(seq[i:i + n] == run for i in range(len(seq) - n + 1))


class Recording:
    """An ember record running in the background; result() waits and returns (rc, stdout, stderr)."""

    def __init__(self, args, out_path=None):
        self.out_path = out_path
        self.argv = [EMBER, "record"] + args
        self.proc = subprocess.Popen(self.argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                     text=True, errors="replace")
        self.stdout = None
        self.stderr = None

    def wait_ready(self, timeout=15.0):
        """Waits until this ember holds a loaded do_sample program, then a little more for attach.

        Without bpftool, falls back to a fixed delay.
        """
        bpftool = shutil.which("bpftool") or ("/usr/sbin/bpftool" if os.path.exists("/usr/sbin/bpftool") else None)
        deadline = time.monotonic() + timeout
        while bpftool and time.monotonic() < deadline:
            self._check_alive()
            if self._prog_loaded(bpftool):
                time.sleep(0.3)
                self._check_alive()
                return
            time.sleep(0.1)
        if bpftool:
            self._check_alive()
            raise AssertionError(f"ember's do_sample program did not appear within {timeout}s")
        time.sleep(2.0)
        self._check_alive()

    def _check_alive(self):
        if self.proc.poll() is not None:
            out, err = self.proc.communicate()
            self.stdout, self.stderr = out, err
            raise AssertionError(f"ember exited early with {self.proc.returncode}: {one_line(err)[-400:]}")

    def _prog_loaded(self, bpftool):
        try:
            r = subprocess.run([bpftool, "prog", "show", "-j"], capture_output=True, text=True, timeout=10)
            progs = json.loads(r.stdout or "[]")
        except (subprocess.SubprocessError, ValueError, OSError):
            return False
        for p in progs:
            if not str(p.get("name", "")).startswith("do_sample"):
                continue
            # bpftool without pid support has no "pids": take any do_sample*.
            if "pids" not in p or any(x.get("pid") == self.proc.pid for x in p["pids"]):
                return True
        return False

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)

    def result(self, timeout=60):
        try:
            out, err = self.proc.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            out, err = self.proc.communicate()
            raise AssertionError(f"ember did not exit within {timeout}s after its duration")
        self.stdout, self.stderr = out, err
        if self.out_path and self.out_path != "-" and os.path.exists(self.out_path):
            with open(self.out_path, errors="replace") as f:
                self.folded = f.read()
        else:
            self.folded = out
        return self.proc.returncode, out, err

    def kill(self):
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.communicate()


def run_workload(name, *args, timeout=60):
    """Runs a workload to completion and returns its 'key=value' stdout as a dict of floats."""
    r = subprocess.run([workload(name)] + [str(a) for a in args], capture_output=True, text=True, timeout=timeout)
    assert r.returncode == 0, f"{name} exited with {r.returncode}: {r.stderr.strip()}"
    return {k: float(v) for k, v in re.findall(r"(\w+)=([0-9.]+)", r.stdout)}


def start_workload(name, *args, nice=0):
    """Starts a workload; NICE > 0 lowers its priority (a crowd of threads must not starve the agent)."""
    return subprocess.Popen([workload(name)] + [str(a) for a in args], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True,
                            preexec_fn=(lambda: os.nice(nice)) if nice else None)


def poll_until(fn, timeout, what, every=0.05):
    """Calls fn every @every s until it returns something true, and returns that; fails after timeout."""
    deadline = time.monotonic() + timeout
    while True:
        v = fn()
        if v:
            return v
        if time.monotonic() > deadline:
            raise AssertionError(f"{what} within {timeout}s")
        time.sleep(every)


# --- agent and export ------------------------------------------------------

WINDOW_RE = re.compile(r"^ember: info: window: (.*)$", re.M)


class Agent(Recording):
    """An `ember agent` running in the background (same wait_ready/stop/result/kill as Recording).

    started is the wall-clock time (s) just before the process was spawned.
    """

    def __init__(self, args, env=None):
        self.out_path = None
        if "--listen" not in args:
            args = args + ["--listen", "127.0.0.1:0"]  # never collide with a running agent's 7070
        self.argv = [EMBER, "agent"] + args
        self.started = time.time()
        self.proc = subprocess.Popen(self.argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                     text=True, errors="replace", env=env)
        self.stdout = None
        self.stderr = None
        self.ended = None

    def result(self, timeout=60):
        r = super().result(timeout)
        self.ended = time.time()
        return r

    def run_for(self, seconds, timeout=30):
        """Waits until sampling, lets it run @seconds, stops it; returns (rc, stderr)."""
        try:
            self.wait_ready()
            time.sleep(seconds)
            self.stop()
            rc, _, err = self.result(timeout=timeout)
        finally:
            self.kill()
        return rc, err

    def mapped(self):
        """The basenames of the files mapped into the running agent (/proc/PID/maps)."""
        with open(f"/proc/{self.proc.pid}/maps") as f:
            return {os.path.basename(line.split()[5]) for line in f if len(line.split()) > 5}

    def window_lines(self):
        """The key=value pairs of every 'window:' info line the agent logged (after result())."""
        out = []
        for m in WINDOW_RE.finditer(self.stderr or ""):
            out.append({k: int(v) if v.isdigit() else v
                        for k, v in re.findall(r"(\w+)=(\S+)", m.group(1))})
        return out


def run_ember(args, timeout=60):
    """Runs `ember ARGS...` to completion; returns the CompletedProcess (text, stdout/stderr captured)."""
    try:
        return subprocess.run([EMBER] + [str(a) for a in args], capture_output=True, text=True,
                              errors="replace", timeout=timeout)
    except subprocess.TimeoutExpired:
        raise AssertionError(f"`ember {' '.join(map(str, args))}` did not exit within {timeout}s")


def export(db, *args, timeout=60):
    """Runs `ember export --db DB ARGS...`, asserts exit 0, returns stdout."""
    r = run_ember(["export", "--db", db] + list(args), timeout=timeout)
    assert r.returncode == 0, \
        f"`ember export --db {db} {' '.join(map(str, args))}` exited {r.returncode}: {one_line(r.stderr)[-400:]}"
    return r.stdout


def db_query(db, sql, params=()):
    """Runs one read query on a store with python's sqlite3 (read-only URI) and returns all rows."""
    import sqlite3
    con = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=10)
    try:
        return con.execute(sql, params).fetchall()
    finally:
        con.close()


def file_bytes(path):
    with open(path, "rb") as f:
        return f.read()


def go_tool():
    go = shutil.which("go") or ("/usr/lib/go/bin/go" if os.path.exists("/usr/lib/go/bin/go") else None)
    if not go:
        if IN_CI:
            raise AssertionError("go not installed (make test installs golang-go; CI=true must run this)")
        raise Skip("go not installed (make test installs golang-go)")
    return go


def go_pprof(args, path, tmp):
    """Runs `go tool pprof ARGS PATH` (caches under tmp) and returns its stdout; asserts it succeeded."""
    env = dict(os.environ, HOME=os.environ.get("HOME", tmp), GOCACHE=os.path.join(tmp, "gocache"),
               PPROF_TMPDIR=tmp)
    r = subprocess.run([go_tool(), "tool", "pprof", "-symbolize=none"] + args + [path],
                       capture_output=True, text=True, errors="replace", timeout=120, env=env)
    assert r.returncode == 0, f"go tool pprof {' '.join(args)} failed ({r.returncode}): {one_line(r.stderr)[-400:]}"
    return r.stdout
