"""`mxrelay send` declares in SIZE (RFC 1870) the octets it sends.

RFC 1870 section 6: the size is counted with CR LF line ends and without
the dot-stuffing and the final dot. A message written with bare LF line
ends or with lines longer than 998 octets grows on the wire (each LF
becomes CR LF, a long line is broken with CR LF SPACE); declaring the size
of the input file instead understates it, and the 5.3.4 check against
the server's limit lets a message through that the server must then
refuse after DATA. Checked against fakesmtp, which keeps the raw DATA
bytes, and against a private Postfix whose message_size_limit sits
between the input size and the size on the wire.
"""

import re

import pytest

from mxtest import expect

pytestmark = pytest.mark.netns

# bare LF line ends, a 3000-octet line, a line starting with a dot, no final newline
MESSAGE = (b"Subject: size\n\nbare lf\n.dot line\n" + b"y" * 3000 + b"\nno newline at end")


def _declared(mail_line):
    m = re.search(r"(?i)\bSIZE=(\d+)", mail_line)
    assert m, f"no SIZE in {mail_line!r}"
    return int(m.group(1))


def test_size_counts_octets_on_the_wire(dns, fakesmtp, mxrelay_send):
    dns.mx("a.test", [(10, "mx1.a.test")]).a("mx1.a.test", "127.0.0.11").start()
    srv = fakesmtp("127.0.0.11", extensions=["PIPELINING", "8BITMIME", "SIZE 10000000"])
    run = mxrelay_send(["-f", "a@sender.test", "bob@a.test"], input=MESSAGE)
    expect.exit_code(run, expect.EX_OK)
    srv.settle()
    (txn,) = [t for s in srv.sessions for t in s.transactions]
    # What RFC 1870 counts: the unstuffed message with CRLF line ends.
    wire = len(txn.message)
    assert wire > len(MESSAGE)
    got = _declared(txn.mail)
    assert got == wire, f"SIZE: got {got}, want {wire} (input file is {len(MESSAGE)} octets)"


def test_size_limit_checked_against_wire_size(dns, fakesmtp, mxrelay_send):
    dns.mx("a.test", [(10, "mx1.a.test")]).a("mx1.a.test", "127.0.0.11").start()
    # Between the input's size and its size on the wire.
    srv = fakesmtp("127.0.0.11", extensions=["PIPELINING", "8BITMIME", f"SIZE {len(MESSAGE) + 5}"])
    run = mxrelay_send(["-f", "a@sender.test", "bob@a.test"], input=MESSAGE)
    expect.exit_code(run, expect.EX_UNAVAILABLE)
    expect.failed(run, "bob@a.test", esc="5.3.4", stage="mail")
    srv.settle()
    assert not [t for s in srv.sessions for t in s.transactions], "MAIL was sent for a message over the limit"


def test_size_to_postfix(dns, postfix, mxrelay_send):
    dns.mx("a.test", [(10, "mx1.a.test")]).a("mx1.a.test", "127.0.0.11").start()
    pf = postfix("127.0.0.11", hostname="mx1.a.test")
    run = mxrelay_send(["-f", "a@sender.test", "bob@a.test"], input=MESSAGE)
    expect.delivered(run, "bob@a.test")
    (mail,) = [c for c in pf.commands() if c.upper().startswith("MAIL FROM:")]
    (got,) = pf.messages()
    body = got.split(b"\n\n", 1)[1]
    # Postfix stores LF line ends: count them back as CRLF.
    wire = len(b"Subject: size\r\n\r\n") + len(body.replace(b"\n", b"\r\n"))
    assert _declared(mail) == wire, f"SIZE: got {_declared(mail)}, want {wire}"
