"""Reload: SIGHUP and `mxrelay reload` take the configuration file again.

The daemon has dropped root; its privileged helper re-reads the file (and
the root-only key and users file it names) and binds new listeners. A
session open before a reload finishes under the old rules, a new one gets
the new rules; no connection is refused while reloading; a broken file
keeps the running configuration; a delivery under way finishes.
"""

import os
import re
import signal
import socket
import ssl
import subprocess
import threading
import time

import pytest

from daemon import HOSTNAME, Client, mxrelayd, queued_id  # noqa: F401  (mxrelayd is a fixture)

pytestmark = pytest.mark.netns


def rewrite(d, old, new):
    text = open(d.conf).read()
    assert old in text, f"{old!r} not in {d.conf}"
    with open(d.conf, "w") as f:
        f.write(text.replace(old, new))


def reload_cli(mxr_bin, d):
    sock = os.path.join(d.queue_dir, "control.sock")
    return subprocess.run([mxr_bin.mxrelay, "reload", "-s", sock], capture_output=True,
                          text=True, timeout=30)


def wait_log(d, pattern, timeout=10.0, count=1):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if len(re.findall(pattern, d.log())) >= count:
            return
        time.sleep(0.05)
    raise AssertionError(f"no {pattern!r} (x{count}) in the log:\n{d.log()[-3000:]}")


def greet(c):
    assert c.reply().code == 220
    c.expect("EHLO client.test", 250)


def test_old_session_keeps_old_rules_new_session_gets_new(netns, mxrelayd, mxr_bin):
    d = mxrelayd(relay_networks="127.0.0.1/32", relay_domains=None)
    old = Client("127.0.0.1", 25)
    greet(old)
    old.expect("MAIL FROM:<a@client.test>", 250)
    rewrite(d, "relay_networks = 127.0.0.1/32", "relay_networks = 192.0.2.0/24")
    r = reload_cli(mxr_bin, d)
    assert r.returncode == 0, f"reload: rc={r.returncode} {r.stdout} {r.stderr}"
    # The session opened before: relaying for 127.0.0.1 is still allowed.
    old.expect("RCPT TO:<bob@far.test>", 250)
    old.expect("DATA", 354)
    old.send(b"Subject: x\r\n\r\nhello\r\n.\r\n")
    queued_id(old.reply())
    old.close()
    new = Client("127.0.0.1", 25)
    greet(new)
    new.expect("MAIL FROM:<a@client.test>", 250)
    assert new.cmd("RCPT TO:<bob@far.test>").code == 550
    new.close()
    d.check_clean_exit()


def test_no_connection_refused_through_ten_reloads(netns, mxrelayd, mxr_bin):
    d = mxrelayd()
    stop = threading.Event()
    counts = {"ok": 0, "failed": 0, "errors": []}

    def probe():
        deadline = time.monotonic() + 60
        while not stop.is_set() and time.monotonic() < deadline and counts["ok"] < 100000:
            try:
                with socket.create_connection(("127.0.0.1", 25), timeout=5) as s:
                    line = s.makefile("rb").readline()
                    if line.startswith(b"220 "):
                        counts["ok"] += 1
                    else:
                        counts["failed"] += 1
                        counts["errors"].append(line)
            except OSError as e:
                counts["failed"] += 1
                counts["errors"].append(repr(e))

    t = threading.Thread(target=probe)
    t.start()
    try:
        for i in range(10):
            if i % 2 == 0:
                os.kill(d.proc.pid, signal.SIGHUP)
            else:
                r = reload_cli(mxr_bin, d)
                assert r.returncode == 0, r.stderr
            time.sleep(0.2)
        wait_log(d, r"event=reloaded", count=10, timeout=20)
    finally:
        stop.set()
        t.join()
    assert counts["failed"] == 0, f"{counts['failed']} failures: {counts['errors'][:5]}"
    assert counts["ok"] > 10
    d.check_clean_exit()


def test_bad_file_keeps_running_configuration(netns, mxrelayd, mxr_bin):
    d = mxrelayd(relay_networks="127.0.0.1/32", relay_domains=None)
    rewrite(d, "relay_networks = 127.0.0.1/32",
            "relay_networks = 127.0.0.1/32\nbogus_key = 1\nmax_recipients = many")
    lines = open(d.conf).read().splitlines()
    bad = [lines.index("bogus_key = 1") + 1, lines.index("max_recipients = many") + 1]
    r = reload_cli(mxr_bin, d)
    assert r.returncode == 1, f"rc={r.returncode} {r.stdout} {r.stderr}"
    for line in bad:
        assert f"{d.conf}:{line}:" in r.stderr, r.stderr
        wait_log(d, re.escape(f"event=reload-refused error=\"{d.conf}:{line}:"))
    # SIGHUP with the same file: refused and logged the same way.
    os.kill(d.proc.pid, signal.SIGHUP)
    wait_log(d, re.escape(f"event=reload-refused error=\"{d.conf}:{bad[1]}:"), count=2)
    c = Client("127.0.0.1", 25)
    greet(c)
    c.expect("MAIL FROM:<a@client.test>", 250)
    c.expect("RCPT TO:<bob@far.test>", 250)
    c.close()
    d.check_clean_exit()


def _root_only(path):
    os.chown(path, 0, 0)
    os.chmod(path, 0o600)


def _peer_der(port=25):
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    c = Client("127.0.0.1", port)
    greet(c)
    c.expect("STARTTLS", 220)
    c.starttls(ctx)
    der = c.sock.getpeercert(binary_form=True)
    c.close()
    return der


def test_root_only_key_replaced_and_reloaded(netns, mxrelayd, mxr_bin, certs, tmp_path):
    private = tmp_path / "private"
    private.mkdir(mode=0o700)
    mycert, mykey = private / "relay.pem", private / "relay.key"
    cert1, key1 = certs.server(HOSTNAME, "127.0.0.1")
    mycert.write_bytes(open(cert1, "rb").read())
    mykey.write_bytes(open(key1, "rb").read())
    _root_only(mycert)
    _root_only(mykey)
    d = mxrelayd(conf_extra=f"tls_cert = {mycert}\ntls_key = {mykey}\n")
    der1 = _peer_der()
    assert der1 == ssl.PEM_cert_to_DER_cert(open(cert1).read())
    cert2, key2 = certs.self_signed("other.test")
    mycert.write_bytes(open(cert2, "rb").read())
    mykey.write_bytes(open(key2, "rb").read())
    _root_only(mycert)
    _root_only(mykey)
    r = reload_cli(mxr_bin, d)
    assert r.returncode == 0, f"rc={r.returncode} {r.stdout} {r.stderr}"
    der2 = _peer_der()
    assert der2 == ssl.PEM_cert_to_DER_cert(open(cert2).read())
    assert der2 != der1
    d.check_clean_exit()


def test_listener_added_below_1024_and_one_removed(netns, mxrelayd, mxr_bin):
    netns.add_addr("127.0.0.2")
    d = mxrelayd(listen=["127.0.0.1:25 relay", "127.0.0.1:2525 relay"])
    rewrite(d, "listen = 127.0.0.1:2525 relay", "listen = 127.0.0.2:25 relay")
    r = reload_cli(mxr_bin, d)
    assert r.returncode == 0, f"rc={r.returncode} {r.stdout} {r.stderr}"
    c = Client("127.0.0.2", 25)
    assert c.reply().code == 220
    c.close()
    with pytest.raises(OSError):
        socket.create_connection(("127.0.0.1", 2525), timeout=2).close()
    c = Client("127.0.0.1", 25)
    assert c.reply().code == 220
    c.close()
    d.check_clean_exit()


def test_delivery_in_progress_finishes_across_reload(netns, dns, fakesmtp, mxrelayd, mxr_bin):
    dns.mx("a.test", [(10, "mx.a.test")]).a("mx.a.test", "127.0.0.11").start()
    mx = fakesmtp("127.0.0.11", replies={"dot": {"reply": "250 2.0.0 ok", "delay": 3}})
    d = mxrelayd(conf_extra="dns_server = 127.0.0.53\nretry_intervals = 60s\n",
                 relay_networks="127.0.0.0/8", relay_domains=None)
    c = Client("127.0.0.1", 25)
    greet(c)
    c.expect("MAIL FROM:<a@client.test>", 250)
    c.expect("RCPT TO:<bob@a.test>", 250)
    c.expect("DATA", 354)
    c.send(b"Subject: x\r\n\r\nhello\r\n.\r\n")
    qid = queued_id(c.reply())
    c.close()
    # The receiver holds its reply to the final dot for 3 s: reload meanwhile.
    wait_log(d, rf"queue={qid} event=delivery ", timeout=15)
    time.sleep(1)
    rewrite(d, "retry_intervals = 60s", "retry_intervals = 120s")
    r = reload_cli(mxr_bin, d)
    assert r.returncode == 0, f"rc={r.returncode} {r.stdout} {r.stderr}"
    wait_log(d, rf"queue={qid}.*status=delivered", timeout=20)
    assert len(mx.messages) == 1
    d.check_clean_exit()


def test_reload_refused_to_a_user_outside_the_daemons_group(netns, mxrelayd, mxr_bin):
    """The control socket is 0660, the daemon's user and group: others cannot connect."""
    import pwd
    try:
        other = pwd.getpwnam("daemon")
    except KeyError:
        pytest.skip("no user 'daemon' to try as")
    d = mxrelayd()
    os.chmod(d.queue_dir, 0o711)   # let the other user reach the socket file itself
    sock = os.path.join(d.queue_dir, "control.sock")
    r = subprocess.run([mxr_bin.mxrelay, "reload", "-s", sock], capture_output=True, text=True,
                       timeout=30, user=other.pw_uid, group=other.pw_gid, extra_groups=[])
    assert r.returncode == 77, f"rc={r.returncode} {r.stdout} {r.stderr}"
    assert "Permission denied" in r.stderr
    assert "event=reload-requested" not in d.log()
    d.check_clean_exit()


def test_reload_under_the_units_capabilities(netns, mxr_bin, certs, tmp_path):
    """Root limited to the unit's CapabilityBoundingSet: the helper still reads a
    0600 key and binds a new port below 1024 on reload."""
    import shutil
    import tempfile
    from conftest import sanitizer_env
    from mxtest.netns import wait_port
    from test_package_systemd_unit import unit_values
    if shutil.which("setpriv") is None:
        pytest.skip("setpriv not installed")
    caps = " ".join(unit_values("CapabilityBoundingSet")).split()
    bounding = "-all," + ",".join("+" + c.lower().removeprefix("cap_") for c in caps)
    top = tempfile.mkdtemp(prefix="mxrtest-reload-")
    os.chmod(top, 0o755)
    qdir = os.path.join(top, "queue")
    os.mkdir(qdir, 0o750)
    cert, key = certs.server(HOSTNAME, "127.0.0.1")
    mykey = os.path.join(top, "relay.key")
    with open(mykey, "wb") as f:
        f.write(open(key, "rb").read())
    _root_only(mykey)
    os.chmod(cert, 0o644)
    conf = os.path.join(top, "mxrelay.conf")
    base = (f"hostname = {HOSTNAME}\nuser = nobody\nqueue_dir = {qdir}\n"
            f"tls_cert = {cert}\ntls_key = {mykey}\nlisten = 127.0.0.1:25 relay\n")
    with open(conf, "w") as f:
        f.write(base)
    netns.add_addr("127.0.0.2")
    p = netns.spawn(["setpriv", f"--bounding-set={bounding}", mxr_bin.mxrelayd, "-c", conf],
                    name="mxrelayd", env=sanitizer_env(), cwd=top)
    try:
        wait_port("127.0.0.1", 25, proc=p, timeout=10)
        with open(conf, "w") as f:
            f.write(base + "listen = 127.0.0.2:25 relay\n")
        os.kill(p.pid, signal.SIGHUP)
        end = time.monotonic() + 10
        while time.monotonic() < end and "event=reloaded" not in p.output():
            time.sleep(0.05)
        assert "event=reloaded" in p.output(), p.output()
        c = Client("127.0.0.2", 25)
        assert c.reply().code == 220
        c.close()
        assert p.stop() == 0, p.output()
    finally:
        shutil.rmtree(top, ignore_errors=True)
