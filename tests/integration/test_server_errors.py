"""mxrelayd counts client errors as Postfix does, and keeps RFC 3030 order.

max_errors counts the mistakes a client makes without delivering mail:
the count starts again at each accepted message, and the relay's own
refusals (the recipient limit, relaying denied) are not the client's
mistakes. A pipelining client over max_recipients keeps the recipients it
got. Once BDAT octets flow, the envelope is closed.

The daemon relays for 127.0.0.1 to a.test, whose MX is Postfix's
smtp-sink on 127.0.0.11, so what was accepted is also seen delivered.
"""


import pytest

from daemon import wait_for, Client, mxrelayd, queued_id, split_received  # noqa: F401

pytestmark = pytest.mark.netns

CONF = "dns_server = 127.0.0.53\nretry_intervals = 1s\ndelay_warning = 0\n"


def sink_for_a_test(dns, smtp_sink):
    dns.mx("a.test", [(10, "mx.a.test")]).a("mx.a.test", "127.0.0.11").start()
    return smtp_sink("127.0.0.11")


def delivered_rcpts(sink):
    return [r for m in sink.messages() for r in m.recipients]


def test_pipelined_burst_over_max_recipients_keeps_the_accepted(mxrelayd, dns, smtp_sink):
    """1,025 recipients in one pipelined burst with max_recipients 1000: 1000 get
    250, 25 get 452 4.5.3, the session is not closed for "too many errors", and
    the message is accepted and delivered to the 1000."""
    sink = sink_for_a_test(dns, smtp_sink)
    d = mxrelayd(conf_extra=CONF + "max_recipients = 1000\n")
    rcpts = [f"r{i}@a.test" for i in range(1025)]
    c = Client(timeout=30)
    c.reply()
    c.expect("EHLO client.test", 250)
    burst = "MAIL FROM:<s@client.test>\r\n" + "".join(f"RCPT TO:<{r}>\r\n" for r in rcpts) + "DATA\r\n"
    c.send(burst)
    r = c.reply()
    assert r.code == 250, f"MAIL: got {r}"
    codes = [c.reply() for _ in rcpts]
    got = [(x.code, x.esc) for x in codes]
    assert got[:1000] == [(250, "2.1.5")] * 1000, f"first 1000 RCPT: got {sorted(set(got[:1000]))}"
    assert got[1000:] == [(452, "4.5.3")] * 25, f"last 25 RCPT: got {got[1000:]}"
    r = c.reply()
    assert r.code == 354, f"DATA after the burst: got {r}, want 354"
    c.send("Subject: burst\r\n\r\nHello.\r\n.\r\n")
    qid = queued_id(c.reply())
    c.expect("QUIT", 221)
    wait_for("1000 recipients delivered", lambda: len(delivered_rcpts(sink)) >= 1000,
             describe=lambda: d.describe() + sink.describe())
    assert sorted(delivered_rcpts(sink)) == sorted(rcpts[:1000]), \
        f"delivered: {len(delivered_rcpts(sink))} recipients, want the first 1000 of {qid}"


def test_error_count_resets_at_each_accepted_message(mxrelayd, dns, smtp_sink):
    """25 messages on one session, each with one malformed RCPT: all 25 accepted
    (the count of 20 errors is per message delivered, not per session)."""
    sink = sink_for_a_test(dns, smtp_sink)
    d = mxrelayd(conf_extra=CONF)
    c = Client(timeout=30)
    c.reply()
    c.expect("EHLO client.test", 250)
    for i in range(25):
        c.expect("MAIL FROM:<s@client.test>", 250)
        r = c.cmd("RCPT TO:<bad address@")
        assert r.code in (501, 553), f"malformed RCPT: got {r}"
        c.expect(f"RCPT TO:<m{i}@a.test>", 250, "2.1.5")
        c.expect("DATA", 354)
        c.send(f"Subject: message {i}\r\n\r\nHello.\r\n.\r\n")
        r = c.reply()
        assert r.code == 250, f"message {i}: got {r}, want 250 queued"
    c.expect("QUIT", 221)
    wait_for("25 messages delivered", lambda: len(delivered_rcpts(sink)) >= 25,
             describe=lambda: d.describe() + sink.describe())
    assert sorted(delivered_rcpts(sink)) == sorted(f"m{i}@a.test" for i in range(25))


def test_errors_without_mail_still_close_the_session(mxrelayd):
    """max_errors still ends a session that only makes mistakes."""
    mxrelayd(conf_extra="max_errors = 5\n")
    c = Client()
    c.reply()
    c.expect("EHLO client.test", 250)
    for _ in range(4):
        c.expect("BOGUS", 500)
    r = c.cmd("BOGUS")
    assert r.code == 500, r
    r = c.reply()
    assert r.code == 421 and r.esc == "4.7.0", f"after 5 errors: got {r}, want 421 4.7.0"


def test_relay_refusals_are_not_client_errors(mxrelayd):
    """550 5.7.1 Relaying denied is the relay's decision: 30 of them in a
    transaction with max_errors 20 do not close the session."""
    d = mxrelayd(conf_extra="max_errors = 20\n", relay_networks="192.0.2.0/24")
    c = Client()
    c.reply()
    c.expect("EHLO client.test", 250)
    c.expect("MAIL FROM:<s@client.test>", 250)
    for i in range(30):
        c.expect(f"RCPT TO:<x{i}@elsewhere.test>", 550, "5.7.1")
    r = c.expect("RCPT TO:<ok@example.test>", 250, "2.1.5")
    c.expect("DATA", 354)
    c.send("Subject: x\r\n\r\nHello.\r\n.\r\n")
    qid = queued_id(c.reply())
    c.expect("QUIT", 221)
    assert d.message(qid)[1] == ["ok@example.test"]


def bdat(c, data, last=False):
    """Send one BDAT chunk of data; returns the reply."""
    c.send(f"BDAT {len(data)}{' LAST' if last else ''}\r\n".encode() + data)
    return c.reply()


def bdat_session(c):
    c.reply()
    c.expect("EHLO client.test", 250)


def test_rcpt_after_bdat_chunk_is_refused(mxrelayd):
    """RFC 3030: RCPT after the first BDAT chunk is 503 5.5.1; the message goes
    to the recipients given before, and its Received names the only one."""
    d = mxrelayd()
    c = Client()
    bdat_session(c)
    c.expect("MAIL FROM:<s@client.test>", 250)
    c.expect("RCPT TO:<first@example.test>", 250)
    r = bdat(c, b"Subject: chunks\r\n")
    assert r.code == 250, f"first chunk: got {r}"
    c.expect("RCPT TO:<second@example.test>", 503, "5.5.1")
    c.expect("MAIL FROM:<other@client.test>", 503, "5.5.1")
    c.expect("DATA", 503, "5.5.1")
    qid = queued_id(bdat(c, b"\r\nHello\r\n", last=True))
    c.expect("QUIT", 221)
    _sender, rcpts, body = d.message(qid)
    assert rcpts == ["first@example.test"], f"recipients: got {rcpts}"
    received, rest = split_received(body)
    assert b"for <first@example.test>" in received, received
    assert b"second" not in received, received
    assert rest == b"Subject: chunks\r\n\r\nHello\r\n", rest


def test_bdat_order(mxrelayd):
    """BDAT before MAIL or before RCPT, and after BDAT LAST, is read and refused
    with 503 5.5.1; the session stays in step and takes the next message."""
    d = mxrelayd()
    c = Client()
    bdat_session(c)
    r = bdat(c, b"hello")
    assert (r.code, r.esc) == (503, "5.5.1"), f"BDAT before MAIL: got {r}"
    c.expect("MAIL FROM:<s@client.test>", 250)
    r = bdat(c, b"hello", last=True)
    assert (r.code, r.esc) == (503, "5.5.1"), f"BDAT before RCPT: got {r}"
    c.expect("RCPT TO:<a@example.test>", 250)
    qid = queued_id(bdat(c, b"Subject: 1\r\n", last=True))
    r = bdat(c, b"x\r\n", last=True)
    assert (r.code, r.esc) == (503, "5.5.1"), f"BDAT after BDAT LAST: got {r}"
    c.expect("RCPT TO:<b@example.test>", 503, "5.5.1")
    c.expect("MAIL FROM:<s@client.test>", 250)
    c.expect("RCPT TO:<b@example.test>", 250)
    c.expect("DATA", 354)
    c.send("Subject: 2\r\n\r\n.\r\n")
    qid2 = queued_id(c.reply())
    c.expect("QUIT", 221)
    assert d.message(qid)[1] == ["a@example.test"]
    assert d.message(qid2)[1] == ["b@example.test"]
