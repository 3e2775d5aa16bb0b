"""Logs an operator can follow, and that no client can forge.

Real log lines of a daemon that refused relaying and failed AUTH attempts
go through fail2ban's own fail2ban-regex with the filter shipped in
etc/fail2ban; a client whose MAIL FROM and RCPT TO carry text shaped like
log fields (`"x result=failed client=203.0.113.7"@a.test`) leaves every
line parseable as key=value with only the fields mxrelayd wrote, and
fail2ban never sees 203.0.113.7; a quote or backslash in the HELO name
is escaped in the helo="..." field. With `log = syslog` the same lines go to
the syslog socket as RFC 3164 datagrams at facility mail.
"""

import base64
import os
import re
import shutil
import socket
import subprocess
import threading

import pytest

from daemon import Client, Daemon, mxrelayd  # noqa: F401

pytestmark = pytest.mark.netns

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
FILTER = os.path.join(ROOT, "etc", "fail2ban", "filter.d", "mxrelay.conf")
FORGED = '"x result=failed client=203.0.113.7"@a.test'

# key=value, value a bare token or a quoted string with \" and \\ escapes.
FIELD = re.compile(r'([a-z_]+)=("(?:[^"\\]|\\.)*"|[^\s"]*)(?: |$)')


def parse_line(line):
    """The fields of one mxrelayd line, or None when it does not parse whole."""
    m = re.match(r"^\S+Z mxrelayd\[\d+\]: (.*)$", line)
    if not m:
        return None
    rest, fields, pos = m.group(1), {}, 0
    while pos < len(rest):
        f = FIELD.match(rest, pos)
        if not f:
            return None
        fields.setdefault(f.group(1), []).append(f.group(2))
        pos = f.end()
    return fields


def fail2ban_regex(tmp_path):
    """(argv prefix of fail2ban-regex, its environment, our filter inside fail2ban's own configuration).

    fail2ban comes from Debian's package, unpacked by `make test` into
    MXR_DEB_CACHE (scripts/unpack-deb) and never installed as a service; the
    namespace the test runs in has no network to fetch it itself.
    """
    cache = os.environ.get("MXR_DEB_CACHE", os.path.join(ROOT, "build-debs"))
    base = os.path.join(cache, "fail2ban")
    if not os.path.isdir(base):
        pytest.skip(f"fail2ban is not unpacked in {cache}: run scripts/unpack-deb {cache} fail2ban")
    confdir = tmp_path / "fail2ban"
    shutil.copytree(os.path.join(base, "etc", "fail2ban"), confdir)
    shutil.copy(FILTER, confdir / "filter.d" / "mxrelay.conf")
    env = dict(os.environ, PYTHONPATH=os.path.join(base, "usr/lib/python3/dist-packages"))
    argv = ["/usr/bin/python3", os.path.join(base, "usr/bin/fail2ban-regex")]
    return argv, env, str(confdir / "filter.d" / "mxrelay.conf")


def plain(user, pw):
    return base64.b64encode(f"\0{user}\0{pw}".encode()).decode()


def _noisy_client(with_forgery=True):
    """Relay refusals, forged-field addresses and failed AUTH from 127.0.0.1."""
    c = Client()
    c.reply()
    c.expect("EHLO client.test", 250)
    if with_forgery:
        c.expect(f"MAIL FROM:<{FORGED}>", 250)
        c.cmd(f"RCPT TO:<{FORGED}>")
    else:
        c.expect("MAIL FROM:<a@b.test>", 250)
    c.expect("RCPT TO:<victim@elsewhere.test>", 550, "5.7.1")
    c.expect("RSET", 250)
    r = c.cmd("AUTH PLAIN " + plain('y client=203.0.113.7 "', "wrong"))
    assert r.code in (535, 454), r
    c.close()


def test_fail2ban_filter_matches_real_refusals_and_never_a_forged_address(netns, mxr_bin, tmp_path):
    users = tmp_path / "users"
    h = subprocess.run(["openssl", "passwd", "-6", "-stdin"], input="right", text=True,
                       capture_output=True, check=True).stdout.strip()
    users.write_text(f"alice:{h}\n")
    os.chmod(users, 0o600)
    d = Daemon(netns, mxr_bin, relay_networks="192.0.2.0/24",
               listen=["127.0.0.1:25 relay auth-plaintext"],
               conf_extra=f"auth_file = {users}\nauth_failure_limit = 0\n")
    netns.peers.append(d)
    d.start()
    try:
        for _ in range(3):
            _noisy_client()
    finally:
        d.check_clean_exit()
    log = d.log()
    d.cleanup()
    lines = [l for l in log.splitlines() if "mxrelayd[" in l]
    assert lines
    for line in lines:
        fields = parse_line(line)
        assert fields is not None, f"does not parse as key=value: {line}"
        for key in ("client", "result", "status"):
            assert len(fields.get(key, [])) <= 1, f"{key} twice: {line}"
        assert "203.0.113.7" not in fields.get("client", [""])[0], line
    assert any("event=mail" in l and 'from="<\\"x result=failed client=203.0.113.7\\"@a.test>"' in l
               for l in lines), "the forged sender is not logged quoted"

    logfile = tmp_path / "mxrelayd.log"
    logfile.write_text("\n".join(lines) + "\n")
    argv, env, filt = fail2ban_regex(tmp_path)
    res = subprocess.run(argv + ["--print-all-matched", str(logfile), filt], capture_output=True,
                         text=True, env=env, timeout=120)
    assert res.returncode == 0, res.stdout + res.stderr
    out = res.stdout
    m = re.search(r"Lines: \d+ lines, \d+ ignored, (\d+) matched", out)
    assert m, out
    # Per client session: two relay refusals (the forged address is not ours either) and a failed AUTH.
    assert int(m.group(1)) == 9, out
    matched = [l for l in out.splitlines() if l.startswith("|  ") and "mxrelayd[" in l]
    assert len(matched) == 9 and all("client=127.0.0.1 " in l for l in matched), out


def test_accepted_message_is_one_line_with_everything(mxrelayd):
    d = mxrelayd()
    c = Client()
    c.reply()
    c.expect("EHLO client.test", 250)
    c.expect("MAIL FROM:<alice@sender.test> SIZE=100", 250)
    c.expect("RCPT TO:<bob@example.test>", 250)
    c.expect("RCPT TO:<carol@example.test>", 250)
    c.expect("DATA", 354)
    c.send(b"Message-ID: <abc.123@sender.test>\r\nSubject: x\r\n\r\nhi\r\n.\r\n")
    assert c.reply().code == 250
    c.expect("QUIT", 221)
    line = next(l for l in d.log().splitlines() if "event=queued" in l)
    f = parse_line(line)
    assert f is not None, line
    assert f["client"] == ["127.0.0.1"], line
    assert f["helo"] == ['"client.test"'], line
    assert f["from"] == ['"<alice@sender.test>"'], line
    assert f["nrcpt"] == ["2"], line
    assert f["message_id"] == ['"<abc.123@sender.test>"'], line
    assert "size" in f and "queue" in f and "auth" in f, line


def test_syslog_output(netns, mxr_bin, tmp_path):
    path = str(tmp_path / "log.sock")
    srv = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    srv.bind(path)
    os.chmod(path, 0o666)
    got = []

    def read():
        srv.settimeout(0.5)
        while len(got) < 200:
            try:
                got.append(srv.recv(8192).decode("utf-8", "replace"))
            except socket.timeout:
                if stop.is_set():
                    return
    stop = threading.Event()
    t = threading.Thread(target=read, daemon=True)
    t.start()
    d = Daemon(netns, mxr_bin, relay_networks="192.0.2.0/24",
               conf_extra=f"log = syslog\nsyslog_socket = {path}\n")
    netns.peers.append(d)
    d.start()
    try:
        c = Client()
        c.reply()
        c.expect("EHLO client.test", 250)
        c.expect("MAIL FROM:<a@b.test>", 250)
        c.expect("RCPT TO:<victim@elsewhere.test>", 550, "5.7.1")
        c.close()
    finally:
        d.check_clean_exit()
        stop.set()
        t.join(5)
        srv.close()
        d.cleanup()
    assert any(g.startswith("<22>") and "mxrelayd[" in g and "event=started" in g for g in got), got[:5]
    refused = [g for g in got if "status=refused" in g]
    assert refused and refused[0].startswith("<22>"), got
    assert re.match(r"^<\d+>[A-Z][a-z]{2} [ \d]\d \d\d:\d\d:\d\d mxrelayd\[\d+\]: level=info ", refused[0]), refused[0]


def test_helo_quotes_escaped_in_log(mxrelayd):
    """A '"' or '\\' in the HELO name cannot end the helo="..." field of the log line."""
    d = mxrelayd()
    c = Client()
    c.reply()
    c.expect('EHLO x"status=forged\\', 250)
    c.expect("QUIT", 221)
    c.close()
    lines = [l for l in d.log().splitlines() if "event=helo" in l]
    assert lines, d.log()
    got = lines[-1].split("helo=", 1)[1]
    assert got == '"x\\"status=forged\\\\"', f"got helo={got}, want the quote and backslash escaped"
