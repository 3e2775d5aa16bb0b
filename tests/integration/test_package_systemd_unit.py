"""etc/mxrelayd.service against what mxrelayd does at start: the unit must
let the daemon start as root, hand its queue directory to its user and
drop root, on a first start and on every restart after."""

import os
import shutil
import subprocess
import tempfile
import time

import pytest

from conftest import REPO, sanitizer_env
from mxtest.netns import wait_port

UNIT = os.path.join(REPO, "etc", "mxrelayd.service")


def unit_values(key):
    """Every value of key in the unit's [Service] section, in order."""
    out = []
    section = None
    for line in open(UNIT):
        line = line.strip()
        if line.startswith("["):
            section = line
        elif section == "[Service]" and line.startswith(key + "="):
            out.append(line.split("=", 1)[1])
    return out


def default_queue_dir(mxr_bin, tmp_path):
    """queue_dir of a configuration file that does not set it, as check-config prints it."""
    conf = tmp_path / "mxrelay.conf"
    conf.write_text("listen = 127.0.0.1:25 relay\n")
    r = subprocess.run([mxr_bin.mxrelay, "check-config", "--print", str(conf)], capture_output=True,
                       text=True, timeout=30, env=sanitizer_env())
    assert r.returncode == 0, f"check-config --print: exit {r.returncode}\n{r.stderr}"
    values = [l.split("=", 1)[1].strip() for l in r.stdout.splitlines()
              if l.split("=", 1)[0].strip() == "queue_dir"]
    assert len(values) == 1, f"no single queue_dir line in check-config --print:\n{r.stdout}"
    return values[0]


def test_unit_verifies():
    if shutil.which("systemd-analyze") is None:
        pytest.skip("systemd-analyze not installed")
    tmp = tempfile.mkdtemp(prefix="mxrtest-unit-")
    try:
        text = open(UNIT).read().replace("/usr/sbin/mxrelayd", "/bin/true")
        text = text.replace("/usr/bin/mxrelay ", "/bin/true ")
        path = os.path.join(tmp, "mxrelayd.service")
        open(path, "w").write(text)
        r = subprocess.run(["systemd-analyze", "verify", "--man=no", path], capture_output=True,
                           text=True, timeout=60)
        problems = [l for l in (r.stdout + r.stderr).splitlines() if l.strip()]
        assert not problems, "\n".join(problems)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def test_queue_dir_is_writable_under_the_sandbox(mxr_bin, tmp_path):
    """ProtectSystem=strict makes everything read-only but ReadWritePaths."""
    assert "strict" in unit_values("ProtectSystem")
    rw = " ".join(unit_values("ReadWritePaths")).split()
    qd = default_queue_dir(mxr_bin, tmp_path)
    assert any(qd == p.lstrip("-") or qd.startswith(p.lstrip("-") + "/") for p in rw), \
        f"the default queue_dir {qd} is not in ReadWritePaths {rw}"


def test_syscall_filter_allows_what_start_up_calls():
    """As root the daemon chowns the queue directory (fchown, fchownat), then
    setgroups/setgid/setuid: a filter that kills those kills the daemon."""
    if shutil.which("systemd-analyze") is None:
        pytest.skip("systemd-analyze not installed")
    denied, allowed = set(), set()

    def expand(names):
        out = set()
        for n in names:
            if n.startswith("@"):
                r = subprocess.run(["systemd-analyze", "syscall-filter", n], capture_output=True,
                                   text=True, timeout=30)
                for line in r.stdout.splitlines():
                    w = line.strip()
                    if w and not w.startswith("#") and not w.startswith("@"):
                        out.add(w)
                    elif w.startswith("@") and w != n:
                        out |= expand([w])
            else:
                out.add(n)
        return out

    for value in unit_values("SystemCallFilter"):
        if value.startswith("~"):
            names = expand(value[1:].split())
            denied |= names
            allowed -= names
        else:
            names = expand(value.split())
            allowed |= names
            denied -= names
    # The reload helper: forked before the drop, tidied, answering over a socketpair.
    for call in ("fchown", "fchownat", "setgroups", "setgid", "setuid", "flock", "fork", "clone",
                 "clone3", "prctl", "close_range", "socketpair", "sendmsg", "recvmsg", "wait4"):
        assert call not in denied, f"SystemCallFilter kills the daemon at {call}"


@pytest.mark.netns
def test_daemon_starts_with_the_units_capabilities(netns, mxr_bin):
    """Root limited to CapabilityBoundingSet, as systemd leaves it: a first start
    (fresh root-owned directory) and a restart (the directory now the user's)."""
    if shutil.which("setpriv") is None:
        pytest.skip("setpriv not installed")
    caps = " ".join(unit_values("CapabilityBoundingSet")).split()
    bounding = "-all," + ",".join("+" + c.lower().removeprefix("cap_") for c in caps)
    top = tempfile.mkdtemp(prefix="mxrtest-caps-")
    os.chmod(top, 0o755)
    qdir = os.path.join(top, "queue")
    os.mkdir(qdir, 0o750)                 # as StateDirectory= or install -d leaves it: root's
    conf = os.path.join(top, "mxrelay.conf")
    with open(conf, "w") as f:
        f.write(f"hostname = mx.relay.test\nuser = nobody\nqueue_dir = {qdir}\n"
                "listen = 127.0.0.1:25 relay\n")
    try:
        for attempt in ("first start", "restart"):
            p = netns.spawn(["setpriv", f"--bounding-set={bounding}", mxr_bin.mxrelayd, "-c", conf],
                            name="mxrelayd", env=sanitizer_env(), cwd=top)
            try:
                wait_port("127.0.0.1", 25, proc=p, timeout=10)
            except Exception as e:
                raise AssertionError(f"{attempt} under CapabilityBoundingSet={' '.join(caps)}: {e}\n"
                                     f"{p.output()}")
            assert p.stop() == 0, p.output()
    finally:
        shutil.rmtree(top, ignore_errors=True)
