# SPDX-License-Identifier: BSD-2-Clause OR GPL-2.0
"""test_caps.py - the agent with exactly the capabilities of debian/ember.service, as the user ember
(setpriv), names what root names: a workload's call chain in a directory only root can read, kernel
frames, a deleted binary, a binary in another mount namespace and a Node.js JIT frame from
/tmp/perf-PID.map; its store is 0750/0640 and it holds no other capability.  Then each capability
of the set is dropped in turn and the loss it guards against appears, counted (so none is spare).
The UI and API run in a child process (ember-ui) with no capability and a non-root uid, for the
agent as ember and for the agent as root, while the UI, the API and /metrics answer."""

import json
import os
import pwd
import re
import shutil
import subprocess
import sys
import socket
import tempfile
import time
import urllib.request

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "e2e"))
from ember_e2e import (EMBER, ROOT, Agent, by_comm, export, kernel_frames, parse_folded,  # noqa: E402
                       parse_summary, run_suite, total, user_frames, workload)

UNIT = os.path.join(ROOT, "debian", "ember.service")
CHAIN = ["main", "chain_a", "chain_b", "spin"]
NODE = shutil.which("node") or "/usr/bin/node"
NODE_SCRIPT = ("function emberHotLoop(n){let s=0;for(let i=0;i<n;i++){s=(s*31+i)|0;}return s;}"
               "const end=Date.now()+%d;let x=0;while(Date.now()<end){x+=emberHotLoop(100000);}")
CAP_BITS = {"CAP_DAC_READ_SEARCH": 2, "CAP_SYS_PTRACE": 19, "CAP_SYSLOG": 34, "CAP_PERFMON": 38,
            "CAP_BPF": 39, "CAP_CHECKPOINT_RESTORE": 40}
# what each capability of the unit gives back: the summary counter that counts its loss
LOSS = {"CAP_SYS_PTRACE": "denied_maps", "CAP_DAC_READ_SEARCH": "denied_files",
        "CAP_CHECKPOINT_RESTORE": "denied_map_files", "CAP_SYSLOG": "denied_kallsyms"}

TESTS = ["agent_runs_as_ember", "store_modes", "chain_in_private_dir", "kernel_frames_named",
         "deleted_binary", "mount_namespace", "perf_map_jit", "ui_process_unprivileged",
         "ui_process_of_root_agent", "each_capability_needed"]
TMP = tempfile.mkdtemp(prefix="ember-caps-")
res = {}


def unit_caps():
    text = open(UNIT).read()
    caps = re.search(r"^AmbientCapabilities=(.*)$", text, re.M).group(1).split()
    assert caps == re.search(r"^CapabilityBoundingSet=(.*)$", text, re.M).group(1).split()
    return caps


def setpriv(caps):
    s = ",".join(["-all"] + ["+" + c[4:].lower() for c in caps])
    return ["setpriv", "--reuid", "ember", "--regid", "ember", "--init-groups", "--inh-caps", s,
            "--ambient-caps", s, "--bounding-set", s]


def ensure_user():
    try:
        pwd.getpwnam("ember")
    except KeyError:  # as the package's postinst makes it
        subprocess.run(["adduser", "--system", "--group", "--quiet", "--home", "/var/lib/ember",
                        "--no-create-home", "ember"], check=True)


class Workloads:
    """The five kinds of code, started as root from a directory only root can read."""

    def __init__(self, seconds):
        priv = os.path.join(TMP, "private")
        os.makedirs(priv, exist_ok=True)
        os.chmod(priv, 0o700)
        chain = os.path.join(priv, "priv_chain")
        sysl = os.path.join(priv, "priv_syscall")
        dele = os.path.join(priv, "del_chain")
        for src, dst in (("cpu_chain", chain), ("syscall_loop", sysl), ("cpu_chain", dele)):
            shutil.copy(workload(src), dst)
        ns = os.path.join(TMP, "nsdir")
        os.makedirs(ns, exist_ok=True)
        script = (f"mount -t tmpfs ember-caps {ns} && cp {workload('cpu_chain')} {ns}/ns_chain "
                  f"&& exec {ns}/ns_chain {seconds}")
        # del_chain is deleted before it runs: held open as fd 3 and run through a
        # symlink to /proc/self/fd/3 named del_chain (its comm), so ember can only
        # open it through /proc/PID/map_files, never by its path
        link = os.path.join(TMP, "links", "del_chain")
        os.makedirs(os.path.dirname(link), exist_ok=True)
        if not os.path.islink(link):
            os.symlink("/proc/self/fd/3", link)
        deleted = ["sh", "-c", f'exec 3<"{dele}" && rm -f "{dele}" && exec "{link}" {seconds}']
        self.procs = [subprocess.Popen(a, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, cwd=TMP) for a in (
            deleted, [chain, str(seconds)], [sysl, str(seconds)],
            ["unshare", "-m", "--propagation", "private", "sh", "-c", script],
            [NODE, "--perf-basic-prof", "-e", NODE_SCRIPT % (seconds * 1000)])]
        time.sleep(0.2)

    def wait(self):
        for p in self.procs:
            try:
                p.wait(timeout=60)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()
            try:
                os.unlink(f"/tmp/perf-{p.pid}.map")
            except FileNotFoundError:
                pass


class EmberAgent(Agent):
    """An agent started by @argv (setpriv ... ember agent ...), with Agent's wait_ready/stop/result."""

    def __init__(self, argv):  # pylint: disable=super-init-not-called
        self.out_path = None
        self.argv = argv
        self.started = time.time()
        self.proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                     errors="replace")
        self.stdout = self.stderr = self.ended = None


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def ui_check(agent_pid, port):
    """The agent's UI child: its uid, capabilities and answers, while the agent runs."""
    r = subprocess.run(["ps", "-o", "pid=,comm=", "--ppid", str(agent_pid)], capture_output=True, text=True)
    kids = [int(line.split()[0]) for line in r.stdout.splitlines() if line.split()[1:] == ["ember-ui"]]
    assert len(kids) == 1, f"no ember-ui child of {agent_pid}: {r.stdout!r}"
    st = open(f"/proc/{kids[0]}/status").read()
    out = {k: re.search(rf"^{k}:\s+(\S+)", st, re.M).group(1) for k in ("Uid", "CapEff", "CapPrm", "NoNewPrivs")}
    got = {}
    deadline = time.time() + 20  # the first window is committed after the first drain's naming
    for path in ("/", "/api/processes?limit=5", "/metrics"):
        while True:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=30) as resp:
                got[path] = (resp.status, resp.read().decode(errors="replace"))
            if "processes" not in path or '"pid"' in got[path][1] or time.time() > deadline:
                break
            time.sleep(0.5)
    return out, got


def names(stacks, comm):
    mine = by_comm(stacks, comm)
    return mine, {f for frames, _ in mine for f in frames}


def chain_share(stacks, comm):
    mine = by_comm(stacks, comm)
    good = sum(c for f, c in mine if user_frames(f)[-len(CHAIN):] == CHAIN)
    return good, total(mine)


def kernel_named(stacks, comm):
    mine = by_comm(stacks, comm)
    return any(kernel_frames(f) and not any(k.startswith("[kernel]+") for k in kernel_frames(f))
               for f, _ in mine)


def setup():
    ensure_user()
    caps = unit_caps()
    res["caps"] = caps
    store = os.path.join(TMP, "store")
    os.mkdir(store)
    os.chmod(TMP, 0o755)
    u = pwd.getpwnam("ember")
    os.chown(store, u.pw_uid, u.pw_gid)
    db = os.path.join(store, "ember.db")
    res["db"] = db
    old = os.umask(0o077)  # the unit says 027; the agent must not depend on it
    port = free_port()
    try:
        agent = EmberAgent(setpriv(caps) + [EMBER, "agent", "--db", db, "--window", "2",
                                            "--listen", f"127.0.0.1:{port}"])
    finally:
        os.umask(old)
    try:
        agent.wait_ready()
        w = Workloads(5)
        time.sleep(2)
        res["status"] = open(f"/proc/{agent.proc.pid}/status").read()
        w.wait()
        time.sleep(2.5)  # a window written since: the store and /metrics have counts
        try:
            res["ui"] = ui_check(agent.proc.pid, port)
        except (AssertionError, OSError) as e:
            res["ui"] = e
        agent.stop()
        rc, _, err = agent.result(timeout=60)
    finally:
        agent.kill()
    res["agent"] = (rc, err)
    res["stacks"] = parse_folded(export(db, "--from", "-10m", "--to", "now", "--format", "folded"))


def t_agent_runs_as_ember():
    rc, err = res["agent"]
    assert rc == 0, f"agent exited {rc}: {err.strip()[-400:]}"
    st = res["status"]
    uid = int(re.search(r"^Uid:\s+(\d+)", st, re.M).group(1))
    assert uid == pwd.getpwnam("ember").pw_uid, f"agent uid {uid}"
    eff = int(re.search(r"^CapEff:\s+(\w+)", st, re.M).group(1), 16)
    want = sum(1 << CAP_BITS[c] for c in res["caps"])
    assert eff == want, f"CapEff {eff:x}, want exactly the unit's {want:x}"
    denied = [line for line in err.splitlines() if "permission denied" in line]
    assert not denied, f"the unit's set still misses something: {denied[:3]}"


def t_store_modes():
    db = res["db"]
    for f in (db, db + "-wal", db + "-shm"):
        if os.path.exists(f):
            mode = os.stat(f).st_mode & 0o777
            assert mode == 0o640, f"{f} is {mode:o} under umask 077, want 640"
    mode = os.stat(os.path.dirname(db)).st_mode & 0o777
    assert mode == 0o750, f"the store's directory is {mode:o}, want 750"


def check_chain(comm, min_share=0.8):
    good, n = chain_share(res["stacks"], comm)
    assert n > 0, f"no samples of {comm}"
    assert good >= min_share * n, f"only {good}/{n} {comm} samples end in {';'.join(CHAIN)}: " \
        f"{sorted(names(res['stacks'], comm)[1])[:12]}"


def t_chain_in_private_dir():
    check_chain("priv_chain")


def t_kernel_frames_named():
    assert kernel_named(res["stacks"], "priv_syscall"), \
        f"kernel frames of priv_syscall not named: {sorted(names(res['stacks'], 'priv_syscall')[1])[:12]}"


def t_deleted_binary():
    check_chain("del_chain")


def t_mount_namespace():
    check_chain("ns_chain")


def t_perf_map_jit():
    assert os.access(NODE, os.X_OK), f"{NODE} not found (make test installs nodejs)"
    mine, nm = names(res["stacks"], "node")
    assert any("emberHotLoop" in f and f.endswith("_[j]") for f in nm), \
        f"no emberHotLoop_[j] in node's {total(mine)} samples"


def check_ui(ui):
    if isinstance(ui, Exception):
        raise AssertionError(str(ui))
    st, got = ui
    assert st["Uid"] != "0" and int(st["Uid"]) == pwd.getpwnam("ember").pw_uid, f"UI uid {st['Uid']}"
    assert int(st["CapEff"], 16) == 0 and int(st["CapPrm"], 16) == 0, f"UI CapEff {st['CapEff']}"
    assert st["NoNewPrivs"] == "1", "UI may gain privileges"
    assert got["/"][0] == 200 and "<canvas" in got["/"][1], "no viewer"
    procs = json.loads(got["/api/processes?limit=5"][1])["processes"]
    assert procs, "no process in the store as the UI reads it"
    m = re.search(r"^ember_samples_total (\d+)", got["/metrics"][1], re.M)
    assert m and int(m.group(1)) > 0, "the agent's counters did not reach the UI's /metrics"


def t_ui_process_unprivileged():
    check_ui(res["ui"])


def t_ui_process_of_root_agent():
    db = os.path.join(TMP, "rootstore", "ember.db")
    port = free_port()
    agent = EmberAgent([EMBER, "agent", "--db", db, "--window", "1", "--listen", f"127.0.0.1:{port}"])
    try:
        agent.wait_ready()
        time.sleep(2.5)
        ui = ui_check(agent.proc.pid, port)
        agent.stop()
        rc, _, err = agent.result(timeout=60)
    finally:
        agent.kill()
    assert rc == 0, f"agent exited {rc}: {err.strip()[-300:]}"
    check_ui(ui)
    gid = pwd.getpwnam("ember").pw_gid
    assert os.stat(os.path.dirname(db)).st_gid == gid and os.stat(db).st_gid == gid, \
        "the root agent's store is not in ember's group"


def record_without(caps, drop):
    """ember record as ember with the unit's set less @drop; returns (rc, stacks, summary, stderr)."""
    out = os.path.join(os.path.dirname(res["db"]), f"without_{drop}.folded")  # ember's directory
    argv = setpriv([c for c in caps if c != drop]) + [EMBER, "record", "-d", "5", "-o", out]
    rec = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, errors="replace")
    time.sleep(1.0)
    w = Workloads(3) if rec.poll() is None else None
    _, err = rec.communicate(timeout=60)
    if w:
        w.wait()
    stacks = parse_folded(open(out).read()) if rec.returncode == 0 else []
    return rec.returncode, stacks, parse_summary(err) if rec.returncode == 0 else {}, err


def t_each_capability_needed():
    caps = res["caps"]
    lost = []
    for drop in caps:
        rc, stacks, s, err = record_without(caps, drop)
        if drop in ("CAP_BPF", "CAP_PERFMON"):
            assert rc != 0 and "needs CAP_BPF and CAP_PERFMON" in err, \
                f"without {drop}: rc {rc}, and no error naming the capabilities: {err.strip()[-200:]}"
            lost.append(f"{drop}: no sampling")
            continue
        assert rc == 0, f"without {drop}: record exited {rc}: {err.strip()[-300:]}"
        key = LOSS[drop]
        assert s.get(key, 0) > 0, f"without {drop}: {key}=0 (it is not needed, or not counted)"
        assert sum(1 for line in err.splitlines() if "permission denied" in line and drop in line) == 1, \
            f"without {drop}: not one log line naming it"
        what = {"CAP_SYS_PTRACE": lambda: chain_share(stacks, "priv_chain")[0] == 0,
                "CAP_DAC_READ_SEARCH": lambda: chain_share(stacks, "priv_chain")[0] == 0,
                "CAP_CHECKPOINT_RESTORE": lambda: chain_share(stacks, "del_chain")[0] == 0,
                "CAP_SYSLOG": lambda: not kernel_named(stacks, "priv_syscall")}[drop]
        assert what(), f"without {drop} the frames it guards were still named"
        lost.append(f"{drop}: {key}={s[key]}")
    print("# without each capability: " + "; ".join(lost), flush=True)


def main():
    run_suite(TESTS, globals(), (setup,), TMP)


if __name__ == "__main__":
    main()
