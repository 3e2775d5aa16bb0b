"""The daemon's delivery side: mail accepted by mxrelayd leaves through the
scheduler to real SMTP peers found through a real DNS server, is retried,
expires, and comes back to the sender as an RFC 3464 report when it fails.

Every test runs in its own network namespace: nsd answers for the test
zones on 127.0.0.53, the scriptable receiver of mxtest/fakesmtp.py plays
the MX hosts (and the sender's MX, which receives the bounces), and
mxrelayd relays for 127.0.0.1 with one-second retries.
"""

import base64
import email
import email.policy
import os
import shutil
import tempfile
import time

import pytest

from daemon import wait_for, Client, mxrelayd, queued_id  # noqa: F401  (mxrelayd is a fixture)

pytestmark = pytest.mark.netns
# The queue's side of delivery: every test on each backend.
QUEUE_BACKENDS = ("sqlite", "postgresql")

SENDER = "alice@sender.test"
SENDER_MX = "127.0.0.12"


def conf(*extra, retry="1s", delay_warning="0"):
    lines = ["dns_server = 127.0.0.53", f"retry_intervals = {retry}",
             f"delay_warning = {delay_warning}"]
    return "\n".join(lines + list(extra))


def zones(dns, **mx):
    """MX records: zones(dns, a_test="127.0.0.11") makes a.test MX mx.a.test -> 127.0.0.11."""
    for name, addr in mx.items():
        domain = name.replace("_", ".")
        dns.mx(domain, [(10, f"mx.{domain}")])
        dns.a(f"mx.{domain}", addr)
    dns.start()


def submit(sender, rcpts, body=None, mail_params="", subject="test"):
    """Queue one message through the daemon's listener; returns its queue id.

    rcpts: addresses, or (address, "RCPT parameters") pairs.
    """
    c = Client("127.0.0.1", 25)
    try:
        assert c.reply().code == 220
        c.expect("EHLO client.test", 250)
        c.expect(f"MAIL FROM:<{sender}>{' ' + mail_params if mail_params else ''}", 250)
        for r in rcpts:
            addr, params = (r, "") if isinstance(r, str) else r
            c.expect(f"RCPT TO:<{addr}>{' ' + params if params else ''}", 250)
        c.expect("DATA", 354)
        if body is None:
            to = ", ".join(r if isinstance(r, str) else r[0] for r in rcpts)
            body = (f"From: {sender or 'nobody@client.test'}\r\nTo: {to}\r\nSubject: {subject}\r\n"
                    f"Message-ID: <{time.time_ns()}@client.test>\r\n\r\nHello there.\r\n")
        c.send(body + ".\r\n")
        qid = queued_id(c.reply())
        c.cmd("QUIT")
        return qid
    finally:
        c.close()


def rcpt_states(d):
    """{address: (state, tries, last_code, last_esc)} of every recipient in the queue."""
    return {a: (s, t, c, e) for a, s, t, c, e in d.sql(
        "SELECT address, state, tries, last_code, last_esc FROM recipients")}


def queue_empty(d):
    return d.sql("SELECT COUNT(*) FROM messages")[0][0] == 0


def age_message(d, qid, seconds):
    """Pretend message qid was received `seconds` earlier (for expiry without waiting an hour)."""
    d.sql("UPDATE messages SET received_at = received_at - ? WHERE id = ?", (seconds, qid))


def dsn_parts(raw):
    """Parse a DSN with the email package: (message, [per-recipient dicts], per-message dict, parts)."""
    msg = email.message_from_bytes(raw, policy=email.policy.compat32)
    assert msg.get_content_type() == "multipart/report", msg.get_content_type()
    assert msg.get_param("report-type") == "delivery-status"
    parts = msg.get_payload()
    assert len(parts) == 3, [p.get_content_type() for p in parts]
    assert parts[0].get_content_type() == "text/plain"
    assert parts[1].get_content_type() == "message/delivery-status"
    # The email package parses message/delivery-status into header blocks.
    blocks = parts[1].get_payload()
    per_msg = dict(blocks[0].items())
    per_rcpt = [dict(b.items()) for b in blocks[1:]]
    return msg, per_rcpt, per_msg, parts


def by_final(per_rcpt):
    return {r["Final-Recipient"].split(";", 1)[1].strip(): r for r in per_rcpt}


def bounces_at(sink):
    return [m for m in sink.messages if m is not None]


# --- tests -------------------------------------------------------------------

def test_deferred_then_delivered_when_the_destination_comes_back(netns, dns, fakesmtp, mxrelayd):
    zones(dns, a_test="127.0.0.11")
    d = mxrelayd(conf_extra=conf())
    qid = submit(SENDER, ["bob@a.test"])
    wait_for("a deferral", lambda: rcpt_states(d).get("bob@a.test", ("",))[0] == "deferred",
             describe=d.describe)
    assert "status=deferred" in d.log()
    mx = fakesmtp("127.0.0.11")
    wait_for("delivery", lambda: len(mx.messages) == 1, describe=d.describe)
    t = mx.transactions[0]
    assert t.mail.startswith(f"MAIL FROM:<{SENDER}>"), t.mail
    assert t.accepted == ["bob@a.test"]
    assert b"Hello there." in mx.messages[0].message
    wait_for("the message to leave the queue", lambda: queue_empty(d), describe=d.describe)
    assert f"queue={qid} rcpt=\"<bob@a.test>\" status=delivered" in d.log()


def test_5xx_bounce_reaches_the_sender_as_rfc3464(netns, dns, fakesmtp, mxrelayd):
    zones(dns, a_test="127.0.0.11", sender_test=SENDER_MX)
    mx = fakesmtp("127.0.0.11", replies={"rcpt:bob@a.test": "550 5.1.1 <bob@a.test>: no such user"})
    home = fakesmtp(SENDER_MX)
    d = mxrelayd(conf_extra=conf())
    qid = submit(SENDER, [("bob@a.test", "NOTIFY=FAILURE ORCPT=rfc822;Bob@A.test")],
                 mail_params="RET=FULL ENVID=env+2D42")
    wait_for("the bounce", lambda: len(home.messages) == 1, describe=d.describe)
    t = home.transactions[0]
    assert t.mail.startswith("MAIL FROM:<>"), t.mail
    assert t.accepted == [SENDER]
    msg, rcpts, per_msg, parts = dsn_parts(home.messages[0].message)
    assert msg["From"] == "Mail Delivery System <MAILER-DAEMON@mx.relay.test>"
    assert msg["To"] == f"<{SENDER}>"
    assert msg["Subject"] == "Undelivered Mail Returned to Sender"
    assert msg["Auto-Submitted"] == "auto-replied"
    assert msg["Date"] and msg["Message-ID"]
    assert per_msg["Reporting-MTA"] == "dns; mx.relay.test"
    assert per_msg["Original-Envelope-Id"] == "env-42"
    assert per_msg.get("Arrival-Date")
    assert len(rcpts) == 1
    r = rcpts[0]
    assert r["Final-Recipient"] == "rfc822; bob@a.test"
    assert r["Original-Recipient"] == "rfc822;Bob@A.test"
    assert r["Action"] == "failed"
    assert r["Status"] == "5.1.1"
    assert r["Remote-MTA"] == "dns; mx.a.test"
    assert r["Diagnostic-Code"].startswith("smtp; 550 5.1.1"), r["Diagnostic-Code"]
    assert r.get("Last-Attempt-Date")
    # RET=FULL: the whole original comes back.
    assert parts[2].get_content_type() == "message/rfc822"
    orig = parts[2].get_payload()[0]
    assert orig["Subject"] == "test"
    assert "Hello there." in orig.get_payload()
    wait_for("the message to leave the queue", lambda: qid not in d.messages(), describe=d.describe)
    assert len(mx.messages) == 0


def test_three_recipients_end_delivered_bounced_and_expired(netns, dns, fakesmtp, mxrelayd):
    zones(dns, a_test="127.0.0.11", sender_test=SENDER_MX)
    fakesmtp("127.0.0.11", replies={
        "rcpt:bad@a.test": "550 5.1.1 no such user",
        "rcpt:slow@a.test": "451 4.3.0 try again later",
    })
    home = fakesmtp(SENDER_MX)
    d = mxrelayd(conf_extra=conf("max_queue_age = 1h"))
    qid = submit(SENDER, ["ok@a.test", "bad@a.test", "slow@a.test"], mail_params="RET=HDRS")
    wait_for("the first outcomes", lambda: (lambda s: s.get("ok@a.test", ("",))[0] == "delivered"
             and s.get("bad@a.test", ("",))[0] == "bounced"
             and s.get("slow@a.test", ("",))[0] == "deferred")(rcpt_states(d)), describe=d.describe)
    wait_for("the bounce for bad@a.test", lambda: len(home.messages) == 1, describe=d.describe)
    # An hour in the queue has passed: the next due time fails slow@a.test for good.
    age_message(d, qid, 3600)
    wait_for("the expiry bounce", lambda: len(home.messages) == 2, describe=d.describe)
    reports = [dsn_parts(m.message) for m in home.messages]
    first = by_final(reports[0][1])
    second = by_final(reports[1][1])
    assert list(first) == ["bad@a.test"], first
    assert first["bad@a.test"]["Status"] == "5.1.1"
    assert list(second) == ["slow@a.test"], second
    assert second["slow@a.test"]["Action"] == "failed"
    assert second["slow@a.test"]["Status"] == "4.4.7"
    assert "try again later" in second["slow@a.test"]["Diagnostic-Code"]
    for _, _, _, parts in reports:
        assert parts[2].get_content_type() == "text/rfc822-headers"   # RET=HDRS
    wait_for("the message to leave the queue", lambda: qid not in d.messages(), describe=d.describe)


def test_notify_never_sends_no_bounce(netns, dns, fakesmtp, mxrelayd):
    zones(dns, a_test="127.0.0.11", sender_test=SENDER_MX)
    fakesmtp("127.0.0.11", replies={"rcpt": "550 5.1.1 no such user"})
    home = fakesmtp(SENDER_MX)
    d = mxrelayd(conf_extra=conf())
    qid = submit(SENDER, [("bob@a.test", "NOTIFY=NEVER")])
    wait_for("the message to leave the queue", lambda: qid not in d.messages(), describe=d.describe)
    time.sleep(1.5)
    assert home.messages == [] and home.connections == 0
    assert f"queue={qid} event=no-bounce" in d.log()


def test_no_bounce_to_the_null_sender(netns, dns, fakesmtp, mxrelayd):
    zones(dns, a_test="127.0.0.11", sender_test=SENDER_MX)
    mx = fakesmtp("127.0.0.11", replies={"rcpt": "550 5.1.1 no such user"})
    home = fakesmtp(SENDER_MX)
    d = mxrelayd(conf_extra=conf())
    qid = submit("", ["bob@a.test"])
    wait_for("the message to leave the queue", lambda: qid not in d.messages(), describe=d.describe)
    time.sleep(1.5)
    assert mx.transactions and mx.transactions[0].mail.startswith("MAIL FROM:<>")
    assert home.connections == 0
    assert "reason=\"null sender\"" in d.log()


def test_dsn_parameters_reach_a_dsn_capable_next_hop(netns, dns, fakesmtp, mxrelayd):
    zones(dns, a_test="127.0.0.11", sender_test=SENDER_MX)
    mx = fakesmtp("127.0.0.11")   # offers DSN
    home = fakesmtp(SENDER_MX)
    d = mxrelayd(conf_extra=conf())
    qid = submit(SENDER, [("bob@a.test", "NOTIFY=SUCCESS,FAILURE ORCPT=rfc822;bob@a.test")],
                 mail_params="RET=HDRS ENVID=abc123")
    wait_for("the message to leave the queue", lambda: qid not in d.messages(), describe=d.describe)
    t = mx.transactions[0]
    assert "RET=HDRS" in t.mail and "ENVID=abc123" in t.mail, t.mail
    rcpt_line = t.rcpts[0][0]
    assert "NOTIFY=SUCCESS,FAILURE" in rcpt_line and "ORCPT=rfc822;bob@a.test" in rcpt_line, rcpt_line
    # The next hop took the DSN duty: no notice from us.
    time.sleep(1.5)
    assert home.connections == 0


def test_relayed_notice_when_the_next_hop_lacks_dsn(netns, dns, fakesmtp, mxrelayd):
    zones(dns, a_test="127.0.0.11", sender_test=SENDER_MX)
    mx = fakesmtp("127.0.0.11", extensions=["PIPELINING", "8BITMIME", "ENHANCEDSTATUSCODES"])
    home = fakesmtp(SENDER_MX)
    d = mxrelayd(conf_extra=conf())
    qid = submit(SENDER, [("bob@a.test", "NOTIFY=SUCCESS")], mail_params="ENVID=e77")
    wait_for("the relayed notice", lambda: len(home.messages) == 1, describe=d.describe)
    # The original goes once the notice has read it (never before: the notice needs it).
    wait_for("the original to leave the queue", lambda: qid not in d.messages(),
             describe=d.describe)
    assert "event=notice-failed" not in d.log()
    assert "NOTIFY" not in mx.transactions[0].rcpts[0][0]
    msg, rcpts, per_msg, parts = dsn_parts(home.messages[0].message)
    assert msg["Subject"] == "Successful Mail Delivery Report"
    assert per_msg["Original-Envelope-Id"] == "e77"
    assert rcpts[0]["Action"] == "relayed"
    assert rcpts[0]["Status"].startswith("2.")
    assert parts[2].get_content_type() == "text/rfc822-headers"


def test_smarthost_with_auth_over_starttls(netns, dns, fakesmtp, mxrelayd, certs):
    dns.start()
    netns.add_addr("127.0.0.20")
    relay = fakesmtp("127.0.0.20", port=587, starttls=True, cert=certs.server("127.0.0.20"),
                     auth="PLAIN LOGIN", auth_needs_tls=True)
    # The daemon runs as nobody: the CA and the password file live where it can read them.
    pub = tempfile.mkdtemp(prefix="mxrd-smarthost-")
    netns.on_stop(lambda: shutil.rmtree(pub, ignore_errors=True))
    os.chmod(pub, 0o755)
    ca = shutil.copy(certs.ca_file, os.path.join(pub, "ca.pem"))
    pw = os.path.join(pub, "pw")
    with open(pw, "w") as f:
        f.write("s3cret\n")
    for path in (ca, pw):
        os.chmod(path, 0o644)
    d = mxrelayd(conf_extra=conf(f"ca_file = {ca}",
                                 f"smarthost = [127.0.0.20]:587 tls=required auth=relayuser password-file={pw}"))
    qid = submit(SENDER, ["bob@far.test", "carol@other.test"])
    wait_for("delivery through the smarthost", lambda: qid not in d.messages(), describe=d.describe)
    assert len(relay.messages) == 2
    s = relay.sessions[0]
    assert s.tls, "AUTH must come after STARTTLS"
    auth = [c for c in relay.commands("AUTH")]
    assert auth, relay.describe()
    assert "s3cret" not in d.log()
    blob = auth[0].split()
    if len(blob) >= 3 and blob[1].upper() == "PLAIN":
        assert base64.b64decode(blob[2]) == b"\0relayuser\0s3cret"


def test_dead_destination_is_backed_off_as_a_whole(netns, dns, fakesmtp, mxrelayd):
    zones(dns, dead_test="127.0.0.13")
    dead = fakesmtp("127.0.0.13", replies={"greeting": "421 4.3.2 service not available"})
    d = mxrelayd(conf_extra=conf("max_per_destination = 2", retry="30s"))
    n = 20
    ids = [submit(SENDER, [f"u{i}@dead.test"]) for i in range(n)]
    wait_for("every recipient deferred", lambda: sum(1 for s in rcpt_states(d).values()
             if s[0] == "deferred") == n, describe=d.describe)
    attempts = dead.connections
    assert 1 <= attempts <= 4, f"{attempts} connection attempts for {n} messages"
    assert d.log().count("note=backoff") >= n - attempts * 1
    assert len(ids) == n


def test_delay_warning_is_sent_once(netns, dns, fakesmtp, mxrelayd):
    zones(dns, a_test="127.0.0.11", sender_test=SENDER_MX)
    fakesmtp("127.0.0.11", replies={"rcpt": "451 4.2.0 mailbox busy"})
    home = fakesmtp(SENDER_MX)
    d = mxrelayd(conf_extra=conf(delay_warning="2s"))
    qid = submit(SENDER, [("bob@a.test", "NOTIFY=DELAY,FAILURE")], mail_params="ENVID=late1")
    wait_for("the delay warning", lambda: len(home.messages) == 1, describe=d.describe)
    msg, rcpts, per_msg, parts = dsn_parts(home.messages[0].message)
    assert msg["Subject"] == "Delayed Mail (still being retried)"
    assert rcpts[0]["Action"] == "delayed"
    assert rcpts[0]["Status"] == "4.2.0"
    assert rcpts[0].get("Will-Retry-Until")
    assert per_msg["Original-Envelope-Id"] == "late1"
    # Later deferrals do not warn again.
    tries = rcpt_states(d)["bob@a.test"][1]
    wait_for("two more tries", lambda: rcpt_states(d)["bob@a.test"][1] >= tries + 2, describe=d.describe)
    assert len(home.messages) == 1
    assert rcpt_states(d)["bob@a.test"][0] == "deferred" and qid in d.messages()


def test_delivery_cut_by_a_crash_is_resumed(netns, dns, fakesmtp, mxrelayd):
    zones(dns, a_test="127.0.0.11")
    # The first transaction hangs after the dot; the daemon dies meanwhile.
    mx = fakesmtp("127.0.0.11", replies={"dot": [{"reply": "250 2.0.0 Ok", "delay": 30}, "250 2.0.0 Ok"]})
    d = mxrelayd(conf_extra=conf())
    qid = submit(SENDER, ["bob@a.test"])
    wait_for("the first attempt to reach the dot", lambda: any(t.message is not None for t in mx.transactions),
             describe=d.describe)
    d.kill()
    assert rcpt_states(d)["bob@a.test"][0] == "pending"
    d.start()
    wait_for("the message to leave the queue after the restart", lambda: qid not in d.messages(),
             describe=d.describe)
    assert len(mx.messages) >= 1     # at least once; the cut attempt may count as a duplicate
    assert "event=delivery" in d.log()


def test_bounce_returning_8bit_headers_is_sent_as_8bitmime(netns, dns, fakesmtp, mxrelayd):
    # RET=HDRS returns only the header section; raw 8-bit octets there (common
    # without SMTPUTF8) make the DSN 8-bit, so it must go out as BODY=8BITMIME.
    zones(dns, a_test="127.0.0.11", sender_test=SENDER_MX)
    fakesmtp("127.0.0.11", replies={"rcpt:bob@a.test": "550 5.1.1 no such user"})
    home = fakesmtp(SENDER_MX)
    d = mxrelayd(conf_extra=conf())
    body = (f"From: {SENDER}\r\nTo: bob@a.test\r\nSubject: caf\u00e9\r\n"
            f"Message-ID: <{time.time_ns()}@client.test>\r\n\r\nplain text\r\n")
    submit(SENDER, ["bob@a.test"], body=body, mail_params="RET=HDRS")
    wait_for("the bounce", lambda: len(home.messages) == 1, describe=d.describe)
    t = home.transactions[0]
    assert t.mail.startswith("MAIL FROM:<>") and "BODY=8BITMIME" in t.mail, t.mail
    assert "caf\u00e9".encode() in home.messages[0].message, "the 8-bit header came back"
