"""Internationalised domain names (RFC 6531 section 3.7.3, RFC 5890-5891):
a recipient domain written in UTF-8 is looked up in DNS by its A-label
form, while the envelope keeps the address as written."""

import pytest

from mxtest import expect
from mxtest.expect import EX_OK, EX_UNAVAILABLE, NO_CODE
from mxtest.fakesmtp import DEFAULT_EXTENSIONS

pytestmark = pytest.mark.netns

MSG = expect.message()
SENDER = ["-f", "alice@sender.test"]

UDOMAIN = "b\u00fccher.test"        # bücher.test
ADOMAIN = "xn--bcher-kva.test"      # its A-label form
RCPT = "jos\u00e9@" + UDOMAIN


@pytest.fixture
def idn_mx(dns):
    """Only the A-label form is in the zone: bücher.test has MX mx1.xn--bcher-kva.test on 127.0.0.11."""
    dns.mx(ADOMAIN, [(10, "mx1." + ADOMAIN)]).a("mx1." + ADOMAIN, "127.0.0.11")
    dns.start()
    return dns


def test_utf8_domain_resolved_by_its_a_label(idn_mx, fakesmtp, mxrelay_send):
    srv = fakesmtp("127.0.0.11")

    run = mxrelay_send(SENDER + [RCPT], MSG)

    expect.exit_code(run, EX_OK)
    expect.delivered(run, RCPT, mx="mx1." + ADOMAIN, ip="127.0.0.11")
    (mail,) = srv.commands("MAIL")
    assert "SMTPUTF8" in mail.upper(), srv.describe()
    assert srv.commands("RCPT") == [f"RCPT TO:<{RCPT}>"], srv.describe()


def test_utf8_domain_to_a_server_without_smtputf8(idn_mx, fakesmtp, mxrelay_send):
    ext = [e for e in DEFAULT_EXTENSIONS if e != "SMTPUTF8"]
    srv = fakesmtp("127.0.0.11", extensions=ext)

    run = mxrelay_send(SENDER + [RCPT], MSG)

    expect.exit_code(run, EX_UNAVAILABLE)
    expect.failed(run, RCPT, esc="5.6.7")
    assert srv.data_commands == [], srv.describe()


def test_utf8_domain_without_mx_uses_the_a_label_address(dns, fakesmtp, mxrelay_send):
    # münchen.test has no MX, only an address under xn--mnchen-3ya.test.
    dns.a("xn--mnchen-3ya.test", "127.0.0.12").start()
    srv = fakesmtp("127.0.0.12")
    rcpt = "bob@m\u00fcnchen.test"

    run = mxrelay_send(SENDER + [rcpt], MSG)

    expect.exit_code(run, EX_OK)
    expect.delivered(run, rcpt, ip="127.0.0.12")
    assert srv.commands("RCPT") == [f"RCPT TO:<{rcpt}>"], srv.describe()


def test_domain_with_a_disallowed_code_point_fails(idn_mx, fakesmtp, mxrelay_send):
    srv = fakesmtp("127.0.0.11")
    rcpt = "bob@\u2603.test"           # a snowman: not allowed in IDNA2008

    run = mxrelay_send(SENDER + [rcpt], MSG)

    expect.exit_code(run, EX_UNAVAILABLE)
    res = expect.failed(run, rcpt, esc="5.1.2", stage="resolving", code_in=NO_CODE)
    assert "internationalised domain name" in res["text"], run.describe()
    expect.no_connection(srv)
