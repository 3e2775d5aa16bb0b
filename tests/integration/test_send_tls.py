"""TLS policies of `mxrelay send`: opportunistic STARTTLS, required STARTTLS
with certificate checks, and implicit TLS on port 465."""

import pytest

from mxtest import expect
from mxtest.expect import EX_OK, EX_TEMPFAIL
from mxtest.fakesmtp import DEFAULT_EXTENSIONS

pytestmark = pytest.mark.netns

MSG = expect.message(body="secret text\r\n")
SENDER = ["-f", "alice@sender.test"]


@pytest.fixture
def one_mx(dns):
    dns.mx("a.test", [(10, "mx1.a.test")]).a("mx1.a.test", "127.0.0.11").start()
    return dns


def assert_nothing_in_plain(srv):
    """No envelope or message ever crossed without encryption."""
    for s in srv.sessions:
        if s.tls:
            continue
        for cmd in s.commands:
            assert not cmd.upper().startswith(("MAIL", "RCPT", "DATA", "BDAT")), \
                f"{cmd!r} sent in plain text\n{srv.describe()}"
    assert srv.messages == [], srv.describe()


def assert_mail_after_tls(srv):
    (txn,) = srv.messages
    session = next(s for s in srv.sessions if txn in s.transactions)
    assert session.tls, srv.describe()
    assert txn.message.endswith(MSG)
    # RFC 3207: EHLO again after the handshake, before anything else.
    cmds = [c.split()[0].upper() for c in session.commands]
    i = cmds.index("STARTTLS")
    assert cmds[i + 1] == "EHLO", f"after STARTTLS came {cmds[i + 1:]}\n{srv.describe()}"


def test_opportunistic_accepts_a_self_signed_certificate(one_mx, fakesmtp, certs, mxrelay_send):
    srv = fakesmtp("127.0.0.11", starttls=True, cert=certs.self_signed("mx1.a.test"))

    run = mxrelay_send(SENDER + ["--tls", "opportunistic", "bob@a.test"], MSG)

    expect.exit_code(run, EX_OK)
    expect.delivered(run, "bob@a.test", tls=True)
    assert_mail_after_tls(srv)


def test_opportunistic_is_the_default(one_mx, fakesmtp, certs, mxrelay_send):
    srv = fakesmtp("127.0.0.11", starttls=True, cert=certs.self_signed("mx1.a.test"))

    run = mxrelay_send(SENDER + ["bob@a.test"], MSG)

    expect.exit_code(run, EX_OK)
    expect.delivered(run, "bob@a.test", tls=True)
    assert_mail_after_tls(srv)


def test_opportunistic_without_starttls_goes_plain(one_mx, fakesmtp, mxrelay_send):
    srv = fakesmtp("127.0.0.11", starttls=False)

    run = mxrelay_send(SENDER + ["--tls", "opportunistic", "bob@a.test"], MSG)

    expect.exit_code(run, EX_OK)
    expect.delivered(run, "bob@a.test", tls=False)
    assert len(srv.messages) == 1


def test_tls_none_never_starts_tls(one_mx, fakesmtp, certs, mxrelay_send):
    srv = fakesmtp("127.0.0.11", starttls=True, cert=certs.server("mx1.a.test"))

    run = mxrelay_send(SENDER + ["--tls", "none", "bob@a.test"], MSG)

    expect.exit_code(run, EX_OK)
    expect.delivered(run, "bob@a.test", tls=False)
    assert srv.commands("STARTTLS") == [], srv.describe()


def test_required_with_the_test_ca(one_mx, fakesmtp, certs, mxrelay_send):
    srv = fakesmtp("127.0.0.11", starttls=True, cert=certs.server("mx1.a.test"))

    run = mxrelay_send(SENDER + ["--tls", "required", "--ca-file", certs.ca_file, "bob@a.test"], MSG)

    expect.exit_code(run, EX_OK)
    expect.delivered(run, "bob@a.test", tls=True, mx="mx1.a.test")
    assert_mail_after_tls(srv)


@pytest.mark.parametrize("bad", ["self-signed", "wrong-name"])
def test_required_refuses_a_bad_certificate(one_mx, fakesmtp, certs, mxrelay_send, bad):
    cert = certs.self_signed("mx1.a.test") if bad == "self-signed" else certs.wrong_name()
    srv = fakesmtp("127.0.0.11", starttls=True, cert=cert)

    run = mxrelay_send(SENDER + ["--tls", "required", "--ca-file", certs.ca_file, "bob@a.test"], MSG)

    expect.exit_code(run, EX_TEMPFAIL)
    expect.deferred(run, "bob@a.test", stage="tls", text=True)
    assert_nothing_in_plain(srv)


def test_required_without_starttls_offered_defers(one_mx, fakesmtp, certs, mxrelay_send):
    srv = fakesmtp("127.0.0.11", starttls=False)

    run = mxrelay_send(SENDER + ["--tls", "required", "--ca-file", certs.ca_file, "bob@a.test"], MSG)

    expect.exit_code(run, EX_TEMPFAIL)
    expect.deferred(run, "bob@a.test", stage="tls", text=True)
    assert_nothing_in_plain(srv)


def test_required_when_starttls_is_refused_defers(one_mx, fakesmtp, certs, mxrelay_send):
    srv = fakesmtp("127.0.0.11", starttls=True, cert=certs.server("mx1.a.test"),
                   replies={"starttls": "454 4.7.0 TLS not available due to local problem"})

    run = mxrelay_send(SENDER + ["--tls", "required", "--ca-file", certs.ca_file, "bob@a.test"], MSG)

    expect.exit_code(run, EX_TEMPFAIL)
    expect.deferred(run, "bob@a.test", stage="tls", text=True)
    assert_nothing_in_plain(srv)


def test_required_moves_to_the_next_mx_with_a_good_certificate(dns, fakesmtp, certs, mxrelay_send):
    dns.mx("a.test", [(10, "mx1.a.test"), (20, "mx2.a.test")])
    dns.a("mx1.a.test", "127.0.0.11").a("mx2.a.test", "127.0.0.12").start()
    bad = fakesmtp("127.0.0.11", starttls=True, cert=certs.self_signed("mx1.a.test"))
    good = fakesmtp("127.0.0.12", starttls=True, cert=certs.server("mx2.a.test"))

    run = mxrelay_send(SENDER + ["--tls", "required", "--ca-file", certs.ca_file, "bob@a.test"], MSG)

    expect.exit_code(run, EX_OK)
    expect.delivered(run, "bob@a.test", mx="mx2.a.test", tls=True)
    assert_nothing_in_plain(bad)
    assert_mail_after_tls(good)


def test_implicit_tls_on_465(one_mx, fakesmtp, certs, mxrelay_send):
    srv = fakesmtp("127.0.0.11", port=465, implicit_tls=True, cert=certs.server("mx1.a.test"),
                   extensions=[e for e in DEFAULT_EXTENSIONS])

    run = mxrelay_send(SENDER + ["--tls", "implicit", "--port", "465", "--ca-file", certs.ca_file, "bob@a.test"], MSG)

    expect.exit_code(run, EX_OK)
    expect.delivered(run, "bob@a.test", tls=True, mx="mx1.a.test")
    (txn,) = srv.messages
    assert srv.sessions[0].tls and txn.message.endswith(MSG)
    assert srv.commands("STARTTLS") == []


def test_implicit_tls_with_a_bad_certificate_defers(one_mx, fakesmtp, certs, mxrelay_send):
    srv = fakesmtp("127.0.0.11", port=465, implicit_tls=True, cert=certs.self_signed("mx1.a.test"))

    run = mxrelay_send(SENDER + ["--tls", "implicit", "--port", "465", "--ca-file", certs.ca_file, "bob@a.test"], MSG)

    expect.exit_code(run, EX_TEMPFAIL)
    expect.deferred(run, "bob@a.test", stage="tls", text=True)
    assert srv.messages == [] and srv.commands() == [], srv.describe()


def test_plaintext_injected_after_starttls_is_not_believed(one_mx, fakesmtp, certs, mxrelay_send):
    # The 220 to STARTTLS comes with more plaintext in the same packet; a
    # client that reads it after the handshake takes an attacker's reply
    # as the server's (the STARTTLS command injection family of bugs).
    srv = fakesmtp("127.0.0.11", starttls=True, cert=certs.server("mx1.a.test"),
                   replies={"starttls": b"220 2.0.0 Ready\r\n554 5.7.1 injected reply\r\n"})

    run = mxrelay_send(SENDER + ["--tls", "required", "--ca-file", certs.ca_file, "bob@a.test"], MSG)

    for obj in run.events + list(run.results.values()):
        assert "injected" not in str(obj.get("text")), f"plaintext from before TLS was believed: {obj}\n{run.describe()}"
    res = run.result("bob@a.test")
    assert res["status"] in ("delivered", "deferred"), run.describe()
    if res["status"] == "delivered":
        assert res["tls"] is True
        assert_mail_after_tls(srv)
    else:
        assert_nothing_in_plain(srv)
