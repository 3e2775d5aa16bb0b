"""`mxrelay status` against a running mxrelayd: the text summary, the JSON
object checked field by field against the table of docs/status.md, the
exit status monitoring scripts rely on (0 running, 1 not running), and a
caller the control socket does not admit.

The known state: a message held, and a message for dead.test, whose only
MX (127.0.0.11) refuses connections, so that destination is in backoff
with the refusal as its last error and a next try in the future.
"""

import json
import os
import pwd
import re
import subprocess
import time

import pytest

from conftest import sanitizer_env, sanitizer_report
from daemon import wait_for, mxrelayd, queued_id, Client  # noqa: F401  (mxrelayd is a fixture)

pytestmark = pytest.mark.netns
QUEUE_BACKENDS = ("sqlite", "postgresql")   # the queue's counts and backoffs come from either

DEAD = "dead.test"
DEAD_MX = "127.0.0.11"
SENDER = "alice@sender.test"
DOCS = os.path.join(os.path.dirname(__file__), "..", "..", "docs", "status.md")


class Run:
    def __init__(self, argv, p):
        self.argv = argv
        self.rc = p.returncode
        self.stdout = p.stdout
        self.stderr = p.stderr

    def __repr__(self):
        return f"{self.argv} -> {self.rc}\nstdout:\n{self.stdout}\nstderr:\n{self.stderr}"


def run(argv, timeout=30, **kw):
    p = subprocess.run([str(a) for a in argv], capture_output=True, text=True, timeout=timeout,
                       env=sanitizer_env(), **kw)
    r = Run(argv, p)
    rep = sanitizer_report(p.stderr)
    assert rep is None, f"sanitizer report:\n{rep}\n{r}"
    return r


def expect_rc(r, rc):
    assert r.rc == rc, f"got exit {r.rc}, want {rc}\n{r}"
    return r


def submit(rcpt, subject):
    c = Client("127.0.0.1", 25)
    try:
        assert c.reply().code == 220
        c.expect("EHLO client.test", 250)
        c.expect(f"MAIL FROM:<{SENDER}>", 250)
        c.expect(f"RCPT TO:<{rcpt}>", 250)
        c.expect("DATA", 354)
        c.send(f"From: <{SENDER}>\r\nTo: <{rcpt}>\r\nSubject: {subject}\r\n\r\nhello\r\n.\r\n")
        qid = queued_id(c.reply())
        c.expect("QUIT", 221)
        return qid
    finally:
        c.close()


class KnownState:
    """A daemon with one message held (the oldest) and one for dead.test in backoff."""

    def __init__(self, daemon, mxr_bin):
        self.d = daemon
        self.bin = mxr_bin.mxrelay
        self.held_id = submit(f"bob@{DEAD}", "held")
        expect_rc(self.status_run("queue", "hold", self.held_id), 0)
        time.sleep(1.1)     # a second apart: the held one is the oldest for sure
        self.dead_id = submit(f"carol@{DEAD}", "deferred")
        self.summary = wait_for("dead.test in backoff", self._in_backoff, describe=daemon.describe)

    def status_run(self, *args, **kw):
        return run([self.bin, *args, "-c", self.d.conf], **kw)

    def status_json(self):
        r = expect_rc(self.status_run("status", "--json"), 0)
        return json.loads(r.stdout)

    def _in_backoff(self):
        s = self.status_json()
        return s if any(b["destination"] == DEAD for b in s["backoff"]) else None


def start_known_state(netns, dns, mxrelayd, mxr_bin, conf_extra=""):
    dns.mx(DEAD, [(10, f"mx.{DEAD}")]).a(f"mx.{DEAD}", DEAD_MX).start()
    netns.add_addr(DEAD_MX)     # the address is up; nothing listens on port 25: refused
    d = mxrelayd(conf_extra="dns_server = 127.0.0.53\nretry_intervals = 1s 1h\n"
                 "delay_warning = 0\n" + conf_extra,
                 relay_networks="127.0.0.0/8", relay_domains=None)
    return KnownState(d, mxr_bin)


@pytest.fixture
def known(netns, dns, mxrelayd, mxr_bin):
    return start_known_state(netns, dns, mxrelayd, mxr_bin)


def documented_fields():
    """{field: type} of the JSON table in docs/status.md."""
    fields = {}
    with open(DOCS) as f:
        for line in f:
            m = re.match(r"\| `(\w+)` \| ([^|]+) \|", line)
            if m:
                fields[m.group(1)] = m.group(2).strip()
    assert fields, f"no field table in {DOCS}"
    return fields


def test_status_text(known):
    r = expect_rc(known.status_run("status"), 0)
    out = r.stdout
    assert r.stderr == "", r
    first = out.splitlines()[0]
    assert re.match(r"mxrelayd \S+ on mx\.relay\.test, pid \d+, up \d+", first), r
    assert "listeners: 127.0.0.1:25 (relay)" in out, r
    assert re.search(r"^queue: 2 messages \(1 held\), recipients:", out, re.M), r
    # A fleet's node says which database and node it is; one node's SQLite goes unsaid.
    if known.d.pg is None:
        assert "queue store:" not in out, r
    else:
        assert re.search(r"^queue store: postgresql, node [\w.-]+, reachable$", out, re.M), r
    assert f"oldest {known.held_id}, " in out, r
    assert re.search(r"^backoff: 1 destination$", out, re.M), r
    line = next((l for l in out.splitlines() if l.startswith(f"  {DEAD}: ")), None)
    assert line is not None, r
    assert re.search(r"\d+ failures? in a row, next try \d{4}-\d\d-\d\d \d\d:\d\d:\d\dZ: \S", line), r
    assert "refused" in line.lower(), f"the last error should say the connection was refused\n{r}"
    for head in ("connections: ", "last hour: ", "since start: ", "tls: inbound ",
                 "permanent failures (the last "):
        assert re.search("^" + re.escape(head), out, re.M), f"no {head!r} line\n{r}"


def test_status_json_matches_the_documented_schema(known):
    r = expect_rc(known.status_run("status", "--json"), 0)
    assert r.stdout.endswith("}\n") and r.stdout.count("\n") == 1, f"not one JSON line\n{r}"
    s = json.loads(r.stdout)
    documented = documented_fields()
    # Top-level fields: every documented one is there, and nothing undocumented.
    missing = [k for k in documented if k not in s]
    assert not missing, f"missing {missing} in {sorted(s)}"
    assert set(s) <= set(documented), f"undocumented fields: {sorted(set(s) - set(documented))}"
    for k in s:
        kind = documented[k]
        if kind.startswith("string"):
            assert isinstance(s[k], str), (k, s[k])
        elif kind.startswith("number"):
            assert isinstance(s[k], int) and not isinstance(s[k], bool), (k, s[k])
        elif kind.startswith("array"):
            assert isinstance(s[k], list), (k, s[k])
        elif kind.startswith("object"):
            assert isinstance(s[k], dict), (k, s[k])
        else:
            pytest.fail(f"docs/status.md gives {k} the type {kind!r}")

    assert s["hostname"] == "mx.relay.test"
    assert s["pid"] == known.d.proc.popen.pid
    assert s["uptime_seconds"] == s["now"] - s["started"] >= 1
    assert abs(s["now"] - time.time()) < 5
    local = os.path.join(known.d.dir, "queue-public", "submit.sock")
    assert s["listeners"] == [{"name": "127.0.0.1:25", "mode": "relay"},
                              {"name": f"local:{local}", "mode": "local"}], s["listeners"]
    assert s["http_listeners"] == []

    assert set(s["connections"]) == {"inbound", "outbound", "outbound_idle"}
    assert all(isinstance(v, int) and v >= 0 for v in s["connections"].values())

    t = s["traffic"]
    assert set(t) == {"first_minute", "minutes", "received", "delivered", "deferred", "failed"}
    assert t["minutes"] == 60 and t["first_minute"] % 60 == 0
    assert t["first_minute"] <= s["now"] < t["first_minute"] + 60 * 60 + 60
    for k in ("received", "delivered", "deferred", "failed"):
        assert len(t[k]) == 60 and all(isinstance(v, int) and v >= 0 for v in t[k]), (k, t[k])

    assert set(s["totals"]) == {"received", "refused", "delivered", "deferred", "failed",
                                "bounces"}
    assert all(isinstance(v, int) and v >= 0 for v in s["totals"].values())

    q = s["queue"]
    assert set(q) == {"backend", "node", "available", "messages", "recipients", "bytes",
                      "oldest_seconds", "oldest_id", "error"}
    if known.d.pg is None:
        assert (q["backend"], q["node"], q["available"]) == ("sqlite", None, True), q
    else:
        # node_id left out: the host name.
        assert (q["backend"], q["available"]) == ("postgresql", True), q
        assert re.fullmatch(r"[\w.-]{1,63}", q["node"]), q
    assert q["messages"] == {"queued": 1, "held": 1}, q
    assert q["error"] is None, q
    assert q["bytes"] > 0, q
    rc = q["recipients"]
    assert rc.get("pending", 0) + rc.get("deferred", 0) == 2, q
    assert all(isinstance(v, int) and v >= 0 for v in rc.values()), q
    assert q["oldest_id"] == known.held_id, (q, known.held_id)
    assert q["oldest_seconds"] >= 1, q

    assert len(s["backoff"]) == 1, s["backoff"]
    b = s["backoff"][0]
    assert set(b) == {"destination", "failures", "next_try", "last_error"}, b
    assert b["destination"] == DEAD and b["failures"] >= 1, b
    assert b["next_try"] > s["now"] - 1, (b, s["now"])
    assert "refused" in b["last_error"].lower(), b

    assert s["failures"] == [], s["failures"]
    assert set(s["tls"]) == {"inbound", "outbound"}
    for way in ("inbound", "outbound"):
        assert set(s["tls"][way]) == {"sessions", "tls"}
        assert 0 <= s["tls"][way]["tls"] <= s["tls"][way]["sessions"], s["tls"]


def test_status_with_socket_and_usage_errors(known, mxr_bin):
    sock = os.path.join(known.d.queue_dir, "control.sock")
    r = expect_rc(run([mxr_bin.mxrelay, "status", "-s", sock, "--json"]), 0)
    assert json.loads(r.stdout)["queue"]["oldest_id"] == known.held_id
    # -c before the command is handed on, as for queue and reload.
    r = expect_rc(run([mxr_bin.mxrelay, "-c", known.d.conf, "status"]), 0)
    assert r.stdout.startswith("mxrelayd "), r
    for bad in (["status", "extra"], ["status", "--bogus"], ["status", "-c", known.d.conf, "-s", sock]):
        r = expect_rc(run([mxr_bin.mxrelay, *bad]), 64)
        assert "usage: mxrelay status" in r.stderr, r
    r = expect_rc(run([mxr_bin.mxrelay, "status", "--help"]), 0)
    assert r.stdout.startswith("usage: mxrelay status [-c FILE | -s SOCKET] [--json]"), r


def test_status_exits_1_when_the_daemon_is_stopped(netns, mxrelayd, mxr_bin):
    d = mxrelayd()
    expect_rc(run([mxr_bin.mxrelay, "status", "-c", d.conf]), 0)
    d.check_clean_exit()
    for args in (["status"], ["status", "--json"]):
        r = expect_rc(run([mxr_bin.mxrelay, *args, "-c", d.conf]), 1)
        assert r.stdout == "", r
        assert "mxrelayd is not running" in r.stderr, r
        assert os.path.join(d.queue_dir, "control.sock") in r.stderr, r


def test_status_as_a_user_the_socket_refuses(netns, mxrelayd, mxr_bin):
    """The control socket is 0660 in the 0700 queue directory of the daemon's
    user: another user cannot reach it. That is not "not running" (1): the
    command says the socket refuses it and exits 77."""
    if os.getuid() != 0 or not os.path.exists("/proc/self/uid_map") or \
            open("/proc/self/uid_map").read().split()[:3] != ["0", "0", "4294967295"]:
        pytest.skip("needs real root to run the command as another user")
    user = pwd.getpwnam("daemon")
    d = mxrelayd()

    def as_daemon_user():
        os.setgid(user.pw_gid)
        os.setgroups([])
        os.setuid(user.pw_uid)

    r = expect_rc(run([mxr_bin.mxrelay, "status", "-c", d.conf], preexec_fn=as_daemon_user), 77)
    assert r.stdout == "", r
    assert "not allowed to use the control socket" in r.stderr, r
    assert "Permission denied" in r.stderr, r
    assert "not running" not in r.stderr, r


def test_commands_meet_a_daemon_that_hangs_up(mxr_bin, short_tmp):
    """A control socket that closes each connection at once (a daemon at its limit of
    control connections, or stopping): reload, status and tlsrpt end with a message
    and their exit status, never killed by SIGPIPE."""
    import socket
    import threading
    path = str(short_tmp / "control.sock")
    srv = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    srv.bind(path)
    srv.listen(64)
    stop = threading.Event()

    def hang_up():
        srv.settimeout(0.2)
        while not stop.is_set():
            try:
                c, _ = srv.accept()
            except socket.timeout:
                continue
            except OSError:
                return
            c.close()
    t = threading.Thread(target=hang_up, daemon=True)
    t.start()
    try:
        for argv, want in (([mxr_bin.mxrelay, "status", "-s", path], {1}),
                           ([mxr_bin.mxrelay, "reload", "-s", path], {69}),
                           ([mxr_bin.mxrelay, "tlsrpt", "list", "-s", path], {69})):
            for _ in range(20):
                r = run(argv)
                assert r.rc in want, r
                assert r.stderr.strip(), r
    finally:
        stop.set()
        srv.close()
        t.join(5)
