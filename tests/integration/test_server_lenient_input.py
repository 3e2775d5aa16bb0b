"""Inbound leniency that stays safe: bare line ends (bare_newline) and
addresses without angle brackets (strict_envelopes), in raw bytes.

With bare_newline = normalize (the default) a bare LF or CR is a line end
stored as CRLF and only CRLF.CRLF ends DATA: every SMTP smuggling form
gives one stored message with the smuggled lines as text, and the next
hop gets exactly one transaction with those lines dot-stuffed. With
strict_envelopes = no (the default) MAIL FROM:a@b and RCPT TO:a@b are
taken, and the relay policy judges the same mailbox as in <> (its tests
are in test_policy_relay_tricks.py).
"""

import re

import pytest

from daemon import wait_for, Client, mxrelayd, queued_id, split_received  # noqa: F401

pytestmark = pytest.mark.netns

SMUGGLING = [
    b"Subject: x\r\n\r\nhello\n.\nMAIL FROM:<evil@b.test>\r\nRCPT TO:<v@example.test>\r\n"
    b"DATA\r\n\r\nsmuggled\r\n.\r\n",
    b"Subject: x\r\n\r\nhello\r\n.\nMAIL FROM:<evil@b.test>\r\n.\r\n",
    b"Subject: x\r\n\r\nhello\n.\r\nRCPT TO:<evil@b.test>\r\n.\r\n",
    b"Subject: x\r\n\r\nbare\rcr\r\n.\r\n",
    b"Subject: x\r\n\r\nhello\r\n.\r.\r\nMAIL FROM:<evil@b.test>\r\n.\r\n",
]


def normalized(text):
    """text with every bare CR and bare LF made CRLF."""
    return re.sub(rb"\r(?!\n)|(?<!\r)\n", b"\r\n", text)


def hello(c):
    assert c.reply().code == 220
    return c.expect("EHLO client.test", 250)


def open_data(c, rcpt="r@example.test"):
    hello(c)
    c.expect("MAIL FROM:<a@b.test>", 250)
    c.expect(f"RCPT TO:<{rcpt}>", 250)
    c.expect("DATA", 354)


def delivering_relay(mxrelayd, dns, extra=""):
    dns.mx("example.test", [(10, "mx.example.test")]).a("mx.example.test", "127.0.0.11").start()
    return mxrelayd(conf_extra="dns_server = 127.0.0.53\nretry_intervals = 1s\n" + extra)


@pytest.mark.parametrize("payload", SMUGGLING)
def test_bare_newline_reject_refuses_smuggling(mxrelayd, payload):
    d = mxrelayd(conf_extra="bare_newline = reject")
    c = Client()
    open_data(c)
    c.send(payload)
    r = c.reply()
    assert r.code == 521 and r.esc == "5.5.2", r
    assert c.closed()
    assert d.messages() == {}


@pytest.mark.parametrize("payload", SMUGGLING)
def test_bare_newline_normalize_stores_one_message_and_sends_one(mxrelayd, dns, fakesmtp, payload):
    mx = fakesmtp("127.0.0.11")
    d = delivering_relay(mxrelayd, dns)
    c = Client()
    open_data(c)
    c.send(payload)
    qid = queued_id(c.reply())
    # The smuggled commands were text: the session is where it was.
    c.expect("NOOP", 250, "2.0.0")
    c.expect("QUIT", 221, "2.0.0")
    want = normalized(payload[:-len(b".\r\n")])
    _, rcpts, body = d.message(qid)
    assert rcpts == ["r@example.test"]
    assert split_received(body)[1] == want
    wait_for("delivery", lambda: len(mx.messages) == 1, describe=d.describe)
    wait_for("the queue to empty", lambda: d.messages() == {}, describe=d.describe)
    assert len(mx.transactions) == 1, [t.mail for t in mx.transactions]
    assert len(mx.commands("MAIL")) == 1 and len(mx.commands("DATA") + mx.commands("BDAT")) == 1, \
        mx.commands()
    got = mx.messages[0]
    assert split_received(got.message)[1] == want
    raw = got.data_raw
    assert re.search(rb"(?<!\r)\n|\r(?!\n)", raw) is None, raw
    # Every "." line of the text went out stuffed.
    assert b"\r\n.\r\n" not in raw, raw
    if b"\r\n.\r\n" in want:
        assert b"\r\n..\r\n" in raw, raw


def test_bare_newline_normalize_takes_lf_only_text(mxrelayd):
    d = mxrelayd()
    c = Client()
    open_data(c)
    # Only CRLF "." CRLF ends: the "." after a bare LF is text.
    c.send(b"Subject: lf\n\nline one\n..stuffed\n\nlast\n.\r\n")
    assert not c.closed(timeout=0.5) and c.buf == b"", c.buf
    c.send(b"end\r\n.\r\n")
    qid = queued_id(c.reply())
    assert split_received(d.message(qid)[2])[1] == \
        b"Subject: lf\r\n\r\nline one\r\n.stuffed\r\n\r\nlast\r\n.\r\nend\r\n"


def test_bare_newline_default_is_normalize_in_check_config(mxr_bin, tmp_path):
    import subprocess
    conf = tmp_path / "c.conf"
    conf.write_text("queue_dir = /tmp\nlisten = 127.0.0.1:2525 relay\n")
    out = subprocess.run([mxr_bin.mxrelay, "check-config", str(conf)], capture_output=True, text=True)
    assert out.returncode == 0, out
    assert "bare_newline: normalize" in out.stdout and "strict_envelopes: no" in out.stdout, out.stdout
    conf.write_text("queue_dir = /tmp\nlisten = 127.0.0.1:2525 relay\nbare_newline = reject\nstrict_envelopes = yes\n")
    out = subprocess.run([mxr_bin.mxrelay, "check-config", str(conf)], capture_output=True, text=True)
    assert "bare_newline: reject" in out.stdout and "strict_envelopes: yes" in out.stdout, out.stdout
    conf.write_text("queue_dir = /tmp\nlisten = 127.0.0.1:2525 relay\nbare_newline = fix\n")
    out = subprocess.run([mxr_bin.mxrelay, "check-config", str(conf)], capture_output=True, text=True)
    assert out.returncode != 0 and "bare_newline" in out.stderr, out


def bdat(c, chunk, last=False):
    c.send(b"BDAT %d%s\r\n" % (len(chunk), b" LAST" if last else b"") + chunk)
    return c.reply()


@pytest.mark.parametrize("chunks,want", [
    ([b"Subject: b\n\nline\n.\nMAIL FROM:<e@b.test>\n"],
     b"Subject: b\r\n\r\nline\r\n.\r\nMAIL FROM:<e@b.test>\r\n"),
    ([b"Subject: b\r\n\r\nsplit\r", b"\nbare\r", b"x\r"],     # CR then LF across chunks is one CRLF
     b"Subject: b\r\n\r\nsplit\r\nbare\r\nx\r\n"),
])
def test_bdat_bare_newline_normalize(mxrelayd, chunks, want):
    d = mxrelayd()
    c = Client()
    hello(c)
    c.expect("MAIL FROM:<a@b.test>", 250)
    c.expect("RCPT TO:<r@example.test>", 250)
    for i, ch in enumerate(chunks):
        r = bdat(c, ch, last=i == len(chunks) - 1)
        if i < len(chunks) - 1:
            assert r.code == 250, r
    qid = queued_id(r)
    assert split_received(d.message(qid)[2])[1] == want


def test_bdat_large_chunk_of_lf_lines(mxrelayd):
    # Bigger than one decoding step: the reply counts the chunk as announced.
    d = mxrelayd()
    c = Client()
    hello(c)
    c.expect("MAIL FROM:<a@b.test>", 250)
    c.expect("RCPT TO:<r@example.test>", 250)
    chunk = b"Subject: big\n\n" + b"".join(b"line %05d\n" % i for i in range(4000))
    r = bdat(c, chunk)
    assert r.code == 250 and r.text == f"2.0.0 {len(chunk)} octets received", r
    qid = queued_id(bdat(c, b"", last=True))
    assert split_received(d.message(qid)[2])[1] == chunk.replace(b"\n", b"\r\n")


def test_bdat_bare_newline_reject(mxrelayd):
    d = mxrelayd(conf_extra="bare_newline = reject")
    c = Client()
    hello(c)
    c.expect("MAIL FROM:<a@b.test>", 250)
    c.expect("RCPT TO:<r@example.test>", 250)
    r = bdat(c, b"Subject: b\n\nx\n", last=True)
    assert r.code == 521 and r.esc == "5.5.2", r
    assert d.messages() == {}


# --- addresses without <> ------------------------------------------------

@pytest.mark.parametrize("line,code,esc", [
    ("MAIL FROM:a@b.test", 250, "2.1.0"),
    ("MAIL FROM: a@b.test", 250, "2.1.0"),
    ("MAIL FROM:a@b.test SIZE=100 BODY=8BITMIME", 250, "2.1.0"),
    ("MAIL FROM:<>", 250, "2.1.0"),
    ("MAIL FROM:", 501, "5.5.4"),
    ("MAIL FROM:a@b.test>", 553, "5.1.7"),
    ("MAIL FROM:a@b.test FOO=BAR", 555, "5.5.4"),
])
def test_mail_from_without_brackets(mxrelayd, line, code, esc):
    d = mxrelayd()
    c = Client()
    hello(c)
    c.expect(line, code, esc)
    c.expect("NOOP", 250)


def test_bare_envelope_queues_the_parsed_addresses(mxrelayd):
    d = mxrelayd()
    c = Client()
    hello(c)
    c.expect("MAIL FROM:Sender@b.test SIZE=20", 250, "2.1.0")
    c.expect("RCPT TO:r@example.test NOTIFY=NEVER", 250, "2.1.5")
    c.expect("RCPT TO:@relay.test:s@example.test", 250, "2.1.5")
    c.expect("DATA", 354)
    c.send(b"Subject: bare\r\n\r\nx\r\n.\r\n")
    sender, rcpts, _ = d.message(queued_id(c.reply()))
    assert sender == "Sender@b.test"
    assert rcpts == ["r@example.test", "s@example.test"]


@pytest.mark.parametrize("line", ["MAIL FROM:a@b.test", "MAIL FROM: a@b.test SIZE=10"])
def test_strict_envelopes_refuses_bare_mail(mxrelayd, line):
    d = mxrelayd(conf_extra="strict_envelopes = yes")
    c = Client()
    hello(c)
    c.expect(line, 501, "5.5.4")
    c.expect("MAIL FROM:<a@b.test>", 250, "2.1.0")
    c.expect("RCPT TO:r@example.test", 501, "5.5.4")
    c.expect("RCPT TO:<r@example.test>", 250, "2.1.5")
