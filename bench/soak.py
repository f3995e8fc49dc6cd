#!/usr/bin/env python3
# SPDX-License-Identifier: BSD-2-Clause OR GPL-2.0
"""soak.py - `make soak`: `ember agent` for SOAK_S seconds (default 1800) under everything
that has hurt it, printing "name value unit" lines.

Running meanwhile, each restarted as it ends:
  - process churn, about CHURN_RATE (50) short processes a second (stack_churn with new seeds,
    /bin/true), and thread churn (thread_depths: 16 threads each 2 s, at nice 19);
  - a JIT: jit_spin running code from anonymous memory while this script keeps appending
    symbols to its /tmp/perf-PID.map (with a junk line now and then);
  - cpu_chain stripped, its .gnu_debuglink naming a FIFO (a blocking open would hang the agent);
  - a copy of libz that python3 loads, then truncated to 100 bytes while it stays mapped;
  - the store on a tmpfs of SOAK_TMPFS_MB (SOAK_S / 90, at least 4) MB, which fills up (the
    agent's --max-size is twice that): the agent must evict old windows, or keep new ones in
    memory and then drop them, counted, never silently.
Prints the agent's RSS at the start, every RSS_EVERY s (300) and at the end, its peak, windows
written and lost (from /metrics, read every 10 s, so a crash keeps the last figures), samples
lost, and agent_alive 1 when it ran to the end and exited cleanly on SIGINT (else how it ended).
SOAK_SKIP=name,... leaves workloads out (process_churn, thread_churn, jit_perf_map,
fifo_debuglink, truncated_library).
"""

import os
import random
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
EMBER = os.environ.get("EMBER", os.path.join(ROOT, ".output/ember"))
WL = os.path.join(ROOT, ".output/workloads")
SOAK_S = int(os.environ.get("SOAK_S", "1800"))
RSS_EVERY = int(os.environ.get("RSS_EVERY", "300"))
CHURN_RATE = int(os.environ.get("CHURN_RATE", "50"))
# small enough to fill up within the run (the agent writes about 1 MB a minute here)
TMPFS_MB = int(os.environ.get("SOAK_TMPFS_MB", str(max(4, SOAK_S // 90))))
SKIP = set(filter(None, os.environ.get("SOAK_SKIP", "").split(",")))  # e.g. truncated_library

stop = threading.Event()
children = []
lock = threading.Lock()


def spawn(args, **kw):
    p = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                         start_new_session=True, **kw)
    with lock:
        children.append(p)
    return p


def reap(p):
    p.wait()
    with lock:
        children.remove(p)


def loop(fn):
    """Runs fn() again and again until the soak ends; a failure is printed, then retried."""
    def run():
        while not stop.is_set():
            try:
                fn()
            except Exception as e:  # noqa: BLE001 - keep the load going, say why
                print(f"# soak: {fn.__name__}: {e}", file=sys.stderr)
                time.sleep(1)
    t = threading.Thread(target=run, daemon=True)
    t.start()
    return t


def process_churn():
    """CHURN_RATE/10 processes every 0.1 s, as bench/agent_bench.sh does."""
    script = r'''
i=0
while :; do
	for j in $(seq "$N"); do
		if [ $((i % 2)) = 0 ]; then /bin/true & else "$W" $i 2 & fi
		i=$((i + 1))
	done
	sleep 0.1
	wait
	echo $i >"$COUNT"
done'''
    env = dict(os.environ, N=str(max(1, CHURN_RATE // 10)), W=os.path.join(WL, "stack_churn"),
               COUNT=os.path.join(TMP, "churn.count"))
    p = spawn(["bash", "-c", script], env=env)
    while not stop.wait(1):
        pass
    os.killpg(p.pid, signal.SIGKILL)
    reap(p)


def thread_churn():
    p = spawn(["nice", "-n", "19", os.path.join(WL, "thread_depths"), "16", "20", "2"])
    reap(p)


def jit_perf_map():
    p = spawn([os.path.join(WL, "jit_spin"), "30"])
    path = f"/tmp/perf-{p.pid}.map"
    try:
        with open(path, "w") as f:
            n = 0
            while p.poll() is None and not stop.is_set():
                for _ in range(50):
                    f.write(f"{0x7f0000000000 + n * 64:x} 40 jit_fn_{n}\n")
                    n += 1
                if random.random() < 0.1:
                    f.write("not a perf map line \x00\xff " + "x" * 5000 + "\n")
                f.flush()
                time.sleep(0.2)
    finally:
        p.kill()
        reap(p)
        os.unlink(path)


def fifo_debuglink():
    exe = os.path.join(TMP, "fifo_chain")
    if not os.path.exists(exe):
        debug = exe + ".debug"
        shutil.copy(os.path.join(WL, "cpu_chain"), exe)
        subprocess.run(["objcopy", "--only-keep-debug", exe, debug], check=True)
        subprocess.run(["objcopy", "--strip-debug", exe], check=True)
        subprocess.run(["objcopy", "--add-gnu-debuglink=" + debug, exe], check=True)
        os.unlink(debug)
        os.mkfifo(debug)
    reap(spawn([exe, "3"]))


def truncated_library():
    """A fresh copy of libz (a new inode each time), loaded, then truncated while mapped."""
    lib = os.path.join(TMP, "libsoak.so")
    tmp = lib + ".new"
    shutil.copy(LIBZ, tmp)
    os.rename(tmp, lib)
    code = ("import ctypes, sys, time\nctypes.CDLL(sys.argv[1])\nt = time.time()\n"
            "while time.time() - t < 2:\n    pass\n")
    p = spawn([sys.executable, "-c", code, lib])
    time.sleep(random.uniform(0.05, 0.8))
    os.truncate(lib, 100)
    reap(p)


def find_libz():
    for d in ("/lib/x86_64-linux-gnu", "/usr/lib/x86_64-linux-gnu", "/lib64", "/usr/lib64"):
        if os.path.exists(os.path.join(d, "libz.so.1")):
            return os.path.realpath(os.path.join(d, "libz.so.1"))
    raise SystemExit("soak: libz.so.1 not found")


def rss_mb(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(("VmRSS:", "VmHWM:")):
                yield line.split(":")[0], int(line.split()[1]) / 1024


def metrics(port):
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as r:
        text = r.read().decode()
    return {m.group(1): float(m.group(2))
            for m in re.finditer(r"^ember_(\w+) ([0-9.e+-]+)$", text, re.M)}


def main():
    global TMP, LIBZ
    if os.geteuid() != 0:
        raise SystemExit("soak: must run as root (BPF, mount)")
    for w in ("stack_churn", "thread_depths", "jit_spin", "cpu_chain"):
        if not os.access(os.path.join(WL, w), os.X_OK):
            raise SystemExit(f"soak: {WL}/{w} not built (make soak builds it)")
    LIBZ = find_libz()
    TMP = tempfile.mkdtemp(prefix="ember-soak-")
    store_dir = os.path.join(TMP, "store")
    os.mkdir(store_dir)
    subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={TMPFS_MB}m", "tmpfs", store_dir], check=True)
    log_path = os.path.join(TMP, "agent.log")
    agent = None
    try:
        with open(log_path, "w") as log:
            agent = subprocess.Popen([EMBER, "agent", "--db", os.path.join(store_dir, "soak.db"),
                                      "--window", "2", "--listen", "127.0.0.1:0",
                                      # above the disk: the disk fills first, the agent evicts
                                      "--max-size", f"{2 * TMPFS_MB}M"],
                                     stdout=log, stderr=log)
        port = None
        for _ in range(300):
            m = re.search(r"serving the UI and API on port (\d+)", open(log_path).read())
            if m and "info: window:" in open(log_path).read():
                port = int(m.group(1))
                break
            if agent.poll() is not None:
                raise SystemExit("soak: the agent exited at start:\n" + open(log_path).read()[-2000:])
            time.sleep(0.1)
        if port is None:
            raise SystemExit("soak: the agent wrote no window in 30 s")
        rss = [(0, dict(rss_mb(agent.pid))["VmRSS"])]
        hwm = 0
        for fn in (process_churn, thread_churn, jit_perf_map, fifo_debuglink, truncated_library):
            if fn.__name__ not in SKIP:
                loop(fn)
        start = time.monotonic()
        alive = 1
        next_rss = min(RSS_EVERY, SOAK_S)
        next_m = 10
        m = {}
        spawned = 0
        count_path = os.path.join(TMP, "churn.count")
        while True:
            now = time.monotonic() - start
            if agent.poll() is not None:
                alive = 0
                break
            try:
                hwm = dict(rss_mb(agent.pid))["VmHWM"]
                if now >= next_m:
                    m = metrics(port)
                    next_m += 10
                with open(count_path) as f:
                    spawned = int(f.read().strip() or spawned)
            except (OSError, ValueError):
                pass
            if now >= next_rss:
                try:
                    rss.append((round(now), dict(rss_mb(agent.pid))["VmRSS"]))
                except OSError:  # it just died: the next poll() says how
                    continue
                next_rss = min(next_rss + RSS_EVERY, SOAK_S)
                if now >= SOAK_S:
                    break
            time.sleep(min(1.0, max(0.05, next_rss - now)))
        elapsed = time.monotonic() - start
        stop.set()
        if alive:
            m = metrics(port)
            agent.send_signal(signal.SIGINT)
            try:
                rc = agent.wait(timeout=60)
            except subprocess.TimeoutExpired:
                rc = None
            alive = 1 if rc in (0, 1) else 0  # 1: windows still pending at exit (counted)
        else:
            rc = agent.returncode
        log_text = open(log_path).read()
        df = shutil.disk_usage(store_dir)
        print(f"# soak: ember agent --window 2 for {elapsed:.0f} s (SOAK_S), store on a {TMPFS_MB} MB"
              f" tmpfs, ~{CHURN_RATE} processes/s, thread churn, JIT perf map, FIFO debuglink,"
              f" truncated library; {os.cpu_count()} CPUs")
        for t, v in rss:
            print(f"soak_rss_mb_at_{t}s {v:.1f} MB")
        print(f"soak_rss_peak_mb {hwm:.1f} MB")  # VmHWM, start-up included
        print(f"soak_rss_max_sampled_mb {max(v for _, v in rss):.1f} MB")
        print(f"soak_churn_rate {spawned / elapsed:.1f} procs/s")
        print(f"soak_windows_written {m.get('windows_written_total', 0):.0f} windows")
        print(f"soak_windows_lost {m.get('windows_dropped_total', 0):.0f} windows")
        print(f"soak_windows_evicted {m.get('windows_evicted_total', 0):.0f} windows")
        print(f"soak_store_write_errors {m.get('store_write_errors_total', 0):.0f} errors")
        lost = sum(int(x) for x in re.findall(r" lost=(\d+)", log_text))
        print(f"soak_samples_lost {lost} samples")
        failures = sum(int(x) for x in re.findall(r" bpf_failures=(\d+)", log_text))
        print(f"soak_bpf_failures {failures} events")
        print(f"soak_tmpfs_used_mb {(df.used) / 1048576:.1f} MB")
        print(f"soak_log_errors {len(re.findall(r'(?m)^ember: error:', log_text))} lines")
        print(f"soak_workloads_skipped {len(SKIP)} workloads" + (f"  # {','.join(sorted(SKIP))}" if SKIP else ""))
        print(f"agent_alive {alive} bool")
        if not alive:
            how = "did not stop on SIGINT" if rc is None else \
                f"killed by signal {-rc} ({signal.Signals(-rc).name})" if rc < 0 else f"exited {rc}"
            print(f"# soak: the agent {how} after {elapsed:.0f} s")
        if not alive:
            print("# soak: the agent stopped:\n" + log_text[-3000:], file=sys.stderr)
        return 0 if alive else 1
    finally:
        stop.set()
        with lock:
            for p in list(children):
                try:
                    os.killpg(p.pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
        if agent and agent.poll() is None:
            agent.kill()
            agent.wait()
        subprocess.run(["umount", store_dir], check=False)
        keep = os.environ.get("SOAK_KEEP_LOG")
        if keep:
            shutil.copy(log_path, keep)
        shutil.rmtree(TMP, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
