"""The message on the wire: dot-stuffing, 8-bit text, line ends, size. The
Python receiver keeps the raw DATA bytes, so these compare octets."""

import os
import re

import pytest

from mxtest import expect
from mxtest.expect import EX_OK, EX_UNAVAILABLE, NO_CODE
from mxtest.fakesmtp import DEFAULT_EXTENSIONS

pytestmark = pytest.mark.netns

SENDER = ["-f", "alice@sender.test"]


@pytest.fixture
def one_mx(dns):
    dns.mx("a.test", [(10, "mx1.a.test")]).a("mx1.a.test", "127.0.0.11").start()
    return dns


HEADER_LINE = re.compile(rb"^(?:[!-9;-~]+:[^\r\n]*|[ \t][^\r\n]*)\r\n")


def assert_intact(srv, sent):
    """The receiver got exactly sent, after at most trace header fields the relay added in front."""
    (txn,) = srv.messages
    got = txn.message
    assert got.endswith(sent), f"message altered:\n got  {got[-400:]!r}\n want {sent[-400:]!r}\n{srv.describe()}"
    prefix = got[:len(got) - len(sent)]
    while prefix:
        m = HEADER_LINE.match(prefix)
        assert m, f"before the message came {prefix!r}, which is no header field"
        prefix = prefix[m.end():]
    return txn


def assert_clean_crlf(raw):
    assert re.search(rb"(?<!\r)\n", raw) is None, f"bare LF on the wire: {raw[:300]!r}"
    assert re.search(rb"\r(?!\n)", raw) is None, f"bare CR on the wire: {raw[:300]!r}"


def stuffed(message):
    """What dot-stuffing must make of message (RFC 5321 4.5.2)."""
    return b"".join(b"." + l if l.startswith(b".") else l for l in message.splitlines(keepends=True))


DOTS_8BIT = (
    "From: <alice@sender.test>\r\n"
    "To: <bob@a.test>\r\n"
    "Subject: =?UTF-8?Q?caf=C3=A9?=\r\n"
    "MIME-Version: 1.0\r\n"
    "Content-Type: text/plain; charset=utf-8\r\n"
    "Content-Transfer-Encoding: 8bit\r\n"
    "\r\n"
    ".\r\n"
    "..\r\n"
    ".leading dot\r\n"
    "...three dots\r\n"
    " .not at the start\r\n"
    "caf\u00e9 cr\u00e8me br\u00fbl\u00e9e \u2014 \u65e5\u672c\u8a9e\r\n"
    "\r\n"
    ".\r\n"
    "last line\r\n"
).encode("utf-8")


def test_dots_and_8bit_arrive_intact(one_mx, fakesmtp, mxrelay_send):
    srv = fakesmtp("127.0.0.11")

    run = mxrelay_send(SENDER + ["bob@a.test"], DOTS_8BIT)

    expect.exit_code(run, EX_OK)
    expect.delivered(run, "bob@a.test")
    txn = assert_intact(srv, DOTS_8BIT)
    assert txn.data_raw.endswith(stuffed(DOTS_8BIT)), f"dot-stuffing wrong: {txn.data_raw!r}"
    assert_clean_crlf(txn.data_raw)
    assert "BODY=8BITMIME" in txn.mail.upper(), f"8-bit message without BODY=8BITMIME: {txn.mail}"


def test_dots_and_8bit_arrive_intact_at_smtp_sink(one_mx, smtp_sink, mxrelay_send):
    sink = smtp_sink("127.0.0.11")

    run = mxrelay_send(SENDER + ["bob@a.test"], DOTS_8BIT)

    expect.exit_code(run, EX_OK)
    (msg,) = sink.messages()
    want = DOTS_8BIT.replace(b"\r\n", b"\n")
    assert msg.message.endswith(want), f"got {msg.message!r}\nwant {want!r}"


def test_lf_only_input_goes_out_with_crlf(one_mx, fakesmtp, mxrelay_send):
    srv = fakesmtp("127.0.0.11")
    lf = DOTS_8BIT.replace(b"\r\n", b"\n")

    run = mxrelay_send(SENDER + ["bob@a.test"], lf)

    expect.exit_code(run, EX_OK)
    txn = assert_intact(srv, DOTS_8BIT)
    assert_clean_crlf(txn.data_raw)


def test_missing_final_newline_is_completed(one_mx, fakesmtp, mxrelay_send):
    srv = fakesmtp("127.0.0.11")
    msg = expect.message(body="no newline at the end")

    run = mxrelay_send(SENDER + ["bob@a.test"], msg)

    expect.exit_code(run, EX_OK)
    txn = assert_intact(srv, msg + b"\r\n")
    assert_clean_crlf(txn.data_raw)


def test_8bit_to_a_server_without_8bitmime_is_not_sent(one_mx, fakesmtp, mxrelay_send):
    # RFC 6152 3: 8-bit octets go only to a server that offers 8BITMIME;
    # a relay that does not convert them must not send them at all.
    srv = fakesmtp("127.0.0.11", extensions=[e for e in DEFAULT_EXTENSIONS if e != "8BITMIME"])

    run = mxrelay_send(SENDER + ["bob@a.test"], DOTS_8BIT)

    expect.exit_code(run, EX_UNAVAILABLE)
    res = expect.failed(run, "bob@a.test", esc="5.6.3", stage="mail", code_in=NO_CODE)
    assert "8BITMIME" in res["text"] and "mx1.a.test" in res["text"], res
    assert srv.commands("MAIL") == [] and srv.data_commands == [], srv.describe()
    assert srv.commands("QUIT"), f"no QUIT before leaving:\n{srv.describe()}"


def test_8bit_goes_to_the_mx_that_offers_8bitmime(dns, fakesmtp, mxrelay_send):
    dns.mx("a.test", [(10, "mx1.a.test"), (20, "mx2.a.test")])
    dns.a("mx1.a.test", "127.0.0.11").a("mx2.a.test", "127.0.0.12").start()
    mx1 = fakesmtp("127.0.0.11", extensions=[e for e in DEFAULT_EXTENSIONS if e != "8BITMIME"])
    mx2 = fakesmtp("127.0.0.12")

    run = mxrelay_send(SENDER + ["bob@a.test"], DOTS_8BIT)

    expect.exit_code(run, EX_OK)
    expect.delivered(run, "bob@a.test", mx="mx2.a.test", ip="127.0.0.12")
    assert mx1.commands("MAIL") == [], mx1.describe()
    assert_intact(mx2, DOTS_8BIT)


def test_7bit_goes_to_a_server_without_8bitmime(one_mx, fakesmtp, mxrelay_send):
    srv = fakesmtp("127.0.0.11", extensions=[e for e in DEFAULT_EXTENSIONS if e != "8BITMIME"])
    msg = expect.message()

    run = mxrelay_send(SENDER + ["bob@a.test"], msg)

    expect.exit_code(run, EX_OK)
    txn = assert_intact(srv, msg)
    assert "BODY=" not in txn.mail.upper(), txn.mail


def test_large_message_arrives_intact(one_mx, fakesmtp, mxrelay_send):
    srv = fakesmtp("127.0.0.11", size=50_000_000)
    lines = [f"{i:07d} " + os.urandom(30).hex() for i in range(40_000)]
    lines[100] = "." + lines[100]
    big = expect.message(body="\r\n".join(lines) + "\r\n")

    run = mxrelay_send(SENDER + ["bob@a.test"], big, timeout=120)

    expect.exit_code(run, EX_OK)
    txn = assert_intact(srv, big)
    assert len(txn.message) >= 2_000_000


def test_input_from_a_file(one_mx, fakesmtp, mxrelay_send, tmp_path):
    srv = fakesmtp("127.0.0.11")
    path = tmp_path / "msg.eml"
    path.write_bytes(DOTS_8BIT)

    run = mxrelay_send(SENDER + ["-i", str(path), "bob@a.test"], b"")

    expect.exit_code(run, EX_OK)
    assert_intact(srv, DOTS_8BIT)


def test_chunking_server_gets_the_same_octets(one_mx, fakesmtp, mxrelay_send):
    # Whether the relay uses BDAT or DATA, the octets that arrive are the same.
    srv = fakesmtp("127.0.0.11", extensions=list(DEFAULT_EXTENSIONS) + ["CHUNKING", "BINARYMIME"])

    run = mxrelay_send(SENDER + ["bob@a.test"], DOTS_8BIT)

    expect.exit_code(run, EX_OK)
    assert_intact(srv, DOTS_8BIT)


def test_no_line_over_1000_octets_on_the_wire(one_mx, fakesmtp, mxrelay_send):
    # RFC 5321 4.5.3.1.6: a text line is at most 1000 octets with its CRLF.
    # A longer input line has to be folded or refused, never sent as it is.
    srv = fakesmtp("127.0.0.11")
    msg = expect.message(body="x" * 2500 + "\r\nshort line\r\n")

    run = mxrelay_send(SENDER + ["bob@a.test"], msg)

    for txn in srv.transactions:
        longest = max(len(l) for l in txn.data_raw.split(b"\r\n"))
        assert longest + 2 <= 1000, f"a {longest + 2}-octet line went out\n{run.describe()}"
    assert run.rc in (EX_OK, 69), run.describe()
