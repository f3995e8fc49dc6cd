#!/usr/bin/env python3
# SPDX-License-Identifier: BSD-2-Clause OR GPL-2.0
"""test_api.py - the JSON API of `ember serve` against a fixture store written
by tests/web/gen.c: totals, filters, diff numbers, pruning, escaping of
hostile names, errors, security headers and token enforcement."""
import gzip
import json
import shutil
import subprocess
import sys
import time

from webtest import EMBER, T0, Results, Server, make_fixture, tmpdir

EVIL = "<img src=x onerror=alert(1)>"


def flame(srv, query=""):
    st, h, body = srv.get("/api/flamegraph?" + query)
    assert st == 200, f"status {st}: {body[:200]!r}"
    return json.loads(body)


def children(data, node):
    return {data["frames"][c["f"]]["name"]: c for c in node.get("c", [])}


def find(data, *path):
    node = data["tree"]
    for name in path:
        node = children(data, node)[name]
    return node


def check_weights(node):
    """Every node's total is its self plus its children's totals."""
    kids = node.get("c", [])
    assert node["v"] == node["s"] + sum(k["v"] for k in kids), node
    for k in kids:
        check_weights(k)


def count_nodes(node):
    return 1 + sum(count_nodes(k) for k in node.get("c", []))


def t_totals(srv):
    d = flame(srv)
    assert d["total"] == 450, d["total"]
    procs = {k: v["v"] for k, v in children(d, d["tree"]).items()}
    assert procs == {"app": 330, "db": 90, "evil": 30}, procs
    assert find(d, "app", "main", "compute", "hot")["s"] == 270
    # main sampled at two lines (calling compute at 10, io at 12) is one node, as flame graphs go
    app = {k: v["v"] for k, v in children(d, children(d, d["tree"])["app"]).items()}
    assert app == {"main": 330}, app
    check_weights(d["tree"])


def t_filters(srv):
    assert flame(srv, "comm=db")["total"] == 90
    assert flame(srv, "pid=100")["total"] == 330
    k = flame(srv, "kind=kernel")
    assert k["total"] == 60, k["total"]
    assert {f["kind"] for f in k["frames"]} <= {"root", "process", "kernel", "other"}
    u = flame(srv, "kind=user")
    assert "kernel" not in {f["kind"] for f in u["frames"]}
    assert flame(srv, "frame=hot")["total"] == 270
    assert flame(srv, f"from={T0}&to={T0 + 30}")["total"] == 195
    assert flame(srv, f"from={T0 + 30}&to=now")["total"] == 255
    iso = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(T0 + 30))
    assert flame(srv, f"from={iso}")["total"] == 255
    # without from, the hour before to (the whole retention period is for explicit ranges)
    d = flame(srv, f"to={T0 + 30}")
    assert d["total"] == 195 and d["from"] == (T0 + 30 - 3600) * 1000, (d["total"], d["from"])
    assert flame(srv, f"to={T0 - 3600 + 10}")["total"] == 0


def t_diff(srv):
    st, _, body = srv.get(f"/api/diff?from={T0 + 30}&to={T0 + 60}&base_from={T0}&base_to={T0 + 30}")
    assert st == 200, body
    d = json.loads(body)
    assert (d["total"], d["base_total"]) == (255, 195), (d["total"], d["base_total"])
    hot = find(d, "app", "main", "compute", "hot")
    assert (hot["v"], hot["b"]) == (180, 90), hot
    q = find(d, "db", "main", "query")
    assert (q["v"], q["b"]) == (30, 60), q
    st, _, body = srv.get("/api/diff?comm=app&base_comm=db")
    d = json.loads(body)
    assert (d["total"], d["base_total"]) == (330, 90), body[:200]


def t_prune(srv):
    for budget in (10, 12, 15):
        d = flame(srv, f"max_nodes={budget}")
        assert d["total"] == 450
        assert d["tree"]["v"] == 450
        n = count_nodes(d["tree"])
        assert n <= budget, f"{n} nodes for a budget of {budget}"
        check_weights(d["tree"])
        others = [f for f in d["frames"] if f["kind"] == "other"]
        assert others and d["pruned"] > 0, d["pruned"]


def t_escaping(srv):
    st, _, body = srv.get("/api/flamegraph")
    assert b"<" not in body and b">" not in body, "raw < or > in JSON"
    assert all(b >= 0x20 for b in body.rstrip(b"\n")), "raw control byte in JSON"
    body.decode("utf-8")  # strict: invalid UTF-8 raises
    names = {f["name"] for f in json.loads(body)["frames"]}
    want = {EVIL, "a;b", "line\nbreak", "bad\ufffd\ufffd\ufffd\ufffdutf8", 'ctl\x01\x1f\x7f"q\\'}
    assert want <= names, want - names
    st, _, body = srv.get("/api/processes")
    json.loads(body)


def t_errors(srv):
    bad = ["/api/flamegraph?from=bogus", "/api/flamegraph?pid=abc", "/api/flamegraph?pid=-1",
           "/api/flamegraph?kind=both", "/api/flamegraph?max_nodes=5",
           "/api/flamegraph?max_nodes=1x", f"/api/flamegraph?from={T0 + 60}&to={T0}",
           "/api/diff?base_from=never", "/api/export?format=zip", "/api/export",
           "/api/timeline?buckets=0", "/api/processes?limit=-3"]
    for path in bad:
        st, h, body = srv.get(path)
        assert st == 400, f"{path}: {st}"
        assert h["content-type"].startswith("application/json")
        assert "error" in json.loads(body), body
    for path in ["/nope", "/api/nope", "/index.html/x", "/../etc/passwd"]:
        st, _, body = srv.get(path)
        assert st == 404, f"{path}: {st}"
        assert "error" in json.loads(body)
    st, _, _ = srv.get("/api/flamegraph", method="POST")
    assert st == 405, st


def t_headers(srv):
    for path in ["/", "/app.js", "/api/flamegraph", "/nope", "/api/flamegraph?pid=x", "/metrics"]:
        st, h, _ = srv.get(path)
        assert h.get("content-security-policy") == "default-src 'self'", (path, h)
        assert h.get("x-content-type-options") == "nosniff", (path, h)
    st, h, body = srv.get("/")
    assert st == 200 and h["content-type"].startswith("text/html") and b"<canvas" in body


def t_dns_rebinding(srv):
    # a page whose name was pointed at 127.0.0.1 still sends its own name
    for host in ["evil.example:%d" % srv.port, "evil.example", "127.0.0.1.evil.example",
                 "localhost.evil.example"]:
        st, _, body = srv.get("/api/processes", headers={"Host": host})
        assert st == 403, (host, st)
        assert "--allow-host" in json.loads(body)["error"], body
    for host in ["127.0.0.1:%d" % srv.port, "localhost:%d" % srv.port, "localhost", "[::1]:%d" % srv.port]:
        st, _, _ = srv.get("/healthz", headers={"Host": host})
        assert st == 200, (host, st)


def t_other_endpoints(srv):
    st, _, body = srv.get("/healthz")
    assert st == 200 and body == b"ok\n"
    st, _, body = srv.get("/api/timeline")
    tl = json.loads(body)
    assert sum(tl["total"]) == 450 and tl["series"][0]["comm"] == "app", tl
    assert sum(tl["series"][0]["values"]) == 330
    # past the top commands, one "other" series holds the rest
    tl = json.loads(srv.get("/api/timeline?top=1")[2])
    assert [s["comm"] for s in tl["series"]] == ["app", "other"] and tl["series"][1]["other"], tl["series"]
    assert sum(tl["series"][1]["values"]) == 120, tl["series"][1]
    p = json.loads(srv.get("/api/processes?limit=1")[2])
    assert len(p["processes"]) == 1 and p["truncated"] and p["other_samples"] == 120, p
    st, _, body = srv.get("/api/processes")
    procs = {p["pid"]: p for p in json.loads(body)["processes"]}
    assert procs[200]["samples"] == 90 and procs[200]["cgroup"] == "/system.slice/db.service"
    st, h, body = srv.get("/api/export?format=folded")
    assert st == 200 and b"app;main;compute;hot 270\n" in body, body
    st, h, body = srv.get("/api/export?format=pprof")
    assert st == 200 and gzip.decompress(body), "pprof is not gzip"
    st, h, body = srv.get("/metrics")
    lines = body.decode().splitlines()
    samples = [l for l in lines if not l.startswith("#")]
    assert all(l.startswith("ember_") for l in samples), samples
    for l in lines:
        if l.startswith("# TYPE") and l.endswith(" counter"):
            assert l.split()[2].endswith("_total"), l
    assert "ember_store_samples 450" in lines, lines


def t_export_filters(srv):
    # /api/export keeps the stacks and frames the flame graph keeps for the same kind/frame.
    st, _, body = srv.get(f"/api/export?format=folded&from={T0}&kind=kernel")
    assert st == 200 and body == b"app;sys_read_[k];vfs_read_[k] 60\n", body
    st, _, body = srv.get(f"/api/export?format=folded&from={T0}&kind=user&frame=ma")
    assert st == 200 and body == b"app;main;compute;hot 270\napp;main;io 60\ndb;main;query 90\n", body
    st, _, body = srv.get(f"/api/export?format=folded&from={T0}&frame=query")
    assert st == 200 and body == b"db;main;query 90\n", body
    fl = flame(srv, f"from={T0}&frame=query&kind=user")
    st, _, body = srv.get(f"/api/export?format=pprof&from={T0}&frame=query&kind=user")
    assert st == 200 and len(gzip.decompress(body)) > 0 and fl["total"] == 90, fl["total"]
    st, _, body = srv.get(f"/api/export?format=folded&kind=bogus")
    assert st == 400, st


def t_metrics_promtool(srv):
    # Prometheus' own linter on /metrics (the agent's part is checked in tests/e2e/test_agent.py).
    promtool = shutil.which("promtool")
    if not promtool:
        raise AssertionError("promtool not installed (make test installs the prometheus package)")
    _, _, body = srv.get("/metrics")
    r = subprocess.run([promtool, "check", "metrics"], input=body, capture_output=True, timeout=30)
    assert r.returncode == 0, (r.returncode, r.stdout[:300], r.stderr[:300])


def t_public_needs_token(tmp_db):
    p = subprocess.run([EMBER, "serve", "--db", tmp_db, "--listen", "0.0.0.0:0"],
                       capture_output=True, text=True, timeout=10)
    assert p.returncode == 2, p.returncode
    assert "--token" in p.stderr and "--insecure-public" in p.stderr, p.stderr


def t_token(tmp_db):
    srv = Server(tmp_db, "0.0.0.0:0", ["--token", "s3cret-token"])
    try:
        for path in ["/", "/api/flamegraph", "/metrics", "/healthz", "/app.js"]:
            st, h, _ = srv.get(path)
            assert st == 401, f"{path} without token: {st}"
        st, _, _ = srv.get("/api/flamegraph", {"Authorization": "Bearer wrong-token!"})
        assert st == 401, st
        st, _, _ = srv.get("/api/flamegraph", {"Authorization": "Bearer s3cret-token"})
        assert st == 200, st
        st, h, _ = srv.get("/?token=s3cret-token")
        assert st == 200 and "ember_token=s3cret-token" in h.get("set-cookie", ""), h
        assert "HttpOnly" in h["set-cookie"]
        st, _, _ = srv.get("/app.js", {"Cookie": "ember_token=s3cret-token"})
        assert st == 200, st
        st, _, _ = srv.get("/api/flamegraph?token=s3cret-tokem")
        assert st == 401, st
    finally:
        srv.stop()
    srv = Server(tmp_db, "0.0.0.0:0", ["--insecure-public"])
    try:
        assert srv.get("/healthz")[0] == 200
    finally:
        srv.stop()


def t_token_file(tmp_db):
    """--token-file keeps the token out of argv; a FIFO or a missing file is a usage error."""
    import os
    import tempfile
    d = tempfile.mkdtemp(prefix="ember-token-")
    path = os.path.join(d, "token")
    with open(path, "w") as f:
        f.write("f1le-token-123\n")
    os.chmod(path, 0o600)
    srv = Server(tmp_db, "0.0.0.0:0", ["--token-file", path])
    try:
        with open(f"/proc/{srv.proc.pid}/cmdline", "rb") as f:
            assert b"f1le-token-123" not in f.read(), "the token is in argv"
        assert srv.get("/healthz")[0] == 401
        assert srv.get("/healthz", {"Authorization": "Bearer f1le-token-123"})[0] == 200
    finally:
        srv.stop()
    fifo = os.path.join(d, "fifo")
    os.mkfifo(fifo)
    for bad in (fifo, os.path.join(d, "missing")):
        r = subprocess.run([EMBER, "serve", "--db", tmp_db, "--token-file", bad],
                           capture_output=True, text=True, timeout=10)
        assert r.returncode == 2 and "--token-file" in r.stderr, (bad, r.returncode, r.stderr)


def t_allow_host(tmp_db):
    """--allow-host adds names; a public listener answers its own address and them, nothing else;
    EMBER_TOKEN gives the token without argv."""
    import os
    srv = Server(tmp_db, "0.0.0.0:0", ["--token", "tok-12345678", "--allow-host", "Profiler.Example",
                                        "--allow-host", "[fd00::7]"])
    try:
        for host, want in [("profiler.example:%d" % srv.port, 200), ("PROFILER.example", 200),
                           ("[fd00::7]:1", 200), ("evil.example", 403), ("profiler.example.evil", 403),
                           ("profiler.example:80x", 403), ("127.0.0.1:%d" % srv.port, 200)]:
            st, _, body = srv.get("/healthz", headers={"Host": host, "Authorization": "Bearer tok-12345678"})
            assert st == want, (host, st, body)
    finally:
        srv.stop()
    old = os.environ.get("EMBER_TOKEN")
    os.environ["EMBER_TOKEN"] = "env-token-1234"
    try:
        srv = Server(tmp_db, "127.0.0.2:0")
    finally:
        if old is None:
            del os.environ["EMBER_TOKEN"]
        else:
            os.environ["EMBER_TOKEN"] = old
    try:
        assert srv.get("/healthz", host="127.0.0.2")[0] == 401, "EMBER_TOKEN not required"
        st = srv.get("/healthz", {"Authorization": "Bearer env-token-1234"}, host="127.0.0.2")[0]
        assert st == 200, st
    finally:
        srv.stop()
    for bad in ("evil.example:80", "", "a b", "[::1"):
        r = subprocess.run([EMBER, "serve", "--db", tmp_db, "--allow-host", bad],
                           capture_output=True, text=True, timeout=10)
        assert r.returncode == 2 and "--allow-host" in r.stderr, (bad, r.returncode, r.stderr)


def main():
    res = Results()
    with tmpdir() as tmp:
        db = make_fixture(tmp)
        srv = Server(db)
        try:
            for name, fn in [("api_totals", t_totals), ("api_filters", t_filters),
                             ("api_diff", t_diff), ("api_prune_keeps_weight", t_prune),
                             ("api_json_escaping", t_escaping), ("api_errors", t_errors),
                             ("api_security_headers", t_headers),
                             ("api_refuses_foreign_host", t_dns_rebinding),
                             ("api_timeline_processes_export_metrics", t_other_endpoints),
                             ("api_export_filters", t_export_filters),
                             ("api_metrics_promtool", t_metrics_promtool)]:
                res.run(name, lambda fn=fn: fn(srv))
        finally:
            rc = srv.stop()
        res.check("serve_exits_cleanly_on_sigterm", rc == 0, f"exit status {rc}")
        res.run("public_listen_needs_token", lambda: t_public_needs_token(db))
        res.run("token_enforced", lambda: t_token(db))
        res.run("token_file", lambda: t_token_file(db))
        res.run("allow_host", lambda: t_allow_host(db))
    res.exit()


if __name__ == "__main__":
    sys.path.insert(0, __file__.rsplit("/", 1)[0])
    main()
