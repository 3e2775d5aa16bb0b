"""DANE for SMTP (RFC 7672) in `mxrelay send`, against a real Postfix MX
offering STARTTLS with a certificate from the test CA, its names in a
zone signed with ldns-signzone, served by nsd and validated by a local
unbound (the `dnssec` bed), with the bed's trust anchor given as
--dnssec-trust-anchor.

What a DNSSEC-secure TLSA record set means: the MX host must do STARTTLS
and present the certificate the records name (DANE-EE 3, DANE-TA 2), or
it is not used (4.7.5); records that are not secure, or missing, leave
opportunistic TLS; a bogus answer is never taken for an insecure one."""

import os

import pytest

from mxtest import expect
from mxtest.certs import chain_file, tlsa_rdata
from mxtest.expect import EX_OK, EX_TEMPFAIL

pytestmark = pytest.mark.netns

MSG = expect.message(body="by DANE\r\n")
SENDER = ["-f", "alice@sender.test"]
MX_ADDR = "127.0.0.11"


def send(mxrelay_send, bed, certs, args, msg=MSG, **kw):
    return mxrelay_send(SENDER + ["--dnssec-trust-anchor", bed.anchor_file, "--ca-file",
                                  certs.ca_file] + list(args), msg, dns=bed.resolver, **kw)


def mx_zone(bed, zone, host="mx", signed=True, bogus=False):
    """zone with one MX host at MX_ADDR; returns the host's name."""
    name = f"{host}.{zone}"
    bed.zone(zone, signed=signed, bogus=bogus)
    bed.mx(zone, [(10, name)]).a(name, MX_ADDR)
    return name


def tls_postfix(postfix, certs, tmp_path, name, domains, chain=False):
    """A Postfix MX offering STARTTLS with a test-CA certificate for name."""
    cert, key = certs.server(name)
    if chain:
        cert = chain_file(cert, certs.ca_file, dest=str(tmp_path / f"{name}.chain.pem"))
        os.chmod(cert, 0o644)
    return postfix(MX_ADDR, domains=domains, cert=(cert, key), main={"message_size_limit": 64 * 1024 * 1024, "virtual_mailbox_limit": 0})


def mail_commands(pf):
    return [c for c in pf.commands() if c.upper().startswith(("MAIL", "RCPT", "DATA", "BDAT"))]


def check_dane_delivery(run, pf, rcpt):
    expect.exit_code(run, EX_OK)
    res = expect.delivered(run, rcpt, tls=True)
    assert (res["tls_policy"], res["tls_auth"]) == ("dane", "dane"), run.describe()
    (msg,) = pf.messages()
    assert b"by DANE" in msg
    assert "starttls=1 mail=1" in pf.log(), pf.log()[-3000:]


def test_dane_ee_record_authenticates_the_mx(dnssec, postfix, certs, tmp_path, mxrelay_send):
    host = mx_zone(dnssec, "secure.test")
    cert, _ = certs.server(host)
    dnssec.record(f"_25._tcp.{host}", "TLSA", tlsa_rdata(cert, 3, 1, 1))
    dnssec.start()
    pf = tls_postfix(postfix, certs, tmp_path, host, ["secure.test"])

    run = send(mxrelay_send, dnssec, certs, ["bob@secure.test"])

    check_dane_delivery(run, pf, "bob@secure.test")
    tls_events = run.events_for("bob@secure.test", "tls")
    assert any("policy=dane auth=dane" in e["text"] for e in tls_events), run.describe()


def test_dane_ta_record_authenticates_through_the_chain(dnssec, postfix, certs, tmp_path,
                                                        mxrelay_send):
    host = mx_zone(dnssec, "secure.test")
    dnssec.record(f"_25._tcp.{host}", "TLSA", tlsa_rdata(certs.ca_file, 2, 1, 1))
    dnssec.start()
    pf = tls_postfix(postfix, certs, tmp_path, host, ["secure.test"], chain=True)

    run = send(mxrelay_send, dnssec, certs, ["bob@secure.test"])

    check_dane_delivery(run, pf, "bob@secure.test")


def test_tlsa_at_the_cname_expanded_name_comes_first(dnssec, postfix, certs, tmp_path,
                                                     mxrelay_send):
    # RFC 7672 2.2.3: the MX host is an alias; its records are where the alias points.
    dnssec.zone("secure.test")
    dnssec.mx("secure.test", [(10, "mx.secure.test")])
    dnssec.record("mx.secure.test", "CNAME", "real.secure.test")
    dnssec.a("real.secure.test", MX_ADDR)
    cert, _ = certs.server("real.secure.test", "mx.secure.test")
    dnssec.record("_25._tcp.real.secure.test", "TLSA", tlsa_rdata(cert, 3, 1, 1))
    dnssec.start()
    pf = postfix(MX_ADDR, domains=["secure.test"], cert=certs.server("real.secure.test", "mx.secure.test"))

    run = send(mxrelay_send, dnssec, certs, ["bob@secure.test"])

    check_dane_delivery(run, pf, "bob@secure.test")


def test_wrong_tlsa_record_defers_4_7_5(dnssec, postfix, certs, tmp_path, mxrelay_send):
    host = mx_zone(dnssec, "secure.test")
    other, _ = certs.server("not-the-mx.secure.test")
    dnssec.record(f"_25._tcp.{host}", "TLSA", tlsa_rdata(other, 3, 1, 1))
    dnssec.start()
    pf = tls_postfix(postfix, certs, tmp_path, host, ["secure.test"])

    run = send(mxrelay_send, dnssec, certs, ["bob@secure.test"])

    expect.exit_code(run, EX_TEMPFAIL)
    res = expect.deferred(run, "bob@secure.test", esc="4.7.5", stage="tls")
    assert "TLSA" in res["text"] and res["tls_policy"] == "dane", run.describe()
    assert mail_commands(pf) == [], pf.commands()


def test_starttls_stripped_from_a_dane_mx_defers(dnssec, postfix, certs, mxrelay_send):
    # What an attacker on the path does: the MX seems to offer no STARTTLS.
    host = mx_zone(dnssec, "secure.test")
    cert, _ = certs.server(host)
    dnssec.record(f"_25._tcp.{host}", "TLSA", tlsa_rdata(cert, 3, 1, 1))
    dnssec.start()
    pf = postfix(MX_ADDR, domains=["secure.test"])     # no certificate: no STARTTLS

    run = send(mxrelay_send, dnssec, certs, ["bob@secure.test"])

    expect.exit_code(run, EX_TEMPFAIL)
    res = expect.deferred(run, "bob@secure.test", esc="4.7.5")
    assert "STARTTLS" in res["text"], run.describe()
    assert mail_commands(pf) == [], pf.commands()


def test_insecure_zone_falls_back_to_opportunistic_tls(dnssec, postfix, certs, tmp_path,
                                                       mxrelay_send):
    # Records an attacker could have forged are not a policy: a wrong one changes nothing.
    host = mx_zone(dnssec, "insecure.test", signed=False)
    other, _ = certs.server("not-the-mx.insecure.test")
    dnssec.record(f"_25._tcp.{host}", "TLSA", tlsa_rdata(other, 3, 1, 1))
    dnssec.start()
    pf = tls_postfix(postfix, certs, tmp_path, host, ["insecure.test"])

    run = send(mxrelay_send, dnssec, certs, ["bob@insecure.test"])

    expect.exit_code(run, EX_OK)
    res = expect.delivered(run, "bob@insecure.test", tls=True)
    assert (res["tls_policy"], res["tls_auth"]) == ("may", "none"), run.describe()
    assert len(pf.messages()) == 1


def test_bogus_mx_answer_defers_4_7_5_without_connecting(dnssec, postfix, certs, mxrelay_send):
    mx_zone(dnssec, "bogus.test", bogus=True)
    dnssec.start()
    pf = postfix(MX_ADDR, domains=["bogus.test"])

    run = send(mxrelay_send, dnssec, certs, ["bob@bogus.test"])

    expect.exit_code(run, EX_TEMPFAIL)
    res = expect.deferred(run, "bob@bogus.test", esc="4.7.5", stage="resolving")
    assert "DNSSEC" in res["text"], run.describe()
    assert pf.commands() == [], pf.commands()


def test_bogus_tlsa_answer_defers_4_7_5(dnssec, postfix, certs, tmp_path, mxrelay_send):
    host = mx_zone(dnssec, "secure.test")
    cert, _ = certs.server(host)
    dnssec.record(f"_25._tcp.{host}", "TLSA", tlsa_rdata(cert, 3, 1, 1))
    dnssec.corrupt(f"_25._tcp.{host}", "TLSA")
    dnssec.start()
    pf = tls_postfix(postfix, certs, tmp_path, host, ["secure.test"])

    run = send(mxrelay_send, dnssec, certs, ["bob@secure.test"])

    expect.exit_code(run, EX_TEMPFAIL)
    res = expect.deferred(run, "bob@secure.test", esc="4.7.5")
    assert "TLSA" in res["text"], run.describe()
    assert pf.commands() == [], pf.commands()


def test_dane_only_refuses_a_host_without_secure_records(dnssec, postfix, certs, tmp_path,
                                                         mxrelay_send):
    host = mx_zone(dnssec, "insecure.test", signed=False)
    dnssec.start()
    pf = tls_postfix(postfix, certs, tmp_path, host, ["insecure.test"])

    run = send(mxrelay_send, dnssec, certs, ["--tls-policy", "insecure.test dane-only",
                                             "bob@insecure.test"])

    expect.exit_code(run, EX_TEMPFAIL)
    res = expect.deferred(run, "bob@insecure.test", esc="4.7.5")
    assert res["tls_policy"] == "dane-only" and "TLSA" in res["text"], run.describe()
    assert pf.commands() == [], pf.commands()


def test_only_pkix_usages_mean_tls_without_authentication(dnssec, postfix, certs, tmp_path,
                                                          mxrelay_send):
    # RFC 7672 3.1.3: PKIX-TA(0) and PKIX-EE(1) are unusable for SMTP; records
    # none of which is usable still make TLS mandatory (2.2).
    host = mx_zone(dnssec, "secure.test")
    cert, _ = certs.server(host)
    dnssec.record(f"_25._tcp.{host}", "TLSA", tlsa_rdata(cert, 1, 1, 1))
    dnssec.start()
    pf = tls_postfix(postfix, certs, tmp_path, host, ["secure.test"])

    run = send(mxrelay_send, dnssec, certs, ["bob@secure.test"])

    expect.exit_code(run, EX_OK)
    res = expect.delivered(run, "bob@secure.test", tls=True)
    assert (res["tls_policy"], res["tls_auth"]) == ("dane", "none"), run.describe()
    assert len(pf.messages()) == 1


@pytest.mark.parametrize("size", [1024, 5 * 1024 * 1024, 30 * 1024 * 1024], ids=["1k", "5m", "30m"])
def test_messages_of_every_size_go_over_dane(dnssec, postfix, certs, tmp_path, mxrelay_send, size):
    host = mx_zone(dnssec, "secure.test")
    cert, _ = certs.server(host)
    dnssec.record(f"_25._tcp.{host}", "TLSA", tlsa_rdata(cert, 3, 1, 1))
    dnssec.start()
    pf = tls_postfix(postfix, certs, tmp_path, host, ["secure.test"])
    line = b"x" * 76 + b"\r\n"
    body = line * (size // len(line) + 1)
    msg = expect.message(body="") + body

    run = send(mxrelay_send, dnssec, certs, ["bob@secure.test"], msg=msg, timeout=180)

    expect.exit_code(run, EX_OK)
    res = expect.delivered(run, "bob@secure.test", tls=True)
    assert res["tls_auth"] == "dane", run.describe()
    (got,) = pf.messages(wait=60)
    assert got.count(b"x" * 76) == body.count(b"x" * 76)
