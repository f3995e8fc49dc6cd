# SPDX-License-Identifier: BSD-2-Clause OR GPL-2.0
"""webtest.py - shared helpers for the web tests: the fixture store, a
running `ember serve`, HTTP requests, and PASS/FAIL reporting."""
import http.client
import os
import subprocess
import sys
import tempfile
import time

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
EMBER = os.path.join(ROOT, ".output", "ember")
GEN = os.path.join(ROOT, ".output", "web_gen")
# the fixture's first window, Unix seconds: 20 minutes ago, inside the hour
# a request without from covers
T0 = (int(time.time()) - 1200) // 60 * 60


class Results:
    def __init__(self):
        self.failed = 0

    def check(self, name, ok, why=""):
        if ok:
            print(f"PASS {name}", flush=True)
        else:
            self.failed += 1
            print(f"FAIL {name}: {why}", flush=True)

    def run(self, name, fn):
        try:
            fn()
            print(f"PASS {name}", flush=True)
        except Exception as e:  # one broken test must not hide the others
            self.failed += 1
            print(f"FAIL {name}: {type(e).__name__}: {e}", flush=True)

    def exit(self):
        sys.exit(1 if self.failed else 0)


def make_fixture(tmp):
    path = os.path.join(tmp, "fixture.db")
    subprocess.run([GEN, "fixture", path, str(T0 * 1000)], check=True)
    return path


class Server:
    """`ember serve` on a free port; extra args e.g. --token."""

    def __init__(self, db, listen="127.0.0.1:0", args=()):
        self.proc = subprocess.Popen([EMBER, "serve", "--db", db, "--listen", listen, *args],
                                     stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        line = self.proc.stdout.readline()
        if "port" not in line:
            err = self.proc.stderr.read()
            self.proc.wait()
            raise RuntimeError(f"ember serve did not start: {line!r} {err!r}")
        self.port = int(line.rsplit(" ", 1)[1])

    def get(self, path, headers=None, method="GET", host="127.0.0.1"):
        c = http.client.HTTPConnection(host, self.port, timeout=30)
        c.request(method, path, headers=headers or {})
        r = c.getresponse()
        body = r.read()
        c.close()
        return r.status, {k.lower(): v for k, v in r.getheaders()}, body

    def stop(self):
        self.proc.terminate()
        try:
            return self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            return self.proc.wait()


def tmpdir():
    return tempfile.TemporaryDirectory(prefix="ember-web-")


def wait_port(port, timeout=5):
    end = time.time() + timeout
    while time.time() < end:
        try:
            http.client.HTTPConnection("127.0.0.1", port, timeout=1).connect()
            return True
        except OSError:
            time.sleep(0.05)
    return False
