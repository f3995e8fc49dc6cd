# SPDX-License-Identifier: BSD-2-Clause OR GPL-2.0
"""test_agent.py - end-to-end tests of `ember agent` under real BPF: windows in the store, stacks and counts via export, kill -9 safety, restart."""

import os
import random
import re
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import tempfile
import time
import urllib.request

sys.dont_write_bytecode = True  # keep the work tree clean
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from ember_e2e import (IN_CI, Agent, Skip, by_comm, db_query, export, one_line, parse_folded, run_ember,  # noqa: E402
                       run_suite, start_workload, total, user_frames, workload)

HZ = 99
WINDOW_MS = 2000
RUN_S = 10.0  # wall time of the main agent run
JITTER_MS = 300  # how late a window boundary may be
CHAIN = ["main", "chain_a", "chain_b", "spin"]
SHORT_CHAIN = ["main", "brief_outer", "brief_inner", "brief_spin"]

TESTS = [
    "agent_exits_cleanly", "agent_window_log", "agent_window_timestamps", "agent_window_samples",
    "agent_export_total", "agent_cpu_chain_stack", "agent_cpu_chain_sample_count",
    "agent_short_process_symbolized", "agent_export_while_running", "agent_export_pid",
    "agent_kill9_integrity", "agent_kill9_windows_kept",
    "agent_restart_appends", "agent_memory_limit", "agent_metrics_promtool",
    "agent_no_curl_debuginfod_mapped",
]

TMP = tempfile.mkdtemp(prefix="ember-agent-")
runs = {}


def stop_all(procs):
    for p in procs:
        if p.poll() is None:
            p.kill()
        p.communicate()


def main_run():
    """~10 s of `ember agent --window 2` while cpu_chain 4 and a 300 ms process run inside it."""
    if "main" in runs:
        return runs["main"]
    res = runs["main"] = {"error": None, "db": os.path.join(TMP, "main.db")}
    res["port"] = free_port()
    env = {k: v for k, v in os.environ.items() if k != "DEBUGINFOD_URLS"}
    agent = Agent(["--db", res["db"], "--window", str(WINDOW_MS // 1000), "-F", str(HZ),
                   "--listen", f"127.0.0.1:{res['port']}"], env=env)
    procs = []
    try:
        agent.wait_ready()
        chain = start_workload("cpu_chain", 4)
        procs.append(chain)
        time.sleep(1.5)
        short = start_workload("short_300ms")
        procs.append(short)
        for name, p in (("cpu_chain", chain), ("short_300ms", short)):
            out, err = p.communicate(timeout=60)
            assert p.returncode == 0, f"{name} exited with {p.returncode}: {err.strip()}"
            res[name] = dict(kv.split("=", 1) for kv in out.split() if "=" in kv)
        res["pids"] = {"cpu_chain": chain.pid, "short_300ms": short.pid}
        # a reader while the agent writes: one writer, any number of readers
        time.sleep(0.5)
        r = run_ember(["export", "--db", res["db"], "--comm", "cpu_chain"], timeout=30)
        res["live_export"] = (r.returncode, r.stdout, r.stderr)
        with urllib.request.urlopen(f"http://127.0.0.1:{res['port']}/metrics", timeout=10) as m:
            res["metrics"] = m.read().decode()
        res["mapped"] = agent.mapped()
        left = agent.started + RUN_S - time.time()
        if left > 0:
            time.sleep(left)
        assert agent.proc.poll() is None, f"the agent exited on its own with {agent.proc.returncode}"
        agent.stop()
        rc, out, err = agent.result(timeout=30)
        res.update(rc=rc, stdout=out, stderr=err, agent=agent)
        assert rc == 0, f"ember agent exited with {rc} after SIGINT: {err.strip()[-400:]}"
    except AssertionError as e:
        res["error"] = str(e)
    finally:
        agent.kill()
        stop_all(procs)
    return res


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def get(name):
    res = runs[name]
    assert not res["error"], f"agent run '{name}' failed: {res['error']}"
    return res


def windows(db):
    return db_query(db, "SELECT id, start_ms, dur_ms, samples FROM windows ORDER BY start_ms")


def exported(res, *args):
    """Folded export of the main run from 5 s before the agent started until now."""
    key = ("export",) + args
    if key not in res:
        frm = str(int(res["agent"].started) - 5)
        res[key] = parse_folded(export(res["db"], "--from", frm, "--to", "now", *args))
    return res[key]


# --- the main run -----------------------------------------------------------

def t_agent_exits_cleanly():
    res = get("main")
    assert res["stdout"] == "", f"the agent wrote to stdout: {res['stdout'][:200]!r}"
    bad = [l for l in res["stderr"].splitlines() if l.startswith(("ember: error", "ember: warn"))]
    assert not bad, f"the agent logged errors/warnings: {bad[:3]}"
    ver = db_query(res["db"], "PRAGMA user_version")[0][0]
    app = db_query(res["db"], "PRAGMA application_id")[0][0]
    assert ver == 5, f"PRAGMA user_version is {ver}, want 5"
    assert app == 0x454d4252, f"PRAGMA application_id is {app:#x}, want 0x454d4252"


def t_agent_window_log():
    res = get("main")
    lines = res["agent"].window_lines()
    rows = windows(res["db"])
    assert len(lines) == len(rows), f"the agent logged {len(lines)} windows but the store holds {len(rows)}"
    want = {"samples", "stacks", "lost", "bpf_failures", "unknown_frames", "symbolize_ms", "write_ms", "pending",
            "dropped_windows"}
    for i, l in enumerate(lines):
        missing = want - set(l)
        assert not missing, f"window line {i} lacks {sorted(missing)}: {l}"
        assert l["pending"] == 0 and l["dropped_windows"] == 0, f"window line {i} reports trouble: {l}"
    logged = [l["samples"] for l in lines]
    stored = [r[3] for r in rows]
    assert logged == stored, f"logged samples per window {logged} != stored {stored}"


def t_agent_window_timestamps():
    res = get("main")
    rows = windows(res["db"])
    agent = res["agent"]
    t0, t1 = agent.started * 1000, agent.ended * 1000
    assert len(rows) >= 4, f"only {len(rows)} windows in {RUN_S:.0f} s of --window 2"
    slop = 50  # ms
    for i, (wid, start, dur, _) in enumerate(rows):
        assert t0 - slop <= start <= t1, \
            f"window {wid} starts at {start}, outside the agent's run [{t0:.0f}, {t1:.0f}]"
        assert start + dur <= t1 + slop, f"window {wid} ends at {start + dur}, after the agent exited ({t1:.0f})"
        assert dur > 0, f"window {wid} has duration {dur}"
        if i < len(rows) - 1:
            # boundaries are scheduled on a fixed grid, so one late boundary (the main loop
            # was busy) makes one window longer and the next shorter, but nothing drifts
            assert abs(dur - WINDOW_MS) <= JITTER_MS, f"window {wid} lasts {dur} ms, want {WINDOW_MS}±{JITTER_MS}"
            grid = rows[0][1] + (i + 1) * WINDOW_MS
            assert abs(start + dur - grid) <= JITTER_MS, \
                f"window {wid} ends at {start + dur}, {start + dur - grid} ms off the {WINDOW_MS} ms grid: drift"
            nxt = rows[i + 1][1]
            assert abs(start + dur - nxt) <= 5, \
                f"window {wid} ends at {start + dur} but the next starts at {nxt}: not contiguous"
        else:
            assert dur <= WINDOW_MS + JITTER_MS, f"the last (partial) window lasts {dur} ms"
    # the first window starts right when sampling starts, not seconds before
    assert rows[0][1] - t0 <= 10000, f"the first window starts {rows[0][1] - t0:.0f} ms after launch"


def t_agent_window_samples():
    res = get("main")
    db = res["db"]
    wsum = db_query(db, "SELECT ifnull(sum(samples), 0) FROM windows")[0][0]
    ssum = db_query(db, "SELECT ifnull(sum(count), 0) FROM samples")[0][0]
    assert wsum == ssum, f"sum of windows.samples {wsum} != sum of samples.count {ssum}"
    bad = db_query(db, "SELECT w.id, w.samples, ifnull(sum(s.count), 0) FROM windows w"
                       " LEFT JOIN samples s ON s.win = w.id GROUP BY w.id HAVING w.samples != ifnull(sum(s.count), 0)")
    assert not bad, f"windows whose samples column disagrees with their rows (id, column, rows): {bad[:5]}"
    orphans = db_query(db, "SELECT count(*) FROM samples WHERE win NOT IN (SELECT id FROM windows)")[0][0]
    assert orphans == 0, f"{orphans} sample rows belong to no window"


def t_agent_export_total():
    res = get("main")
    ssum = db_query(res["db"], "SELECT ifnull(sum(count), 0) FROM samples")[0][0]
    got = total(exported(res))
    assert got == ssum, f"export of the whole run holds {got} samples, the store {ssum}"
    comms = {f[0] for f, _ in exported(res, "--comm", "cpu_chain")}
    assert comms == {"cpu_chain"}, f"--comm cpu_chain exported other comms: {sorted(comms)[:10]}"


def t_agent_cpu_chain_stack():
    res = get("main")
    mine = by_comm(exported(res, "--comm", "cpu_chain"), "cpu_chain")
    n = total(mine)
    assert n > 0, "no cpu_chain samples in the export"
    good = sum(c for f, c in mine if user_frames(f)[-len(CHAIN):] == CHAIN)
    if good < 0.9 * n:
        top = sorted(mine, key=lambda x: -x[1])[:3]
        raise AssertionError(f"only {good}/{n} ({good / n:.0%}) cpu_chain samples end in {';'.join(CHAIN)}; "
                             f"top stacks: {[(';'.join(f), c) for f, c in top]}")


def t_agent_cpu_chain_sample_count():
    res = get("main")
    cpu = float(res["cpu_chain"]["cpu"])
    expect = cpu * HZ
    # by pid: another cpu_chain on the host (a parallel test run) must not count
    got = total(by_comm(exported(res, "--pid", str(res["pids"]["cpu_chain"])), "cpu_chain"))
    assert abs(got - expect) <= 0.1 * expect, \
        f"cpu_chain got {got} samples, expected {expect:.0f} (cpu={cpu:.3f}s * {HZ} Hz) within 10%"


def t_agent_short_process_symbolized():
    res = get("main")
    mine = by_comm(exported(res, "--comm", "short_300ms"), "short_300ms")
    n = total(mine)
    assert n > 0, "no samples with comm short_300ms in the export"
    names = {f for frames, _ in mine for f in user_frames(frames)}
    missing = [f for f in SHORT_CHAIN if f not in names]
    assert not missing, f"short_300ms frames not symbolized: {missing}; saw {sorted(names)[:20]}"
    good = sum(c for f, c in mine if user_frames(f)[-len(SHORT_CHAIN):] == SHORT_CHAIN)
    assert good >= 0.8 * n, \
        f"only {good}/{n} short_300ms samples end in {';'.join(SHORT_CHAIN)}; " \
        f"top: {[(';'.join(f), c) for f, c in sorted(mine, key=lambda x: -x[1])[:3]]}"
    raw = sum(c for f, c in mine if any(x.startswith("short_300ms+0x") for x in f))
    assert raw == 0, f"{raw}/{n} short_300ms samples have unsymbolized short_300ms+0x frames"
    # ~0.3 s of CPU at 99 Hz
    cpu = float(res["short_300ms"]["cpu"])
    assert abs(n - cpu * HZ) <= max(0.25 * cpu * HZ, 5), f"short_300ms got {n} samples for cpu={cpu:.3f}s"


def t_agent_export_while_running():
    res = get("main")
    rc, out, err = res["live_export"]
    assert rc == 0, f"export while the agent was writing exited {rc}: {one_line(err)[-300:]}"
    stacks = parse_folded(out)
    n = total(by_comm(stacks, "cpu_chain"))
    assert n > 0, "export while the agent was running found no cpu_chain samples (windows already written)"


def t_agent_export_pid():
    res = get("main")
    pid = res["pids"]["short_300ms"]
    stacks = exported(res, "--pid", str(pid))
    comms = {f[0] for f, _ in stacks}
    assert comms == {"short_300ms"}, f"--pid {pid} (short_300ms) exported comms {sorted(comms)[:10]}"
    assert total(stacks) == total(by_comm(exported(res, "--comm", "short_300ms"), "short_300ms")), \
        "--pid and --comm select different samples for the only short_300ms process"
    assert parse_folded(export(res["db"], "--pid", "999999999")) == [], "--pid of no process exported samples"


# --- kill -9 and restart ------------------------------------------------------

CHURN_LOOP = r'''
i=0
while :; do
	for j in 1 2 3 4 5 6; do "$W" $i 15 & i=$((i + 1)); done
	wait
done
'''


def kill9_run():
    """`ember agent --window 1` under many short processes with distinct stacks, killed with SIGKILL."""
    if "kill9" in runs:
        return runs["kill9"]
    res = runs["kill9"] = {"error": None, "db": os.path.join(TMP, "kill9.db")}
    agent = Agent(["--db", res["db"], "--window", "1", "-F", str(HZ)])
    load = None
    try:
        agent.wait_ready()
        load = subprocess.Popen(["bash", "-c", CHURN_LOOP], env=dict(os.environ, W=workload("stack_churn")),
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
        res["kill_after"] = random.uniform(4.0, 6.0)
        time.sleep(res["kill_after"])
        assert agent.proc.poll() is None, f"the agent exited on its own with {agent.proc.returncode}"
        agent.proc.send_signal(signal.SIGKILL)
        rc, out, err = agent.result(timeout=30)
        assert rc == -signal.SIGKILL, f"the agent exited with {rc}, not by SIGKILL"
        res.update(stderr=err, logged=len(agent.window_lines()))
    except AssertionError as e:
        res["error"] = str(e)
    finally:
        agent.kill()
        if load is not None:
            try:
                os.killpg(load.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            load.wait()
    return res


def t_agent_kill9_integrity():
    res = get("kill9")
    con = sqlite3.connect(res["db"], timeout=10)  # a real reopen: recovers the WAL
    try:
        ok = con.execute("PRAGMA integrity_check").fetchall()
    finally:
        con.close()
    assert ok == [("ok",)], f"integrity_check after kill -9: {ok[:5]}"
    bad = db_query(res["db"], "SELECT w.id, w.samples, ifnull(sum(s.count), 0) FROM windows w"
                              " LEFT JOIN samples s ON s.win = w.id GROUP BY w.id"
                              " HAVING w.samples != ifnull(sum(s.count), 0)")
    assert not bad, f"half-written windows after kill -9 (id, column, rows): {bad[:5]}"
    ssum = db_query(res["db"], "SELECT ifnull(sum(count), 0) FROM samples")[0][0]
    got = total(parse_folded(export(res["db"])))
    assert got == ssum, f"export after kill -9 holds {got} samples, the store {ssum}"


def t_agent_kill9_windows_kept():
    res = get("kill9")
    n = len(windows(res["db"]))
    logged = res["logged"]
    assert logged >= 3, f"the agent logged only {logged} windows in {res['kill_after']:.1f} s of --window 1"
    assert n >= logged, f"the agent logged {logged} windows written before kill -9 but the store holds {n}"
    assert n <= logged + 1, f"the store holds {n} windows but the agent logged only {logged}"
    churn = db_query(res["db"], "SELECT count(DISTINCT p.pid) FROM procs p JOIN strings s ON s.id = p.comm"
                                " WHERE CAST(s.s AS TEXT) = 'stack_churn'")[0][0]
    assert churn >= 10, f"only {churn} stack_churn processes stored: the write load did not happen"


def t_agent_restart_appends():
    res = get("kill9")
    db = res["db"]
    before = windows(db)
    agent = Agent(["--db", db, "--window", "1", "-F", str(HZ)])
    rc, err = agent.run_for(2.5)
    assert rc == 0, f"the restarted agent exited with {rc}: {err.strip()[-400:]}"
    after = windows(db)
    assert len(after) > len(before), f"window count {len(before)} -> {len(after)} after a restart"
    missing = sorted(set(before) - set(after))
    assert not missing, f"windows lost or changed by the restart: {missing[:3]}"
    new = sorted(set(after) - set(before), key=lambda r: r[1])
    assert new[0][1] >= max(r[1] + r[2] for r in before), "the restart wrote windows older than the old ones"
    assert len(new) == len(agent.window_lines()), \
        f"the restarted agent logged {len(agent.window_lines())} windows but added {len(new)}"


# --- memory limit -----------------------------------------------------------------

SHRINK_RE = re.compile(r"memory: resident ([0-9.]+) MB is over the 16 MB limit: closed DWARF"
                       r"(?: and dropped cached names)? \(now ([0-9.]+) MB\)")


def t_agent_memory_limit():
    """Under a 16 MB limit the agent drops symbol data, says so, and names stay right afterwards."""
    db = os.path.join(TMP, "memlimit.db")
    agent = Agent(["--db", db, "--window", "1", "-F", str(HZ), "--memory-limit", "16"])
    chain = None
    try:
        agent.wait_ready()
        chain = start_workload("cpu_chain", 3)
        _, err = chain.communicate(timeout=60)
        assert chain.returncode == 0, f"cpu_chain exited with {chain.returncode}: {err.strip()}"
        agent.stop()
        rc, _, err = agent.result(timeout=30)
    finally:
        agent.kill()
        if chain and chain.poll() is None:
            chain.kill()
    assert rc == 0, f"ember agent --memory-limit 16 exited with {rc}: {one_line(err)[-300:]}"
    lines = err.splitlines()
    rss = [w.get("rss_mb") for w in agent.window_lines()]
    # Whether dropping DWARF alone gets under 16 MB depends on what else the host
    # runs, so the number of shrinks does not say much; what each one did does.
    shrinks = [(i, float(m.group(1)), float(m.group(2)))
               for i, l in enumerate(lines) for m in [SHRINK_RE.search(l)] if m]
    assert shrinks, f"no 'memory: resident ... over the 16 MB limit' line in {len(rss)} windows (rss_mb {rss})"
    assert any(after < before for _, before, after in shrinks), \
        f"no shrink freed anything: {[(b, a) for _, b, a in shrinks]}"
    for _, before, after in shrinks:
        # nothing may be left to drop (then the warning below is due), but it never grows
        assert after <= before, f"a shrink grew the agent: {before} MB -> {after} MB"
        assert before > 16, f"a shrink at {before} MB, under the 16 MB limit"
    if any(after >= 16.1 for _, _, after in shrinks):
        assert "still over the limit" in err, "still over 16 MB after a shrink, but no warning"
    later = [l for l in lines[shrinks[0][0] + 1:] if "info: window:" in l and "samples=0 " not in l]
    assert later, "no window with samples after the first shrink: naming after it is untested"
    mine = by_comm(parse_folded(export(db, "--pid", str(chain.pid))), "cpu_chain")
    n = total(mine)
    good = sum(c for f, c in mine if user_frames(f)[-len(CHAIN):] == CHAIN)
    assert n > 0 and good >= 0.9 * n, f"with symbol data dropped only {good}/{n} samples " \
        f"end in {';'.join(CHAIN)}"


def t_agent_metrics_promtool():
    # Prometheus' own linter: base units, _total/_bytes/_seconds suffixes, valid text format.
    res = get("main")
    promtool = shutil.which("promtool")
    if not promtool:
        if IN_CI:
            raise AssertionError("promtool not installed (make test installs prometheus)")
        raise Skip("promtool not installed (make test installs prometheus)")
    r = subprocess.run([promtool, "check", "metrics"], input=res["metrics"], capture_output=True,
                       text=True, timeout=30)
    assert r.returncode == 0, f"promtool check metrics exited {r.returncode}: {one_line(r.stdout + r.stderr)[:400]}"
    m = re.search(r"^ember_samples_total (\S+)$", res["metrics"], re.M)
    assert m and float(m.group(1)) > 0, "no ember_samples_total > 0 on the live agent's /metrics"


def t_agent_no_curl_debuginfod_mapped():
    """Without --push and without a debuginfod URL, libcurl and libdebuginfod are never loaded."""
    res = get("main")
    mapped = res["mapped"]
    assert any(m.startswith("libelf") for m in mapped), f"maps read wrong: {sorted(mapped)[:10]}"
    loaded = sorted(m for m in mapped if m.startswith(("libcurl", "libdebuginfod")))
    assert not loaded, f"mapped without --push or DEBUGINFOD_URLS: {loaded}"


def main():
    run_suite(TESTS, globals(), (main_run, kill9_run), TMP)


if __name__ == "__main__":
    main()
