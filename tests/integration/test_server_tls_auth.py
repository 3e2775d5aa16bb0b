"""mxrelayd's STARTTLS (RFC 3207) and AUTH (RFC 4954) with real clients:
Python's smtplib and ssl, swaks, and raw bytes for the injection test, an
overlong AUTH response and an AUTH that must not survive STARTTLS."""

import base64
import shutil
import smtplib
import ssl
import subprocess
import time

import pytest

from daemon import Client, HOSTNAME, mxrelayd, queued_id, split_received  # noqa: F401

pytestmark = pytest.mark.netns

USERS = {"alice": "correct horse"}
SUBMISSION = "127.0.0.1:587 submission auth-plaintext"


def tls_ctx(certs):
    ctx = ssl.create_default_context(cafile=certs.ca_file)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    return ctx


def plain(user, pw):
    return base64.b64encode(f"\0{user}\0{pw}".encode()).decode()


def test_starttls_then_auth_relays(mxrelayd, certs):
    """From an address outside relay_networks, AUTH over STARTTLS allows relaying."""
    d = mxrelayd(certs=certs, auth_users=USERS, relay_networks="192.0.2.0/24")
    c = Client()
    c.reply()
    r = c.expect("EHLO client.test", 250)
    assert "STARTTLS" in r.lines and not any(l.startswith("AUTH") for l in r.lines), r.lines
    c.expect("AUTH PLAIN " + plain("alice", "correct horse"), 538, "5.7.11")
    c.expect("MAIL FROM:<a@b.test>", 250)
    c.expect("RCPT TO:<x@elsewhere.test>", 550, "5.7.1")
    c.expect("RSET", 250)
    c.expect("STARTTLS", 220, "2.0.0")
    c.starttls(tls_ctx(certs))
    r = c.expect("EHLO client.test", 250)
    assert "STARTTLS" not in r.lines and "AUTH PLAIN LOGIN" in r.lines, r.lines
    c.expect("STARTTLS", 503, "5.5.1")
    c.expect("AUTH PLAIN " + plain("alice", "correct horse"), 235, "2.7.0")
    c.expect("AUTH PLAIN " + plain("alice", "correct horse"), 503, "5.5.1")
    c.expect("MAIL FROM:<a@b.test>", 250)
    c.expect("RCPT TO:<x@elsewhere.test>", 250, "2.1.5")
    c.expect("DATA", 354)
    c.send(b"Subject: tls\r\n\r\nhi\r\n.\r\n")
    qid = queued_id(c.reply())
    received, _ = split_received(d.message(qid)[2])
    assert b"with ESMTPSA" in received and b"TLSv1." in received, received
    assert "correct horse" not in d.log() and plain("alice", "correct horse") not in d.log()


def test_auth_login_and_failures(mxrelayd, certs):
    d = mxrelayd(certs=certs, auth_users=USERS)
    c = Client()
    c.reply()
    c.expect("EHLO client.test", 250)
    c.expect("STARTTLS", 220)
    c.starttls(tls_ctx(certs))
    c.expect("EHLO client.test", 250)
    c.expect("AUTH LOGIN", 334)
    c.expect(base64.b64encode(b"alice").decode(), 334)
    t0 = time.monotonic()
    c.expect(base64.b64encode(b"wrong").decode(), 535, "5.7.8")
    assert time.monotonic() - t0 >= 0.9, "a failure must be answered after a delay"
    c.expect("AUTH PLAIN", 334)
    c.expect("*", 501, "5.7.0")
    c.expect("AUTH CRAM-MD5", 504, "5.5.4")
    c.expect("AUTH PLAIN " + plain("bob", "nope"), 535, "5.7.8")
    t0 = time.monotonic()
    r = c.cmd("AUTH PLAIN " + plain("alice", "still wrong"))
    assert r.code == 421 and r.esc == "4.7.0", r
    assert time.monotonic() - t0 >= 3.5
    assert c.closed()
    assert "still wrong" not in d.log()


def test_smtplib_submission(mxrelayd, certs):
    d = mxrelayd(certs=certs, auth_users=USERS, relay_networks="192.0.2.0/24",
                 listen=["127.0.0.1:25 relay", "127.0.0.1:587 submission"])
    with smtplib.SMTP("127.0.0.1", 587, local_hostname="client.test", timeout=10) as s:
        code, _ = s.ehlo()
        assert code == 250
        code, _ = s.mail("a@b.test")
        assert code == 530, "submission wants STARTTLS first"
        s.starttls(context=tls_ctx(certs))
        s.ehlo()
        with pytest.raises(smtplib.SMTPSenderRefused) as e:
            s.sendmail("a@b.test", ["x@elsewhere.test"], b"Subject: x\r\n\r\nx\r\n")
        assert e.value.smtp_code == 530
        s.login("alice", "correct horse")
        text = (b"Date: Mon, 7 Dec 2026 08:00:00 +0000\r\nMessage-ID: <m1@b.test>\r\n"
                b"Subject: sub\r\n\r\nvia 587\r\n")
        refused = s.sendmail("a@b.test", ["x@elsewhere.test"], text)
        assert refused == {}
    msgs = d.messages()
    assert len(msgs) == 1
    (sender, rcpts, body), = msgs.values()
    # A submission with its Date and Message-ID is stored as it came (smtpd_submit).
    assert rcpts == ["x@elsewhere.test"] and split_received(body)[1] == text


def test_implicit_tls_465(mxrelayd, certs):
    d = mxrelayd(certs=certs, auth_users=USERS, relay_networks="192.0.2.0/24",
                 listen=["127.0.0.1:25 relay", "127.0.0.1:465 smtps"])
    with smtplib.SMTP_SSL("127.0.0.1", 465, local_hostname="client.test", timeout=10,
                          context=tls_ctx(certs)) as s:
        s.login("alice", "correct horse")
        assert s.sendmail("a@b.test", ["x@elsewhere.test"], b"Subject: 465\r\n\r\nx\r\n") == {}
    assert len(d.messages()) == 1


@pytest.mark.skipif(shutil.which("swaks") is None, reason="swaks not installed")
def test_swaks_auth_over_starttls(mxrelayd, certs):
    d = mxrelayd(certs=certs, auth_users=USERS, relay_networks="192.0.2.0/24")
    res = subprocess.run(["swaks", "--server", "127.0.0.1:25", "--tls", "--tls-ca-path", certs.ca_file,
                          "--auth", "LOGIN", "--auth-user", "alice", "--auth-password", "correct horse",
                          "--from", "a@b.test", "--to", "x@elsewhere.test", "--helo", "client.test",
                          "--body", "via swaks"], capture_output=True, text=True, timeout=30)
    assert res.returncode == 0, res.stdout + res.stderr
    assert "235 2.7.0" in res.stdout and "250 2.0.0 Ok: queued as" in res.stdout, res.stdout
    assert len(d.messages()) == 1


def test_starttls_injection_discarded(mxrelayd, certs):
    """Commands pipelined after STARTTLS must not be answered after the handshake."""
    d = mxrelayd(certs=certs)
    c = Client()
    c.reply()
    c.expect("EHLO client.test", 250)
    c.send(b"STARTTLS\r\nRSET\r\n")
    r = c.reply()
    assert r.code == 220, r
    assert c.buf == b"", f"reply to the injected command in clear: {c.buf!r}"
    c.starttls(tls_ctx(certs))
    c.sock.settimeout(1.0)
    with pytest.raises((TimeoutError, OSError)):
        extra = c.sock.recv(100)
        if extra:
            raise AssertionError(f"answer to an injected command after the handshake: {extra!r}")
        raise OSError("closed")
    c.sock.settimeout(10)
    c.expect("EHLO client.test", 250)
    c.expect("NOOP", 250)


def test_overlong_auth_response_ends_exchange(mxrelayd):
    """After "500 Line too long" for an AUTH response, the next line is a command again."""
    mxrelayd(auth_users=USERS, listen=["127.0.0.1:25 relay", SUBMISSION])
    c = Client(port=587)
    c.reply()
    c.expect("EHLO client.test", 250)
    c.expect("AUTH PLAIN", 334)
    c.send(b"A" * 5000 + b"\r\n")
    r = c.reply()
    assert r.code == 500, f"overlong response: got {r}, want 500"
    c.expect("NOOP", 250, "2.0.0")
    c.expect("AUTH PLAIN " + plain("alice", "correct horse"), 235, "2.7.0")
    c.expect("QUIT", 221)


def test_starttls_discards_auth(mxrelayd, certs):
    """RFC 3207 4.2: an AUTH done in clear does not survive STARTTLS."""
    d = mxrelayd(certs=certs, auth_users=USERS, relay_networks="192.0.2.0/24",
                 listen=["127.0.0.1:25 relay", SUBMISSION])
    c = Client(port=587)
    c.reply()
    c.expect("EHLO client.test", 250)
    c.expect("AUTH PLAIN " + plain("alice", "correct horse"), 235, "2.7.0")
    c.expect("STARTTLS", 220, "2.0.0")
    c.starttls(tls_ctx(certs))
    r = c.expect("EHLO client.test", 250)
    assert "AUTH PLAIN LOGIN" in r.lines, f"EHLO after STARTTLS: got {r.lines}, want AUTH offered again"
    c.expect("MAIL FROM:<a@b.test>", 530, "5.7.0")
    c.expect("AUTH PLAIN " + plain("alice", "correct horse"), 235, "2.7.0")
    c.expect("MAIL FROM:<a@b.test>", 250)
    c.expect("RCPT TO:<x@elsewhere.test>", 250, "2.1.5")
    c.expect("QUIT", 221)
    assert "correct horse" not in d.log()
