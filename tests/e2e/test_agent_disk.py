# SPDX-License-Identifier: BSD-2-Clause OR GPL-2.0
"""test_agent_disk.py - end-to-end tests of `ember agent` when its store cannot be written: a real
full disk (a tmpfs filled to ENOSPC), recovery when space returns, read-only file systems.

One agent run (--window 1) on a tmpfs with cpu_chain burning CPU: windows are written, the tmpfs
is filled, the agent fails to commit OUTAGE_WINDOWS windows, the filler is deleted and the
windows kept in memory must reach the store with their own timestamps and all their samples.
Then `mount -o remount,ro` is tried under the agent: Linux refuses it (EBUSY) while the store is
open for writing, so a running agent's store cannot turn read-only that way, and the agent must
not notice.  The agent is stopped with SIGINT, and a new agent is started on the store with the
file system read-only: it must fail at once with a clear error.  The tests check what the run
recorded.

Not covered: an outage longer than the agent's 30-window queue (the oldest windows dropped and
counted in windows_dropped_total); with --window 1 that takes over 30 s, and no knob exists for
the bound.
"""

import datetime
import errno
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.request

sys.dont_write_bytecode = True  # keep the work tree clean
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from ember_e2e import (EMBER, IN_CI, Agent, Skip, by_comm, db_query, export, one_line,  # noqa: E402
                       parse_folded, poll_until, run_ember, run_suite, start_workload, total)

HZ = 99
WINDOW_MS = 1000
TMPFS_SIZE = "16m"  # room for the store's WAL (up to ~4 MB), so only the filler fills the disk
OUTAGE_WINDOWS = 4  # failed windows held in memory before space returns
CHAIN_CPU_S = 10  # cpu_chain runs through the whole outage and recovery
NO_SPACE = "store write failed: No space left on device"

TESTS = [
    "disk_full_logged", "disk_full_metrics", "disk_full_store_readable",
    "disk_recovery_writes_pending", "disk_recovery_windows_contiguous", "disk_outage_samples_kept",
    "disk_readonly_remount_refused", "disk_agent_exits_cleanly", "disk_readonly_store_at_start",
]

TMP = tempfile.mkdtemp(prefix="ember-agent-disk-")
runs = {}


class LoggedAgent(Agent):
    """An Agent whose stderr goes to a file, so its log can be read while it runs."""

    def __init__(self, args, log_path):
        self.out_path = None
        self.log_path = log_path
        self.argv = [EMBER, "agent"] + args
        self.stdout = self.stderr = self.ended = None
        self.started = time.time()
        with open(log_path, "w") as log:
            self.proc = subprocess.Popen(self.argv, stdout=subprocess.PIPE, stderr=log,
                                         text=True, errors="replace")

    def log(self):
        with open(self.log_path, errors="replace") as f:
            return f.read()

    def port(self):
        m = re.search(r"^ember: info: serving the UI and API on port (\d+)$", self.log(), re.M)
        return int(m.group(1)) if m else None

    def _check_alive(self):
        if self.proc.poll() is not None:
            raise AssertionError(f"ember agent exited early with {self.proc.returncode}: "
                                 f"{one_line(self.log())[-400:]}")

    def result(self, timeout=60):
        try:
            out, _ = self.proc.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.kill()
            raise AssertionError(f"ember agent did not exit within {timeout}s")
        self.stdout, self.stderr, self.ended = out, self.log(), time.time()
        return self.proc.returncode, out, self.stderr


# --- helpers ------------------------------------------------------------------

def metrics(port):
    """The agent's /metrics as {name without ember_: value}."""
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as r:
        text = r.read().decode()
    return {m.group(1): float(m.group(2)) for m in re.finditer(r"^ember_(\w+) (\S+)$", text, re.M)}


def metrics_when(port, cond, timeout, what):
    """Polls /metrics until cond(metrics) holds; returns those metrics."""
    def check():
        m = metrics(port)
        return m if cond(m) else None
    return poll_until(check, timeout, what)


def mount_tmpfs(path):
    """Mounts a TMPFS_SIZE tmpfs on path; returns None, or why this host does not allow it."""
    r = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={TMPFS_SIZE},mode=0755", "ember-test", path],
                       capture_output=True, text=True)
    if r.returncode == 0:
        return None
    why = f"cannot mount a tmpfs: {one_line(r.stderr)}"
    # EPERM: a container without CAP_SYS_ADMIN; anything else is a failure
    assert re.search(r"permission denied|superuser|not permitted", r.stderr, re.I), why
    return why


def remount(path, mode):
    return subprocess.run(["mount", "-o", f"remount,{mode}", path], capture_output=True, text=True)


def unmount(path):
    if subprocess.run(["umount", path], capture_output=True).returncode:
        subprocess.run(["umount", "-l", path], capture_output=True)
    os.rmdir(path)


def fill(path):
    """Writes zeros to path until the file system says ENOSPC; returns the bytes written."""
    buf = bytes(1 << 20)
    n = 0
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    try:
        while True:
            n += os.write(fd, buf)  # a short write, then ENOSPC
    except OSError as e:
        if e.errno != errno.ENOSPC:
            raise
    finally:
        os.close(fd)
    return n


def integrity(db):
    """PRAGMA integrity_check through a read-only connection (it reads the WAL too)."""
    return db_query(db, "PRAGMA integrity_check")


def windows(db):
    return db_query(db, "SELECT start_ms, dur_ms, samples FROM windows ORDER BY start_ms")


def rfc3339(ms):
    t = datetime.datetime.fromtimestamp(ms / 1000, datetime.timezone.utc)
    return t.strftime("%Y-%m-%dT%H:%M:%S.") + f"{ms % 1000:03d}Z"


def failure_counts(log):
    """The N of each 'store write failed: ... (N windows kept in memory)' line."""
    return [int(n) for n in re.findall(r"store write failed: .* \((\d+) windows? kept in memory\)", log)]


# --- the run --------------------------------------------------------------------

def full_disk(res, port, mnt):
    """Fills the tmpfs and waits until OUTAGE_WINDOWS windows are held in memory."""
    filler = os.path.join(mnt, "filler")
    res["t_fill"] = time.time()
    res["filled"] = fill(filler)
    st = os.statvfs(mnt)
    res["free_after_fill"] = st.f_bavail * st.f_frsize
    res["m_err"] = metrics_when(port, lambda m: m["store_write_errors_total"] >= 1, 5,
                                "no store write error on a full disk")
    res["t_err"] = time.time()
    res["m_out"] = metrics_when(port, lambda m: m["windows_pending"] >= OUTAGE_WINDOWS,
                                OUTAGE_WINDOWS * WINDOW_MS / 1000 + 5,
                                f"fewer than {OUTAGE_WINDOWS} windows held in memory")
    res["integrity_outage"] = integrity(res["db"])
    res["rows_outage"] = windows(res["db"])
    r = run_ember(["export", "--db", res["db"]], timeout=30)
    res["export_outage"] = (r.returncode, r.stdout, r.stderr)
    return filler


def recover(res, port, filler):
    """Deletes the filler; waits until the windows in memory are written, then two more."""
    os.unlink(filler)
    res["t_free"] = time.time()
    res["m_rec"] = metrics_when(port, lambda m: m["windows_pending"] == 0, 10,
                                "the windows held in memory were not written after space returned")
    res["recovery_s"] = time.time() - res["t_free"]
    written = res["m_rec"]["windows_written_total"]
    res["m_post"] = metrics_when(port, lambda m: m["windows_written_total"] >= written + 2, 10,
                                 "no new window written after the recovery")


def readonly_remount(res, port, mnt):
    """Tries to make the store's file system read-only under the running agent."""
    r = remount(mnt, "ro")
    res["remount_ro"] = (r.returncode, r.stderr)
    if r.returncode == 0:
        remount(mnt, "rw")  # the test fails on it; keep the rest of the run meaningful
    written = res["m_post"]["windows_written_total"]
    res["m_ro"] = metrics_when(port, lambda m: m["windows_written_total"] >= written + 1, 10,
                               "no window written after the remount attempt")


def copy_store(db, dest):
    """Copies the stopped agent's store (and its WAL, if left) out of the tmpfs."""
    for suffix in ("", "-wal"):
        if os.path.exists(db + suffix):
            shutil.copyfile(db + suffix, dest + suffix)
    return dest


def start_on_readonly(res, mnt):
    """A new agent on the store while its file system is read-only."""
    r = remount(mnt, "ro")
    assert r.returncode == 0, f"remount,ro of the idle tmpfs failed: {one_line(r.stderr)}"
    try:
        r = subprocess.run([EMBER, "agent", "--db", res["db"], "--window", "1", "--listen", "127.0.0.1:0"],
                           capture_output=True, text=True, errors="replace", timeout=10)
        res["ro_start"] = (r.returncode, r.stderr)
    except subprocess.TimeoutExpired:
        res["ro_start"] = (None, "")
    finally:
        remount(mnt, "rw")


def disk_run():
    if "disk" in runs:
        return
    res = runs["disk"] = {"error": None, "unavailable": None}
    mnt = tempfile.mkdtemp(prefix="ember-disk-")
    try:
        why = mount_tmpfs(mnt)
    except AssertionError as e:
        why, res["error"] = None, str(e)
    if why or res["error"]:
        os.rmdir(mnt)
        res["unavailable"] = why
        return
    res["db"] = os.path.join(mnt, "a.db")
    agent = chain = None
    try:
        agent = LoggedAgent(["--db", res["db"], "--window", str(WINDOW_MS // 1000), "-F", str(HZ),
                             "--listen", "127.0.0.1:0"], os.path.join(TMP, "agent.log"))
        agent.wait_ready()
        port = poll_until(agent.port, 10, "the agent logged no 'serving the UI and API on port N'")
        metrics_when(port, lambda m: m["windows_written_total"] >= 2, 10, "fewer than 2 windows written")
        chain = start_workload("cpu_chain", CHAIN_CPU_S)
        filler = full_disk(res, port, mnt)
        recover(res, port, filler)
        readonly_remount(res, port, mnt)
        out, err = chain.communicate(timeout=120)
        assert chain.returncode == 0, f"cpu_chain exited with {chain.returncode}: {err.strip()}"
        res["chain_pid"], res["chain_cpu"] = chain.pid, float(out.split("cpu=")[1])
        agent.stop()
        rc, out, err = agent.result(timeout=30)
        res.update(rc=rc, stdout=out, stderr=err, agent=agent)
        res["copy"] = copy_store(res["db"], os.path.join(TMP, "a.db"))
        start_on_readonly(res, mnt)
    except Exception as e:  # recorded; every test that needs the run fails with it
        res["error"] = f"{type(e).__name__}: {e}"
    finally:
        if agent:
            agent.kill()
        if chain and chain.poll() is None:
            chain.kill()
            chain.communicate()
        unmount(mnt)


def get():
    res = runs["disk"]
    if res["unavailable"]:
        if IN_CI:
            raise AssertionError(f"{res['unavailable']} (CI=true: this test must run)")
        raise Skip(res["unavailable"])
    assert not res["error"], f"the agent run failed: {res['error']}"
    return res


def outage_rows(res):
    """Windows of the final store that were not in it during the outage (written late)."""
    return sorted(set(windows(res["copy"])) - set(res["rows_outage"]))


# --- full disk --------------------------------------------------------------------

def t_disk_full_logged():
    res = get()
    assert res["free_after_fill"] == 0, f"{res['free_after_fill']} bytes still free after the filler"
    log = res["stderr"]
    fails = [l for l in log.splitlines() if "store write failed" in l]
    assert fails, f"no 'store write failed' line after filling the disk: {one_line(log)[-400:]}"
    bad = [l for l in fails if NO_SPACE not in l]
    assert not bad, f"a store write failure does not say '{NO_SPACE}': {bad[:2]}"
    assert len(fails) == res["m_post"]["store_write_errors_total"], \
        f"{len(fails)} failures logged, {res['m_post']['store_write_errors_total']} counted"
    counts = failure_counts(log)
    assert counts == list(range(1, len(counts) + 1)), \
        f"windows kept in memory per failure should grow by one: {counts}"
    assert len(counts) >= OUTAGE_WINDOWS, f"only {len(counts)} failures logged in the outage"
    # sampling went on: each failed window still ended and was logged, with the count in memory
    pend = []
    for m in re.finditer(r"windows? kept in memory\)\n(?:.*\n)*?ember: info: window: .* pending=(\d+) ", log):
        pend.append(int(m.group(1)))
    assert pend == counts, f"window lines' pending={pend} disagree with the failures {counts}"


def t_disk_full_metrics():
    res = get()
    e, o = res["m_err"], res["m_out"]
    assert o["windows_pending"] >= OUTAGE_WINDOWS, f"windows_pending is {o['windows_pending']}"
    assert o["store_write_errors_total"] == o["windows_pending"], \
        f"{o['store_write_errors_total']} write errors but {o['windows_pending']} windows pending"
    assert o["windows_dropped_total"] == 0, f"{o['windows_dropped_total']} windows dropped in a short outage"
    assert o["windows_written_total"] == e["windows_written_total"], \
        f"windows_written_total went {e['windows_written_total']} -> {o['windows_written_total']} on a full disk"
    assert o["samples_total"] > e["samples_total"], \
        f"samples_total stayed at {e['samples_total']} while the disk was full: sampling stopped"


def t_disk_full_store_readable():
    res = get()
    assert res["integrity_outage"] == [("ok",)], f"integrity_check on the full disk: {res['integrity_outage'][:5]}"
    rc, out, err = res["export_outage"]
    assert rc == 0, f"export of the store on the full disk exited {rc}: {one_line(err)[-300:]}"
    n = total(parse_folded(out))
    stored = sum(r[2] for r in res["rows_outage"])
    assert n == stored, f"export on the full disk holds {n} samples, the store's windows {stored}"


# --- recovery -------------------------------------------------------------------

def t_disk_recovery_writes_pending():
    res = get()
    o, r, p = res["m_out"], res["m_rec"], res["m_post"]
    # the windows go at the next window boundary after space returns (one more window of
    # slack: a busy main loop ends a window late)
    assert res["recovery_s"] <= 2 * WINDOW_MS / 1000 + 1, \
        f"the windows held in memory took {res['recovery_s']:.1f} s to be written"
    assert r["windows_written_total"] >= o["windows_written_total"] + o["windows_pending"], \
        f"written {o['windows_written_total']} -> {r['windows_written_total']}, " \
        f"but {o['windows_pending']} windows were pending"
    assert r["windows_dropped_total"] == 0 and p["windows_dropped_total"] == 0, \
        f"windows dropped in a short outage: {r['windows_dropped_total']}, {p['windows_dropped_total']}"
    assert p["store_write_errors_total"] == r["store_write_errors_total"], \
        f"write errors went on after the recovery: {r['store_write_errors_total']} -> " \
        f"{p['store_write_errors_total']}"
    m = re.findall(r"store writable again: wrote the (\d+) windows? kept in memory", res["stderr"])
    assert len(m) == 1, f"want one 'store writable again' line, got {m}"
    kept = failure_counts(res["stderr"])[-1]
    assert int(m[0]) == kept, f"the recovery wrote {m[0]} windows, the last failure kept {kept}"


def t_disk_recovery_windows_contiguous():
    res = get()
    rows = windows(res["copy"])
    assert len(rows) == len(res["agent"].window_lines()), \
        f"the agent logged {len(res['agent'].window_lines())} windows, the store holds {len(rows)}"
    for (s0, d0, _), (s1, _, _) in zip(rows, rows[1:]):
        assert abs(s0 + d0 - s1) <= 5, f"window at {s0} ends at {s0 + d0}, the next starts at {s1}: a gap"
        assert d0 > 0, f"window at {s0} lasts {d0} ms"
    late = outage_rows(res)
    t_free = res["t_free"] * 1000
    old = [r for r in late if r[0] + r[1] <= t_free + 5]
    # the windows written late keep their own time: they end before the disk had room again
    assert len(old) >= res["m_out"]["windows_pending"], \
        f"only {len(old)} windows ending before the disk was freed reached the store late; " \
        f"{res['m_out']['windows_pending']} were pending"
    assert old[0][0] <= res["t_err"] * 1000, "the first window of the outage is missing"


def t_disk_outage_samples_kept():
    res = get()
    db = res["copy"]
    wsum = db_query(db, "SELECT ifnull(sum(samples), 0) FROM windows")[0][0]
    ssum = total(parse_folded(export(db)))
    assert wsum == ssum, f"windows hold {wsum} samples, export {ssum}"
    pid = str(res["chain_pid"])
    got = total(by_comm(parse_folded(export(db, "--pid", pid)), "cpu_chain"))
    expect = res["chain_cpu"] * HZ
    assert abs(got - expect) <= 0.1 * expect, \
        f"cpu_chain got {got} samples, expected {expect:.0f} (cpu={res['chain_cpu']:.3f}s * {HZ} Hz) within 10%"
    empty = []
    for start, dur, _ in outage_rows(res):
        if start + dur > res["t_free"] * 1000:
            continue
        n = total(parse_folded(export(db, "--pid", pid, "--from", rfc3339(start), "--to", rfc3339(start + 1))))
        if n == 0:
            empty.append(start)
    assert not empty, f"outage windows without cpu_chain samples (start_ms): {empty}"


# --- read-only, exit ------------------------------------------------------------

def t_disk_readonly_remount_refused():
    res = get()
    rc, err = res["remount_ro"]
    # Linux refuses to make a file system read-only while a file on it is open for
    # writing, so a running agent's store cannot turn read-only under it this way.
    assert rc != 0, "remount,ro succeeded under the running agent: test the agent's read-only path"
    assert "busy" in err, f"remount,ro failed, but not as busy: {one_line(err)}"
    p, q = res["m_post"], res["m_ro"]
    assert q["store_write_errors_total"] == p["store_write_errors_total"], \
        f"the refused remount caused store write errors: {p['store_write_errors_total']} -> " \
        f"{q['store_write_errors_total']}"


def t_disk_agent_exits_cleanly():
    res = get()
    assert res["rc"] == 0, f"the agent exited with {res['rc']} after SIGINT: {one_line(res['stderr'])[-400:]}"
    assert res["stdout"] == "", f"the agent wrote to stdout: {res['stdout'][:200]!r}"
    last = res["agent"].window_lines()[-1]
    assert last["pending"] == 0 and last["dropped_windows"] == 0, f"the last window line: {last}"
    rows = windows(res["copy"])
    start, dur, _ = rows[-1]
    assert start + dur <= res["agent"].ended * 1000 + 50, "the last window ends after the agent exited"
    assert 0 < dur < 2 * WINDOW_MS, f"the last (partial) window lasts {dur} ms"
    assert integrity(res["copy"]) == [("ok",)], "integrity_check of the final store failed"
    errors = [l for l in res["stderr"].splitlines() if l.startswith("ember: error")]
    assert not errors, f"the agent logged errors: {errors[:3]}"


def t_disk_readonly_store_at_start():
    res = get()
    rc, err = res["ro_start"]
    assert rc is not None, "an agent on a read-only store was still running after 10 s"
    assert rc == 1, f"an agent on a read-only store exited {rc}: {one_line(err)[-300:]}"
    assert f"cannot open store '{res['db']}'" in err, f"no 'cannot open store' error: {one_line(err)[-300:]}"
    assert "read-only" in err, f"the error does not say the store is read-only: {one_line(err)[-300:]}"


def main():
    run_suite(TESTS, globals(), (disk_run,), TMP)


if __name__ == "__main__":
    main()
