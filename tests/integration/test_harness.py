"""The harness checks itself: if a peer misbehaves here, no mxrelay result
can be trusted. These tests need no mxrelay binary."""

import smtplib
import socket
import ssl

import pytest

from mxtest.dns import query
from mxtest.fakesmtp import DROP

pytestmark = pytest.mark.netns


def test_namespace_is_private(netns):
    # A fresh namespace has only loopback, up, and port 25 free everywhere.
    with open("/proc/thread-self/net/dev") as f:
        ifaces = [l.split(":")[0].strip() for l in f.read().splitlines()[2:]]
    assert ifaces == ["lo"], ifaces
    netns.add_addr("127.0.0.11")
    with socket.socket() as s:
        s.bind(("127.0.0.11", 25))
    with socket.socket(socket.AF_INET6) as s:
        s.bind(("::1", 25))


def test_nsd_answers_records_nxdomain_nodata_and_refuses(dns):
    dns.mx("a.test", [(10, "mx1.a.test")]).a("mx1.a.test", "127.0.0.11").a("v6.a.test", "::1")
    dns.start()
    mx = query("127.0.0.53", "a.test", "MX")
    assert (mx["rcode"], mx["ancount"], mx["aa"]) == ("NOERROR", 1, True)
    assert query("127.0.0.53", "v6.a.test", "AAAA")["ancount"] == 1
    nodata = query("127.0.0.53", "mx1.a.test", "MX")
    assert (nodata["rcode"], nodata["ancount"]) == ("NOERROR", 0)
    assert query("127.0.0.53", "nope.test", "MX")["rcode"] == "NXDOMAIN"
    # Not authoritative: nsd refuses, which a forwarding resolver reports as SERVFAIL.
    assert query("127.0.0.53", "elsewhere.example", "MX")["rcode"] == "REFUSED"


def test_faulty_dns_rules(netns, dns, faulty_dns):
    dns.mx("a.test", [(10, "mx1.a.test")]).start()
    fd = faulty_dns("127.0.0.54", rules={"sf.test": "servfail", "tc.test": "truncated", "wi.test": "wrongid"},
                    upstream=("127.0.0.53", 53))
    assert query("127.0.0.54", "sf.test", "MX")["rcode"] == "SERVFAIL"
    assert query("127.0.0.54", "tc.test", "MX")["tc"] is True
    assert query("127.0.0.54", "wi.test", "MX", timeout=0.3) is None
    assert query("127.0.0.54", "a.test", "MX")["ancount"] == 1
    assert ("sf.test", 15) in fd.queries


def test_smtp_sink_dumps_each_transaction(smtp_sink):
    sink = smtp_sink("127.0.0.11")
    with smtplib.SMTP("127.0.0.11", 25, local_hostname="client.test") as c:
        c.sendmail("a@x.test", ["b@a.test", "c@a.test"], b"Subject: hi\r\n\r\n.dot\r\nbody\r\n")
    msgs = sink.messages()
    assert len(msgs) == 1
    m = msgs[0]
    assert (m.helo, m.sender, m.recipients) == ("client.test", "a@x.test", ["b@a.test", "c@a.test"])
    assert m.message == b"Subject: hi\n\n.dot\nbody\n"
    assert sink.connections == 1


def test_fakesmtp_records_and_scripts_replies(fakesmtp):
    srv = fakesmtp("127.0.0.11", replies={"rcpt:c@a.test": "550 5.1.1 no such user"})
    with smtplib.SMTP("127.0.0.11", 25) as c:
        refused = c.sendmail("a@x.test", ["b@a.test", "c@a.test"], b"S: x\r\n\r\n.dot\r\n")
    assert refused == {"c@a.test": (550, b"5.1.1 no such user")}
    srv.settle()
    (txn,) = srv.messages
    assert txn.accepted == ["b@a.test"]
    assert txn.data_raw == b"S: x\r\n\r\n..dot\r\n"
    assert txn.message == b"S: x\r\n\r\n.dot\r\n"


def test_fakesmtp_drop_and_421(fakesmtp):
    srv = fakesmtp("127.0.0.11", replies={"greeting": ["421 4.3.2 busy", "220 ok"], "mail": DROP})
    with pytest.raises(smtplib.SMTPConnectError):
        smtplib.SMTP("127.0.0.11", 25)
    with smtplib.SMTP("127.0.0.11", 25) as c:
        with pytest.raises(smtplib.SMTPServerDisconnected):
            c.sendmail("a@x.test", ["b@a.test"], b"x\r\n")
    assert srv.connections == 2


def test_fakesmtp_starttls_with_test_ca(fakesmtp, certs):
    srv = fakesmtp("127.0.0.11", starttls=True, cert=certs.server("mx1.a.test"))
    ctx = ssl.create_default_context(cafile=certs.ca_file)
    with smtplib.SMTP("127.0.0.11", 25) as c:
        c.ehlo()
        assert c.has_extn("starttls")
        c._host = "mx1.a.test"  # the name the certificate is checked against
        c.starttls(context=ctx)
        c.sendmail("a@x.test", ["b@a.test"], b"x\r\n")
    srv.settle()
    assert srv.sessions[0].tls
    assert len(srv.messages) == 1


def test_bad_certificates_do_not_verify(fakesmtp, certs):
    srv = fakesmtp("127.0.0.11", port=465, implicit_tls=True, cert=certs.self_signed("mx1.a.test"))
    ctx = ssl.create_default_context(cafile=certs.ca_file)
    with pytest.raises(ssl.SSLCertVerificationError):
        smtplib.SMTP_SSL("127.0.0.11", 465, context=ctx)
    srv2 = fakesmtp("127.0.0.12", port=465, implicit_tls=True, cert=certs.wrong_name())
    ctx.check_hostname = True
    with pytest.raises(ssl.SSLCertVerificationError):
        with socket.create_connection(("127.0.0.12", 465)) as raw:
            ctx.wrap_socket(raw, server_hostname="mx1.a.test")
    srv.settle()
    srv2.settle()
    assert srv.sessions[0].tls_error


def test_private_postgresql_starts_fast_durable_and_restarts(postgres):
    pg = postgres()
    # A copy of the session's initdb: starting is a fraction of a second after the first.
    assert pg.start_seconds < 10, pg.start_seconds
    db = pg.database("harness")
    assert pg.rows("SHOW fsync") == [["on"]]
    assert pg.rows("SHOW synchronous_commit") == [["on"]]
    db.sql("CREATE TABLE t (v text)")
    db.sql("INSERT INTO t VALUES ('kept')")
    # As a crash: no checkpoint; WAL recovery brings the committed row back.
    pg.stop("immediate")
    pg.start()
    assert db.rows("SELECT v, NULL FROM t") == [["kept", None]]
    assert db.value("SELECT current_user") == "postgres"
