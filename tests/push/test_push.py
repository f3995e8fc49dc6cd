# SPDX-License-Identifier: BSD-2-Clause OR GPL-2.0
"""test_push.py - `ember agent --push` against the reference receiver (recv.mjs), loopback only.

The receiver is calibrated first (calibrate.mjs, its own PASS/FAIL lines in
tests/run.sh).  Here the real agent samples a real workload (cpu_chain) and
pushes: labels, pprof contents, per-window totals against the local store,
`go tool pprof -raw` on every pushed profile, /ingest raw and multipart,
faults (400, 429/503, a dead server, 20 s replies, kill -9), Basic/Bearer/
tenant headers kept out of logs and /metrics, and https with a private CA.
"""

import base64
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "e2e"))
from ember_e2e import (Agent, db_query, export, parse_folded, run_suite,  # noqa: E402
                       start_workload)

TMP = tempfile.mkdtemp(prefix="ember-push-")
PERIOD = 1000000000 // 99
HOST = socket.gethostname()
TESTS = [
    "push_connect_one_request_per_window", "push_connect_labels", "push_connect_pprof",
    "push_connect_totals_equal_store", "push_connect_stacks_equal_store", "push_go_pprof_reads",
    "push_metrics", "push_ingest_raw", "push_ingest_multipart", "push_400_dropped_not_retried",
    "push_reset_503_429_retried_delivered_once", "push_dead_server_bounded", "push_slow_server",
    "push_kill9_store_intact", "push_auth_basic_tenant", "push_auth_bearer", "push_tls_ca",
    "push_libcurl_loaded",
]
state = {}


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


class Receiver:
    """node recv.mjs in the background; log() is every request it saw."""

    def __init__(self, port=0, tls=None, save=None):
        args = ["node", os.path.join(HERE, "recv.mjs"), "--port", str(port)]
        if tls:
            args += ["--tls"] + list(tls)
        if save:
            args += ["--save", save]
        self.scheme = "https" if tls else "http"
        self.proc = subprocess.Popen(args, stdout=subprocess.PIPE, text=True)
        line = self.proc.stdout.readline()
        assert line, "the receiver did not start"
        self.port = json.loads(line)["port"]
        self.url = f"{self.scheme}://127.0.0.1:{self.port}"
        self.tls_ca = tls[0] if tls else None

    def _get(self, path):
        import ssl
        ctx = ssl.create_default_context(cafile=self.tls_ca) if self.tls_ca else None
        with urllib.request.urlopen(self.url + path, timeout=30, context=ctx) as r:
            return json.loads(r.read())

    def log(self):
        return self._get("/_log")

    def control(self, q):
        return self._get("/_control?" + q)

    def stop(self):
        self.proc.kill()
        self.proc.wait()


def metrics(port):
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as r:
        return r.read().decode()


def metric(text, name):
    m = re.search(r"^" + re.escape(name) + r" (\S+)$", text, re.M)
    assert m, f"{name} not in /metrics"
    return float(m.group(1))


def summary(stderr):
    """The pusher's end-of-run line as a dict."""
    m = re.search(r"push: (\d+) requests sent \((\d+) bytes\), (\d+) retries, dropped: (\d+) "
                  r"queue_full, (\d+) too_old, (\d+) rejected, (\d+) encode, (\d+) at exit", stderr)
    assert m, f"no push summary in the agent's log: {stderr[-600:]!r}"
    keys = ["sent", "bytes", "retries", "queue_full", "too_old", "rejected", "encode", "at_exit"]
    return dict(zip(keys, map(int, m.groups())))


def run_agent(name, push_args, seconds, window=2, db=None, during=None):
    """Runs the agent with --push for @seconds; @during(agent, web_port) runs meanwhile."""
    db = db or os.path.join(TMP, name + ".db")
    port = free_port()
    a = Agent(["--db", db, "--window", str(window), "--listen", f"127.0.0.1:{port}"] + push_args)
    out = {"db": db, "agent": a}
    try:
        a.wait_ready()
        t0 = time.monotonic()
        if during:
            out["during"] = during(a, port)
        time.sleep(max(0.0, seconds - (time.monotonic() - t0)))
        out["metrics"] = metrics(port)
        a.stop()
        t1 = time.monotonic()
        out["rc"], _, out["stderr"] = a.result(timeout=40)
        out["exit_s"] = time.monotonic() - t1
    finally:
        a.kill()
    return out


def windows(db):
    return db_query(db, "SELECT start_ms, dur_ms, samples FROM windows WHERE samples > 0 "
                    "ORDER BY start_ms")


def pushes(log, kind="push"):
    return [e for e in log if e["kind"] == kind and e.get("status") == 200]


# --- the main connect run ---------------------------------------------------

def setup_main():
    state["chain"] = start_workload("cpu_chain", 600)
    save = os.path.join(TMP, "saved")
    os.mkdir(save)
    r = Receiver(save=save)
    try:
        res = run_agent("main", ["--push", r.url + "/", "--push-label", "env=e2e"], 9,
                        during=lambda a, port: a.mapped())
        res["log"] = r.log()
    finally:
        r.stop()
    state["main"] = res


def main_run():
    res = state["main"]
    assert res["rc"] == 0, f"agent exited {res['rc']}: {res['stderr'][-400:]}"
    return res


def t_push_connect_one_request_per_window():
    res = main_run()
    got = pushes(res["log"])
    wins = windows(res["db"])
    assert len(wins) >= 3, f"only {len(wins)} windows with samples"
    assert len(got) == len(res["log"]), f"not every request was accepted: {res['log'][:2]}"
    assert len(got) == len(wins), f"{len(got)} pushes for {len(wins)} windows"
    starts = sorted(e["series"][0]["profiles"][0]["timeNanos"] // 1000000 for e in got)
    assert starts == [w[0] for w in wins], f"push start times {starts} != windows {[w[0] for w in wins]}"


def t_push_connect_labels():
    res = main_run()
    for e in pushes(res["log"]):
        names = [s["labels"]["service_name"] for s in e["series"]]
        assert len(names) == len(set(names)), f"a service twice in one request: {names}"
        for s in e["series"]:
            lb = s["labels"]
            assert lb["__name__"] == "process_cpu" and lb["__delta__"] == "false", lb
            assert lb["host"] == HOST and lb["env"] == "e2e", lb
            assert set(lb) == {"__name__", "__delta__", "service_name", "host", "env"}, lb
        assert e["headers"]["connect-protocol-version"] == "1", e["headers"]
        assert e["headers"]["content-type"] == "application/proto", e["headers"]
    assert any(s["labels"]["service_name"] == "cpu_chain"
               for e in pushes(res["log"]) for s in e["series"]), "no cpu_chain service"


def t_push_connect_pprof():
    res = main_run()
    agent = res["agent"]
    durs = {start: dur for start, dur, _ in windows(res["db"])}
    seen = set()
    for e in pushes(res["log"]):
        for s in e["series"]:
            for p in s["profiles"]:
                # one profile type, as Grafana's profilers send: cpu time only
                assert p["sampleTypes"] == ["cpu/nanoseconds"], p["sampleTypes"]
                assert p["periodType"] == "cpu/nanoseconds" and p["period"] == PERIOD, p
                assert p["totals"][0] % PERIOD == 0, p["totals"]
                t = p["timeNanos"] / 1e9
                assert agent.started - 1 <= t <= agent.ended, f"time_nanos {t} outside the run"
                dur = durs.get(p["timeNanos"] // 1000000)
                assert p["durationNanos"] == dur * 1000000, (p["durationNanos"], dur)
                if s["labels"]["service_name"] == "cpu_chain":
                    seen.update(p["functions"])
    missing = {"main", "chain_a", "chain_b", "spin"} - seen
    assert not missing, f"cpu_chain's {missing} not pushed"


def t_push_connect_totals_equal_store():
    res = main_run()
    by_start = {}
    for e in pushes(res["log"]):
        start = e["series"][0]["profiles"][0]["timeNanos"] // 1000000
        by_start[start] = sum(p["totals"][0] // PERIOD for s in e["series"] for p in s["profiles"])
    for start, _, samples in windows(res["db"]):
        assert by_start.get(start) == samples, \
            f"window {start}: pushed {by_start.get(start)} samples, stored {samples}"


def t_push_connect_stacks_equal_store():
    res = main_run()
    pushed = {}
    for e in pushes(res["log"]):
        for s in e["series"]:
            for p in s["profiles"]:
                for k, v in p["stacks"].items():
                    pushed[k] = pushed.get(k, 0) + v // PERIOD
    stored = {}
    for frames, count in parse_folded(export(res["db"], "--from", "0", "--to", "now")):
        key = ";".join(re.sub(r"_\[(?:[kij]|py)\]$", "", f) for f in frames[1:])  # comm is a label
        stored[key] = stored.get(key, 0) + count
    diff = {k: (pushed.get(k), stored.get(k)) for k in set(pushed) | set(stored)
            if pushed.get(k) != stored.get(k)}
    assert not diff, f"{len(diff)} stacks differ, e.g. {list(diff.items())[:2]}"


def t_push_go_pprof_reads():
    res = main_run()
    files = [p["file"] for e in pushes(res["log"]) for s in e["series"] for p in s["profiles"]]
    assert files, "no profile saved"
    env = dict(os.environ, HOME=TMP)
    # one run reads (and merges) them all; any unreadable one fails it
    r = subprocess.run(["go", "tool", "pprof", "-raw"] + files, capture_output=True, text=True,
                       timeout=300, env=env)
    assert r.returncode == 0 and "Samples:" in r.stdout, f"go tool pprof -raw: {r.stderr[-300:]}"
    assert "spin" in r.stdout, "go tool pprof does not see cpu_chain's spin"


def t_push_metrics():
    res = main_run()
    m = res["metrics"]
    sent = metric(m, "ember_push_sent_total")
    assert sent >= 1, f"ember_push_sent_total {sent}"
    assert metric(m, "ember_push_bytes_total") > 0
    assert metric(m, "ember_push_queue_windows") <= 1
    assert abs(metric(m, "ember_push_last_success_timestamp_seconds") - time.time()) < 60
    for reason in ("queue_full", "too_old", "rejected", "encode", "shutdown"):
        assert f'ember_push_dropped_total{{reason="{reason}"}} 0' in m, reason
    assert metric(m, "ember_push_retries_total") == 0
    s = summary(res["stderr"])
    assert s["sent"] == len(pushes(res["log"])) and s["at_exit"] == 0, s


# --- /ingest ----------------------------------------------------------------

def ingest_run(protocol):
    r = Receiver()
    try:
        res = run_agent("ingest_" + protocol, ["--push", r.url, "--push-protocol", protocol,
                                               "--push-label", "env=e2e"], 5)
        res["log"] = r.log()
    finally:
        r.stop()
    assert res["rc"] == 0, res["stderr"][-400:]
    got = pushes(res["log"], "ingest")
    assert got and len(got) == len(res["log"]), f"ingest requests: {res['log'][:2]}"
    chain = [e for e in got if e["labels"]["service_name"] == "cpu_chain"]
    assert chain, f"no cpu_chain among {[e['labels'] for e in got][:5]}"
    e = chain[0]
    assert e["labels"]["host"] == HOST and e["labels"]["env"] == "e2e", e["labels"]
    assert e["query"]["sampleRate"] == "99" and e["query"]["spyName"] == "ember", e["query"]
    assert "spin" in e["profiles"][0]["functions"]
    # the same samples as the store
    total = sum(e["profiles"][0]["totals"][0] // PERIOD for e in got)
    assert total == sum(w[2] for w in windows(res["db"])), "ingest totals differ from the store"
    return got


def t_push_ingest_raw():
    got = ingest_run("ingest")
    assert all(e["via"] == "raw" and e["query"]["format"] == "pprof" for e in got)
    assert got[0]["headers"]["content-type"] == "application/octet-stream"


def t_push_ingest_multipart():
    got = ingest_run("ingest-multipart")
    assert all(e["via"] == "multipart" and "format" not in e["query"] for e in got)


# --- faults -----------------------------------------------------------------

def t_push_400_dropped_not_retried():
    r = Receiver()
    try:
        r.control("fail=400&count=1")
        res = run_agent("e400", ["--push", r.url], 6)
        log = r.log()
    finally:
        r.stop()
    faults = [e for e in log if e["kind"] == "fault"]
    assert len(faults) == 1, f"{len(faults)} requests answered 400"
    s = summary(res["stderr"])
    assert s["rejected"] == 1 and s["retries"] == 0, s
    assert s["sent"] == len(pushes(log)) == len(log) - 1, (s, len(log))
    assert s["sent"] + 1 == len(windows(res["db"])), "a window neither sent nor dropped"
    assert res["stderr"].count("injected 400") == 1, "the server's message not logged once"
    assert 'ember_push_dropped_total{reason="rejected"} 1' in res["metrics"]


def t_push_reset_503_429_retried_delivered_once():
    r = Receiver()

    def faults():
        return [e.get("status", 0) for e in r.log() if e["kind"] == "fault"]  # 0: reset

    def during(agent, web):
        for _ in range(300):
            if len(faults()) >= 3:
                break
            time.sleep(0.1)
        r.control("fail=429&count=1")
        for _ in range(300):
            if len(faults()) >= 4:
                break
            time.sleep(0.1)
        for _ in range(300):  # the backoff after 4 failures is up to 6 s
            if pushes(r.log()):
                break
            time.sleep(0.1)
        time.sleep(2)
    try:
        r.control("fail=503&count=2")
        r.control("reset=1")
        res = run_agent("e503", ["--push", r.url], 12, during=during)
        log = r.log()
    finally:
        r.stop()
    faults = [e.get("status", 0) for e in log if e["kind"] == "fault"]
    assert faults == [0, 503, 503, 429], f"faults answered: {faults}"
    s = summary(res["stderr"])
    assert s["retries"] == 4 and s["rejected"] == 0 and s["at_exit"] == 0, s
    starts = [e["series"][0]["profiles"][0]["timeNanos"] // 1000000 for e in pushes(log)]
    assert len(starts) == len(set(starts)), "a window delivered twice"
    assert sorted(starts) == [w[0] for w in windows(res["db"])], "not every window delivered"
    assert res["stderr"].count("failed, retrying") == 1, "every retry logged"


def t_push_dead_server_bounded():
    port = free_port()
    state["dead_port"] = port

    def during(agent, web):
        time.sleep(7)
        q = metric(metrics(web), "ember_push_queue_windows")
        r = Receiver(port=port)
        return {"queue": q, "recv": r, "t": time.time()}
    res = run_agent("dead", ["--push", f"http://127.0.0.1:{port}", "--push-queue", "3"], 22,
                    window=1, during=during)
    r = res["during"]["recv"]
    try:
        log = r.log()
    finally:
        r.stop()
    assert res["during"]["queue"] <= 3, f"queue {res['during']['queue']} > 3"
    s = summary(res["stderr"])
    wins = windows(res["db"])
    assert_not_delayed(wins, 22)
    assert s["queue_full"] >= 1 and s["retries"] >= 1, s
    assert s["sent"] >= 1, s
    assert s["sent"] + s["queue_full"] + s["at_exit"] == len(wins), \
        f"{s} does not account for {len(wins)} windows"
    first = min(e["series"][0]["profiles"][0]["timeNanos"] for e in pushes(log)) / 1e9
    assert first < res["during"]["t"], "no window from the outage was delivered"


def assert_not_delayed(wins, seconds):
    """1 s windows end-to-end over the run: none waited on the network (10 s timeouts,
    20 s replies); a loaded machine may stretch some by its symbolizing time."""
    assert wins, "no window stored"
    longest = max(w[1] for w in wins)
    covered = (wins[-1][0] + wins[-1][1] - wins[0][0]) / 1000
    assert longest < 8000, f"a window lasted {longest} ms: sampling waited"
    assert covered >= seconds - 8, f"windows cover {covered:.1f} s of {seconds}"
    gaps = [b[0] - (a[0] + a[1]) for a, b in zip(wins, wins[1:])]
    assert max(gaps, default=0) <= 0, f"gaps between windows: {max(gaps)} ms"


def t_push_slow_server():
    r = Receiver()
    try:
        r.control("delay=20")
        res = run_agent("slow", ["--push", r.url], 10, window=1)
    finally:
        r.stop()
    assert_not_delayed(windows(res["db"]), 10)
    lines = res["agent"].window_lines()
    assert max(float(w["write_ms"]) for w in lines) < 5000, "a window's write waited"
    assert res["exit_s"] < 12, f"agent took {res['exit_s']:.1f} s to exit"
    s = summary(res["stderr"])
    assert s["sent"] == 0 and s["retries"] >= 1 and s["at_exit"] >= 1, s


def t_push_kill9_store_intact():
    r = Receiver()
    db = os.path.join(TMP, "kill9.db")
    port = free_port()
    try:
        r.control("delay=20")
        a = Agent(["--db", db, "--window", "1", "--listen", f"127.0.0.1:{port}",
                   "--push", r.url])
        try:
            a.wait_ready()
            for _ in range(300):
                if len(windows(db)) >= 3:
                    break
                time.sleep(0.1)
            time.sleep(0.5)
            a.proc.kill()
            a.proc.wait()
        finally:
            a.kill()
        n1 = len(windows(db))
        assert db_query(db, "PRAGMA integrity_check") == [("ok",)]
        r.control("ok=1")
        res = run_agent("kill9b", ["--push", r.url], 4, window=1, db=db)
    finally:
        r.stop()
    assert res["rc"] == 0
    assert db_query(db, "PRAGMA integrity_check") == [("ok",)]
    assert n1 >= 2 and len(windows(db)) > n1, (n1, len(windows(db)))


# --- auth and TLS -----------------------------------------------------------

def secret_file(name, text):
    path = os.path.join(TMP, name)
    with open(path, "w") as f:
        f.write(text + "\n")
    os.chmod(path, 0o600)
    return path


def assert_hidden(res, *secrets):
    for s in secrets:
        assert s not in res["stderr"], "a secret is in the agent's log"
        assert s not in res["metrics"], "a secret is in /metrics"


def t_push_auth_basic_tenant():
    r = Receiver()
    pw = "pw-Sup3rSecret"
    try:
        res = run_agent("basic", ["--push", r.url, "--push-user", "stack42", "--push-password-file",
                                  secret_file("pw", pw), "--push-tenant", "team-a"], 3, window=1)
        log = r.log()
    finally:
        r.stop()
    got = pushes(log)
    assert got, "nothing pushed"
    want = "Basic " + base64.b64encode(f"stack42:{pw}".encode()).decode()
    assert all(e["headers"].get("authorization") == want for e in got), got[0]["headers"]
    assert all(e["headers"].get("x-scope-orgid") == "team-a" for e in got)
    assert_hidden(res, pw, want.split()[1])


def t_push_auth_bearer():
    r = Receiver()
    tok = "glc_T0kenValue123"
    try:
        res = run_agent("bearer", ["--push", r.url, "--push-token-file", secret_file("tok", tok)],
                        3, window=1)
        log = r.log()
    finally:
        r.stop()
    got = pushes(log)
    assert got and all(e["headers"].get("authorization") == "Bearer " + tok for e in got)
    assert all("x-scope-orgid" not in e["headers"] for e in got)
    assert_hidden(res, tok)


def t_push_tls_ca():
    cert, key = os.path.join(TMP, "cert.pem"), os.path.join(TMP, "key.pem")
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
                    "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1",
                    "-keyout", key, "-out", cert], check=True, capture_output=True)
    r = Receiver(tls=(cert, key))
    try:
        ok = run_agent("tls_ok", ["--push", r.url, "--push-ca-file", cert], 3, window=1)
        n_ok = len(pushes(r.log()))
        bad = run_agent("tls_bad", ["--push", r.url], 3, window=1)
        n_all = len(pushes(r.log()))
    finally:
        r.stop()
    assert n_ok >= 1 and summary(ok["stderr"])["sent"] == n_ok, (n_ok, summary(ok["stderr"]))
    assert n_all == n_ok, "pushed over https without trusting the CA"
    s = summary(bad["stderr"])
    assert s["sent"] == 0 and s["retries"] >= 1, s
    assert re.search(r"certificate|SSL", bad["stderr"]), bad["stderr"][-300:]


def t_push_libcurl_loaded():
    """ember is not linked against libcurl: the pusher dlopen()s it, so it is mapped now."""
    mapped = main_run()["during"]
    assert any(m.startswith("libelf") for m in mapped), f"maps read wrong: {sorted(mapped)[:10]}"
    assert any(m.startswith("libcurl.so.4") for m in mapped), \
        f"libcurl.so.4 is not mapped into the pushing agent: {sorted(mapped)}"


def teardown():
    if "chain" in state:
        state["chain"].kill()
        state["chain"].wait()


if __name__ == "__main__":
    if not shutil.which("node") or not os.path.isdir(os.path.join(HERE, "node_modules", "@connectrpc")):
        for t in TESTS:
            print(f"FAIL {t}: node or tests/push/node_modules missing (run make test)")
        sys.exit(1)
    try:
        run_suite(TESTS, globals(), setups=[setup_main], tmp=TMP)
    finally:
        teardown()
