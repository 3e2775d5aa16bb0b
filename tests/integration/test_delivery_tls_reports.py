"""TLS reporting (RFC 8460) by the daemon: what DANE met on every attempt,
counted per policy domain and day, then one report in the RFC's JSON,
gzip'd, to each address the domain's `_smtp._tls` record names: mailed
through this relay to a real Postfix mailbox, and POSTed to an HTTPS
receiver. Each report is checked against the RFC 8460 schema
(tests/integration/schema/tlsrpt-report.schema.json)."""

import datetime
import email
import gzip
import json
import os
import smtplib
import subprocess

import jsonschema
import pytest

from daemon import mxrelayd, wait_for  # noqa: F401  (mxrelayd is a fixture)
from mxtest.certs import tlsa_rdata

pytestmark = pytest.mark.netns

SCHEMA = os.path.join(os.path.dirname(__file__), "schema", "tlsrpt-report.schema.json")
WEB_ADDR = "127.0.0.80"


def submit(rcpt):
    with smtplib.SMTP("127.0.0.1", 25, timeout=30) as c:
        c.sendmail("alice@sender.test", [rcpt], (f"From: <alice@sender.test>\r\nTo: <{rcpt}>\r\n"
                                                 "Subject: report me\r\n\r\nbody\r\n").encode())


def validate(report):
    with open(SCHEMA) as f:
        jsonschema.validate(report, json.load(f))


@pytest.fixture
def world(dnssec, postfix, https, certs):
    """secure.test: MX 10 mx1 (its TLSA matches nothing), MX 20 mx2 (good TLSA),
    both one Postfix; reports to a mailbox at reports.test and to an HTTPS URI."""
    cert, key = certs.server("mx1.secure.test", "mx2.secure.test", "mx.reports.test")
    other, _ = certs.server("nobody.secure.test")
    dnssec.zone("secure.test")
    dnssec.mx("secure.test", [(10, "mx1.secure.test"), (20, "mx2.secure.test")])
    dnssec.a("mx1.secure.test", "127.0.0.11").a("mx2.secure.test", "127.0.0.11")
    dnssec.record("_25._tcp.mx1.secure.test", "TLSA", tlsa_rdata(other, 3, 1, 1))
    dnssec.record("_25._tcp.mx2.secure.test", "TLSA", tlsa_rdata(cert, 3, 1, 1))
    dnssec.record("_smtp._tls.secure.test", "TXT",
                  "v=TLSRPTv1; rua=mailto:tlsrpt@reports.test,https://reports.test/tlsrpt")
    dnssec.zone("reports.test", signed=False)
    dnssec.mx("reports.test", [(10, "mx.reports.test")]).a("mx.reports.test", "127.0.0.11")
    dnssec.a("reports.test", WEB_ADDR)
    dnssec.start()
    pf = postfix("127.0.0.11", domains=["secure.test", "reports.test"], cert=(cert, key))
    web = https(WEB_ADDR, hosts=["reports.test"])
    web.route("reports.test", "/tlsrpt", b"thanks", status=201)
    return dnssec, pf, web


def tlsrpt(mxr_bin, d, *args):
    return subprocess.run([mxr_bin.mxrelay, "tlsrpt", "-c", d.conf, *args], capture_output=True,
                          text=True, timeout=60)


def test_a_days_results_are_reported_to_every_address_of_the_record(world, mxrelayd, mxr_bin,
                                                                    certs):
    bed, pf, web = world
    d = mxrelayd(relay_domains="", certs=certs, conf_extra=(
        f"dns_server = {bed.resolver}\ndnssec_trust_anchor = {bed.anchor_file}\n"
        f"ca_file = {certs.ca_file}\nretry_intervals = 1h\n"
        "tlsrpt_organization = Example Relay Operator\n"
        "tlsrpt_contact = mailto:tls-reports@relay.test\n"
        "tlsrpt_sender = tls-reports@relay.test\n"))

    submit("bob@secure.test")
    wait_for("bob delivered", lambda: "status=delivered" in d.log(), describe=d.describe)

    listing = tlsrpt(mxr_bin, d, "list", "--json")
    assert listing.returncode == 0, listing.stderr
    rows = json.loads(listing.stdout)
    got = sorted((r["domain"], r["policy_type"], r["result"], r["sessions"]) for r in rows)
    assert got == [("secure.test", "tlsa", "success", 1),
                   ("secure.test", "tlsa", "validation-failure", 1)], rows

    sent = tlsrpt(mxr_bin, d, "send", "--day", "today")
    assert sent.returncode == 0, sent.stdout + sent.stderr
    assert "mailed to tlsrpt@reports.test" in sent.stdout, sent.stdout
    assert "posted to https://reports.test/tlsrpt" in sent.stdout, sent.stdout

    # The mailed report (RFC 8460 5.3), delivered by the relay itself.
    mails = [m for m in pf.messages(count=2, wait=30) if b"tlsrpt" in m]
    (mail,) = mails
    msg = email.message_from_bytes(mail)
    assert msg.get_content_type() == "multipart/report", mail[:1500]
    assert msg.get_param("report-type") == "tlsrpt"
    assert msg["TLS-Report-Domain"] == "secure.test"
    (part,) = [p for p in msg.walk() if p.get_content_type() == "application/tlsrpt+gzip"]
    today = datetime.datetime.now(datetime.timezone.utc).date()
    start = int(datetime.datetime(today.year, today.month, today.day,
                                  tzinfo=datetime.timezone.utc).timestamp())
    assert part.get_filename() == f"{d_submitter(d)}!secure.test!{start}!{start + 86399}.json.gz"
    report = json.loads(gzip.decompress(part.get_payload(decode=True)))
    validate(report)
    check_report(report, today)

    # The same report POSTed (RFC 8460 5.4).
    (posted,) = web.posted_json("/tlsrpt")
    validate(posted)
    check_report(posted, today)
    (req,) = web.posts("/tlsrpt")
    assert req["headers"]["content-type"] == "application/tlsrpt+gzip", req["headers"]


def d_submitter(d):
    return "mx.relay.test"


def check_report(report, day):
    assert report["organization-name"] == "Example Relay Operator"
    assert report["contact-info"] == "mailto:tls-reports@relay.test"
    assert report["date-range"] == {"start-datetime": f"{day.isoformat()}T00:00:00Z",
                                    "end-datetime": f"{day.isoformat()}T23:59:59Z"}
    # One policy a host: each MX has TLSA records of its own.
    pols = {p["policy"]["mx-host"][0]: p for p in report["policies"]}
    assert sorted(pols) == ["mx1.secure.test", "mx2.secure.test"], report["policies"]
    for pol in pols.values():
        assert pol["policy"]["policy-type"] == "tlsa"
        assert pol["policy"]["policy-domain"] == "secure.test"
        assert len(pol["policy"]["policy-string"]) == 1
        assert pol["policy"]["policy-string"][0].startswith("3 1 1 ")
    assert pols["mx2.secure.test"]["summary"] == {"total-successful-session-count": 1,
                                                  "total-failure-session-count": 0}
    bad = pols["mx1.secure.test"]
    assert bad["summary"] == {"total-successful-session-count": 0,
                              "total-failure-session-count": 1}, bad
    (fail,) = bad["failure-details"]
    assert fail["result-type"] == "validation-failure"
    assert fail["receiving-mx-hostname"] == "mx1.secure.test"
    assert fail["receiving-ip"] == "127.0.0.11"
    assert fail["failed-session-count"] == 1


def test_reports_are_off_without_an_organization(world, mxrelayd, mxr_bin, certs):
    bed, pf, web = world
    d = mxrelayd(relay_domains="", certs=certs, conf_extra=(
        f"dns_server = {bed.resolver}\ndnssec_trust_anchor = {bed.anchor_file}\n"
        f"ca_file = {certs.ca_file}\nretry_intervals = 1h\n"))
    submit("bob@secure.test")
    wait_for("bob delivered", lambda: "status=delivered" in d.log(), describe=d.describe)

    sent = tlsrpt(mxr_bin, d, "send", "--day", "today")

    assert sent.returncode != 0 and "tlsrpt_organization" in sent.stderr, sent.stderr
    assert web.posts("/tlsrpt") == []


def test_a_testing_policy_delivers_and_counts_what_enforce_would_refuse(dns, https, postfix,
                                                                       mxrelayd, mxr_bin, certs):
    # RFC 8461 5: testing mode delivers as before; the failure goes to the report.
    dns.mx("sts.test", [(10, "mx.sts.test")]).a("mx.sts.test", "127.0.0.11")
    dns.record("_mta-sts.sts.test", "TXT", "v=STSv1; id=t1;").a("mta-sts.sts.test", WEB_ADDR)
    dns.start()
    web = https(WEB_ADDR, hosts=["mta-sts.sts.test"])
    web.policy("sts.test", "version: STSv1\nmode: testing\nmx: mx.other.test\nmax_age: 86400\n")
    pf = postfix("127.0.0.11", domains=["sts.test"], cert=certs.server("mx.sts.test"))
    d = mxrelayd(relay_domains="", certs=certs, conf_extra=(
        f"dns_server = 127.0.0.53\nca_file = {certs.ca_file}\nretry_intervals = 1h\n"
        "tlsrpt_organization = Example Relay Operator\n"))

    submit("bob@sts.test")
    wait_for("bob delivered", lambda: "status=delivered" in d.log(), describe=d.describe)
    assert "tls_policy=mta-sts-testing" in d.log()
    assert len(pf.messages()) == 1

    listing = tlsrpt(mxr_bin, d, "list", "--json")
    assert listing.returncode == 0, listing.stderr
    rows = json.loads(listing.stdout)
    got = [(r["domain"], r["policy_type"], r["result"], r["sessions"]) for r in rows]
    assert got == [("sts.test", "sts", "validation-failure", 1)], rows
