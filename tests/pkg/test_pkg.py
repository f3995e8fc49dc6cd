# SPDX-License-Identifier: BSD-2-Clause OR GPL-2.0
"""test_pkg.py - the Debian package: `make deb` builds it with dpkg-buildpackage, lintian finds no
error, `dpkg -i` installs the binary, unit, configuration, man page and the system user ember,
`systemd-analyze verify` accepts the unit and its hardening is there, `dpkg -r` removes it and
`dpkg --purge` its configuration and stored profiles; then `apt install ./ember_*.deb` does the same
install.  Where systemd is PID 1 the service must also start as ember without root's capabilities."""

import glob
import os
import pwd
import grp
import re
import subprocess
import sys
import time

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "e2e"))
from ember_e2e import ROOT, Runner, Skip, one_line  # noqa: E402

UNIT = "/lib/systemd/system/ember.service"
FILES = ["/usr/bin/ember", UNIT, "/etc/default/ember", "/usr/share/man/man1/ember.1.gz",
         "/usr/share/doc/ember/copyright"]
HARDENING = ["NoNewPrivileges=yes", "ProtectSystem=strict", "ProtectHome=read-only",
             "StateDirectory=ember", "StateDirectoryMode=0750", "ProtectKernelTunables=yes",
             "User=ember", "Group=ember"]
ENV = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
state = {}


def run(argv, timeout=600, check=True):
    r = subprocess.run(argv, capture_output=True, text=True, errors="replace", timeout=timeout, env=ENV)
    if check:
        assert r.returncode == 0, f"`{' '.join(argv)}` exited {r.returncode}: {one_line(r.stdout + r.stderr)[-500:]}"
    return r


def installed():
    r = run(["dpkg-query", "-W", "-f=${Status}", "ember"], check=False)
    return r.returncode == 0 and "ok installed" in r.stdout


def t_deb_builds():
    if installed() or os.path.exists("/etc/default/ember"):
        run(["dpkg", "--purge", "ember"])  # a leftover from an earlier run
    run(["make", "-C", ROOT, "--no-print-directory", "deb"], timeout=1200)
    version = run(["dpkg-parsechangelog", "-S", "Version", "-l", os.path.join(ROOT, "debian", "changelog")]).stdout.strip()
    deb = os.path.join(ROOT, ".output", f"ember_{version}_amd64.deb")
    assert os.path.exists(deb), f"{deb} not built"
    state["deb"] = deb
    info = run(["dpkg-deb", "-f", deb, "Package", "Version", "Architecture", "Depends"]).stdout
    assert "Architecture: amd64" in info and f"Version: {version}" in info, info
    assert "adduser" in info and "libbpf" in info, f"Depends lacks adduser or libbpf: {info}"
    # dlopen()ed, so shlibdeps cannot see them: named by hand in debian/control
    rec = run(["dpkg-deb", "-f", deb, "Recommends"]).stdout
    assert "libcurl4" in rec and "libdebuginfod1" in rec, f"Recommends lacks libcurl4 or libdebuginfod1: {rec}"


def t_lintian_no_errors():
    r = run(["lintian", "--allow-root", "--fail-on", "none", state["deb"]], timeout=600)
    errors = [line for line in r.stdout.splitlines() if line.startswith("E:")]
    assert not errors, f"lintian errors: {errors[:10]}"
    print(f"# lintian: {len(r.stdout.splitlines())} line(s), no E:; "
          + "; ".join(one_line(x) for x in r.stdout.splitlines()[:3]), flush=True)


def t_dpkg_installs():
    run(["dpkg", "-i", state["deb"]])
    assert installed(), "dpkg -i did not leave ember installed"
    missing = [f for f in FILES if not os.path.exists(f)]
    assert not missing, f"not installed: {missing}"
    r = run(["/usr/bin/ember", "record", "--help"])
    assert "usage: ember record" in r.stdout, r.stdout[:200]
    man = run(["man", "-l", "/usr/share/man/man1/ember.1.gz"], check=False)
    assert man.returncode == 0 and "CAP_CHECKPOINT_RESTORE" in man.stdout, \
        f"man page does not render: {one_line(man.stderr)[-200:]}"


def t_system_user():
    u = pwd.getpwnam("ember")
    assert 0 < u.pw_uid < 1000, f"ember's uid {u.pw_uid} is not a system uid"
    assert u.pw_shell in ("/usr/sbin/nologin", "/bin/false"), f"ember's shell is {u.pw_shell}"
    assert grp.getgrgid(u.pw_gid).gr_name == "ember", "ember's group is not ember"
    st = os.stat("/var/lib/ember")
    assert (st.st_uid, st.st_gid, st.st_mode & 0o7777) == (u.pw_uid, u.pw_gid, 0o750), \
        f"/var/lib/ember is {st.st_uid}:{st.st_gid} {st.st_mode & 0o7777:o}, want ember:ember 750"


def t_unit_verifies():
    r = run(["systemd-analyze", "verify", UNIT], check=False)
    out = (r.stdout + r.stderr).strip()
    assert r.returncode == 0 and "ember.service" not in out, f"systemd-analyze verify: {out[-500:]}"
    text = open(UNIT).read()
    missing = [h for h in HARDENING if not re.search(rf"^{re.escape(h)}$", text, re.M)]
    assert not missing, f"unit lacks {missing}"
    amb = re.search(r"^AmbientCapabilities=(.*)$", text, re.M)
    bnd = re.search(r"^CapabilityBoundingSet=(.*)$", text, re.M)
    assert amb and bnd and set(amb.group(1).split()) == set(bnd.group(1).split()), \
        "AmbientCapabilities and CapabilityBoundingSet differ"
    assert "CAP_SYS_ADMIN" not in amb.group(1), "the unit asks for CAP_SYS_ADMIN"
    assert not re.search(r"^PrivateTmp=(yes|true)", text, re.M), "PrivateTmp hides /tmp/perf-PID.map"
    assert not re.search(r"^ProtectKernelLogs=(yes|true)", text, re.M), "ProtectKernelLogs drops CAP_SYSLOG"


def service_pid():
    r = run(["systemctl", "show", "-p", "MainPID", "--value", "ember"], check=False)
    return int(r.stdout.strip() or 0)


def t_service_runs_unprivileged():
    if not os.path.isdir("/run/systemd/system"):
        # a container-like host: nothing can start units (test_caps.py runs the agent with the unit's set)
        raise Skip("systemd is not PID 1 here: the unit was verified, not started")
    run(["systemctl", "restart", "ember"])
    deadline = time.monotonic() + 20
    while not service_pid() and time.monotonic() < deadline:
        time.sleep(0.5)
    pid = service_pid()
    assert pid, "ember.service did not start"
    status = open(f"/proc/{pid}/status").read()
    uid = int(re.search(r"^Uid:\s+(\d+)", status, re.M).group(1))
    assert uid == pwd.getpwnam("ember").pw_uid, f"the agent runs as uid {uid}"
    eff = int(re.search(r"^CapEff:\s+(\w+)", status, re.M).group(1), 16)
    assert eff and not eff & (1 << 21), f"CapEff {eff:x}: none, or CAP_SYS_ADMIN"


def t_dpkg_removes():
    run(["dpkg", "-r", "ember"])
    assert not os.path.exists("/usr/bin/ember") and not os.path.exists(UNIT), "dpkg -r left the binary or unit"
    assert os.path.exists("/etc/default/ember"), "dpkg -r removed the configuration (only purge should)"
    run(["dpkg", "--purge", "ember"])
    left = [f for f in ("/etc/default/ember", "/var/lib/ember") if os.path.exists(f)]
    assert not left, f"purge left {left}"
    r = run(["dpkg-query", "-W", "ember"], check=False)
    assert r.returncode != 0, "ember still known to dpkg after purge"


def t_apt_installs():
    run(["apt-get", "install", "-y", state["deb"]], timeout=600)
    assert installed() and os.path.exists("/usr/bin/ember"), "apt install ./ember_*.deb did not install it"
    run(["apt-get", "purge", "-y", "ember"], timeout=600)
    assert not installed() and not os.path.exists("/usr/bin/ember"), "apt purge left ember"


TESTS = ["deb_builds", "lintian_no_errors", "dpkg_installs", "system_user", "unit_verifies",
         "service_runs_unprivileged", "dpkg_removes", "apt_installs"]


def main():
    runner = Runner()
    if os.geteuid() != 0:
        runner.unavailable(TESTS, "not root: dpkg -i needs root")
        runner.exit()
    for t in TESTS:
        if t != "deb_builds" and "deb" not in state:
            print(f"FAIL {t}: no package was built", flush=True)
            runner.failed += 1
            continue
        runner.run(t, globals()["t_" + t])
    runner.exit()


if __name__ == "__main__":
    main()
