"""The daemon's outbound TLS policy: DANE from a DNSSEC-signed zone (the
`dnssec` bed: ldns-signzone, nsd, a validating unbound), MTA-STS policies
fetched over HTTPS and kept in the queue store across restarts,
administrators' tls_policy lines, and what the logs and `mxrelay queue
show` say of each delivery. Every MX is a real Postfix offering STARTTLS
with a certificate of the test CA."""

import os
import smtplib
import ssl
import subprocess
import time

import pytest

from daemon import mxrelayd, wait_for  # noqa: F401  (mxrelayd is a fixture)
from mxtest.certs import tlsa_rdata

pytestmark = pytest.mark.netns

MX_ADDR = "127.0.0.11"
WEB_ADDR = "127.0.0.80"
SENDER = "alice@sender.test"


def message(rcpt, extra=""):
    return (f"From: <{SENDER}>\r\nTo: <{rcpt}>\r\nSubject: policy\r\n"
            f"Message-ID: <p.{abs(hash(rcpt))}@sender.test>\r\n{extra}\r\nby policy\r\n").encode()


def submit(rcpt, extra=""):
    with smtplib.SMTP("127.0.0.1", 25, timeout=30) as c:
        c.sendmail(SENDER, [rcpt], message(rcpt, extra))


def daemon_conf(dns_server, certs, anchor=None, extra=""):
    lines = [f"dns_server = {dns_server}", f"ca_file = {certs.ca_file}", "retry_intervals = 1h"]
    if anchor:
        lines.append(f"dnssec_trust_anchor = {anchor}")
    return "\n".join(lines) + "\n" + extra


def queue_cli(mxr_bin, d, *args):
    return subprocess.run([mxr_bin.mxrelay, *args, "-c", d.conf], capture_output=True, text=True,
                          timeout=30)


def delivery_lines(d, rcpt):
    return [l for l in d.log().splitlines() if f'rcpt="<{rcpt}>"' in l and " status=" in l]


def wait_status(d, rcpt, status):
    return wait_for(f"{rcpt} {status}", lambda: [l for l in delivery_lines(d, rcpt)
                                                 if f" status={status} " in l], describe=d.describe)


@pytest.fixture
def dane_world(dnssec, postfix, certs):
    """secure.test: its MX Postfix authenticated by a DANE-EE record; wrong.test: a record
    that matches nothing; plain.test: an insecure zone."""
    cert, key = certs.server("mx.secure.test", "mx.wrong.test", "mx.plain.test")
    other, _ = certs.server("nobody.secure.test")
    for zone, signed in (("secure.test", True), ("wrong.test", True), ("plain.test", False)):
        dnssec.zone(zone, signed=signed)
        dnssec.mx(zone, [(10, f"mx.{zone}")]).a(f"mx.{zone}", MX_ADDR)
    dnssec.record("_25._tcp.mx.secure.test", "TLSA", tlsa_rdata(cert, 3, 1, 1))
    dnssec.record("_25._tcp.mx.wrong.test", "TLSA", tlsa_rdata(other, 3, 1, 1))
    dnssec.zone("sender.test", signed=False)
    dnssec.mx("sender.test", [(10, "mx.sender.test")]).a("mx.sender.test", MX_ADDR)
    dnssec.start()
    pf = postfix(MX_ADDR, domains=["secure.test", "wrong.test", "plain.test", "sender.test"],
                 cert=(cert, key))
    return dnssec, pf


def test_every_delivery_line_names_its_policy_and_authentication(dane_world, mxrelayd, certs):
    bed, pf = dane_world
    d = mxrelayd(relay_domains="", certs=certs, conf_extra=daemon_conf(bed.resolver, certs, bed.anchor_file))

    submit("bob@secure.test")
    submit("carol@plain.test")

    (dane,) = wait_status(d, "bob@secure.test", "delivered")
    assert "tls=yes tls_policy=dane tls_auth=dane" in dane, dane
    (may,) = wait_status(d, "carol@plain.test", "delivered")
    assert "tls=yes tls_policy=may tls_auth=none" in may, may
    assert len(pf.messages(count=2)) == 2


def test_a_policy_failure_is_the_last_reply_queue_show_gives(dane_world, mxrelayd, mxr_bin, certs):
    bed, pf = dane_world
    d = mxrelayd(relay_domains="", certs=certs, conf_extra=daemon_conf(bed.resolver, certs, bed.anchor_file))

    submit("bob@wrong.test")

    (line,) = wait_status(d, "bob@wrong.test", "deferred")
    assert "dsn=4.7.5" in line and "tls_policy=dane" in line, line
    (qid,) = d.messages()
    show = queue_cli(mxr_bin, d, "queue", "show", qid)
    assert show.returncode == 0, show.stderr
    assert "4.7.5" in show.stdout and "TLSA" in show.stdout, show.stdout
    assert not [c for c in pf.commands() if c.upper().startswith("MAIL")], pf.commands()


def test_an_administrators_tls_policy_comes_first(dane_world, mxrelayd, certs):
    bed, pf = dane_world
    extra = "tls_policy = wrong.test may\ntls_policy = .sender.test none\n"
    d = mxrelayd(relay_domains="", certs=certs, conf_extra=daemon_conf(bed.resolver, certs, bed.anchor_file,
                                                          extra))

    submit("bob@wrong.test")

    (line,) = wait_status(d, "bob@wrong.test", "delivered")
    assert "tls_policy=may" in line, line


def test_tls_required_no_delivers_past_a_failing_dane_record(dane_world, mxrelayd, certs):
    bed, pf = dane_world
    d = mxrelayd(relay_domains="", certs=certs, conf_extra=daemon_conf(bed.resolver, certs, bed.anchor_file))

    submit("bob@wrong.test", extra="TLS-Required: No\r\n")

    (line,) = wait_status(d, "bob@wrong.test", "delivered")
    assert "tls_policy=may" in line, line
    (got,) = pf.messages()
    assert b"TLS-Required: No" in got


# --- MTA-STS policies in the queue store ----------------------------------------------------

def sts_policy(mx):
    return f"version: STSv1\nmode: enforce\nmx: {mx}\nmax_age: 604800\n"


def test_mta_sts_policy_is_kept_across_a_restart_and_refetched_for_a_new_id(
        dns, https, postfix, mxrelayd, certs):
    dns.mx("sts.test", [(10, "mx.sts.test")]).a("mx.sts.test", MX_ADDR)
    dns.record("_mta-sts.sts.test", "TXT", "v=STSv1; id=one;").a("mta-sts.sts.test", WEB_ADDR)
    dns.start()
    web = https(WEB_ADDR, hosts=["mta-sts.sts.test"])
    web.policy("sts.test", sts_policy("mx.sts.test"))
    pf = postfix(MX_ADDR, domains=["sts.test"], cert=certs.server("mx.sts.test"))
    d = mxrelayd(relay_domains="", certs=certs, conf_extra=daemon_conf("127.0.0.53", certs))
    fetches = lambda: web.requests(path="/.well-known/mta-sts.txt")

    submit("one@sts.test")
    (line,) = wait_status(d, "one@sts.test", "delivered")
    assert "tls_policy=mta-sts tls_auth=mta-sts" in line, line
    assert len(fetches()) == 1

    # Restarted, with the policy changed on the server but the same id: the stored one holds.
    d.check_clean_exit()
    web.policy("sts.test", sts_policy("mx.elsewhere.test"))
    d.start()
    submit("two@sts.test")
    (line,) = wait_status(d, "two@sts.test", "delivered")
    assert "tls_policy=mta-sts" in line, line
    assert len(fetches()) == 1, fetches()

    # A new id in DNS: fetched again, and the new policy refuses the MX.
    d.check_clean_exit()
    dns.replace("_mta-sts.sts.test", "TXT", "v=STSv1; id=two;").restart()
    d.start()
    submit("three@sts.test")
    (line,) = wait_status(d, "three@sts.test", "deferred")
    assert "dsn=4.7.5" in line and "MTA-STS" in line, line
    assert len(fetches()) == 2, fetches()
    assert len(pf.messages(count=2)) == 2


def test_mta_sts_policy_past_half_its_max_age_is_fetched_again_under_the_same_id(
        dns, https, postfix, mxrelayd, certs):
    dns.mx("sts.test", [(10, "mx.sts.test")]).a("mx.sts.test", MX_ADDR)
    dns.record("_mta-sts.sts.test", "TXT", "v=STSv1; id=one;").a("mta-sts.sts.test", WEB_ADDR)
    dns.start()
    web = https(WEB_ADDR, hosts=["mta-sts.sts.test"])
    web.policy("sts.test", "version: STSv1\nmode: enforce\nmx: mx.sts.test\nmax_age: 4\n")
    pf = postfix(MX_ADDR, domains=["sts.test"], cert=certs.server("mx.sts.test"))
    d = mxrelayd(relay_domains="", certs=certs, conf_extra=daemon_conf("127.0.0.53", certs))
    fetches = lambda: web.requests(path="/.well-known/mta-sts.txt")

    submit("one@sts.test")
    wait_status(d, "one@sts.test", "delivered")
    assert len(fetches()) == 1

    # Past half of max_age, the same id: fetched again (RFC 8461 10.2), and the new text rules.
    d.check_clean_exit()
    web.policy("sts.test", "version: STSv1\nmode: enforce\nmx: mx.elsewhere.test\nmax_age: 8\n")
    time.sleep(2.5)
    d.start()
    submit("two@sts.test")
    (line,) = wait_status(d, "two@sts.test", "deferred")
    assert "dsn=4.7.5" in line and "MTA-STS" in line, line
    assert len(fetches()) == 2, fetches()

    # A refresh that fails keeps the policy in force and is no failure of its own.
    d.check_clean_exit()
    web.policy("sts.test", "gone", status=500)
    time.sleep(4.5)
    d.start()
    submit("three@sts.test")
    (line,) = wait_status(d, "three@sts.test", "deferred")
    assert "dsn=4.7.5" in line and "MTA-STS" in line, line
    assert len(fetches()) == 3, fetches()
    assert "event=mta-sts-refresh-failed" in d.log()
    assert len(pf.messages(count=1)) == 1


def test_the_daemon_says_dnssec_validates_through_its_dns_server(dane_world, mxrelayd, certs):
    bed, _ = dane_world
    d = mxrelayd(relay_domains="", certs=certs,
                 conf_extra=daemon_conf(bed.resolver, certs, bed.anchor_file))
    wait_for("the DNSSEC check", lambda: "event=dnssec-check status=secure zone=test." in d.log(),
             describe=d.describe)
    assert "status=failing" not in d.log()


def test_the_daemon_says_when_its_dns_server_gives_nothing_that_validates(dns, mxrelayd, certs,
                                                                         tmp_path):
    """A server that strips DNSSEC records looks, to the validator, like a signed zone
    without signatures: an unsigned test. under an anchor that says it is signed."""
    dns.mx("plain.test", [(10, "mx.plain.test")]).a("mx.plain.test", MX_ADDR).start()
    anchor = tmp_path / "anchor.ds"
    anchor.write_text("test. IN DS 4711 13 2 " + "ab" * 32 + "\n")
    d = mxrelayd(relay_domains="", certs=certs,
                 conf_extra=daemon_conf("127.0.0.53", certs, str(anchor)))
    (line,) = wait_for("the DNSSEC check", lambda: [l for l in d.log().splitlines()
                                                    if "event=dnssec-check" in l],
                       describe=d.describe)
    assert "level=error" in line and "status=failing zone=test." in line, line
    assert "dnssec_trust_anchor = none" in line, line
