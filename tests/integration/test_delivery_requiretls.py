"""REQUIRETLS (RFC 8689) through the daemon: a message taken with the
REQUIRETLS parameter goes on only over TLS that DANE (from a
DNSSEC-secure MX lookup), MTA-STS or a verified route authenticated, to a
server that offers REQUIRETLS itself; else its recipients fail 5.7.10 and
the sender gets a bounce that obeys the RFC (the header only, sent under
REQUIRETLS where it can be). The next hop that keeps the promise is a
second mxrelayd; Postfix is the one that cannot."""

import email
import os
import smtplib
import sqlite3
import ssl

import pytest

from daemon import Daemon, mxrelayd, wait_for  # noqa: F401  (mxrelayd is a fixture)
from mxtest.certs import tlsa_rdata

pytestmark = pytest.mark.netns

MX_ADDR = "127.0.0.11"
SENDER = "alice@sender.test"


def submit_requiretls(rcpt, extra=""):
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    msg = (f"From: <{SENDER}>\r\nTo: <{rcpt}>\r\nSubject: confidential\r\n{extra}\r\n"
           "secret body\r\n").encode()
    with smtplib.SMTP("127.0.0.1", 25, timeout=30) as c:
        c.starttls(context=ctx)
        c.sendmail(SENDER, [rcpt], msg, mail_options=["REQUIRETLS"])


def status_lines(d, rcpt):
    return [l for l in d.log().splitlines() if f'rcpt="<{rcpt}>"' in l and " status=" in l]


def relay_conf(bed, certs):
    return (f"dns_server = {bed.resolver}\ndnssec_trust_anchor = {bed.anchor_file}\n"
            f"ca_file = {certs.ca_file}\nretry_intervals = 1h\n")


@pytest.fixture
def bed(dnssec):
    dnssec.zone("secure.test")
    dnssec.mx("secure.test", [(10, "mx.secure.test")]).a("mx.secure.test", MX_ADDR)
    dnssec.zone("sender.test", signed=False)
    dnssec.mx("sender.test", [(10, "mx.sender.test")]).a("mx.sender.test", MX_ADDR)
    return dnssec


def test_relayed_over_dane_to_a_server_that_keeps_the_promise(bed, netns, mxr_bin, mxrelayd,
                                                              certs):
    # The next hop: a second mxrelayd on the MX address, its certificate named by TLSA.
    nxt = Daemon(netns, mxr_bin, listen=[f"{MX_ADDR}:25 relay"], relay_domains="secure.test",
                 certs=certs, hostname="mx.secure.test",
                 conf_extra="retry_intervals = 1h\nsmarthost = [127.0.0.99]:25 tls=verify\n")
    cert, _ = certs.server("mx.relay.test", "127.0.0.1")
    bed.record("_25._tcp.mx.secure.test", "TLSA", tlsa_rdata(cert, 3, 1, 1))
    bed.start()
    netns.add_addr(MX_ADDR)
    netns.peers.append(nxt)
    nxt.start()
    d = mxrelayd(relay_domains="", certs=certs, conf_extra=relay_conf(bed, certs))

    submit_requiretls("bob@secure.test")

    (line,) = wait_for("delivered", lambda: [l for l in status_lines(d, "bob@secure.test")
                                             if "status=delivered" in l], describe=d.describe)
    assert "tls_policy=dane tls_auth=dane" in line, line
    (qid,) = wait_for("the message at the next hop", lambda: list(nxt.messages()),
                      describe=nxt.describe)
    db = sqlite3.connect(f"file:{os.path.join(nxt.queue_dir, 'queue.db')}?mode=ro", uri=True)
    (flag,) = db.execute("SELECT requiretls FROM messages WHERE id = ?", (qid,)).fetchone()
    db.close()
    assert flag == 1, "the next hop did not get REQUIRETLS"
    nxt.check_clean_exit()


def test_a_server_without_requiretls_gets_nothing_and_the_sender_a_bounce(bed, postfix, mxrelayd,
                                                                         certs):
    cert, key = certs.server("mx.secure.test")
    bed.record("_25._tcp.mx.secure.test", "TLSA", tlsa_rdata(cert, 3, 1, 1))
    bed.start()
    pf = postfix(MX_ADDR, domains=["secure.test", "sender.test"], cert=(cert, key))
    d = mxrelayd(relay_domains="", certs=certs, conf_extra=relay_conf(bed, certs))

    submit_requiretls("bob@secure.test", extra="X-Secret: header-only\r\n")

    (line,) = wait_for("failed", lambda: [l for l in status_lines(d, "bob@secure.test")
                                          if "status=failed" in l], describe=d.describe)
    assert "dsn=5.7.10" in line and "REQUIRETLS" in line, line
    (bounce,) = pf.messages(wait=30)
    assert not [c for c in pf.commands() if "bob@secure.test" in c], pf.commands()
    msg = email.message_from_bytes(bounce)
    assert msg.get_content_type() == "multipart/report", bounce[:2000]
    parts = [p.get_content_type() for p in msg.walk()]
    # RFC 8689 5: RET=HDRS whatever was asked: the header comes back, the body does not.
    assert "text/rfc822-headers" in parts and "message/rfc822" not in parts, parts
    assert b"secret body" not in bounce and b"X-Secret: header-only" in bounce
    assert b"Status: 5.7.10" in bounce
