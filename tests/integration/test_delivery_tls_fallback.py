"""Opportunistic TLS falls back to clear text when the handshake fails.

RFC 7435 3: opportunistic security must never make delivery worse than
clear text. A server that answers 220 to STARTTLS and then cannot finish
the handshake (an old TLS stack, a broken certificate chain in its own
library, a middlebox) still takes the mail in clear, as Exim does: the
same address is tried once more without STARTTLS and the log says so.
Never at `--tls required` or `implicit`, and never on a route that
authenticates (the password would cross in clear).

The real case is a private Postfix whose smtpd offers STARTTLS but allows
only TLS 1.0, which OpenSSL 3 refuses at its default security level; the
fault injector closes the connection right after its 220.
"""

import pytest

from daemon import Client, mxrelayd  # noqa: F401 (fixture)
from mxtest import expect
from mxtest.expect import EX_OK, EX_TEMPFAIL
from mxtest.fakesmtp import DROP

pytestmark = pytest.mark.netns

MSG = expect.message(body="fallback text\r\n")
SENDER = ["-f", "alice@sender.test"]


@pytest.fixture
def one_mx(dns):
    dns.mx("a.test", [(10, "mx1.a.test")]).a("mx1.a.test", "127.0.0.11").start()
    return dns


def _tls1_only_postfix(postfix, certs):
    return postfix("127.0.0.11", hostname="mx1.a.test", cert=certs.server("mx1.a.test"),
                   main={"smtpd_tls_protocols": "!SSLv2, !SSLv3, !TLSv1.1, !TLSv1.2, !TLSv1.3"})


def _fallback_event(run, rcpt):
    return [e for e in run.events_for(rcpt, stage="tls") if "trying again without TLS" in e.get("text", "")]


def test_postfix_with_a_broken_tls_stack_gets_the_mail_in_clear(one_mx, postfix, certs, mxrelay_send):
    pf = _tls1_only_postfix(postfix, certs)

    run = mxrelay_send(SENDER + ["bob@a.test"], MSG)

    expect.exit_code(run, EX_OK)
    expect.delivered(run, "bob@a.test", tls=False)
    assert _fallback_event(run, "bob@a.test"), run.describe()
    (got,) = pf.messages()
    assert got.endswith(MSG.replace(b"\r\n", b"\n"))
    cmds = [c.split()[0].upper() for c in pf.commands()]
    # First session: EHLO STARTTLS (handshake fails); second: EHLO MAIL RCPT DATA, no STARTTLS.
    assert cmds.count("STARTTLS") == 1, cmds


def test_required_never_falls_back(one_mx, postfix, certs, mxrelay_send):
    pf = _tls1_only_postfix(postfix, certs)

    run = mxrelay_send(SENDER + ["--tls", "required", "--ca-file", certs.ca_file, "bob@a.test"], MSG)

    expect.exit_code(run, EX_TEMPFAIL)
    expect.deferred(run, "bob@a.test", esc="4.7.5", stage="tls")
    assert not _fallback_event(run, "bob@a.test")
    assert "MAIL" not in " ".join(pf.commands()).upper()


def test_a_drop_after_220_is_retried_once_in_clear(one_mx, fakesmtp, certs, mxrelay_send):
    srv = fakesmtp("127.0.0.11", starttls=True, cert=certs.self_signed("mx1.a.test"),
                   replies={"starttls": {"reply": "220 2.0.0 Ready to start TLS", "then": DROP}})

    run = mxrelay_send(SENDER + ["bob@a.test"], MSG)

    expect.exit_code(run, EX_OK)
    expect.delivered(run, "bob@a.test", tls=False)
    srv.settle()
    assert len(srv.sessions) == 2, srv.describe()
    first, second = srv.sessions
    assert "STARTTLS" in [c.upper() for c in first.commands]
    assert not any(c.upper().startswith("STARTTLS") for c in second.commands), srv.describe()
    (txn,) = srv.messages
    assert txn.message.endswith(MSG)


def test_a_second_failure_in_clear_moves_on_without_a_loop(dns, fakesmtp, certs, mxrelay_send):
    dns.mx("a.test", [(10, "mx1.a.test"), (20, "mx2.a.test")])
    dns.a("mx1.a.test", "127.0.0.11").a("mx2.a.test", "127.0.0.12").start()
    bad = fakesmtp("127.0.0.11", starttls=True, cert=certs.self_signed("mx1.a.test"),
                   replies={"starttls": {"reply": "220 2.0.0 Ready to start TLS", "then": DROP},
                            "mail": "451 4.3.0 try later"})
    good = fakesmtp("127.0.0.12", starttls=True, cert=certs.self_signed("mx2.a.test"))

    run = mxrelay_send(SENDER + ["bob@a.test"], MSG)

    expect.exit_code(run, EX_OK)
    expect.delivered(run, "bob@a.test", mx="mx2.a.test", tls=True)
    bad.settle()
    assert len(bad.sessions) == 2, bad.describe()


def test_no_fallback_on_a_route_that_authenticates(one_mx, fakesmtp, certs, mxrelay_send, tmp_path):
    srv = fakesmtp("127.0.0.11", starttls=True, cert=certs.self_signed("mx1.a.test"), auth="PLAIN LOGIN",
                   auth_needs_tls=True,
                   replies={"starttls": {"reply": "220 2.0.0 Ready to start TLS", "then": DROP}})
    pw = tmp_path / "pw"
    pw.write_text("secret\n")

    run = mxrelay_send(SENDER + ["--smarthost", "[mx1.a.test]", "--auth-user", "alice",
                                 "--auth-password-file", str(pw), "bob@a.test"], MSG)

    expect.exit_code(run, EX_TEMPFAIL)
    expect.deferred(run, "bob@a.test", stage="tls")
    srv.settle()
    assert len(srv.sessions) == 1, srv.describe()
    assert srv.messages == []


def test_daemon_falls_back_and_logs_it(dns, postfix, certs, mxrelayd):
    dns.mx("a.test", [(10, "mx1.a.test")]).a("mx1.a.test", "127.0.0.11").start()
    pf = _tls1_only_postfix(postfix, certs)
    d = mxrelayd(relay_domains="", conf_extra="dns_server = 127.0.0.53\nretry_intervals = 1s")

    c = Client()
    assert c.reply().code == 220
    for line, code in [("EHLO client.test", 250), ("MAIL FROM:<alice@sender.test>", 250),
                       ("RCPT TO:<bob@a.test>", 250), ("DATA", 354)]:
        c.expect(line, code)
    c.send(MSG + b".\r\n")
    assert c.reply().code == 250
    c.expect("QUIT", 221)

    (got,) = pf.messages(wait=20)
    assert got.endswith(MSG.replace(b"\r\n", b"\n"))
    log = d.log()
    assert "event=tls-fallback" in log, log[-3000:]
    assert "status=delivered" in log or "delivered" in log
