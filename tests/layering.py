# SPDX-License-Identifier: BSD-2-Clause OR GPL-2.0
"""layering.py - checks that includes between ember's folders go one way, down the data flow.

Every quoted #include of a source file is resolved the way the compiler
does (the including file's folder first, then the -I folders in Makefile
order) and must name a folder the including folder may use.  Prints one
PASS/FAIL line per folder; a FAIL names the file, the include and the
folders allowed.  Usage: layering.py [ROOT]
"""

import os
import re
import sys
import tempfile

# folder -> folders it may include from (its own always allowed).  export/ holds every
# output format (folded, pprof, flame tree, html, svg, the viewer files); web/ is
# HTTP only and reaches the data through store/ and export/ alone.
ALLOWED = {
    "util": set(),
    "unwind": {"util"},
    "bpf": {"unwind", ".output"},            # unwind_abi.h: the table row ABI; vmlinux.h
    "symbolizer": {"util"},
    "store": {"util"},
    "collector": {"bpf", "unwind", "symbolizer", "util", ".output"},  # skeletons
    "export": {"store", "symbolizer", "util"},
    "web": {"export", "store", "util"},
    "cmd": {"collector", "bpf", "unwind", "symbolizer", "store", "export", "web", "util"},
}
# where a quoted include is looked for after the file's own folder (the Makefile's -I order)
SEARCH = [".output", "bpf", "collector", "symbolizer", "store", "unwind", "util", "export", "web", "cmd"]
INCLUDE_RE = re.compile(r'^\s*#\s*include\s+"([^"]+)"', re.M)


def resolve(root, src_dir, name):
    """The folder (relative to root) holding the file an include names, or None."""
    for d in [src_dir] + SEARCH:
        path = os.path.normpath(os.path.join(root, d, name))
        if os.path.exists(path):
            rel = os.path.relpath(path, root)
            return rel.split(os.sep)[0]
    return None


def check(root):
    """Returns {folder: [violation, ...]} for every folder in ALLOWED."""
    out = {}
    for folder in ALLOWED:
        bad = []
        top = os.path.join(root, folder)
        for dirpath, _, files in os.walk(top):
            for f in sorted(files):
                if not f.endswith((".c", ".h")):
                    continue
                path = os.path.join(dirpath, f)
                with open(path, errors="replace") as fh:
                    text = fh.read()
                src_dir = os.path.relpath(dirpath, root)
                for name in INCLUDE_RE.findall(text):
                    dst = resolve(root, src_dir, name)
                    if dst is None:
                        bad.append(f'{os.path.relpath(path, root)}: #include "{name}" names no file of the tree')
                    elif dst != folder and dst not in ALLOWED[folder]:
                        may = ", ".join(sorted(ALLOWED[folder])) or "nothing"
                        bad.append(f'{os.path.relpath(path, root)}: #include "{name}" reaches {dst}/ '
                                   f'({folder}/ may include only {may})')
        out[folder] = bad
    return out


def self_test():
    """The check must catch an upward include: store/ reaching web/ in a scratch tree."""
    with tempfile.TemporaryDirectory() as root:
        for folder in ALLOWED:
            os.makedirs(os.path.join(root, folder))
        with open(os.path.join(root, "web", "web.h"), "w") as f:
            f.write("/* web */\n")
        with open(os.path.join(root, "store", "db.c"), "w") as f:
            f.write('#include "internal.h"\n#include "web.h"\n')
        with open(os.path.join(root, "store", "internal.h"), "w") as f:
            f.write("/* store */\n")
        bad = check(root)
        return bad["store"] and "store/db.c" in bad["store"][0] and not any(
            v for k, v in bad.items() if k != "store")


def main():
    root = sys.argv[1] if len(sys.argv) > 1 else os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    failed = 0
    if self_test():
        print("PASS layering catches an upward include")
    else:
        print("FAIL layering catches an upward include: a scratch store/ including web.h passed")
        failed += 1
    for folder, bad in check(root).items():
        if not os.path.isdir(os.path.join(root, folder)):
            print(f"FAIL layering {folder}/: the folder is missing")
            failed += 1
        elif bad:
            print(f"FAIL layering {folder}/: {len(bad)} include(s) against the flow: {'; '.join(bad[:5])}")
            failed += 1
        else:
            print(f"PASS layering {folder}/")
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
