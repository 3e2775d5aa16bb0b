"""Local mail as an administrator meets it: cron and PHP call sendmail as
their own users, mail for root must reach a person, and mailq is for all.

sendmail runs as nobody and as www-data (uid 33) through runuser, with
the TLS key and users file readable by root only, and submits on the daemon's local
socket; the daemon records the uid in the Received field and its log,
and rewrites -f for a user local_sender_override does not name. Mail for
root, bare or at our hostname, goes through the aliases to a real
receiver (smtp-sink); a name without alias is refused with 550 5.1.1 or
sent to admin_address; a bounce of mail from <> goes to postmaster's
alias instead of being dropped. mailq run by any user lists envelopes
only, and changing the queue stays with root.
"""

import os
import socket
import stat
import subprocess
import time

import pytest

from conftest import sanitizer_env, sanitizer_report
from daemon import wait_for, HOSTNAME, Client, Daemon, queued_id, split_received  # noqa: F401

pytestmark = pytest.mark.netns

USER = "www-data"
UID = 33


def _dumped(sink, n=1, rcpts=1):
    """The sink's messages once n are written whole (smtp-sink writes a dump as it goes)."""
    m = sink.messages()
    whole = [x for x in m if x.mail is not None and len(x.rcpts) >= rcpts and
             x.message.endswith(b"\n")]
    return m if len(m) == n and len(whole) == n else None


def _root_only(path):
    os.chown(path, 0, 0)
    os.chmod(path, 0o600)


def _socket_of(d):
    return os.path.join(d.queue_dir + "-public", "submit.sock")


def _wait_socket(path, d):
    def up():
        s = socket.socket(socket.AF_UNIX)
        try:
            s.connect(path)
            return True
        except OSError:
            return False
        finally:
            s.close()
    wait_for(f"{path} to accept", up, describe=d.describe)


def _start(netns, mxr_bin, tmp_path, extra="", aliases=None, secrets=None):
    lines = ["dns_server = 127.0.0.53", extra]
    if aliases is not None:
        path = tmp_path / "aliases"
        path.write_text(aliases)
        lines.append(f"aliases_file = {path}")
    if secrets is not None:
        cert, key, users = secrets
        lines += [f"tls_cert = {cert}", f"tls_key = {key}", f"auth_file = {users}"]
    d = Daemon(netns, mxr_bin, conf_extra="\n".join(lines) + "\n")
    netns.peers.append(d)
    d.start()
    _wait_socket(_socket_of(d), d)
    return d


def _as_user(argv, user=USER, input=None, env=None):
    """Run argv as user (runuser), with the sanitizer environment; fail on a report."""
    r = subprocess.run(["runuser", "-u", user, "--", *argv], input=input, capture_output=True,
                       env=sanitizer_env(env), timeout=60)
    err = r.stderr.decode("utf-8", "replace")
    report = sanitizer_report(err)
    assert report is None, f"sanitizer report from {argv}:\n{report}"
    return r


def _sendmail(mxr_bin, d, args, text, user=USER):
    return _as_user([mxr_bin.mxrelay, "sendmail", "-C", d.conf, *args], user=user, input=text)


@pytest.fixture
def world(netns, dns, smtp_sink):
    dns.mx("elsewhere.test", [(10, "mx.elsewhere.test")]).a("mx.elsewhere.test", "127.0.0.11")
    dns.mx("slow.test", [(10, "mx.slow.test")]).a("mx.slow.test", "127.0.0.12")
    dns.mx("dead.test", [(10, "mx.dead.test")]).a("mx.dead.test", "127.0.0.13")
    dns.start()
    netns.add_addr("127.0.0.12")          # slow.test: nothing listens, mail waits
    return smtp_sink("127.0.0.11")


@pytest.mark.parametrize("user, uid", [("nobody", 65534), (USER, UID)])
def test_sendmail_as_a_user_with_root_only_secrets(netns, mxr_bin, certs, world, tmp_path, user,
                                                  uid):
    secret_dir = tmp_path / "private"
    secret_dir.mkdir(mode=0o700)
    cert, key = certs.server(HOSTNAME, "127.0.0.1")
    mykey, mycert, users = secret_dir / "relay.key", secret_dir / "relay.pem", secret_dir / "users"
    mykey.write_bytes(open(key, "rb").read())
    mycert.write_bytes(open(cert, "rb").read())
    h = subprocess.run(["openssl", "passwd", "-6", "-stdin"], input="correct horse", text=True,
                       capture_output=True, check=True).stdout.strip()
    users.write_text(f"alice:{h}\n")
    for p in (mykey, mycert, users):
        _root_only(p)
    d = _start(netns, mxr_bin, tmp_path, secrets=(mycert, mykey, users))
    try:
        # What the administrator would check: the queue private, the socket open to all.
        assert stat.S_IMODE(os.stat(d.queue_dir).st_mode) == 0o700
        assert stat.S_IMODE(os.stat(d.queue_dir + "-public").st_mode) == 0o755
        assert stat.S_IMODE(os.stat(_socket_of(d)).st_mode) == 0o666
        # The user really cannot read the secrets.
        r = _as_user(["cat", str(mykey)], user=user)
        assert r.returncode != 0

        text = b"To: friend@elsewhere.test\nSubject: cron output\n\nline one\n.\nlast\n"
        r = _sendmail(mxr_bin, d, ["-t", "-i"], text, user=user)
        assert r.returncode == 0, f"sendmail as {user}: {r.returncode}\n{r.stderr.decode()}"
        msgs = wait_for("delivery to elsewhere.test", lambda: _dumped(world), describe=d.describe)
        m = msgs[0]
        assert m.sender == f"{user}@{HOSTNAME}", m.mail
        assert m.recipients == ["friend@elsewhere.test"], m.rcpts
        # smtp-sink writes its own Received first; ours is the next one.
        ours = [l for l in m.message.split(b"\n") if l.startswith(b"Received: by ")]
        assert ours == [f"Received: by {HOSTNAME} (mxrelay, from userid {uid})".encode()], m.message
        head = m.message.split(b"\n\n", 1)[0]
        assert b"\nDate: " in head and b"\nMessage-ID: <" in head, head
        assert m.message.endswith(b"line one\n.\nlast\n"), m.message
        log = d.log()
        assert [l for l in log.splitlines() if "event=queued" in l and f"uid={uid} user={user}" in l], \
            log[-3000:]
    finally:
        d.check_clean_exit()
        d.cleanup()


@pytest.mark.parametrize("override, want_sender", [
    ("local_sender_override = root\nmasquerade_domain = users.example.test", f"{USER}@users.example.test"),
    (f"local_sender_override = {USER}", "boss@elsewhere.test"),
    ("", "boss@elsewhere.test"),     # the default, as Postfix: everyone may
])
def test_sender_is_rewritten_for_a_restricted_user(netns, mxr_bin, world, tmp_path, override,
                                                    want_sender):
    d = _start(netns, mxr_bin, tmp_path, extra=override)
    try:
        r = _sendmail(mxr_bin, d, ["-i", "-f", "boss@elsewhere.test", "friend@elsewhere.test"],
                      b"Subject: from a script\n\nhello\n")
        assert r.returncode == 0, r.stderr.decode()
        m = wait_for("delivery", lambda: _dumped(world), describe=d.describe)[0]
        assert m.sender == want_sender, f"got {m.sender}, want {want_sender} ({override!r})"
        if want_sender.startswith(USER):
            assert "event=sender-rewritten" in d.log()
    finally:
        d.check_clean_exit()
        d.cleanup()


def test_mailq_for_any_user_shows_envelopes_and_changes_stay_with_root(netns, mxr_bin, world,
                                                                       tmp_path):
    d = _start(netns, mxr_bin, tmp_path, extra="retry_intervals = 1h")
    try:
        c = Client()
        c.reply()
        c.expect("EHLO client.test", 250)
        c.expect("MAIL FROM:<alice@client.test>", 250)
        c.expect("RCPT TO:<x@slow.test>", 250)
        c.expect("DATA", 354)
        c.send("Subject: private\r\n\r\nTHE-SECRET-BODY\r\n.\r\n")
        qid = queued_id(c.reply())
        c.close()
        wait_for("a first try", lambda: "deferred" in subprocess.run(
            [mxr_bin.mxrelay, "queue", "-c", d.conf, "list"], capture_output=True,
            text=True).stdout, describe=d.describe)

        for user in ("nobody", USER):
            r = _as_user([mxr_bin.mxrelay, "sendmail", "-C", d.conf, "-bp"], user=user)
            out = r.stdout.decode()
            assert r.returncode == 0, f"mailq as {user}: {r.stderr.decode()}"
            assert qid in out and "<x@slow.test>" in out and "alice@client.test" in out, out
            assert "THE-SECRET-BODY" not in out and "private" not in out, out

        mailq = os.path.join(d.dir, "mailq")
        os.symlink(mxr_bin.mxrelay, mailq)
        r = _as_user([mailq, "-C", d.conf])
        assert r.returncode == 0 and qid in r.stdout.decode(), r.stderr.decode()

        # The listing socket takes nothing else, whoever asks.
        s = socket.socket(socket.AF_UNIX)
        s.connect(os.path.join(d.queue_dir + "-public", "mailq.sock"))
        s.sendall(f"delete {qid}\n".encode())
        assert s.recv(4096).startswith(b"error usage"), "delete on the listing socket"
        s.close()
        # nobody is the test daemon's own user, which may change the queue: www-data may not.
        r = _as_user([mxr_bin.mxrelay, "queue", "-c", d.conf, "delete", qid])
        assert r.returncode != 0, f"delete as {USER} must be refused:\n{r.stdout}{r.stderr}"
        assert qid in d.messages(), "the message must still be queued"
    finally:
        d.check_clean_exit()
        d.cleanup()


ALIASES = """# aliases for the tests
postmaster: root
root: admin@elsewhere.test,
    <ops@elsewhere.test>
"""


def test_mail_for_root_reaches_its_alias(netns, mxr_bin, world, tmp_path):
    d = _start(netns, mxr_bin, tmp_path, aliases=ALIASES)
    try:
        r = _sendmail(mxr_bin, d, ["-i", "root"], b"Subject: cron: bare root\n\nout\n")
        assert r.returncode == 0, r.stderr.decode()
        c = Client()
        c.reply()
        c.expect("EHLO client.test", 250)
        c.expect("MAIL FROM:<alice@client.test>", 250)
        c.expect(f"RCPT TO:<Root@{HOSTNAME}>", 250, "2.1.5")
        c.expect("DATA", 354)
        c.send("Subject: root at hostname\r\n\r\nx\r\n.\r\n")
        queued_id(c.reply())
        c.close()
        msgs = wait_for("both messages at the alias", lambda: _dumped(world, 2, 2),
                        describe=d.describe)
        for m in msgs:
            assert sorted(m.recipients) == ["admin@elsewhere.test", "ops@elsewhere.test"], m.rcpts
        # The queue got the expanded addresses, the original kept for DSNs (ORCPT).
        assert f"to=<ops@elsewhere.test> orig_to=<root@{HOSTNAME}> status=accepted via=alias" in d.log()
    finally:
        d.check_clean_exit()
        d.cleanup()


def test_sendmail_body_arrives_as_written(netns, mxr_bin, world, tmp_path):
    """Lines starting with dots (the lone "." too, with -i), a line of 2,500 octets and
    a header field starting with a dot reach the receiver as written: sendmail stuffs
    and breaks lines with the same DATA encoder as the daemon's delivery, so the long
    line is broken with CRLF SPACE and nothing else changes."""
    d = _start(netns, mxr_bin, tmp_path)
    try:
        long_line = b"a" * 2500
        body = b".\n..two\n.leading\n" + long_line + b"\nlast"
        text = b"Subject: dots\n.X-Dot: field\n\n" + body
        r = _sendmail(mxr_bin, d, ["-i", "dots@elsewhere.test"], text)
        assert r.returncode == 0, r.stderr.decode()
        msgs = wait_for("the message at the receiver", lambda: _dumped(world), describe=d.describe)
        got = msgs[0].message
        head, _, got_body = got.partition(b"\n\n")
        assert b"\n.X-Dot: field" in head
        lines = got_body.split(b"\n")
        assert lines[:3] == [b".", b"..two", b".leading"], lines[:3]
        # The long line comes broken into pieces of at most 998 octets, continued by a space.
        pieces = []
        for line in lines[3:]:
            if line == b"last":
                break
            assert len(line) <= 998
            pieces.append(line)
        assert pieces[0].startswith(b"a") and all(p.startswith(b" ") for p in pieces[1:])
        assert b"".join(p[1:] if i else p for i, p in enumerate(pieces)) == long_line
    finally:
        d.check_clean_exit()
        d.cleanup()


def test_local_name_without_alias_is_refused_at_once(netns, mxr_bin, world, tmp_path):
    d = _start(netns, mxr_bin, tmp_path, aliases=ALIASES)
    try:
        c = Client()
        c.reply()
        c.expect("EHLO client.test", 250)
        c.expect("MAIL FROM:<alice@client.test>", 250)
        r = c.expect("RCPT TO:<nosuch>", 550, "5.1.1")
        assert "no such local user" in r.text, r
        c.expect(f"RCPT TO:<nosuch@{HOSTNAME}>", 550, "5.1.1")
        c.expect("RCPT TO:<nosuch@localhost>", 550, "5.1.1")
        c.close()
        r = _sendmail(mxr_bin, d, ["-i", "nosuch"], b"Subject: x\n\ny\n")
        assert r.returncode == 67, f"sendmail to an unknown local name: {r.returncode}\n{r.stderr}"
        assert b"5.1.1" in r.stderr
        assert world.messages() == []
    finally:
        d.check_clean_exit()
        d.cleanup()


def test_local_name_without_alias_goes_to_admin_address(netns, mxr_bin, world, tmp_path):
    d = _start(netns, mxr_bin, tmp_path, extra="admin_address = admin@elsewhere.test")
    try:
        r = _sendmail(mxr_bin, d, ["-i", "cronuser"], b"Subject: to a local name\n\ny\n")
        assert r.returncode == 0, r.stderr.decode()
        m = wait_for("delivery to admin_address", lambda: _dumped(world), describe=d.describe)[0]
        assert m.recipients == ["admin@elsewhere.test"], m.rcpts
    finally:
        d.check_clean_exit()
        d.cleanup()


def test_bounce_of_null_sender_mail_goes_to_postmaster(netns, mxr_bin, world, fakesmtp, tmp_path):
    fakesmtp("127.0.0.13", replies={"rcpt": "550 5.1.1 no such mailbox"})
    d = _start(netns, mxr_bin, tmp_path, aliases="postmaster: pm@elsewhere.test\n")
    try:
        c = Client()
        c.reply()
        c.expect("EHLO client.test", 250)
        c.expect("MAIL FROM:<>", 250)
        c.expect("RCPT TO:<gone@dead.test>", 250)
        c.expect("DATA", 354)
        c.send("Subject: a bounce that bounces\r\n\r\nx\r\n.\r\n")
        queued_id(c.reply())
        c.close()
        m = wait_for("the notice at postmaster's alias", lambda: _dumped(world),
                     describe=d.describe)[0]
        assert m.recipients == ["pm@elsewhere.test"], m.rcpts
        assert m.sender == "", m.mail
        assert b"gone@dead.test" in m.message
        assert "event=bounce-to-postmaster" in d.log()
    finally:
        d.check_clean_exit()
        d.cleanup()


@pytest.mark.parametrize("aliases, want", [
    ("root: |/usr/bin/procmail\n", ":1: alias 'root': '|/usr/bin/procmail' is a program"),
    ("root: a@x.test\nlogs: /var/log/mail\n", ":2: alias 'logs': '/var/log/mail' is a file"),
    ("staff: a@x.test,\n  :include:/etc/staff\n", ":2: alias 'staff': ':include:' is not supported"),
])
def test_check_config_names_the_aliases_file_and_line(mxr_bin, tmp_path, aliases, want):
    path = tmp_path / "aliases"
    path.write_text(aliases)
    conf = tmp_path / "c.conf"
    conf.write_text(f"listen = 127.0.0.1:2525 relay\nqueue_dir = {tmp_path}/q\n"
                    f"aliases_file = {path}\n")
    r = subprocess.run([mxr_bin.mxrelay, "check-config", str(conf)], capture_output=True, text=True)
    assert r.returncode != 0
    assert f"{path}{want}" in r.stderr + r.stdout, r.stderr + r.stdout


class LocalClient(Client):
    """The raw SMTP client on the local socket, as the user running the test (root)."""

    def __init__(self, path, timeout=10.0):
        self.sock = socket.socket(socket.AF_UNIX)
        self.sock.settimeout(timeout)
        self.sock.connect(path)
        self.buf = b""


@pytest.mark.parametrize("pieces, added", [
    ([b"Subject: no date\r\n\r\nbody\r\n.\r\n"], {b"Date", b"Message-ID"}),
    ([b"Subject: split\r\n\r", b"\nbody\r\n.\r\n"], {b"Date", b"Message-ID"}),
    ([b"Date: Mon, 1 Jan 2024 00:00:00 +0000\r\nMessage-ID: <x@client.test>\r\n\r\nb\r\n.\r\n"],
     set()),
    ([b"message-id: <y@client.test>\r\nSubject: s\r\n\r\n\r\nafter an empty line\r\n.\r\n"],
     {b"Date"}),
])
def test_raw_smtp_on_the_local_socket_gets_date_and_message_id(netns, mxr_bin, world, tmp_path,
                                                               pieces, added):
    d = _start(netns, mxr_bin, tmp_path)
    try:
        c = LocalClient(_socket_of(d))
        c.reply()
        c.expect("EHLO local", 250)
        c.expect("MAIL FROM:<root@mx.relay.test>", 250)
        c.expect("RCPT TO:<waits@slow.test>", 250)      # stays queued to be read back
        c.expect("DATA", 354)
        for p in pieces:
            c.send(p)
            time.sleep(0.2)
        qid = queued_id(c.reply())
        c.close()
        received, rest = split_received(d.message(qid)[2])
        assert received.startswith(f"Received: by {HOSTNAME} (mxrelay, from userid 0)".encode())
        head, body = rest.split(b"\r\n\r\n", 1)
        names = [l.split(b":", 1)[0] for l in head.split(b"\r\n")]
        original = b"".join(pieces).split(b"\r\n\r\n", 1)
        got_added = {n for n in names if n + b":" not in original[0]}
        assert got_added == added, f"added {got_added}, want {added}:\n{rest!r}"
        assert names.count(b"Date") + names.count(b"date") == 1
        assert body + b".\r\n" == original[1], f"the body changed:\n{body!r}"
        if b"Message-ID" in added:
            assert f"Message-ID: <{qid}@{HOSTNAME}>".encode() in head
    finally:
        d.check_clean_exit()
        d.cleanup()
