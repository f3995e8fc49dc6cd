# SPDX-License-Identifier: BSD-2-Clause OR GPL-2.0
"""test_registry.py - end-to-end tests of the collector's process registry and of how mapped
files are opened: a pid reused by a new process before the old one's exit is applied keeps the
new process (its exe label and its unwind tables), and a process in a chroot whose path leads
through an absolute symlink is named from its own file, never from the host file the symlink
names when followed from outside (the agent without map_files, so it opens files by path)."""

import os
import shutil
import subprocess
import sys
import tempfile
import time

sys.dont_write_bytecode = True  # keep the work tree clean
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from ember_e2e import (EMBER, Agent, Recording, by_comm, db_query, export, parse_folded,  # noqa: E402
                       parse_summary, run_suite, total, user_frames, workload)

TESTS = ["pid_reuse_keeps_new_process", "container_symlink_stays_inside", "short_process_labels"]
TMP = tempfile.mkdtemp(prefix="ember-reg-")
NOFP = ["nofp_outer", "nofp_middle", "nofp_leaf"]
DECOY = {"do_syscalls", "sys_loop_outer"}  # syscall_loop's functions


def next_pid(pid):
    with open("/proc/sys/kernel/ns_last_pid", "w") as f:
        f.write(str(pid - 1))


def reuse_pid(seconds):
    """Runs cpu_chain briefly (sampled, so announced), then nofp_chain under the same pid.

    Returns (pid, the nofp_chain Popen)."""
    for _ in range(40):
        a = subprocess.Popen([workload("cpu_chain"), "0.3"], stdout=subprocess.DEVNULL)
        assert a.wait(timeout=60) == 0, "cpu_chain failed"
        next_pid(a.pid)
        b = subprocess.Popen([workload("nofp_chain"), str(seconds)], stdout=subprocess.DEVNULL,
                             stderr=subprocess.DEVNULL)
        if b.pid == a.pid:
            return a.pid, b
        b.kill()
        b.wait()
    raise AssertionError("no pid could be reused in 40 tries (a busy host?)")


def t_pid_reuse_keeps_new_process():
    db = os.path.join(TMP, "reuse.db")
    agent = Agent(["--db", db, "--window", "2"])
    try:
        agent.wait_ready()
        pid, b = reuse_pid(4)
        b.wait(timeout=120)
        time.sleep(1.5)  # B's last samples drained
        agent.stop()
        rc, _, err = agent.result(timeout=120)  # a loaded host: the last window takes a while
    finally:
        agent.kill()
    assert rc == 0, f"agent exited {rc}: {err[-400:]}"
    rows = db_query(db, "SELECT COALESCE(s.s, ''), SUM(x.count) FROM procs p "
                        "JOIN strings c ON c.id = p.comm LEFT JOIN strings s ON s.id = p.exe "
                        "JOIN samples x ON x.proc = p.id WHERE p.pid = ? AND c.s = ? GROUP BY 1",
                    (pid, b"nofp_chain"))
    exes = {(bytes(e).decode(errors="replace") if isinstance(e, (bytes, bytearray)) else e): n
            for e, n in rows}
    print(f"# pid {pid}: nofp_chain samples by exe label: {exes}", flush=True)
    assert sum(exes.values()) >= 100, f"only {sum(exes.values())} nofp_chain samples of pid {pid}"
    unlabeled = sum(n for e, n in exes.items() if not e.endswith("/nofp_chain"))
    assert unlabeled == 0, (f"{unlabeled} samples of the process that reused pid {pid} lost their "
                            f"exe label (the old process's exit removed it): {exes}")
    mine = by_comm(parse_folded(export(db, "--pid", str(pid), "--format", "folded")), "nofp_chain")
    whole = sum(c for f, c in mine if all(x in user_frames(f) for x in NOFP))
    print(f"# pid {pid}: {whole}/{total(mine)} nofp_chain samples show the whole chain", flush=True)
    assert whole >= 0.8 * total(mine), (f"only {whole} of {total(mine)} samples of the new process "
                                        f"were unwound through {NOFP} (its tables removed?)")


def copy_into(root, path):
    dst = os.path.join(root, path.lstrip("/"))
    os.makedirs(os.path.dirname(dst), exist_ok=True)
    shutil.copy(path, dst)  # the file, not a symlink to it


def libs_of(binary):
    out = subprocess.run(["ldd", binary], capture_output=True, text=True, check=True).stdout
    return [w for line in out.splitlines() for w in line.split() if w.startswith("/")]


class Unprivileged(Recording):
    """`ember record` started by @argv (setpriv ... ember record ...), with Recording's methods."""

    def __init__(self, argv, out_path):  # pylint: disable=super-init-not-called
        self.out_path = out_path
        self.argv = argv
        self.proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                     errors="replace")
        self.stdout = self.stderr = None


def t_container_symlink_stays_inside():
    """root/ is a chroot: maps shows its files by their host path (TMP/root/d/esc_chain), which
    inside root/ is TMP/root -> TMP/host, an absolute symlink.  Followed from the host it names
    TMP/host/d/esc_chain, a decoy (syscall_loop); inside root/ it names a hard link of the real
    binary.  Without map_files ember opens the path: it must resolve it inside root/."""
    root, host = os.path.join(TMP, "root"), os.path.join(TMP, "host")
    os.makedirs(os.path.join(root, "d"))
    os.makedirs(os.path.join(host, "d"))
    real = os.path.join(root, "d", "esc_chain")
    shutil.copy(workload("cpu_chain"), real)
    for lib in libs_of(real):
        copy_into(root, lib)
    shutil.copy(workload("syscall_loop"), os.path.join(host, "d", "esc_chain"))
    inside = os.path.join(root, host.lstrip("/"), "d")
    os.makedirs(inside)
    os.link(real, os.path.join(inside, "esc_chain"))
    os.symlink(host, os.path.join(root, root.lstrip("/")))
    out = os.path.join(TMP, "esc.folded")
    # root without the capabilities that open /proc/PID/map_files
    nomf = "-sys_admin,-checkpoint_restore"
    argv = ["setpriv", "--inh-caps", nomf, "--bounding-set", nomf, EMBER, "record", "-d", "10",
            "-o", out]
    rec = Unprivileged(argv, out)
    try:
        rec.wait_ready()
        w = subprocess.run(["chroot", root, "/d/esc_chain", "2"], capture_output=True, text=True,
                           timeout=60)
        assert w.returncode == 0, f"esc_chain in the chroot failed: {w.stderr.strip()}"
        rc, _, err = rec.result(timeout=60)
    finally:
        rec.kill()
    assert rc == 0, f"record exited {rc}: {err[-400:]}"
    s = parse_summary(err)
    mine = by_comm(parse_folded(rec.folded), "esc_chain")
    names = {f.split("+0x")[0] for frames, _ in mine for f in user_frames(frames)}
    print(f"# esc_chain: {total(mine)} samples, user frames {sorted(names)[:12]}, denied_map_files="
          f"{s.get('denied_map_files')} paths_refused={s.get('paths_refused')}", flush=True)
    assert total(mine) >= 50, f"only {total(mine)} esc_chain samples"
    assert s.get("denied_map_files", 0) > 0, f"map_files was not denied, the path not tried: {s}"
    assert not names & DECOY, f"frames named from the host's decoy file: {sorted(names & DECOY)}"
    chain = sum(c for f, c in mine if {"chain_a", "spin"} <= set(user_frames(f)))
    assert chain >= 0.8 * total(mine), (f"only {chain} of {total(mine)} esc_chain samples are named "
                                        f"from its own file inside the chroot: {sorted(names)[:12]}")



def cgroup2_mount():
    """Where cgroup v2 is mounted (/sys/fs/cgroup, or .../unified on a hybrid host), or None."""
    with open("/proc/self/mounts") as f:
        for line in f:
            dev, where, kind = line.split()[:3]
            if kind == "cgroup2":
                return where
    return None


SHORT_RUNS = 120


def t_short_process_labels():
    """Processes of 3 ms in their own cgroup keep their exe and cgroup labels, though the agent
    reads them (in batches, after they settle) only once they are gone."""
    mnt = cgroup2_mount()
    assert mnt, "no cgroup2 mount"
    name = f"ember-test-{os.getpid()}"
    cg = os.path.join(mnt, name)
    os.mkdir(cg)
    db = os.path.join(TMP, "labels.db")
    agent = Agent(["--db", db, "--window", "2"])
    churn = workload("stack_churn")
    try:
        agent.wait_ready()
        # a shell moved into the cgroup first, so every child starts in it
        script = (f"echo $$ > {cg}/cgroup.procs && i=0; while [ $i -lt {SHORT_RUNS} ]; do "
                  f"{churn} $i 3; i=$((i+1)); done")
        subprocess.run(["/bin/sh", "-c", script], check=True, timeout=120)
        time.sleep(2.5)  # their last samples drained
        agent.stop()
        rc, _, err = agent.result(timeout=120)
    finally:
        agent.kill()
        os.rmdir(cg)
    assert rc == 0, f"agent exited {rc}: {err[-400:]}"
    rows = db_query(db, "SELECT p.pid, COALESCE(e.s, ''), COALESCE(g.s, ''), SUM(x.count) FROM procs p"
                        " JOIN strings c ON c.id = p.comm LEFT JOIN strings e ON e.id = p.exe"
                        " LEFT JOIN strings g ON g.id = p.cgroup JOIN samples x ON x.proc = p.id"
                        " WHERE c.s = ? GROUP BY p.id", (b"stack_churn",))
    dec = lambda v: bytes(v).decode(errors="replace") if isinstance(v, (bytes, bytearray)) else v
    procs = [(pid, dec(e), dec(g), n) for pid, e, g, n in rows]
    exe_ok = sum(1 for _, e, _, _ in procs if e.endswith("/stack_churn"))
    cg_ok = sum(1 for _, _, g, _ in procs if g == "/" + name)
    print(f"# {len(procs)} sampled stack_churn processes: exe labelled {exe_ok}, cgroup /{name} {cg_ok};"
          f" e.g. {procs[:2]}", flush=True)
    assert len(procs) >= SHORT_RUNS // 4, f"only {len(procs)} of {SHORT_RUNS} short processes sampled"
    bad = [p for p in procs if not p[1].endswith("/stack_churn") or p[2] != "/" + name]
    assert exe_ok >= 0.95 * len(procs), f"exe labels lost: {exe_ok} of {len(procs)}: {bad[:5]}"
    assert cg_ok >= 0.95 * len(procs), f"cgroup labels lost: {cg_ok} of {len(procs)}: {bad[:5]}"

if __name__ == "__main__":
    run_suite(TESTS, globals(), tmp=TMP)
