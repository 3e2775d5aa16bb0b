"""`mxrelay queue`, the daemon's control socket, and the sendmail/mailq mode.

Each test runs a real mxrelayd in the test's network namespace with mail
queued for a destination whose only MX (127.0.0.11) has nothing
listening, so recipients stay pending or deferred. The command line is
checked against the daemon over the control socket, and against the store
itself once the daemon is stopped. sendmail and mailq run through
symlinks to the mxrelay binary, as a system installs them.
"""

import json
import os
import socket
import subprocess
import time

import pytest

from conftest import sanitizer_env, sanitizer_report
from daemon import Client, mxrelayd, queued_id  # noqa: F401

pytestmark = pytest.mark.netns
QUEUE_BACKENDS = ("sqlite", "postgresql")

DEAD = "dead.test"
CONF_EXTRA = "dns_server = 127.0.0.53\n"


class Run:
    def __init__(self, argv, p):
        self.argv = argv
        self.rc = p.returncode
        self.stdout = p.stdout
        self.stderr = p.stderr

    def __repr__(self):
        return f"{self.argv} -> {self.rc}\nstdout:\n{self.stdout}\nstderr:\n{self.stderr}"


def run(argv, input="", timeout=60):
    p = subprocess.run([str(a) for a in argv], input=input, capture_output=True, text=True,
                       timeout=timeout, env=sanitizer_env())
    r = Run(argv, p)
    rep = sanitizer_report(p.stderr)
    assert rep is None, f"sanitizer report:\n{rep}\n{r}"
    return r


def expect_rc(r, rc):
    assert r.rc == rc, f"got exit {r.rc}, want {rc}\n{r}"
    return r


@pytest.fixture(autouse=True)
def _queue_command_exists(mxr_bin):
    """The mxrelay binary has a queue command: a build without one fails here."""
    r = subprocess.run([mxr_bin.mxrelay, "queue", "--help"], capture_output=True, text=True)
    assert r.returncode == 0, f"{mxr_bin.mxrelay} queue --help: exit {r.returncode}: {r.stderr.strip()[:200]}"


def need_control_socket(d):
    """The daemon opened its control socket (queue_dir/control.sock by default)."""
    path = os.path.join(d.queue_dir, "control.sock")
    assert os.path.exists(path), f"mxrelayd did not open its control socket {path}\n{d.log()[-3000:]}"


@pytest.fixture
def relay(netns, dns, mxrelayd, mxr_bin):
    """A daemon relaying for 127.0.0.0/8 to anywhere, and DNS giving dead.test a dead MX."""
    dns.mx(DEAD, [(10, f"mx.{DEAD}")]).a(f"mx.{DEAD}", "127.0.0.11").start()
    netns.add_addr("127.0.0.11")
    d = mxrelayd(conf_extra=CONF_EXTRA, relay_networks="127.0.0.0/8", relay_domains=None)
    d.queue = lambda *args, **kw: run([mxr_bin.mxrelay, "queue", "-c", d.conf, *args], **kw)
    return d


def submit(sender, rcpts, subject="test"):
    """One message over SMTP to the daemon; its queue id."""
    c = Client()
    assert c.reply().code == 220
    c.expect("EHLO client.test", 250)
    c.expect(f"MAIL FROM:<{sender}>", 250)
    for r in rcpts:
        c.expect(f"RCPT TO:<{r}>", 250)
    c.expect("DATA", 354)
    c.send(f"From: <{sender}>\r\nSubject: {subject}\r\n\r\nhello\r\n.\r\n")
    qid = queued_id(c.reply())
    c.expect("QUIT", 221)
    c.close()
    return qid


def listing(d):
    """{id: message object} from `queue list --json`."""
    r = expect_rc(d.queue("list", "--json"), 0)
    out = {}
    for line in r.stdout.splitlines():
        m = json.loads(line)
        out[m["id"]] = m
    return out


def test_list_text_and_json(relay):
    ids = [submit("alice@a.test", [f"bob@{DEAD}", f"carol@{DEAD}"], "one"),
           submit("", [f"dave@{DEAD}"], "two"),
           submit("erin@a.test", [f"frank@{DEAD}"], "three")]
    r = expect_rc(relay.queue("list"), 0)
    for qid in ids:
        assert qid in r.stdout, r
    for rcpt in ("bob", "carol", "dave", "frank"):
        line = next((l for l in r.stdout.splitlines() if f"<{rcpt}@{DEAD}>" in l), None)
        assert line is not None, r
        assert line.split()[0] in ("pending", "deferred"), r
    assert "<alice@a.test>" in r.stdout and "<>" in r.stdout, r
    assert r.stdout.splitlines()[-1].startswith("-- 3 messages"), r

    msgs = listing(relay)
    assert sorted(msgs) == sorted(ids)
    m = msgs[ids[0]]
    assert m["sender"] == "alice@a.test" and m["held"] is False and m["size"] > 0
    assert [x["address"] for x in m["recipients"]] == [f"bob@{DEAD}", f"carol@{DEAD}"]
    for x in m["recipients"]:
        assert x["state"] in ("pending", "deferred"), m
        if x["state"] == "deferred":
            assert x["last_reply"], m
    assert msgs[ids[1]]["sender"] == ""


def test_show(relay):
    qid = submit("alice@a.test", [f"bob@{DEAD}"], "shown")
    r = expect_rc(relay.queue("show", qid), 0)
    assert f"id:        {qid}" in r.stdout, r
    assert "sender:    <alice@a.test>" in r.stdout, r
    assert f"recipient: <bob@{DEAD}>" in r.stdout, r
    assert "  Subject: shown" in r.stdout, r
    assert "  Received: from client.test" in r.stdout, r
    j = json.loads(expect_rc(relay.queue("show", "--json", qid), 0).stdout)
    assert j["id"] == qid and j["client_ip"] == "127.0.0.1" and j["protocol"] == "ESMTP"
    assert "Subject: shown\r\n" in j["headers"]
    assert isinstance(j["recipients"][0]["history"], list)


def test_hold_release_delete_flush(relay):
    a = submit("alice@a.test", [f"bob@{DEAD}"])
    b = submit("alice@a.test", [f"carol@{DEAD}"])
    r = expect_rc(relay.queue("hold", a), 0)
    assert r.stdout.splitlines() == [f"held {a}", "-- held 1 message"], r
    assert listing(relay)[a]["held"] is True
    assert "HELD" in expect_rc(relay.queue("list"), 0).stdout
    expect_rc(relay.queue("release", a), 0)
    assert listing(relay)[a]["held"] is False

    assert "flushed" in expect_rc(relay.queue("flush", a), 0).stdout
    assert "flushed" in expect_rc(relay.queue("flush", "--domain", DEAD.upper()), 0).stdout
    assert "flushed" in expect_rc(relay.queue("flush"), 0).stdout

    expect_rc(relay.queue("delete", b), 0)
    assert b not in listing(relay) and b not in relay.messages()
    r = expect_rc(relay.queue("delete", b), 66)
    assert f"no message {b} in {relay.queue_dir}" in r.stderr, r
    r = expect_rc(relay.queue("hold", b), 66)
    assert f"no message {b}" in r.stderr, r


def test_bounce(relay):
    need_control_socket(relay)
    qid = submit("alice@a.test", [f"bob@{DEAD}", f"carol@{DEAD}"])
    r = expect_rc(relay.queue("bounce", qid), 0)
    assert r.stdout.splitlines() == [f"bounced 2 recipients of {qid}", "-- bounced 1 message"], r
    msgs = listing(relay)
    if qid in msgs:     # the scheduler may already have sent the DSN and removed it
        for x in msgs[qid]["recipients"]:
            assert x["state"] in ("failed", "bounced"), msgs[qid]
            assert x["last_esc"] == "5.0.0" and x["last_reply"] == "bounced by the administrator"


def test_daemon_stopped_reads_the_store(relay):
    a = submit("alice@a.test", [f"bob@{DEAD}"])
    b = submit("alice@a.test", [f"carol@{DEAD}"])
    need_control_socket(relay)
    sock = os.path.join(relay.queue_dir, "control.sock")
    assert relay.stop() == 0, relay.log()[-3000:]
    assert not os.path.exists(sock), "the control socket outlived the daemon"

    msgs = listing(relay)
    assert a in msgs and b in msgs
    assert a in expect_rc(relay.queue("list"), 0).stdout
    assert "Subject: test" in expect_rc(relay.queue("show", a), 0).stdout
    expect_rc(relay.queue("hold", a), 0)
    assert listing(relay)[a]["held"] is True
    expect_rc(relay.queue("release", a), 0)
    r = expect_rc(relay.queue("flush", a), 0)
    assert "daemon is not running" in r.stdout, r
    r = expect_rc(relay.queue("bounce", a), 0)
    assert r.stdout.splitlines()[0] == (f"bounced 1 recipient of {a} (the daemon is not running: "
                                        "the bounce is sent when it starts)"), r
    assert [x["state"] for x in listing(relay)[a]["recipients"]] == ["failed"]
    expect_rc(relay.queue("delete", b), 0)
    assert sorted(listing(relay)) == [a]
    r = expect_rc(relay.queue("requeue", a), 0)
    assert "daemon is not running" in r.stdout, r
    # nothing the command line did left a file the daemon's user cannot open
    for name in os.listdir(relay.queue_dir):
        st = os.stat(os.path.join(relay.queue_dir, name))
        assert st.st_uid == os.stat(relay.queue_dir).st_uid, name
    relay.start()
    # the bounce made while it was down is sent at start; a's only recipient is then done
    deadline = time.monotonic() + 15
    while a in listing(relay) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert a not in listing(relay), relay.log()[-3000:]


def test_control_socket_raw(relay):
    """Malformed requests get an error reply; the daemon keeps serving."""
    need_control_socket(relay)
    path = os.path.join(relay.queue_dir, "control.sock")

    def ask(data):
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.settimeout(10)
        s.connect(path)
        s.sendall(data)
        out = b""
        while True:
            chunk = s.recv(65536)
            if not chunk:
                break
            out += chunk
        s.close()
        return out

    assert ask(b"frob\n") == b"error usage unknown request\n"
    assert ask(b"hold\x00x\n") == b"error usage control character in request\n"
    assert ask(b"show nothing\n") == b"error usage not a queue id\n"
    assert ask(b"x" * 5000) == b"error usage request too long\n"
    assert ask(b"list\n").startswith(b"ok 0 messages\nqueue is empty\n.\n")


def test_sendmail_t_i_and_mailq(relay, mxr_bin, tmp_path):
    sendmail = tmp_path / "sendmail"
    mailq = tmp_path / "mailq"
    sendmail.symlink_to(mxr_bin.mxrelay)
    mailq.symlink_to(mxr_bin.mxrelay)
    msg = ("To: Bob <bob@dead.test>, carol@dead.test\n"
           "Cc: dave@dead.test\n"
           "Bcc: secret@dead.test\n"
           "Subject: from cron\n"
           "\n"
           "first line\n"
           ".\n"
           "..two dots\n"
           "last line without newline")
    r = expect_rc(run([sendmail, "-C", relay.conf, "-t", "-i", "-f", "root@a.test",
                       "-F", "Cron Daemon"], input=msg), 0)
    assert r.stdout == "" and r.stderr == "", r
    (qid, (sender, rcpts, body)), = relay.messages().items()
    assert sender == "root@a.test"
    assert sorted(rcpts) == sorted(f"{u}@{DEAD}" for u in ("bob", "carol", "dave", "secret"))
    text = body.decode()
    assert "Bcc" not in text and "secret" not in text, text
    assert 'From: "Cron Daemon" <root@a.test>\r\n' in text, text
    assert "\r\nDate: " in text and "\r\nMessage-ID: <" in text, text
    assert text.endswith("\r\n\r\nfirst line\r\n.\r\n..two dots\r\nlast line without newline\r\n"), text

    r = expect_rc(run([mailq, "-C", relay.conf]), 0)
    assert qid in r.stdout and f"<secret@{DEAD}>" in r.stdout, r

    # without -i a lone dot ends the message; recipients as arguments, a bare
    # name gets the configured hostname
    r = expect_rc(run([mxr_bin.mxrelay, "sendmail", "-C", relay.conf, "-oi", "-odb", "-oem",
                       f"erin@{DEAD}"], input="Subject: x\n\nbody\n"), 0)
    r = expect_rc(run([sendmail, "-C", relay.conf, f"frank@{DEAD}"],
                      input="Subject: dot\n\nkept\n.\nlost\n"), 0)
    bodies = {tuple(v[1]): v[2] for v in relay.messages().values()}
    assert bodies[(f"frank@{DEAD}",)].endswith(b"\r\n\r\nkept\r\n"), bodies
    assert b"Subject: x\r\n" in bodies[(f"erin@{DEAD}",)]
    expect_rc(run([sendmail, "-C", relay.conf, "-bp"]), 0)


def test_sendmail_dsn_options_reach_the_queue(relay, mxr_bin, tmp_path):
    # -N, -R and -V become NOTIFY, RET and ENVID on the submission.
    sendmail = tmp_path / "sendmail"
    sendmail.symlink_to(mxr_bin.mxrelay)
    expect_rc(run([sendmail, "-C", relay.conf, "-N", "failure,delay", "-R", "hdrs",
                   "-V", "job 42+x", "-f", "root@a.test", f"bob@{DEAD}"],
                  input="Subject: dsn\n\nbody\n"), 0)
    (qid, _), = relay.messages().items()
    r = expect_rc(relay.queue("show", "--json", qid), 0)
    m = json.loads(r.stdout.splitlines()[0])
    assert m["envid"] == "job 42+x", m
    assert m["ret"] in ("HDRS", "hdrs"), m
    r = expect_rc(run([sendmail, "-C", relay.conf, "-V", "x" * 101, f"bob@{DEAD}"],
                      input="Subject: x\n\nbody\n"), 64)
    assert "100" in r.stderr, r


def test_sendmail_notify_follows_rfc3461(relay, mxr_bin, tmp_path):
    # -N takes the keywords in any order, each once (RFC 3461 4.1).
    sendmail = tmp_path / "sendmail"
    sendmail.symlink_to(mxr_bin.mxrelay)
    expect_rc(run([sendmail, "-C", relay.conf, "-N", "delay,failure,success", "-f", "root@a.test",
                   f"bob@{DEAD}"], input="Subject: dsn\n\nbody\n"), 0)
    (qid, _), = relay.messages().items()
    r = expect_rc(relay.queue("show", "--json", qid), 0)
    m = json.loads(r.stdout.splitlines()[0])
    assert [x["notify"] for x in m["recipients"]] == [2 | 4 | 8], m
    for bad in ("success,success", "never,delay", "success,,delay", "sometimes"):
        r = expect_rc(run([sendmail, "-C", relay.conf, "-N", bad, f"bob@{DEAD}"],
                          input="Subject: x\n\nbody\n"), 64)
        assert "-N" in r.stderr, r
    assert len(relay.messages()) == 1


def test_sendmail_errors(relay, mxr_bin, tmp_path):
    sendmail = tmp_path / "sendmail"
    sendmail.symlink_to(mxr_bin.mxrelay)
    conf = ["-C", relay.conf]
    r = expect_rc(run([sendmail, *conf], input="Subject: x\n\n"), 64)
    assert "no recipients" in r.stderr, r
    r = expect_rc(run([sendmail, *conf, "-t"], input="Subject: x\n\nbody\n"), 65)
    assert "no recipients" in r.stderr, r
    expect_rc(run([sendmail, *conf, "-bs"]), 64)
    expect_rc(run([sendmail, *conf, "-Z"]), 64)
    expect_rc(run([sendmail, *conf, "-f"]), 64)
    r = expect_rc(run([sendmail, *conf, "a@@b"], input="x\n"), 64)
    assert "bad recipient" in r.stderr, r
    r = expect_rc(run([sendmail, "-C", "/nonexistent.conf", "a@b.test"], input="x\n"), 78)
    assert relay.messages() == {}
    relay.stop()
    r = expect_rc(run([sendmail, *conf, f"bob@{DEAD}"], input="Subject: x\n\nbody\n"), 75)
    assert "cannot reach the mxrelay daemon" in r.stderr, r


def test_sendmail_refused_recipient(netns, mxrelayd, mxr_bin, tmp_path):
    # Over TCP (no local socket, which is trusted as relay_networks are), loopback is not trusted.
    d = mxrelayd(relay_networks="10.0.0.0/8", relay_domains="example.test",
                 conf_extra="local_socket = none")
    r = expect_rc(run([mxr_bin.mxrelay, "sendmail", "-C", d.conf, "ok@example.test",
                       "other@elsewhere.test"], input="Subject: x\n\nbody\n"), 67)
    assert "refused the recipient <other@elsewhere.test>" in r.stderr, r
    assert "nothing was queued" in r.stderr, r
    assert d.messages() == {}


def test_queue_bad_arguments(relay, mxr_bin):
    q = relay.queue
    expect_rc(q(), 64)
    expect_rc(q("frob"), 64)
    expect_rc(q("show"), 64)
    expect_rc(q("show", "not-an-id"), 64)
    expect_rc(q("list", "extra"), 64)
    expect_rc(q("flush", "0123456789abcdefghij", "--domain", "a.test"), 64)
    expect_rc(q("flush", "--domain"), 64)
    expect_rc(q("list", "--bogus"), 64)
    r = expect_rc(run([mxr_bin.mxrelay, "queue", "-c", "/nonexistent.conf", "list"]), 78)
    assert "/nonexistent.conf" in r.stderr, r
    r = expect_rc(q("show", "0123456789abcdefghij"), 66)
    assert "no message 0123456789abcdefghij in" in r.stderr, r
