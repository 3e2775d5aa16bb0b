"""MTA-STS (RFC 8461) in `mxrelay send`: the `_mta-sts` TXT record served
by nsd, the policy fetched over HTTPS from a local server with a
certificate of the test CA (the same CA store as the MX certificates,
--ca-file), and a real Postfix MX offering STARTTLS.

enforce: the MX must match a pattern of the policy and present a
certificate valid for its name, or it is not used (4.7.5); testing:
delivered as before, the failure only reported; none, or no policy that
can be had: opportunistic. DANE, where the MX host publishes secure TLSA
records, comes before MTA-STS (RFC 8461 2); "TLS-Required: No" lets a
sender go without the policy (RFC 8689 5); REQUIRETLS needs it."""

import pytest

from mxtest import expect
from mxtest.certs import tlsa_rdata
from mxtest.expect import EX_OK, EX_TEMPFAIL, EX_UNAVAILABLE

pytestmark = pytest.mark.netns

MSG = expect.message(body="by MTA-STS\r\n")
SENDER = ["-f", "alice@sender.test"]
MX_ADDR = "127.0.0.11"
WEB_ADDR = "127.0.0.80"


def policy(mode, *mx, max_age=86400):
    return "version: STSv1\r\nmode: %s\r\n%smax_age: %d\r\n" % (
        mode, "".join(f"mx: {m}\r\n" for m in mx), max_age)


def sts_domain(zone, domain, host, policy_id="20261207"):
    """domain's MX (host at MX_ADDR), its _mta-sts record and its policy host."""
    zone.mx(domain, [(10, host)]).a(host, MX_ADDR)
    zone.record(f"_mta-sts.{domain}", "TXT", f"v=STSv1; id={policy_id};")
    zone.a(f"mta-sts.{domain}", WEB_ADDR)


def send(mxrelay_send, certs, args, msg=MSG, **kw):
    return mxrelay_send(SENDER + ["--ca-file", certs.ca_file] + list(args), msg, **kw)


def mail_commands(pf):
    return [c for c in pf.commands() if c.upper().startswith(("MAIL", "RCPT", "DATA", "BDAT"))]


@pytest.fixture
def sts(dns, https, postfix, certs):
    """sts.test: MX mx.sts.test (Postfix with STARTTLS) and its policy server."""
    sts_domain(dns, "sts.test", "mx.sts.test")
    dns.start()
    web = https(WEB_ADDR, hosts=["mta-sts.sts.test"])
    pf = postfix(MX_ADDR, domains=["sts.test"], cert=certs.server("mx.sts.test"))
    return web, pf


def test_enforce_with_a_matching_mx_is_delivered_authenticated(sts, certs, mxrelay_send):
    web, pf = sts
    web.policy("sts.test", policy("enforce", "mx.sts.test"))

    run = send(mxrelay_send, certs, ["bob@sts.test"])

    expect.exit_code(run, EX_OK)
    res = expect.delivered(run, "bob@sts.test", tls=True)
    assert (res["tls_policy"], res["tls_auth"]) == ("mta-sts", "mta-sts"), run.describe()
    (req,) = web.requests(path="/.well-known/mta-sts.txt")
    assert req["sni"] == "mta-sts.sts.test" and req["method"] == "GET", req
    assert len(pf.messages()) == 1


def test_enforce_with_a_wildcard_pattern(sts, certs, mxrelay_send):
    web, pf = sts
    web.policy("sts.test", policy("enforce", "*.sts.test"))

    run = send(mxrelay_send, certs, ["bob@sts.test"])

    expect.exit_code(run, EX_OK)
    assert expect.delivered(run, "bob@sts.test")["tls_auth"] == "mta-sts", run.describe()


def test_enforce_with_the_mx_outside_the_policy_defers(sts, certs, mxrelay_send):
    web, pf = sts
    web.policy("sts.test", policy("enforce", "mx.elsewhere.test"))

    run = send(mxrelay_send, certs, ["bob@sts.test"])

    expect.exit_code(run, EX_TEMPFAIL)
    res = expect.deferred(run, "bob@sts.test", esc="4.7.5")
    assert res["tls_policy"] == "mta-sts" and "MTA-STS" in res["text"], run.describe()
    assert pf.commands() == [], pf.commands()


def test_enforce_with_a_certificate_for_another_name_defers(dns, https, postfix, certs,
                                                           mxrelay_send):
    sts_domain(dns, "sts.test", "mx.sts.test")
    dns.start()
    web = https(WEB_ADDR, hosts=["mta-sts.sts.test"])
    web.policy("sts.test", policy("enforce", "mx.sts.test"))
    pf = postfix(MX_ADDR, domains=["sts.test"], cert=certs.wrong_name())

    run = send(mxrelay_send, certs, ["bob@sts.test"])

    expect.exit_code(run, EX_TEMPFAIL)
    res = expect.deferred(run, "bob@sts.test", esc="4.7.5", stage="tls")
    assert "did not verify" in res["text"], run.describe()
    assert mail_commands(pf) == [], pf.commands()


def test_enforce_without_starttls_defers(dns, https, postfix, certs, mxrelay_send):
    sts_domain(dns, "sts.test", "mx.sts.test")
    dns.start()
    web = https(WEB_ADDR, hosts=["mta-sts.sts.test"])
    web.policy("sts.test", policy("enforce", "mx.sts.test"))
    pf = postfix(MX_ADDR, domains=["sts.test"])

    run = send(mxrelay_send, certs, ["bob@sts.test"])

    expect.exit_code(run, EX_TEMPFAIL)
    expect.deferred(run, "bob@sts.test", esc="4.7.5")
    assert mail_commands(pf) == [], pf.commands()


def test_testing_mode_delivers_what_enforce_would_refuse(sts, certs, mxrelay_send):
    web, pf = sts
    web.policy("sts.test", policy("testing", "mx.elsewhere.test"))

    run = send(mxrelay_send, certs, ["bob@sts.test"])

    expect.exit_code(run, EX_OK)
    res = expect.delivered(run, "bob@sts.test", tls=True)
    assert res["tls_policy"] == "mta-sts-testing", run.describe()
    assert len(pf.messages()) == 1


@pytest.mark.parametrize("how", ["404", "html", "redirect", "bad-policy"])
def test_a_policy_that_cannot_be_had_leaves_opportunistic_tls(sts, certs, mxrelay_send, how):
    web, pf = sts
    host, path = "mta-sts.sts.test", "/.well-known/mta-sts.txt"
    if how == "404":
        web.route(host, path, b"gone", status=404)
    elif how == "html":
        web.policy("sts.test", policy("enforce", "mx.elsewhere.test"), content_type="text/html")
    elif how == "redirect":
        web.route(host, path, b"", status=301, headers={"Location": "https://mta-sts.sts.test/x"})
        web.route(host, "/x", policy("enforce", "mx.elsewhere.test"))
    else:
        web.policy("sts.test", "version: STSv1\r\nmode: enforce\r\nmax_age: 86400\r\n")

    run = send(mxrelay_send, certs, ["bob@sts.test"])

    expect.exit_code(run, EX_OK)
    res = expect.delivered(run, "bob@sts.test", tls=True)
    assert res["tls_policy"] == "may", run.describe()
    assert web.requests(path="/x") == [], "a redirect was followed"


def test_dane_comes_before_mta_sts(dnssec, https, postfix, certs, mxrelay_send):
    # The policy would refuse the MX; its secure TLSA records make it DANE's.
    dnssec.zone("secure.test")
    sts_domain(dnssec, "secure.test", "mx.secure.test")
    cert, key = certs.server("mx.secure.test")
    dnssec.record("_25._tcp.mx.secure.test", "TLSA", tlsa_rdata(cert, 3, 1, 1))
    dnssec.start()
    web = https(WEB_ADDR, hosts=["mta-sts.secure.test"])
    web.policy("secure.test", policy("enforce", "mx.elsewhere.test"))
    pf = postfix(MX_ADDR, domains=["secure.test"], cert=(cert, key))

    run = send(mxrelay_send, certs, ["--dnssec-trust-anchor", dnssec.anchor_file,
                                     "bob@secure.test"], dns=dnssec.resolver)

    expect.exit_code(run, EX_OK)
    res = expect.delivered(run, "bob@secure.test", tls=True)
    assert (res["tls_policy"], res["tls_auth"]) == ("dane", "dane"), run.describe()
    assert len(pf.messages()) == 1


def test_tls_required_no_goes_without_the_policy(sts, certs, mxrelay_send):
    web, pf = sts
    web.policy("sts.test", policy("enforce", "mx.elsewhere.test"))
    msg = expect.message(body="by MTA-STS\r\n", extra=["TLS-Required: No"])

    run = send(mxrelay_send, certs, ["bob@sts.test"], msg=msg)

    expect.exit_code(run, EX_OK)
    res = expect.delivered(run, "bob@sts.test", tls=True)
    assert res["tls_policy"] == "may", run.describe()
    (got,) = pf.messages()
    assert b"TLS-Required: No" in got


def test_requiretls_goes_only_to_a_server_that_offers_it(sts, certs, mxrelay_send):
    # Postfix authenticates under the policy but does not offer REQUIRETLS.
    web, pf = sts
    web.policy("sts.test", policy("enforce", "mx.sts.test"))

    run = send(mxrelay_send, certs, ["--requiretls", "bob@sts.test"])

    expect.exit_code(run, EX_UNAVAILABLE)
    res = expect.failed(run, "bob@sts.test", esc="5.7.10")
    assert "REQUIRETLS" in res["text"], run.describe()
    assert mail_commands(pf) == [], pf.commands()


def test_requiretls_without_an_authenticating_policy_fails_without_connecting(dns, postfix, certs,
                                                                             mxrelay_send):
    dns.mx("plain.test", [(10, "mx.plain.test")]).a("mx.plain.test", MX_ADDR).start()
    pf = postfix(MX_ADDR, domains=["plain.test"], cert=certs.server("mx.plain.test"))

    run = send(mxrelay_send, certs, ["--requiretls", "bob@plain.test"])

    expect.exit_code(run, EX_UNAVAILABLE)
    res = expect.failed(run, "bob@plain.test", esc="5.7.10")
    assert "REQUIRETLS" in res["text"], run.describe()
    assert pf.commands() == [], pf.commands()
