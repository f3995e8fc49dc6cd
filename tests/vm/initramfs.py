# SPDX-License-Identifier: BSD-2-Clause OR GPL-2.0
"""initramfs.py - builds the VM tests' initramfs: busybox, ember, the workloads, a minimal python3.11 and guest.sh as /init.

usage: initramfs.py [-o OUT] [--ember PATH] [--workloads DIR]

The archive is a gzip'd newc cpio written here (no root, no cpio tool,
device nodes without mknod).  Files keep their host paths, and every
symlink met on the way (Debian's merged /usr: /lib -> usr/lib, sonames ->
real files) is recreated, so the dynamic loader finds what `ldd` found.
"""

import argparse
import gzip
import os
import re
import stat
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
OUTPUT = os.path.join(ROOT, ".output")
DEFAULT_OUT = os.path.join(OUTPUT, "vm", "initramfs.cpio.gz")
BUSYBOX = "/bin/busybox"  # from busybox-static
PYTHON = "/usr/bin/python3.11"  # Debian's, built without frame pointers
# What `python3.11 -S` opens to start (found with strace): os.py is the
# landmark that locates the stdlib, and the codecs of the C/UTF-8 locale.
PY_STDLIB = ["os.py", "encodings/__init__.py", "encodings/aliases.py", "encodings/utf_8.py",
             "encodings/ascii.py", "encodings/latin_1.py"]
WORKLOADS = ["cpu_chain", "nofp_chain", "short_300ms", "short_lived"]
GUEST_DIR = "/vm"  # workloads live in /vm/workloads, ember is /usr/bin/ember


class Cpio:
    """Collects entries of a newc archive; parent directories are added on demand."""

    def __init__(self):
        self.entries = {}  # path (no leading /) -> (mode, data bytes, dev major, dev minor)

    def _dirs(self, path):
        parts = path.split("/")[:-1]
        for i in range(1, len(parts) + 1):
            d = "/".join(parts[:i])
            if d not in self.entries:
                self.entries[d] = (stat.S_IFDIR | 0o755, b"", 0, 0)

    def add(self, path, mode, data=b"", rdev=(0, 0)):
        path = path.strip("/")
        self._dirs(path)
        self.entries[path] = (mode, data, rdev[0], rdev[1])

    def dir(self, path, mode=0o755):
        self.add(path, stat.S_IFDIR | mode)

    def has(self, path):
        return path.strip("/") in self.entries

    def write(self, out):
        buf = bytearray()

        def pad():
            buf.extend(b"\0" * (-len(buf) % 4))

        def entry(ino, name, mode, data, major=0, minor=0):
            nlink = 2 if stat.S_ISDIR(mode) else 1
            fields = [ino, mode, 0, 0, nlink, 0, len(data), 0, 0, major, minor,
                      len(name) + 1, 0]
            buf.extend(b"070701" + b"".join(b"%08X" % f for f in fields))
            buf.extend(name.encode() + b"\0")
            pad()
            buf.extend(data)
            pad()

        # Sorted, so every directory comes before what it holds.
        for ino, path in enumerate(sorted(self.entries), 1):
            mode, data, major, minor = self.entries[path]
            entry(ino, path, mode, data, major, minor)
        entry(0, "TRAILER!!!", 0, b"")
        tmp = out + ".tmp"
        with open(tmp, "wb") as f:
            # mtime 0: the same inputs give the same bytes.
            with gzip.GzipFile(fileobj=f, mode="wb", compresslevel=6, mtime=0) as gz:
                gz.write(bytes(buf))
        os.replace(tmp, out)
        return len(buf)


def add_host_path(cpio, path):
    """Adds PATH as found on the host, recreating each symlink on the way to the file."""
    path = os.path.normpath(path)
    parts = path.strip("/").split("/")
    cur = ""
    for i, part in enumerate(parts):
        cur = cur + "/" + part
        st = os.lstat(cur)
        if stat.S_ISLNK(st.st_mode):
            target = os.readlink(cur)
            if not cpio.has(cur):
                cpio.add(cur, stat.S_IFLNK | 0o777, target.encode())
            resolved = os.path.normpath(os.path.join(os.path.dirname(cur), target))
            rest = parts[i + 1:]
            return add_host_path(cpio, "/".join([resolved] + rest))
        if i == len(parts) - 1:
            if stat.S_ISDIR(st.st_mode):
                cpio.dir(cur)
            else:
                with open(cur, "rb") as f:
                    cpio.add(cur, stat.S_IFREG | (st.st_mode & 0o777), f.read())
    return path


def shared_libs(binary):
    """Host paths of every library `ldd BINARY` lists, the dynamic loader included."""
    r = subprocess.run(["ldd", binary], capture_output=True, text=True)
    if r.returncode != 0:
        if "not a dynamic executable" in (r.stdout + r.stderr):
            return []
        raise RuntimeError(f"ldd {binary}: {r.stderr.strip()}")
    libs = []
    for line in r.stdout.splitlines():
        m = re.search(r"(?:=>\s*)?(/\S+)\s+\(0x", line)
        if m:
            libs.append(m.group(1))
        elif "not found" in line:
            raise RuntimeError(f"ldd {binary}: {line.strip()}")
    return libs


def build(out=DEFAULT_OUT, ember=None, workloads_dir=None, guest=None):
    """Builds the archive at OUT; returns (uncompressed bytes, compressed bytes)."""
    ember = ember or os.environ.get("EMBER", os.path.join(OUTPUT, "ember"))
    workloads_dir = workloads_dir or os.environ.get("EMBER_WORKLOADS", os.path.join(OUTPUT, "workloads"))
    guest = guest or os.path.join(HERE, "guest.sh")
    for p in [ember, BUSYBOX, PYTHON, guest] + [os.path.join(workloads_dir, w) for w in WORKLOADS]:
        if not os.access(p, os.R_OK):
            raise FileNotFoundError(f"{p} is missing (make all {' '.join('.output/workloads/' + w for w in WORKLOADS)}; "
                                    "apt-get install busybox-static python3.11)")
    cpio = Cpio()
    for d in ("proc", "sys", "dev", "tmp", "run", "etc", "root", "usr/sbin", "mnt"):
        cpio.dir(d)
    # Without /dev/console, init starts with no stdin/stdout.
    cpio.add("dev/console", stat.S_IFCHR | 0o600, rdev=(5, 1))
    cpio.add("dev/null", stat.S_IFCHR | 0o666, rdev=(1, 3))
    add_host_path(cpio, BUSYBOX)
    # /bin may be a symlink to usr/bin (merged /usr): sh goes beside the real file.
    bb_dir = os.path.dirname(os.path.realpath(BUSYBOX))
    cpio.add(os.path.join(bb_dir, "sh"), stat.S_IFLNK | 0o777, b"busybox")

    with open(ember, "rb") as f:
        cpio.add("usr/bin/ember", stat.S_IFREG | 0o755, f.read())
    binaries = [ember, PYTHON]
    for w in WORKLOADS:
        src = os.path.join(workloads_dir, w)
        with open(src, "rb") as f:
            cpio.add(f"{GUEST_DIR}/workloads/{w}", stat.S_IFREG | 0o755, f.read())
        binaries.append(src)
    add_host_path(cpio, PYTHON)
    libs = set()
    for b in binaries:
        libs.update(shared_libs(b))
    for lib in sorted(libs):
        add_host_path(cpio, lib)
    pylib = os.path.join(os.path.dirname(os.path.dirname(os.path.realpath(PYTHON))), "lib",
                         os.path.basename(PYTHON))
    for m in PY_STDLIB:
        add_host_path(cpio, os.path.join(pylib, m))
    cpio.dir(os.path.join(pylib, "lib-dynload"))  # else python warns it lacks exec_prefix

    with open(guest, "rb") as f:
        cpio.add("init", stat.S_IFREG | 0o755, f.read())
    os.makedirs(os.path.dirname(out), exist_ok=True)
    raw = cpio.write(out)
    return raw, os.path.getsize(out)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("-o", "--output", default=DEFAULT_OUT)
    ap.add_argument("--ember", help="ember binary (default $EMBER or .output/ember)")
    ap.add_argument("--workloads", help="workload directory (default .output/workloads)")
    args = ap.parse_args()
    try:
        raw, packed = build(args.output, args.ember, args.workloads)
    except (OSError, RuntimeError) as e:
        print(f"initramfs.py: {e}", file=sys.stderr)
        return 1
    print(f"{args.output}: {raw / 1e6:.1f} MB, {packed / 1e6:.1f} MB gzip'd")
    return 0


if __name__ == "__main__":
    sys.exit(main())
