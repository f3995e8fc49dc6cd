# SPDX-License-Identifier: BSD-2-Clause OR GPL-2.0
"""test_names.py - end-to-end tests of frame names under real BPF: demangled C++ (and raw with
--no-demangle), Node.js JIT frames from its perf map, a binary deleted while it runs, a binary only
visible in its own mount namespace, and a stripped binary named through a local debuginfod."""

import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request

sys.dont_write_bytecode = True  # keep the work tree clean
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from ember_e2e import (Recording, build_id, by_comm, parse_folded, run_suite, total, user_frames,  # noqa: E402
                       workload)

HZ = 99
CHAIN = ["main", "chain_a", "chain_b", "spin"]
RUN = "ns::Worker<int>::run(double)"
LAMBDA = RUN + "::{lambda(unsigned long)#1}::operator()(unsigned long) const"
RAW_RUN = "_ZN2ns6WorkerIiE3runEd"
RAW_LAMBDA = "_ZZN2ns6WorkerIiE3runEdENKUlmE_clEm"
NODE = shutil.which("node") or "/usr/bin/node"
NODE_SCRIPT = ("function emberHotLoop(n){let s=0;for(let i=0;i<n;i++){s=(s*31+i)|0;}return s;}"
               "const end=Date.now()+3000;let x=0;while(Date.now()<end){x+=emberHotLoop(100000);}"
               "console.log('x='+x);")

TESTS = ["cxx_demangled", "cxx_no_demangle", "node_jit_frames", "deleted_binary",
         "mount_namespace", "debuginfod_stripped"]

TMP = tempfile.mkdtemp(prefix="ember-names-")
results = {}


def record(name, args, commands, env=None):
    """Runs ember record ARGS while each command (argv list) runs once it samples; keeps the stacks."""
    res = {"error": None}
    results[name] = res
    out_path = os.path.join(TMP, name + ".folded")
    rec = None
    procs = []
    old_env = dict(os.environ)
    try:
        if env:
            os.environ.update(env)
        rec = Recording(args + ["-o", out_path], out_path)
        os.environ.clear()
        os.environ.update(old_env)
        rec.wait_ready()
        for argv, after in commands:
            # cwd: node drops isolate-*-v8.log files where it runs
            procs.append(subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=TMP))
            if after:
                after(procs[-1])
        for p in procs:
            out, err = p.communicate(timeout=60)
            assert p.returncode == 0, f"{p.args} exited with {p.returncode}: {err.strip()[-300:]}"
        assert rec.proc.poll() is None, "ember finished before the workloads did: the window is too short"
        rc, out, err = rec.result(timeout=60)
        res["stderr"] = err
        assert rc == 0, f"ember record exited with {rc}: {err.strip()[-400:]}"
        res["stacks"] = parse_folded(rec.folded)
    except AssertionError as e:
        res["error"] = str(e)
    finally:
        os.environ.clear()
        os.environ.update(old_env)
        if rec:
            rec.kill()
        for p in procs:
            if p.poll() is None:
                p.kill()
                p.communicate()
            try:
                os.unlink(f"/tmp/perf-{p.pid}.map")  # node --perf-basic-prof leaves it
            except FileNotFoundError:
                pass
    return res


def get(name):
    res = results[name]
    assert not res["error"], f"recording '{name}' failed: {res['error']}"
    return res


def names_of(stacks, comm):
    mine = by_comm(stacks, comm)
    assert total(mine) > 0, f"no samples with comm {comm}; comms seen: {sorted({f[0] for f, _ in stacks})[:20]}"
    return mine, {f for frames, _ in mine for f in user_frames(frames)}


def top(mine):
    return [(";".join(f)[-300:], c) for f, c in sorted(mine, key=lambda x: -x[1])[:3]]


# --- recordings -------------------------------------------------------------

def rec_main():
    # del_chain runs, and its file is gone, before ember starts: only the process holds it.
    del_bin = os.path.join(TMP, "del_chain")
    shutil.copy(workload("cpu_chain"), del_bin)
    deleted = subprocess.Popen([del_bin, "6"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    time.sleep(0.3)
    os.unlink(del_bin)
    # The mount namespace's binary lives on a tmpfs mounted over an empty host directory.
    ns_dir = os.path.join(TMP, "nsdir")
    os.mkdir(ns_dir)
    script = (f"mount -t tmpfs ember-names {ns_dir} && cp {workload('cpu_chain')} {ns_dir}/ns_chain "
              f"&& exec {ns_dir}/ns_chain 3")
    cmds = [
        ([workload("cxx_worker"), "3"], None),
        (["unshare", "-m", "--propagation", "private", "sh", "-c", script], None),
    ]
    if os.access(NODE, os.X_OK):
        cmds.append(([NODE, "--perf-basic-prof", "-e", NODE_SCRIPT], None))
    try:
        record("main", ["-d", "7", "-F", str(HZ)], cmds)
    finally:
        if deleted.poll() is None:
            deleted.kill()
        deleted.communicate()


def rec_raw():
    record("raw", ["--no-demangle", "-d", "4", "-F", str(HZ)], [([workload("cxx_worker"), "2"], None)])


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def rec_debuginfod():
    """A stripped copy of cpu_chain whose debug file only a local debuginfod serves."""
    res = {"error": None}
    daemon = None
    try:
        srv = os.path.join(TMP, "srv")
        os.mkdir(srv)
        full = os.path.join(TMP, "dbg_chain.full")
        stripped = os.path.join(TMP, "dbg_chain")
        shutil.copy(workload("cpu_chain"), full)
        subprocess.run(["objcopy", "--only-keep-debug", full, os.path.join(srv, "dbg_chain.debug")], check=True)
        subprocess.run(["strip", "--strip-all", "-o", stripped, full], check=True)
        os.unlink(full)
        exe = shutil.which("debuginfod") or "/usr/bin/debuginfod"
        assert os.access(exe, os.X_OK), "debuginfod not installed (run make test)"
        port = free_port()
        daemon = subprocess.Popen([exe, "-F", "-p", str(port), "-d", os.path.join(TMP, "dbgd.sqlite"), srv],
                                  stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        url = f"http://127.0.0.1:{port}"
        want = f"{url}/buildid/{build_id(stripped)}/debuginfo"
        deadline = time.monotonic() + 30
        while True:
            assert daemon.poll() is None, f"debuginfod exited with {daemon.returncode}"
            try:
                with urllib.request.urlopen(want, timeout=2) as r:
                    if r.status == 200:
                        break
            except (urllib.error.URLError, OSError):
                pass
            assert time.monotonic() < deadline, "debuginfod did not serve the debug file within 30 s"
            time.sleep(0.3)
        env = {"DEBUGINFOD_URLS": url, "DEBUGINFOD_CACHE_PATH": os.path.join(TMP, "dbgcache")}
        res = record("debuginfod", ["-d", "6", "-F", str(HZ)], [([stripped, "4"], None)], env=env)
    except (AssertionError, subprocess.CalledProcessError, OSError) as e:
        res["error"] = str(e)
        results["debuginfod"] = res
    finally:
        if daemon and daemon.poll() is None:
            daemon.terminate()
            try:
                daemon.wait(timeout=10)
            except subprocess.TimeoutExpired:
                daemon.kill()
                daemon.wait()


# --- tests -------------------------------------------------------------------

def t_cxx_demangled():
    mine, names = names_of(get("main")["stacks"], "cxx_worker")
    missing = [n for n in (RUN, LAMBDA) if n not in names]
    assert not missing, f"not demangled: {missing}; saw {sorted(names)[:20]}"
    good = sum(c for f, c in mine if user_frames(f)[-2:] == [RUN, LAMBDA])
    assert good >= 0.7 * total(mine), f"only {good}/{total(mine)} samples end in run;lambda: {top(mine)}"
    assert not any(n.startswith("_Z") for n in names), f"mangled names left: {sorted(names)[:20]}"


def t_cxx_no_demangle():
    mine, names = names_of(get("raw")["stacks"], "cxx_worker")
    missing = [n for n in (RAW_RUN, RAW_LAMBDA) if n not in names]
    assert not missing, f"--no-demangle lost the raw names {missing}; saw {sorted(names)[:20]}"
    assert RUN not in names, "--no-demangle still demangled"


def t_node_jit_frames():
    if not os.access(NODE, os.X_OK):
        raise AssertionError(f"{NODE} not found (make test installs nodejs)")
    mine, names = names_of(get("main")["stacks"], "node")
    hot = sum(c for f, c in mine if any("emberHotLoop" in x and x.endswith("_[j]") for x in f))
    assert hot > 0, f"no emberHotLoop_[j] frame in node's stacks: {top(mine)}"
    # node burns ~3 s of CPU on two cores shared with three other workloads
    assert hot >= 0.3 * total(mine), f"only {hot}/{total(mine)} node samples in emberHotLoop: {top(mine)}"
    jit = {n for n in names if n.endswith("_[j]")}
    assert all("[unknown]" not in n for n in jit), f"odd JIT names: {sorted(jit)[:10]}"


def check_chain(name, comm):
    mine, names = names_of(get(name)["stacks"], comm)
    missing = [f for f in CHAIN if f not in names]
    assert not missing, f"{comm} frames not symbolized: {missing}; saw {sorted(names)[:20]}"
    good = sum(c for f, c in mine if user_frames(f)[-len(CHAIN):] == CHAIN)
    return mine, good


def t_deleted_binary():
    mine, good = check_chain("main", "del_chain")
    assert good >= 0.8 * total(mine), f"only {good}/{total(mine)} del_chain samples end in the chain: {top(mine)}"


def t_mount_namespace():
    assert not os.path.exists(os.path.join(TMP, "nsdir", "ns_chain")), "the tmpfs leaked into ember's namespace"
    mine, good = check_chain("main", "ns_chain")
    assert good >= 0.8 * total(mine), f"only {good}/{total(mine)} ns_chain samples end in the chain: {top(mine)}"


def t_debuginfod_stripped():
    res = get("debuginfod")
    mine, good = check_chain("debuginfod", "dbg_chain")
    # the first drain may still have raw offsets; once the file arrived, names
    assert good >= 0.5 * total(mine), f"only {good}/{total(mine)} dbg_chain samples named: {top(mine)}"
    assert "elf_errors=0" in res["stderr"], "elf errors while fetching debug info"


def main():
    run_suite(TESTS, globals(), (rec_main, rec_raw, rec_debuginfod), TMP)


if __name__ == "__main__":
    main()
