# SPDX-License-Identifier: BSD-2-Clause OR GPL-2.0
"""test_export.py - end-to-end tests of `ember export` on a store written by a real agent: pprof via go tool pprof (totals, traces, mappings with build ids), time syntax, bad input."""

import datetime
import os
import re
import shutil
import signal
import sqlite3
import struct
import subprocess
import sys
import tempfile
import time

sys.dont_write_bytecode = True  # keep the work tree clean
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from ember_e2e import (EMBER, Agent, Runner, Skip, bpf_unavailable_reason, build_id, go_pprof,  # noqa: E402
                       db_query, export, file_bytes, one_line, parse_folded, run_ember, start_workload,
                       total, workload)

HZ = 99
CHAIN = ["main", "chain_a", "chain_b", "spin"]
TOP_N = 3

BPF_TESTS = ["export_pprof_top", "export_pprof_traces", "export_pprof_build_ids", "export_time_syntax",
             "export_time_range", "export_readonly", "export_non_root_readonly_dir",
             "export_format_by_extension"]

TMP = tempfile.mkdtemp(prefix="ember-export-")
state = {"error": None}


def agent_run():
    """~7 s of `ember agent --window 2` while cpu_chain and syscall_loop run."""
    db = state["db"] = os.path.join(TMP, "exp.db")
    agent = Agent(["--db", db, "--window", "2", "-F", str(HZ)])
    procs = []
    try:
        agent.wait_ready()
        procs = [("cpu_chain", start_workload("cpu_chain", 3)), ("syscall_loop", start_workload("syscall_loop", 2))]
        state["pids"] = {str(p.pid): name for name, p in procs}
        for name, p in procs:
            _, err = p.communicate(timeout=60)
            assert p.returncode == 0, f"{name} exited with {p.returncode}: {err.strip()}"
        time.sleep(max(0.0, agent.started + 7.0 - time.time()))
        agent.proc.send_signal(signal.SIGTERM)  # test_agent.py stops it with SIGINT
        rc, _, err = agent.result(timeout=30)
        assert rc == 0, f"ember agent exited with {rc} after SIGTERM: {err.strip()[-400:]}"
        state["started"] = agent.started
        state["windows"] = db_query(db, "SELECT start_ms, dur_ms, samples FROM windows ORDER BY start_ms")
        assert len(state["windows"]) >= 3, f"only {len(state['windows'])} windows stored"
    except AssertionError as e:
        state["error"] = str(e)
    finally:
        agent.kill()
        for _, p in procs:
            if p.poll() is None:
                p.kill()
                p.communicate()


def get_db():
    assert not state["error"], f"agent run failed: {state['error']}"
    return state["db"]


def whole_range():
    return ["--from", str(int(state["started"]) - 5), "--to", "now"]


def strip_suffix(name):
    return re.sub(r"_\[[ki]\]$", "", name)


def t_export_format_by_extension():
    """Without --format, -o's extension picks the format (as `record -o` does); --format wins."""
    db = get_db()
    heads = {"x.pb.gz": b"\x1f\x8b", "x.pprof": b"\x1f\x8b", "x.svg": b"<?xml", "x.html": b"<!doctype html",
             "x.folded": b"cpu_chain;", "x.svg.txt": b""}
    for name, head in heads.items():
        path = os.path.join(TMP, name)
        r = run_ember(["export", "--db", db, "--comm", "cpu_chain", "-o", path] + whole_range())
        assert r.returncode == 0, f"export -o {name} exited {r.returncode}: {one_line(r.stderr)[-300:]}"
        with open(path, "rb") as f:
            got = f.read(64)
        if name == "x.svg.txt":  # not a known extension: folded
            assert got.startswith(b"cpu_chain;"), f"-o {name} is not folded: {got[:30]!r}"
        else:
            assert got.startswith(head), f"-o {name} starts {got[:30]!r}, want {head!r}"
    path = os.path.join(TMP, "forced.svg")
    r = run_ember(["export", "--db", db, "--format", "folded", "-o", path] + whole_range())
    assert r.returncode == 0, f"export --format folded -o forced.svg exited {r.returncode}"
    with open(path, "rb") as f:
        assert not f.read(5).startswith(b"<?xml"), "--format folded lost to the .svg extension"


# --- pprof --------------------------------------------------------------------

def pprof(args, path):
    return go_pprof(args, path, TMP)


def pprof_file():
    if "pb" not in state:
        db = get_db()
        path = os.path.join(TMP, "cpu.pb.gz")
        r = run_ember(["export", "--db", db, "--format", "pprof", "-o", path] + whole_range())
        assert r.returncode == 0, f"export --format pprof exited {r.returncode}: {one_line(r.stderr)[-400:]}"
        assert r.stdout == "", f"export -o FILE wrote to stdout: {r.stdout[:100]!r}"
        with open(path, "rb") as f:
            assert f.read(2) == b"\x1f\x8b", "the pprof export is not gzip-compressed"
        state["pb"] = path
        # the folded export of the same range, for comparisons
        state["folded"] = parse_folded(export(db, *whole_range()))
    return state["pb"]


def t_export_pprof_top():
    path = pprof_file()
    out = pprof(["-top", "-sample_index=samples", "-nodecount=1000", "-nodefraction=0", "-edgefraction=0"], path)
    m = re.search(r"Total samples = (\d+)", out)
    stacks = state["folded"]
    assert m, f"no 'Total samples' in pprof -top: {out[:300]!r}"
    assert int(m.group(1)) == total(stacks), \
        f"pprof total {m.group(1)} != folded total {total(stacks)} for the same range"
    rows = []
    for line in out.splitlines():
        mm = re.match(r"^\s*(\d+)\s+[\d.]+%\s+[\d.]+%\s+(\d+)\s+[\d.]+%\s+(.+?)\s*$", line)
        if mm:
            rows.append((mm.group(3), int(mm.group(1))))
    assert len(rows) >= TOP_N, f"pprof -top printed {len(rows)} rows: {out[:400]!r}"
    leaves = {}
    for frames, c in stacks:
        if len(frames) > 1:
            leaf = strip_suffix(frames[-1])
            leaves[leaf] = leaves.get(leaf, 0) + c
    ranked = sorted(leaves.items(), key=lambda x: -x[1])
    assert len(ranked) >= TOP_N, f"the folded export has only {len(ranked)} distinct leaves"
    cut = ranked[TOP_N - 1][1]  # ties with the N-th leaf may be in either order
    want = {n for n, c in ranked if c >= cut}
    got = [n for n, _ in rows[:TOP_N]]
    wrong = [n for n in got if n not in want]
    assert not wrong, f"pprof top {TOP_N} by flat {rows[:TOP_N]} vs folded top leaves {ranked[:TOP_N + 2]}"
    for name, flat in rows[:TOP_N]:
        assert flat == leaves.get(name), f"pprof flat for {name} is {flat}, folded leaf count {leaves.get(name)}"
    assert got[0] == "spin", f"spin is not the top function: {rows[:TOP_N]}"


def t_export_pprof_traces():
    path = pprof_file()
    out = pprof(["-traces"], path)
    blocks = out.split("-----------+")
    found = None
    for b in blocks:
        names = [l.split()[-1] for l in b.splitlines()
                 if l.strip() and not l.lstrip().startswith(("comm:", "pid:", "File:", "Build ID:", "Type:",
                                                            "Time:", "Duration:", "---"))]
        if names and names[0] == "spin":
            found = names
            break
    assert found, f"no trace with spin as leaf in pprof -traces: {out[:600]!r}"
    assert found[:4] == ["spin", "chain_b", "chain_a", "main"], f"cpu_chain trace in pprof -traces: {found[:8]}"


def parse_raw(text):
    """`pprof -raw` output as (samples [(location ids, labels)], {location: mapping}, {mapping: (file, build id)})."""
    samples, locs, maps, section = [], {}, {}, None
    for line in text.splitlines():
        if line in ("Samples:", "Locations", "Mappings"):
            section = line
        elif section == "Samples:" and (m := re.match(r"^\s+\d+\s+\d+: ([\d ]+)$", line)):
            samples.append(([int(x) for x in m.group(1).split()], {}))
        elif section == "Samples:" and samples and (m := re.match(r"^\s+(\w+):\[(.*)\]$", line)):
            samples[-1][1][m.group(1)] = m.group(2)
        elif section == "Locations" and (m := re.match(r"^\s*(\d+): 0x[0-9a-f]+ M=(\d+) ", line)):
            locs[int(m.group(1))] = int(m.group(2))
        elif section == "Mappings" and (m := re.match(r"^\s*(\d+): \S+ (.*) ([0-9a-f]*) ((?:\[[A-Z]+\])*)$", line)):
            maps[int(m.group(1))] = (m.group(2), m.group(3))
    return samples, locs, maps


def kernel_build_id():
    """The running kernel's build id: the GNU build-id note of /sys/kernel/notes."""
    with open("/sys/kernel/notes", "rb") as f:
        notes = f.read()
    off = 0
    while off + 12 <= len(notes):
        namesz, descsz, kind = struct.unpack_from("=III", notes, off)
        name = off + 12
        desc = name + (namesz + 3) // 4 * 4
        if kind == 3 and notes[name:name + namesz] == b"GNU\0":
            return notes[desc:desc + descsz].hex()
        off = desc + (descsz + 3) // 4 * 4
    raise AssertionError("/sys/kernel/notes has no build id")


def libc_path(binary):
    """The libc.so.6 BINARY loads, as ldd resolves it."""
    r = subprocess.run(["ldd", binary], capture_output=True, text=True, check=True)
    for line in r.stdout.splitlines():
        parts = line.split()
        if parts and parts[0] == "libc.so.6" and len(parts) >= 3:
            return os.path.realpath(parts[2])
    raise AssertionError(f"ldd {binary} names no libc.so.6: {r.stdout!r}")


def t_export_pprof_build_ids():
    """Mappings are per (module, build id): the workloads' samples sit in mappings with their files' build ids."""
    samples, locs, maps = parse_raw(pprof(["-raw"], pprof_file()))
    assert maps and locs and samples, f"pprof -raw: {len(samples)} samples, {len(locs)} locations, {len(maps)} mappings"
    pairs = list(maps.values())
    # a file name pprof -raw cannot print on one line (a newline in a user's module name, from
    # the whole host being sampled) parses as ''; every name it prints must be unique
    named = [p for p in pairs if p[0]]
    assert len(set(named)) == len(named), f"two mappings with one (file, build id): {sorted(named)[:10]}"
    used = {}  # mapping id -> workload names whose samples use it
    for ids, labels in samples:
        name = state["pids"].get(labels.get("pid"))
        for loc in ids if name else ():
            used.setdefault(locs[loc], set()).add(name)
    want = {"cpu_chain": build_id(workload("cpu_chain")), "syscall_loop": build_id(workload("syscall_loop")),
            "libc.so.6": build_id(libc_path(workload("cpu_chain")))}
    seen = set()
    for mid, names in used.items():
        file, bid = maps[mid]
        if file in want:
            assert bid == want[file], f"mapping {mid} of {file} (used by {sorted(names)}) has build id {bid!r}, want {want[file]}"
            seen.add(file)
    assert seen == set(want), f"no samples of the workloads in mappings of {sorted(set(want) - seen)}: {[maps[m] for m in used]}"
    kernel = [bid for file, bid in pairs if file == "vmlinux"]
    assert kernel, f"no vmlinux mapping: {pairs[:10]}"
    assert set(kernel) == {kernel_build_id()}, f"vmlinux mappings have build ids {kernel}, the kernel {kernel_build_id()}"


# --- time syntax --------------------------------------------------------------

def rfc3339(ms):
    d = datetime.datetime.fromtimestamp(ms / 1000, tz=datetime.timezone.utc)
    return d.strftime("%Y-%m-%dT%H:%M:%S.") + f"{ms % 1000:03d}Z"


def rfc3339_offset(ms):
    """The same instant written with a +02:00 zone."""
    tz = datetime.timezone(datetime.timedelta(hours=2))
    d = datetime.datetime.fromtimestamp(ms / 1000, tz=tz)
    return d.strftime("%Y-%m-%dT%H:%M:%S.") + f"{ms % 1000:03d}+02:00"


def relative(ms):
    """'-Ns' for an instant N seconds before now (ember reads 'now' a few ms later)."""
    return f"-{(time.time() * 1000 - ms) / 1000:.3f}s"


def relative_hms(ms):
    d = time.time() * 1000 - ms
    m = int(d // 60000)
    return f"-{m}m{(d - m * 60000) / 1000:.3f}s"


def folded_lines(text):
    return sorted(l for l in text.split("\n") if l)


def t_export_time_syntax():
    db = get_db()
    w = state["windows"]
    # Instants halfway into windows, so a few ms of 'now' drift cannot change the selection.
    # From inside the first window to inside the last: the second window, where cpu_chain
    # still runs, is always selected, whatever the later (possibly idle) windows hold.
    t_from = w[0][0] + w[0][1] // 2
    t_to = w[-1][0] + w[-1][1] // 2
    forms = {
        "rfc3339": (rfc3339(t_from), rfc3339(t_to)),
        "rfc3339+02:00": (rfc3339_offset(t_from), rfc3339_offset(t_to)),
        "unix": (f"{t_from / 1000:.3f}", f"{t_to / 1000:.3f}"),
        "relative": (relative(t_from), relative(t_to)),
        "relative_m_s": (relative_hms(t_from), relative_hms(t_to)),
    }
    outs = {k: folded_lines(export(db, "--from", a, "--to", b)) for k, (a, b) in forms.items()}
    ref = outs["unix"]
    for k, v in outs.items():
        assert v == ref, f"--from/--to as {k} {forms[k]} selects {len(v)} stacks, as unix {forms['unix']} {len(ref)}"
    want = sum(s for start, _, s in w if t_from <= start < t_to)
    assert want > 0, f"the windows in [{t_from}, {t_to}) hold no samples: {w}"
    got = total(parse_folded("".join(line + "\n" for line in ref)))
    assert got == want, f"[{t_from}, {t_to}) exported {got} samples; its windows hold {want}"
    # whole-second Unix time, no fraction
    sec = (w[1][0] + 999) // 1000
    a = folded_lines(export(db, "--from", str(sec), "--to", "now"))
    b = folded_lines(export(db, "--from", rfc3339(sec * 1000).replace(".000Z", "Z"), "--to", "now"))
    assert a == b, "--from as integer Unix seconds and as RFC 3339 without fraction differ"


def t_export_time_range():
    db = get_db()
    w = state["windows"]
    for i in range(len(w)):
        start, dur, samples = w[i]
        out = export(db, "--from", f"{start / 1000:.3f}", "--to", f"{(start + dur) / 1000:.3f}")
        got = total(parse_folded(out))
        assert got == samples, f"window {i} [{start}, {start + dur}) exported {got} samples, holds {samples}"
    # a range before any data is empty, not an error
    out = export(db, "--from", str(int(state["started"]) - 7200), "--to", str(int(state["started"]) - 3600))
    assert out == "", f"a range before the store's data exported {len(out)} bytes"


def t_export_readonly():
    db = get_db()
    before = file_bytes(db)
    export(db, *whole_range())
    run_ember(["export", "--db", db, "--format", "pprof", "-o", os.path.join(TMP, "ro.pb.gz")])
    assert file_bytes(db) == before, "export changed the store file"


def as_nobody(args, timeout=60):
    """Runs ARGS as uid/gid 65534 (nobody) with no supplementary groups."""
    return subprocess.run(["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups"] + args,
                          capture_output=True, text=True, errors="replace", timeout=timeout)


def t_export_non_root_readonly_dir():
    """A user who may read root's store but not write its directory can export it."""
    db = get_db()
    if os.getuid() != 0:
        raise Skip("needs root to switch to another user")
    top = tempfile.mkdtemp(prefix="ember-ro-")
    try:
        os.chmod(top, 0o755)
        shutil.copy(EMBER, os.path.join(top, "ember"))
        ro = os.path.join(top, "store")
        os.mkdir(ro)
        shutil.copy(db, os.path.join(ro, "ro.db"))
        os.chmod(os.path.join(ro, "ro.db"), 0o644)
        os.chmod(ro, 0o555)
        want = export(db, *whole_range())
        r = as_nobody([os.path.join(top, "ember"), "export", "--db", os.path.join(ro, "ro.db")] + whole_range())
        assert r.returncode == 0, f"export as nobody exited {r.returncode}: {one_line(r.stderr)[-300:]}"
        assert r.stdout == want, "export as nobody differs from root's export of the same store"
        assert sorted(os.listdir(ro)) == ["ro.db"], f"export created files: {os.listdir(ro)}"

        # Log content not yet in the file must not be silently skipped: a clear error instead.
        walled = os.path.join(top, "wal")
        os.mkdir(walled)
        src = os.path.join(TMP, "walsrc.db")
        shutil.copy(db, src)
        con = sqlite3.connect(src)
        try:
            con.execute("PRAGMA wal_autocheckpoint = 0")
            con.execute("INSERT OR REPLACE INTO meta VALUES ('wal_test', 1)")
            con.commit()
            for suffix in ("", "-wal"):
                shutil.copy(src + suffix, os.path.join(walled, "w.db" + suffix))
        finally:
            con.close()
        assert os.path.getsize(os.path.join(walled, "w.db-wal")) > 0, "the test's WAL is empty"
        os.chmod(walled, 0o555)
        r = as_nobody([os.path.join(top, "ember"), "export", "--db", os.path.join(walled, "w.db")])
        assert r.returncode != 0 and r.stdout == "", \
            f"export of a store with pending WAL data in a read-only dir exited {r.returncode}"
        assert "w.db" in r.stderr and "\n" == r.stderr[-1:], f"unclear error: {r.stderr!r}"
    finally:
        for d in ("store", "wal"):
            if os.path.isdir(os.path.join(top, d)):
                os.chmod(os.path.join(top, d), 0o755)
        shutil.rmtree(top, ignore_errors=True)


# --- bad input ------------------------------------------------------------------

def good_store(name):
    """A copy of the agent's store, or (without BPF) a minimal file with ember's header."""
    path = os.path.join(TMP, name)
    if not state["error"] and "db" in state:
        shutil.copyfile(state["db"], path)
    else:
        con = sqlite3.connect(path)
        con.executescript("PRAGMA application_id = 1162691154; CREATE TABLE windows (id INTEGER PRIMARY KEY,"
                          " start_ms INTEGER, dur_ms INTEGER, samples INTEGER); PRAGMA user_version = 5;")
        con.close()
    return path


def not_sqlite(name):
    path = os.path.join(TMP, name)
    with open(path, "wb") as f:
        f.write(os.urandom(8192))
    return path


def version99(name):
    path = good_store(name)
    con = sqlite3.connect(path)
    con.execute("PRAGMA user_version = 99")
    con.commit()
    con.close()
    assert not os.path.exists(path + "-wal"), "sqlite left a WAL behind"
    return path


def check_bad(cmd, args, want_rc, store=None, out_file=None):
    """Runs a bad command line: one clear stderr line, exit want_rc, empty stdout, store byte-identical."""
    before = file_bytes(store) if store else None
    r = run_ember([cmd] + args, timeout=30)
    line = f"ember {cmd} {' '.join(args)}"
    lines = [l for l in r.stderr.split("\n") if l != ""]
    assert r.returncode >= 0, f"`{line}` died of signal {-r.returncode}"
    assert r.returncode == want_rc, f"`{line}` exited {r.returncode}, want {want_rc}: {one_line(r.stderr)[:300]}"
    assert len(lines) == 1, f"`{line}` printed {len(lines)} stderr lines, want 1: {r.stderr[:400]!r}"
    assert len(lines[0]) >= 15 and lines[0].startswith("ember"), f"`{line}` error is unclear: {lines[0]!r}"
    assert r.stdout == "", f"`{line}` wrote to stdout: {r.stdout[:200]!r}"
    if store:
        assert file_bytes(store) == before, f"`{line}` modified {os.path.basename(store)}"
    if out_file:
        assert not os.path.exists(out_file), f"`{line}` left {out_file} behind"
    return lines[0]


def bad_export_from_after_to():
    db = good_store("b1.db")
    check_bad("export", ["--db", db, "--from", "-1m", "--to", "-2h"], 2, db)
    check_bad("export", ["--db", db, "--from", "1700000100", "--to", "1700000000"], 2, db)


def bad_export_unparseable_time():
    db = good_store("b2.db")
    check_bad("export", ["--db", db, "--from", "yesterday"], 2, db)
    check_bad("export", ["--db", db, "--to", "2026-13-45T99:00:00Z"], 2, db)
    check_bad("export", ["--db", db, "--from", "-15x"], 2, db)


def bad_export_not_sqlite():
    db = not_sqlite("b3.db")
    out = os.path.join(TMP, "b3.folded")
    msg = check_bad("export", ["--db", db, "-o", out], 1, db, out)
    assert "store" in msg or "SQLite" in msg or "ember" in msg.split(":", 1)[-1], f"unclear: {msg!r}"


def bad_export_version99():
    db = version99("b4.db")
    out = os.path.join(TMP, "b4.pb.gz")
    check_bad("export", ["--db", db, "--format", "pprof", "-o", out], 1, db, out)


def bad_export_missing_db_flag():
    check_bad("export", ["--from", "-1h"], 2)


def bad_export_missing_file():
    db = os.path.join(TMP, "nonexistent.db")
    check_bad("export", ["--db", db], 1)
    assert not os.path.exists(db), "export created the store it was asked to read"


def bad_export_unknown_format():
    db = good_store("b5.db")
    out = os.path.join(TMP, "b5.xml")
    check_bad("export", ["--db", db, "--format", "xml", "-o", out], 2, db, out)


def bad_agent_window_zero():
    db = good_store("b6.db")
    check_bad("agent", ["--db", db, "--window", "0"], 2, db)
    check_bad("agent", ["--db", db, "--window", "-3"], 2, db)


def bad_agent_retention():
    db = good_store("b7.db")
    check_bad("agent", ["--db", db, "--retention", "abc"], 2, db)


def bad_agent_not_sqlite():
    db = not_sqlite("b8.db")
    check_bad("agent", ["--db", db, "--window", "1"], 1, db)


def bad_agent_version99():
    db = version99("b9.db")
    check_bad("agent", ["--db", db, "--window", "1"], 1, db)


BAD = [(n[4:], f) for n, f in list(globals().items()) if n.startswith("bad_") and callable(f)]


def main():
    runner = Runner()
    if not os.access(EMBER, os.X_OK):
        def not_built():
            raise AssertionError(f"{EMBER} not built (run make)")
        for t in BPF_TESTS + [n for n, _ in BAD]:
            runner.run(t, not_built)
        runner.exit()
    try:
        why = bpf_unavailable_reason()
        if why:
            state["error"] = why
            runner.unavailable(BPF_TESTS, why)
        else:
            agent_run()
            for t in BPF_TESTS:
                runner.run(t, globals()["t_" + t])
        for name, fn in BAD:
            runner.run(name, fn)
    finally:
        shutil.rmtree(TMP, ignore_errors=True)
    runner.exit()


if __name__ == "__main__":
    main()
