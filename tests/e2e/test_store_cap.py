#!/usr/bin/env python3
# SPDX-License-Identifier: BSD-2-Clause OR GPL-2.0
"""test_store_cap.py - `ember agent --max-size`: at the cap the oldest windows go, new ones keep coming.

An agent with --window 1 and a 1 MiB cap samples at 999 Hz while short processes with many
distinct stacks run (stack_churn with new seeds), which grows a store past 1 MiB in seconds.
The file must stay within the cap, the agent must delete the oldest windows (counted in
windows_evicted_total and logged), drop no window, and still hold the newest ones.
"""

import os
import re
import subprocess
import sys
import tempfile
import time

sys.dont_write_bytecode = True  # keep the work tree clean
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from ember_e2e import EMBER, Agent, db_query, run_suite, workload  # noqa: E402

CAP = 1 << 20
RUN_S = 20
TESTS = ["store_cap_file_within_cap", "store_cap_oldest_evicted", "store_cap_nothing_dropped",
         "store_cap_newest_kept", "store_cap_bad_size_refused"]
TMP = tempfile.mkdtemp(prefix="ember-cap-")
CHURN = r'''
i=0
while :; do
	for j in 1 2 3 4 5 6; do "$W" $i 15 & i=$((i + 1)); done
	wait
done
'''
res = {}


def setup():
    db = os.path.join(TMP, "cap.db")
    agent = Agent(["--db", db, "-F", "999", "--window", "1", "--max-size", "1M"])
    load = None
    try:
        agent.wait_ready()
        load = subprocess.Popen(["bash", "-c", CHURN], env=dict(os.environ, W=workload("stack_churn")),
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
        time.sleep(RUN_S)
    finally:
        if load:
            os.killpg(load.pid, 9)
            load.wait()
    agent.stop()
    rc, _, err = agent.result(timeout=60)
    agent.kill()
    res.update(db=db, rc=rc, err=err, lines=agent.window_lines(), stopped=time.time())


def t_store_cap_file_within_cap():
    size = os.path.getsize(res["db"])
    print(f"# store file {size} bytes under a {CAP}-byte cap")
    assert res["rc"] == 0, f"agent exited {res['rc']}: {res['err'][-400:]}"
    assert size <= CAP, f"the store file is {size} bytes, over the {CAP}-byte cap"


def t_store_cap_oldest_evicted():
    m = re.findall(r"store at its 1 MB cap: deleted the (\d+) oldest window", res["err"])
    print(f"# {len(m)} evictions, {sum(int(x) for x in m)} windows deleted")
    assert m, "the agent never deleted old windows: the test did not reach the cap"
    first = db_query(res["db"], "SELECT MIN(start_ms) FROM windows")[0][0]
    assert first > (res["stopped"] - RUN_S) * 1000, "the oldest window is still in the store"


def t_store_cap_nothing_dropped():
    dropped = sum(l.get("dropped_windows", 0) for l in res["lines"][-1:])
    assert dropped == 0, f"{dropped} windows dropped: the cap made commits fail"
    assert "store write failed" not in res["err"], \
        "a commit failed: " + next(l for l in res["err"].splitlines() if "store write failed" in l)


def t_store_cap_newest_kept():
    last = db_query(res["db"], "SELECT MAX(start_ms + dur_ms) FROM windows")[0][0]
    assert last >= (res["stopped"] - 5) * 1000, \
        f"the newest window ends {res['stopped'] - last / 1000:.1f} s before the agent stopped"


def t_store_cap_bad_size_refused():
    for bad in ["12X", "-1M", "512", "M"]:
        r = subprocess.run([EMBER, "agent", "--max-size", bad],
                           capture_output=True, text=True, timeout=10)
        assert r.returncode == 2 and "invalid size" in r.stderr, \
            f"--max-size {bad}: exit {r.returncode}, {r.stderr.strip()}"


if __name__ == "__main__":
    run_suite(TESTS, globals(), setups=[setup], tmp=TMP)
