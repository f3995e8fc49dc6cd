# SPDX-License-Identifier: BSD-2-Clause OR GPL-2.0
"""test_bounded.py - requests stay bounded when names are hostile: a process cycles through 10,000
comm names (PR_SET_NAME) under the agent at 999 Hz, then `ember serve` answers /api/timeline,
/api/processes and /api/flamegraph over the range (and with no from, the last hour) within a time and
size budget, with "other" holding what the caps leave out; the agent's and the server's peak memory
are printed and bounded."""

import json
import os
import re
import subprocess
import sys
import tempfile
import time
import urllib.request

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from ember_e2e import EMBER, Agent, run_suite, workload  # noqa: E402

TESTS = ["names_churned", "timeline_bounded", "processes_bounded", "flamegraph_bounded",
         "default_range", "memory_bounded"]
TMP = tempfile.mkdtemp(prefix="ember-bounded-")
MAX_SECONDS = 3.0          # per answer, on a shared 2-core machine
MAX_BYTES = {"timeline": 256 << 10, "processes": 512 << 10,  # per answer at the default caps
             "flamegraph": 2 << 20}  # 20,000 nodes, each named
res = {}


def peak_kb(pid):
    with open(f"/proc/{pid}/status") as f:
        return int(re.search(r"^VmHWM:\s+(\d+)", f.read(), re.M).group(1))


def get(path):
    t = time.monotonic()
    with urllib.request.urlopen(f"http://127.0.0.1:{res['port']}{path}", timeout=60) as r:
        body = r.read()
        status = r.status
    return status, body, time.monotonic() - t


def setup():
    db = os.path.join(TMP, "ember.db")
    agent = Agent(["--db", db, "--window", "2", "-F", "999"])
    try:
        agent.wait_ready()
        churn = subprocess.run([workload("comm_churn"), "10", "10000"], capture_output=True,
                               text=True, timeout=60)
        assert churn.returncode == 0, churn.stderr
        res["renames"] = int(churn.stdout.split("=")[1])
        res["agent_peak_kb"] = peak_kb(agent.proc.pid)
        agent.stop()
        rc, _, err = agent.result(timeout=60)
    finally:
        agent.kill()
    assert rc == 0, f"agent exited {rc}: {err.strip()[-300:]}"
    srv = subprocess.Popen([EMBER, "serve", "--db", db, "--listen", "127.0.0.1:0"],
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    res["srv"] = srv
    line = srv.stdout.readline()
    assert "port" in line, f"ember serve did not start: {line!r}"
    res["port"] = int(line.rsplit(" ", 1)[1])
    res["answers"] = {}
    for name, path in [("timeline", "/api/timeline?from=-10m&buckets=1000&top=50"),
                       ("processes", "/api/processes?from=-10m"),
                       ("flamegraph", "/api/flamegraph?from=-10m"),
                       ("timeline_default", "/api/timeline"),
                       ("flamegraph_default", "/api/flamegraph")]:
        res["answers"][name] = get(path)
    res["serve_peak_kb"] = peak_kb(srv.pid)
    srv.terminate()
    srv.wait(timeout=10)
    print("# %d renames in 10 s; agent peak RSS %.1f MB; ember serve peak RSS %.1f MB" %
          (res["renames"], res["agent_peak_kb"] / 1024, res["serve_peak_kb"] / 1024), flush=True)
    for name, (st, body, secs) in res["answers"].items():
        print(f"# {name}: status {st}, {len(body)} bytes, {secs * 1000:.0f} ms", flush=True)


def answer(name):
    st, body, secs = res["answers"][name]
    assert st == 200, f"{name}: status {st}: {body[:200]!r}"
    assert secs < MAX_SECONDS, f"{name} took {secs:.2f} s"
    assert len(body) < MAX_BYTES[name.split("_")[0]], f"{name} is {len(body)} bytes"
    return json.loads(body)


def t_names_churned():
    p = answer("processes")
    # one thread sampled ~10,000 times over 10,000 names (4,400 distinct on the development machine)
    assert p["total_processes"] >= 3000, f"only {p['total_processes']} process rows: the churn did not churn"


def t_timeline_bounded():
    tl = answer("timeline")
    assert len(tl["series"]) == 51 and tl["series"][-1].get("other"), [s["comm"] for s in tl["series"]][-3:]
    assert sum(tl["total"]) == sum(sum(s["values"]) for s in tl["series"]), "series do not add up to the total"


def t_processes_bounded():
    p = answer("processes")
    assert len(p["processes"]) == 1000 and p["truncated"] and p["other_samples"] > 0, \
        (len(p["processes"]), p["truncated"], p["other_samples"])


def t_flamegraph_bounded():
    d = answer("flamegraph")
    assert d["total"] > 0 and d["nodes"] <= 20001, (d["total"], d["nodes"])


def t_default_range():
    now = time.time() * 1000
    for name in ("timeline_default", "flamegraph_default"):
        d = answer(name)
        assert d["to"] - d["from"] <= 3600 * 1000 + 1 and now - d["to"] < 120000, (name, d["from"], d["to"])


def t_memory_bounded():
    # measured on the development machine: agent 79 MB, serve 18 MB (see the # line)
    assert res["serve_peak_kb"] < 64 * 1024, f"ember serve peaked at {res['serve_peak_kb']} kB"
    assert res["agent_peak_kb"] < 160 * 1024, f"the agent peaked at {res['agent_peak_kb']} kB"


def main():
    run_suite(TESTS, globals(), (setup,), TMP)


if __name__ == "__main__":
    main()
