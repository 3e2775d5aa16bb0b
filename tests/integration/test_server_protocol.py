"""mxrelayd's SMTP server, spoken to in raw bytes (RFC 5321 and extensions).

Each test writes exact octets to a real daemon in the test's namespace and
checks the exact reply code (and enhanced status code), then that the
daemon still serves.
"""

import socket
import time

import pytest

from daemon import Client, HOSTNAME, mxrelayd, queued_id, split_received  # noqa: F401

pytestmark = pytest.mark.netns


def hello(c):
    r = c.reply()
    assert r.code == 220 and r.text == f"{HOSTNAME} ESMTP mxrelay", r
    return c.expect("EHLO client.test", 250)


def still_serving(d):
    c = Client()
    hello(c)
    c.expect("NOOP", 250, "2.0.0")
    c.expect("QUIT", 221, "2.0.0")
    c.close()


def test_ehlo_advertises_extensions(mxrelayd):
    d = mxrelayd()
    c = Client()
    r = hello(c)
    kw = [l.split(" ")[0] for l in r.lines[1:]]
    for want in ("PIPELINING", "SIZE", "8BITMIME", "DSN", "ENHANCEDSTATUSCODES", "SMTPUTF8",
                 "CHUNKING", "HELP"):
        assert want in kw, f"EHLO lacks {want}: {r.lines}"
    assert "STARTTLS" not in kw and "AUTH" not in kw, r.lines
    c.expect("HELP", 214, "2.0.0")
    c.expect("QUIT", 221, "2.0.0")


def test_rfc5321_d3_relayed_mail(mxrelayd):
    """RFC 5321 D.3, step 1, replayed line by line."""
    d = mxrelayd()
    c = Client()
    hello(c)
    c.expect("MAIL FROM:<JQP@bar.com>", 250, "2.1.0")
    c.expect("RCPT TO:<@foo.com:Jones@XYZ.COM>", 250, "2.1.5")
    c.expect("DATA", 354)
    text = (b"Date: Thu, 21 May 1998 05:33:29 -0700\r\n"
            b"From: John Q. Public <JQP@bar.com>\r\n"
            b"Subject: The Next Meeting of the Board\r\n"
            b"To: Jones@xyz.com\r\n"
            b"\r\n"
            b"Bill:\r\n"
            b"The next meeting of the board of directors will be\r\n"
            b"on Tuesday.\r\n"
            b"John.\r\n")
    c.send(text + b".\r\n")
    qid = queued_id(c.reply())
    c.expect("QUIT", 221, "2.0.0")
    sender, rcpts, body = d.message(qid)
    assert sender == "JQP@bar.com"
    assert rcpts == ["Jones@XYZ.COM"], "the source route must be stripped"
    received, rest = split_received(body)
    assert rest == text
    assert b"from client.test" in received and b"for <Jones@XYZ.COM>" in received, received


def test_rfc5321_d4_verify_and_send(mxrelayd):
    """RFC 5321 D.4: VRFY gets 252 (no mailboxes here), SEND is taken as MAIL."""
    d = mxrelayd()
    c = Client()
    hello(c)
    c.expect("VRFY Crispin", 252, "2.5.0")
    c.expect("SEND FROM:<EAK@bar.com>", 250, "2.1.0")
    c.expect("RCPT TO:<Admin.MRC@foo.com>", 250, "2.1.5")
    c.expect("DATA", 354)
    c.send(b"Blah blah blah...\r\n...etc. etc. etc.\r\n.\r\n")
    qid = queued_id(c.reply())
    c.expect("QUIT", 221, "2.0.0")
    _, rcpts, body = d.message(qid)
    assert rcpts == ["Admin.MRC@foo.com"]
    assert split_received(body)[1] == b"Blah blah blah...\r\n..etc. etc. etc.\r\n"


@pytest.mark.parametrize("line,code,esc", [
    ("FOO bar", 500, "5.5.2"),
    ("MAIL FROM:<a@b.test>", 503, "5.5.1"),          # nested MAIL
    ("RCPT TO:<a@example.test>", 503, "5.5.1"),
    ("DATA", 503, "5.5.1"),
    ("TURN", 502, "5.5.1"),
    ("ETRN example.test", 502, "5.5.1"),
    ("EXPN list", 252, "2.5.0"),
    ("RSET extra", 501, "5.5.4"),
    ("MAIL FROM:<a@b.test> FOO=BAR", 555, "5.5.4"),
    ("MAIL FROM:<a@b.test> BODY=BINARYMIME", 555, "5.5.4"),
    ("MAIL FROM:<a@b.test> SIZE=999999999999", 552, "5.3.4"),
    ("MAIL FROM:<a@b.test> RET=SOME", 501, "5.5.4"),
    ("MAIL FROM:", 501, "5.5.4"),
    ("STARTTLS", 502, "5.5.1"),
    ("AUTH PLAIN", 502, "5.5.1"),
])
def test_command_replies(mxrelayd, line, code, esc):
    d = mxrelayd()
    c = Client()
    hello(c)
    if line.startswith("MAIL") and code == 503:
        c.expect("MAIL FROM:<x@y.test>", 250)
    c.expect(line, code, esc)
    c.expect("NOOP", 250, "2.0.0")


def test_mail_before_helo(mxrelayd):
    d = mxrelayd()
    c = Client()
    c.reply()
    c.expect("MAIL FROM:<a@b.test>", 503, "5.5.1")
    c.expect("HELO client.test", 250)
    c.expect("MAIL FROM:<a@b.test> BODY=8BITMIME SMTPUTF8 RET=HDRS ENVID=x+2By SIZE=10", 250, "2.1.0")
    c.expect("RCPT TO:<a@example.test> NOTIFY=SUCCESS,FAILURE ORCPT=rfc822;a+40example.test", 250, "2.1.5")
    c.expect("RCPT TO:<b@example.test> NOTIFY=NEVER,SUCCESS", 501, "5.5.4")
    c.expect("RCPT TO:<Postmaster>", 250, "2.1.5")
    c.expect("RCPT TO:<POSTMASTER@Example.Test>", 250, "2.1.5")


@pytest.mark.parametrize("raw,code", [
    (b"NOOP\x00x\r\n", 500),
    (b"\x00\x01\x02\xff\xfe\r\n", 500),
    (b"\xc3\xa9HLO x\r\n", 500),
    (b"N" * 600 + b"\r\n", 500),
    (b"X" * 20000 + b"\r\n", 500),
    (b"\r\n", 500),
    (b"HELO\r\n", 501),
    (b"MAIL FROM:<" + b"a" * 300 + b"@b.test>\r\n", 553),
])
def test_raw_garbage_then_still_serving(mxrelayd, raw, code):
    d = mxrelayd()
    c = Client()
    hello(c)
    c.send(raw)
    r = c.reply()
    assert r.code == code, f"{raw[:40]!r}: got {r}, want {code}"
    c.expect("NOOP", 250, "2.0.0")
    c.close()
    still_serving(d)


def test_too_many_errors_disconnects(mxrelayd):
    d = mxrelayd(conf_extra="max_errors = 3")
    c = Client()
    hello(c)
    c.send(b"BAD1\r\nBAD2\r\nBAD3\r\nNOOP\r\n")
    for _ in range(3):
        assert c.reply().code == 500
    r = c.reply()
    assert r.code == 421 and r.esc == "4.7.0" and "Too many errors" in r.text, r
    assert c.closed()
    still_serving(d)


def test_pipelining_burst_keeps_order(mxrelayd):
    d = mxrelayd()
    c = Client()
    c.reply()
    burst = b"EHLO client.test\r\n"
    n = 20
    for i in range(n):
        burst += (b"MAIL FROM:<s%d@b.test>\r\nRCPT TO:<r%d@example.test>\r\nDATA\r\n"
                  b"Subject: %d\r\n\r\nbody %d\r\n.\r\n" % (i, i, i, i))
    burst += b"QUIT\r\n"
    c.send(burst)
    assert c.reply().code == 250
    ids = []
    for i in range(n):
        assert c.reply().code == 250
        assert c.reply().code == 250
        assert c.reply().code == 354
        ids.append(queued_id(c.reply()))
    assert c.reply().code == 221
    msgs = d.messages()
    for i, qid in enumerate(ids):
        assert split_received(msgs[qid][2])[1] == b"Subject: %d\r\n\r\nbody %d\r\n" % (i, i)


@pytest.mark.parametrize("payload", [
    b"Subject: x\r\n\r\nhello\n.\nMAIL FROM:<evil@b.test>\r\n.\r\n",
    b"Subject: x\r\n\r\nhello\r\n.\nMAIL FROM:<evil@b.test>\r\n.\r\n",
    b"Subject: x\r\n\r\nhello\n.\r\nRCPT TO:<evil@b.test>\r\n.\r\n",
    b"Subject: x\r\n\r\nbare\rcr\r\n.\r\n",
])
def test_bare_newline_smuggling_refused(mxrelayd, payload):
    d = mxrelayd(conf_extra="bare_newline = reject")
    c = Client()
    hello(c)
    c.expect("MAIL FROM:<a@b.test>", 250)
    c.expect("RCPT TO:<r@example.test>", 250)
    c.expect("DATA", 354)
    c.send(payload)
    r = c.reply()
    assert r.code == 521 and r.esc == "5.5.2", r
    assert c.closed()
    assert d.messages() == {}
    still_serving(d)


def test_size_limit(mxrelayd):
    d = mxrelayd(conf_extra="max_message_size = 2048")
    c = Client()
    r = hello(c)
    assert "SIZE 2048" in r.lines
    c.expect("MAIL FROM:<a@b.test> SIZE=4096", 552, "5.3.4")
    c.expect("MAIL FROM:<a@b.test>", 250)
    c.expect("RCPT TO:<r@example.test>", 250)
    c.expect("DATA", 354)
    c.send(b"Subject: big\r\n\r\n" + (b"x" * 70 + b"\r\n") * 100 + b".\r\n")
    r = c.reply()
    assert r.code == 552 and r.esc == "5.3.4", r
    c.expect("NOOP", 250)
    assert d.messages() == {}


def test_recipient_limit(mxrelayd):
    d = mxrelayd(conf_extra="max_recipients = 100")
    c = Client()
    hello(c)
    c.expect("MAIL FROM:<a@b.test>", 250)
    c.send("".join(f"RCPT TO:<r{i}@example.test>\r\n" for i in range(101)))
    for i in range(100):
        assert c.reply().code == 250
    r = c.reply()
    assert r.code == 452 and r.esc == "4.5.3", r


def test_hop_limit(mxrelayd):
    d = mxrelayd(conf_extra="hop_limit = 10")
    c = Client()
    hello(c)
    for hops, code in ((10, 250), (11, 554)):
        c.expect("MAIL FROM:<a@b.test>", 250)
        c.expect("RCPT TO:<r@example.test>", 250)
        c.expect("DATA", 354)
        c.send(b"".join(b"Received: from h%d by h%d; Thu, 1 Jan 2026 00:00:00 +0000\r\n" % (i, i)
                        for i in range(hops)) + b"Subject: loop\r\n\r\nx\r\n.\r\n")
        r = c.reply()
        assert r.code == code, f"{hops} hops: got {r}, want {code}"
        if code == 554:
            assert r.esc == "5.4.6", r


def test_bdat_chunks(mxrelayd):
    d = mxrelayd()
    c = Client()
    hello(c)
    c.expect("MAIL FROM:<a@b.test>", 250)
    c.expect("RCPT TO:<r@example.test>", 250)
    part1 = b"Subject: chunked\r\n\r\n.leading dot stays\r\n"
    part2 = b"no stuffing in BDAT\r\n"
    c.send(b"BDAT %d\r\n" % len(part1) + part1)
    assert c.reply().code == 250
    c.send(b"BDAT %d LAST\r\n" % len(part2) + part2)
    qid = queued_id(c.reply())
    c.expect("DATA", 503, "5.5.1")
    assert split_received(d.message(qid)[2])[1] == part1 + part2
    # A chunk out of sequence is read and refused; the session stays in step.
    c.send(b"BDAT 5\r\nNOOP\r")
    assert c.reply().code == 503
    c.expect("NOOP", 250)
    # A bare LF in BDAT is a line end, as in DATA (bare_newline = normalize).
    c.expect("MAIL FROM:<a@b.test>", 250)
    c.expect("RCPT TO:<r@example.test>", 250)
    c.send(b"BDAT 5 LAST\r\na\nb\r\n")
    qid = queued_id(c.reply())
    assert split_received(d.message(qid)[2])[1] == b"a\r\nb\r\n"
    c.expect("QUIT", 221)


def test_stop_lets_data_finish(mxrelayd):
    d = mxrelayd()
    idle = Client()
    hello(idle)
    c = Client()
    hello(c)
    c.expect("MAIL FROM:<a@b.test>", 250)
    c.expect("RCPT TO:<r@example.test>", 250)
    c.expect("DATA", 354)
    c.send(b"Subject: during stop\r\n\r\npart one\r\n")
    time.sleep(0.2)
    d.proc.popen.send_signal(15)
    r = idle.reply()
    assert r.code == 421, r
    time.sleep(0.2)
    c.send(b"part two\r\n.\r\n")
    qid = queued_id(c.reply())
    r = c.reply()
    assert r.code == 421, r
    rc = d.proc.popen.wait(10)
    assert rc == 0, d.log()[-3000:]
    d.proc = None
    assert split_received(d.message(qid)[2])[1] == b"Subject: during stop\r\n\r\npart one\r\npart two\r\n"
