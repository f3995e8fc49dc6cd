# SPDX-License-Identifier: BSD-2-Clause OR GPL-2.0
"""run.py - boots Debian kernels under qemu with the VM tests' initramfs and collects each guest's results.

usage: run.py [-j JOBS] [--no-fetch] [SERIES...]   (default: 5.10 6.1 6.12)

Fetches the kernels (kernels.sh), builds the initramfs once (initramfs.py),
boots each kernel with a hard timeout and retries once when a guest dies
before its scenario starts (emulation occasionally panics at boot).  The
guest's results land in .output/vm/results/SERIES/, with the console log
(console.log, and console.1.log for a failed first try) and qemu.log beside
them.
"""

import argparse
import base64
import gzip
import io
import os
import shutil
import signal
import subprocess
import sys
import tarfile
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, HERE)
import initramfs  # noqa: E402

VM_DIR = os.environ.get("EMBER_VM_DIR", os.path.join(ROOT, ".output", "vm"))
SERIES = ["5.10", "6.1", "6.12"]
QEMU = "qemu-system-x86_64"
# Seconds per boot, all steps included: 45 s normally, up to 3 minutes where
# the verifier runs to its limit in both ember check and ember record.
BOOT_TIMEOUT = int(os.environ.get("EMBER_VM_TIMEOUT", "300"))
STEP = "ember-vm: "  # guest.sh's progress lines on the console
BOOTED = STEP + "booted"
# Guest durations (guest.sh reads them from its environment, i.e. the command
# line); the same variables set here override them.
GUEST_PARAMS = {k: os.environ.get(k, v) for k, v in
                {"EMBER_REC": "25", "EMBER_LATE": "7", "EMBER_LATE_CPU": "1", "EMBER_AGENT": "4"}.items()}
if os.environ.get("EMBER_REC_FLAGS"):
    GUEST_PARAMS["EMBER_REC_FLAGS"] = os.environ["EMBER_REC_FLAGS"]
BEGIN, END = b"EMBER-RESULTS-BEGIN", b"EMBER-RESULTS-END"

_procs = set()  # running qemu processes, killed on any exit
_procs_lock = threading.Lock()


def kill_all():
    with _procs_lock:
        for p in list(_procs):
            if p.poll() is None:
                try:
                    os.killpg(p.pid, signal.SIGKILL)
                except OSError:
                    pass
                p.wait()


def _on_signal(signum, frame):
    kill_all()
    sys.exit(128 + signum)


def fetch_kernels(series):
    """Runs kernels.sh; returns {series: (release, vmlinuz)} for those it has, and its stderr."""
    r = subprocess.run(["bash", os.path.join(HERE, "kernels.sh")] + list(series),
                       capture_output=True, text=True, timeout=1800)
    have = {}
    for line in r.stdout.splitlines():
        parts = line.split()
        if len(parts) == 3:
            have[parts[0]] = (parts[1], parts[2])
    return have, r.stderr


def use_kvm():
    """KVM only where the CPU offers vmx/svm: the paravirtual /dev/kvm cannot boot stock kernels."""
    if not os.access("/dev/kvm", os.R_OK | os.W_OK):
        return False
    with open("/proc/cpuinfo") as f:
        flags = f.read()
    return " vmx" in flags or " svm" in flags


def qemu_argv(vmlinuz, initrd, console, serial, params):
    accel = ["-accel", "kvm", "-cpu", "host"] if use_kvm() else ["-accel", "tcg,thread=multi", "-cpu", "max"]
    append = "console=ttyS0 panic=-1 quiet " + " ".join(f"{k}={v}" for k, v in params.items())
    return [QEMU] + accel + ["-m", "2G", "-smp", "2", "-nographic", "-monitor", "none", "-no-reboot",
                             "-nic", "none", "-kernel", vmlinuz, "-initrd", initrd, "-append", append,
                             "-serial", f"file:{console}", "-serial", f"file:{serial}"]


def extract_results(serial_path, outdir):
    """Decodes the guest's base64 tar from the serial capture into OUTDIR; returns an error or None."""
    try:
        with open(serial_path, "rb") as f:
            raw = f.read()
    except OSError as e:
        return f"no serial capture: {e}"
    b = raw.find(BEGIN)
    if b < 0:
        return "the guest sent no results"
    e = raw.find(END, b)
    if e < 0:
        return "the guest's results are truncated (no end marker)"
    body = b"".join(raw[b + len(BEGIN):e].split())
    try:
        data = gzip.decompress(base64.b64decode(body))
        with tarfile.open(fileobj=io.BytesIO(data)) as tar:
            for m in tar.getmembers():
                name = m.name.split("/", 1)[1] if "/" in m.name else ""
                if not m.isfile() or not name or "/" in name or name.startswith("."):
                    continue
                with open(os.path.join(outdir, name), "wb") as out:
                    out.write(tar.extractfile(m).read())
    except (ValueError, OSError, EOFError, tarfile.TarError) as err:
        return f"the guest's results do not decode: {err}"
    return None


def boot_once(series, vmlinuz, initrd, outdir, params, timeout):
    """One boot; returns (error or None, seconds, whether the guest started its scenario).
    Console and qemu output stay in OUTDIR."""
    console = os.path.join(outdir, "console.log")
    serial = os.path.join(outdir, "serial1.raw")
    for p in (console, serial):
        if os.path.exists(p):
            os.unlink(p)
    argv = qemu_argv(vmlinuz, initrd, console, serial, params)
    start = time.monotonic()
    with open(os.path.join(outdir, "qemu.log"), "w") as qlog:
        qlog.write(" ".join(argv) + "\n")
        qlog.flush()
        p = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=qlog, stderr=subprocess.STDOUT,
                             start_new_session=True)
        with _procs_lock:
            _procs.add(p)
        try:
            p.wait(timeout=timeout)
            timed_out = False
        except subprocess.TimeoutExpired:
            timed_out = True
            os.killpg(p.pid, signal.SIGKILL)
            p.wait()
        finally:
            with _procs_lock:
                _procs.discard(p)
    secs = time.monotonic() - start
    err = extract_results(serial, outdir)
    try:
        with open(console, errors="replace") as f:
            log = f.read()
    except OSError:
        log = ""
    booted = BOOTED in log
    if err is None:
        os.unlink(serial)
        return None, secs, booted
    if timed_out:
        steps = [l[len(STEP):].strip() for l in log.splitlines() if l.startswith(STEP)]
        err += f"; killed after {timeout} s" + (f", in step: {steps[-1]}" if steps else "")
    elif p.returncode != 0:
        err += f"; qemu exited {p.returncode}"
    if "Kernel panic" in log:
        line = next(l for l in log.splitlines() if "Kernel panic" in l)
        err += f"; {line.strip()[:200]}"
    return err, secs, booted


def boot(series, vmlinuz, initrd, params=None, timeout=BOOT_TIMEOUT, deadline=None):
    """Boots SERIES, retrying once, never past DEADLINE (monotonic); returns
    dict(series, outdir, error, errors, seconds, attempts)."""
    params = params or GUEST_PARAMS
    outdir = os.path.join(VM_DIR, "results", series)
    shutil.rmtree(outdir, ignore_errors=True)
    os.makedirs(outdir)
    res = {"series": series, "outdir": outdir, "seconds": [], "attempts": 0, "errors": []}
    for attempt in (1, 2):
        left = timeout if deadline is None else min(timeout, deadline - time.monotonic())
        if left < 30:
            res["errors"].append("out of time for the VM tests" + (", not retried" if attempt > 1 else ""))
            break
        res["attempts"] = attempt
        err, secs, booted = boot_once(series, vmlinuz, initrd, outdir, params, int(left))
        res["seconds"].append(secs)
        if err is None:
            res["error"] = None
            return res
        res["errors"].append(err)
        if booted:
            break  # the scenario itself is stuck: a second boot would be too
        first = os.path.join(outdir, "console.log")
        if attempt == 1 and os.path.exists(first):
            os.replace(first, os.path.join(outdir, "console.1.log"))
    res["error"] = "; then ".join(res["errors"])
    return res


def run(series, jobs=1, fetch=True, params=None, log=print, budget=None):
    """Fetches, builds the initramfs and boots every series (JOBS at a time), all within
    BUDGET seconds when given; returns {series: result}."""
    deadline = None if budget is None else time.monotonic() + budget
    if fetch:
        have, err = fetch_kernels(series)
    else:
        have, err = {}, ""
        for s in series:
            d = os.path.join(VM_DIR, "kernels", s)
            if os.path.exists(os.path.join(d, "vmlinuz")):
                with open(os.path.join(d, "release")) as f:
                    have[s] = (f.read().strip(), os.path.join(d, "vmlinuz"))
    results = {}
    for s in series:
        if s not in have:
            results[s] = {"series": s, "error": f"no kernel image: {err.strip()[-300:]}", "seconds": [],
                          "attempts": 0, "outdir": None, "setup": True}
    initrd = os.path.join(VM_DIR, "initramfs.cpio.gz")
    t = time.monotonic()
    raw, packed = initramfs.build(initrd)
    log(f"# initramfs: {raw / 1e6:.1f} MB, {packed / 1e6:.1f} MB gzip'd, built in {time.monotonic() - t:.1f} s")
    todo = [s for s in series if s in have]
    lock = threading.Lock()

    def worker():
        while True:
            with lock:
                if not todo:
                    return
                s = todo.pop(0)
            r = boot(s, have[s][1], initrd, params, deadline=deadline)
            r["release"] = have[s][0]
            with lock:
                results[s] = r
                log(f"# vm-{s}: {r['release']}: " + ", ".join(f"{x:.0f} s" for x in r["seconds"])
                    + (f" ({r['error']})" if r["error"] else ""))

    threads = [threading.Thread(target=worker) for _ in range(max(1, jobs))]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    return results


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("-j", "--jobs", type=int, default=1, help="VMs at a time (default 1)")
    ap.add_argument("--no-fetch", action="store_true", help="use the kernels already in .output/vm/kernels")
    ap.add_argument("series", nargs="*", default=SERIES)
    args = ap.parse_args()
    if not shutil.which(QEMU):
        print(f"run.py: {QEMU} not found (apt-get install qemu-system-x86)", file=sys.stderr)
        return 1
    signal.signal(signal.SIGTERM, _on_signal)
    signal.signal(signal.SIGINT, _on_signal)
    try:
        results = run(args.series, args.jobs, not args.no_fetch)
    finally:
        kill_all()
    bad = [s for s, r in results.items() if r["error"]]
    for s in args.series:
        r = results[s]
        print(f"{s}: {'ok' if not r['error'] else r['error']} -> {r['outdir']}")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
