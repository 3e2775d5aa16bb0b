"""Rate limits as an administrator sets them (mxrelay.conf(5), Rate limits):
messages and recipients per authenticated user and per client address,
connections per client address, an IPv6 client counted by its /64, exempt
networks, the local submitter's limits, a reload that keeps every bucket,
and what `mxrelay status` and the metrics say of the refusals.

Clients are Python's smtplib (as a mail program submits) and a raw client
for exact replies; messages go on to the scriptable fakesmtp as smarthost,
so "delivered to the recipients accepted" is what the next hop received.
No assertion depends on timing beyond what a limit guarantees: a refusal
says when to try again, and the test waits that long before trying.
"""

import base64
import json
import os
import re
import shutil
import smtplib
import subprocess
import time
import http.client

import pytest

from conftest import sanitizer_env, sanitizer_report
from daemon import wait_for, Client, mxrelayd, queued_id  # noqa: F401  (mxrelayd is a fixture)
from mxtest.netns import wait_port
import test_http_status_page as page

pytestmark = pytest.mark.netns

USERS = {"alice": "alice pw", "bob": "bob pw", "svc": "svc pw"}
SUBMISSION = "127.0.0.1:587 submission auth-plaintext"
RELAY = "127.0.0.1:25 relay"
NEXT_HOP = "127.0.0.11"
RETRY = re.compile(r"try again in (\d+) seconds?")
HTTP_PORT = 9425


def conf(*lines):
    """The daemon's extra lines: the fakesmtp next hop, no retries to wait for."""
    return "\n".join([f"smarthost = [{NEXT_HOP}]:25 tls=none", "retry_intervals = 1h",
                      "delay_warning = 0", *lines]) + "\n"


def start(mxrelayd, fakesmtp, *lines, **kw):
    hop = fakesmtp(NEXT_HOP)
    kw.setdefault("listen", [RELAY, SUBMISSION])
    kw.setdefault("auth_users", USERS)
    d = mxrelayd(conf_extra=conf(*lines), **kw)
    return d, hop


def retry_seconds(text):
    m = RETRY.search(text)
    assert m, f"no 'try again in N seconds' in {text!r}"
    return int(m.group(1))


def message(sender, rcpts, subject):
    return (f"From: <{sender}>\r\nTo: {', '.join('<' + r + '>' for r in rcpts)}\r\n"
            f"Subject: {subject}\r\n\r\nrate limit test\r\n")


def submit(user, rcpts, subject, source=None):
    """One message by smtplib as user on the submission port; the refused recipients."""
    s = smtplib.SMTP("127.0.0.1", 587, source_address=(source, 0) if source else None,
                     timeout=15)
    try:
        s.ehlo("client.test")
        s.login(user, USERS[user])
        sender = f"{user}@example.test"
        return s.sendmail(sender, rcpts, message(sender, rcpts, subject))
    finally:
        s.close()


def plain(user):
    return base64.b64encode(f"\0{user}\0{USERS[user]}".encode()).decode()


def session(port=25, source=None, user=None):
    """A raw session past EHLO (and AUTH as user)."""
    c = Client("127.0.0.1", port, source=source)
    r = c.reply()
    assert r.code == 220, f"greeting: got {r}, want 220"
    c.expect("EHLO client.test", 250)
    if user is not None:
        c.expect("AUTH PLAIN " + plain(user), 235)
    return c


def send_data(c, sender, rcpts, subject):
    c.expect("DATA", 354)
    c.send(message(sender, rcpts, subject).encode() + b".\r\n")
    return queued_id(c.reply())


def rate_lines(d, limit=None):
    return [l for l in d.log().splitlines() if "event=rate-limited" in l and
            (limit is None or f" limit={limit} " in l)]


def delivered(hop, subject):
    """The recipients of the message with subject that the next hop took, once it did."""
    for t in hop.messages:
        if f"Subject: {subject}\r\n".encode() in t.message:
            return sorted(t.accepted)
    return None


def reload_cli(mxr_bin, d):
    r = subprocess.run([mxr_bin.mxrelay, "reload", "-c", d.conf], capture_output=True, text=True,
                       timeout=30, env=sanitizer_env())
    assert sanitizer_report(r.stderr) is None, r.stderr
    assert r.returncode == 0, f"reload: rc={r.returncode}\n{r.stdout}{r.stderr}\n{d.log()[-3000:]}"


def rewrite(d, old, new):
    text = open(d.conf).read()
    assert old in text, f"{old!r} not in {d.conf}"
    with open(d.conf, "w") as f:
        f.write(text.replace(old, new))


# --- per user ----------------------------------------------------------------------------


def test_user_message_limit_refuses_with_when_and_lifts(mxrelayd, fakesmtp, mxr_bin):
    """user_message_rate = 2/3s: alice sends two, the third MAIL gets 452 4.7.0 saying in
    how many seconds (at most the 3 s window); bob, from the same address, is not held
    back; after the time said, alice sends again; svc (user_rate unlimited) never waits.
    One log line per refusal names session, client, user, limit and retry_in; check-config
    says which limits are on."""
    d, hop = start(mxrelayd, fakesmtp, "user_message_rate = 2/3s", "user_rate = svc unlimited")
    assert submit("alice", ["r1@example.test"], "alice 1") == {}
    assert submit("alice", ["r2@example.test"], "alice 2") == {}
    with pytest.raises(smtplib.SMTPSenderRefused) as e:
        submit("alice", ["r3@example.test"], "alice 3")
    assert (e.value.smtp_code, e.value.smtp_error.split(b" ")[0]) == (452, b"4.7.0"), e.value
    text = e.value.smtp_error.decode()
    wait_s = retry_seconds(text)
    assert 1 <= wait_s <= 3, f"retry {wait_s} s is outside the 3 s window: {text}"
    assert "too many messages from user alice" in text, text
    refused_at = time.monotonic()
    assert submit("bob", ["r4@example.test"], "bob 1") == {}
    for i in range(5):
        assert submit("svc", [f"s{i}@example.test"], f"svc {i}") == {}
    (line,) = rate_lines(d, "user_message")
    assert re.search(r"session=[0-9a-f]{16} event=rate-limited command=MAIL client=127\.0\.0\.1 "
                     r'user="alice" limit=user_message rate=2/3s code=452 dsn=4\.7\.0 '
                     rf"retry_in={wait_s}$", line), line
    r = subprocess.run([mxr_bin.mxrelay, "check-config", d.conf], capture_output=True, text=True,
                       timeout=30, env=sanitizer_env())
    assert r.returncode == 0, r
    assert "\nrate limits: user_message_rate 2/3s; 1 user_rate line\n" in r.stdout, r.stdout
    time.sleep(max(0.0, refused_at + wait_s - time.monotonic()))
    assert submit("alice", ["r5@example.test"], "alice 4") == {}
    # The refused message was never queued; the others all went on.
    wait_for("9 messages at the next hop", lambda: len(hop.messages) == 9, describe=d.describe)
    assert delivered(hop, "alice 3") is None


def test_recipient_limit_mid_transaction(mxrelayd, fakesmtp):
    """user_recipient_rate = 3/1h: the fourth RCPT of a transaction gets 452 4.7.0 with the
    time one more is allowed (1200 s: an hour over 3); the message goes on to the three
    accepted, and only to them. A refused RCPT takes nothing: the bucket is as full as
    the three accepted left it."""
    d, hop = start(mxrelayd, fakesmtp, "user_recipient_rate = 3/1h")
    c = session(587, user="alice")
    c.expect("MAIL FROM:<alice@example.test>", 250)
    for i in range(3):
        c.expect(f"RCPT TO:<to{i}@example.test>", 250, "2.1.5")
    r = c.cmd("RCPT TO:<to3@example.test>")
    assert (r.code, r.esc) == (452, "4.7.0"), f"the fourth RCPT: got {r}, want 452 4.7.0"
    assert 1199 <= retry_seconds(r.text) <= 1200, r
    r = c.cmd("RCPT TO:<to4@example.test>")
    assert (r.code, r.esc) == (452, "4.7.0"), r
    send_data(c, "alice@example.test", ["to0@example.test"], "three of five")
    c.expect("QUIT", 221)
    got = wait_for("the message at the next hop", lambda: delivered(hop, "three of five"),
                   describe=d.describe)
    assert got == ["to0@example.test", "to1@example.test", "to2@example.test"], got
    lines = rate_lines(d, "user_recipient")
    assert len(lines) == 2 and 'to="<to3@example.test>"' in lines[0], lines


def test_what_a_transaction_took_comes_back_when_nothing_is_queued(mxrelayd, fakesmtp):
    """A message and its recipients count only when the message is queued: a transaction
    reset (RSET) or cut off (the client leaves) gives back what its MAIL and RCPTs took,
    so with room for one message of two recipients per hour alice still sends it."""
    d, hop = start(mxrelayd, fakesmtp, "user_message_rate = 1/1h", "user_recipient_rate = 2/1h")
    c = session(587, user="alice")
    c.expect("MAIL FROM:<alice@example.test>", 250)
    c.expect("RCPT TO:<a@example.test>", 250)
    c.expect("RCPT TO:<b@example.test>", 250)
    c.expect("RSET", 250)
    c.expect("MAIL FROM:<alice@example.test>", 250)
    c.expect("RCPT TO:<a@example.test>", 250)
    c.expect("RCPT TO:<b@example.test>", 250)
    c.close()       # gone in the middle of the transaction
    c = session(587, user="alice")
    c.expect("MAIL FROM:<alice@example.test>", 250)
    c.expect("RCPT TO:<a@example.test>", 250)
    c.expect("RCPT TO:<b@example.test>", 250)
    send_data(c, "alice@example.test", ["a@example.test"], "given back")
    # Now it counts: the next MAIL waits the hour.
    r = c.cmd("MAIL FROM:<alice@example.test>")
    assert (r.code, r.esc) == (452, "4.7.0"), r
    assert 3599 <= retry_seconds(r.text) <= 3600, r
    c.expect("QUIT", 221)
    got = wait_for("the message at the next hop", lambda: delivered(hop, "given back"),
                   describe=d.describe)
    assert got == ["a@example.test", "b@example.test"], got


def test_local_submitter_has_user_limits(netns, mxrelayd, fakesmtp, mxr_bin):
    """sendmail on the local socket: no client address, so only the user's limits apply,
    to the login of the submitter: nobody gets one message an hour, the second is
    refused for now (sendmail exits 75, EX_TEMPFAIL); root (user_rate unlimited) sends on."""
    d, hop = start(mxrelayd, fakesmtp, "user_message_rate = 1/1h", "user_rate = root unlimited",
                   listen=[RELAY], auth_users=None)
    wait_for("the local socket", lambda: os.path.exists(d.queue_dir + "-public/submit.sock"))

    def sendmail(user, subject):
        r = subprocess.run(["runuser", "-u", user, "--", mxr_bin.mxrelay, "sendmail", "-C", d.conf,
                            "-i", "friend@example.test"], input=f"Subject: {subject}\n\nx\n".encode(),
                           capture_output=True, env=sanitizer_env(), timeout=60)
        assert sanitizer_report(r.stderr.decode()) is None, r.stderr
        return r

    assert sendmail("nobody", "n1").returncode == 0
    r = sendmail("nobody", "n2")
    assert r.returncode == 75, f"second by nobody: got {r.returncode}, want 75\n{r.stderr}"
    assert b"452" in r.stderr and b"try again in" in r.stderr, r.stderr
    for i in range(3):
        r = sendmail("root", f"root {i}")
        assert r.returncode == 0, r.stderr
    (line,) = rate_lines(d, "user_message")
    assert 'user="nobody"' in line, line
    wait_for("4 messages at the next hop", lambda: len(hop.messages) == 4, describe=d.describe)


# --- per client address ------------------------------------------------------------------


def test_client_connection_limit_gets_421(mxrelayd, fakesmtp):
    """client_connection_rate = 2/1h: the third connection from 127.0.0.1 gets
    421 4.7.0 instead of the greeting, with the address and when to try again, and is
    closed; another address connects. Open sessions are not touched."""
    d, hop = start(mxrelayd, fakesmtp, "client_connection_rate = 2/1h", listen=[RELAY],
                   auth_users=None)
    held = [session(), session()]
    c = Client("127.0.0.1", 25)
    r = c.reply()
    assert (r.code, r.esc) == (421, "4.7.0"), f"third connection: got {r}, want 421 4.7.0"
    assert "too many connections from 127.0.0.1" in r.text, r
    assert 1799 <= retry_seconds(r.text) <= 1800, r
    assert c.closed(), "the refused connection stays open"
    other = session(source="127.0.0.2")
    other.expect("QUIT", 221)
    for h in held:
        h.expect("NOOP", 250)
        h.expect("QUIT", 221)
    (line,) = rate_lines(d, "client_connection")
    assert re.search(r'event=rate-limited command=connect client=127\.0\.0\.1 listener="127\.0\.0\.1:25" '
                     r"limit=client_connection rate=2/1h code=421 dsn=4\.7\.0 retry_in=1800", line), line


def test_ipv6_clients_of_one_64_share_a_counter(netns, mxrelayd, fakesmtp):
    """An IPv6 client is its /64: with client_connection_rate = 2/1h, connections from
    three addresses of one /64 are two and a refusal; another /64 has its own; and
    client_message_rate counts the /64's messages together in the same way."""
    server = "fd00::ff"
    for a in (server, "fd00::1", "fd00::2", "fd00::3", "fd00:0:0:1::1"):
        netns.add_addr(a)
    d, hop = start(mxrelayd, fakesmtp, "client_connection_rate = 2/1h", "client_message_rate = 1/1h",
                   listen=[f"[{server}]:25 relay"], relay_networks="fd00::/32", auth_users=None)

    def connect(src):
        c = Client(server, 25, source=src)
        return c, c.reply()

    c1, r1 = connect("fd00::1")
    assert r1.code == 220, r1
    c1.expect("EHLO client.test", 250)
    c1.expect("MAIL FROM:<a@example.test>", 250)
    c2, r2 = connect("fd00::2")
    assert r2.code == 220, r2
    c2.expect("EHLO client.test", 250)
    r = c2.cmd("MAIL FROM:<b@example.test>")
    assert (r.code, r.esc) == (452, "4.7.0"), f"a message from the same /64: got {r}"
    assert "too many messages from fd00::2" in r.text, r
    c3, r3 = connect("fd00::3")
    assert (r3.code, r3.esc) == (421, "4.7.0"), f"third connection from the /64: got {r3}"
    c3.close()
    c4, r4 = connect("fd00:0:0:1::1")
    assert r4.code == 220, f"another /64: got {r4}"
    c4.expect("EHLO client.test", 250)
    c4.expect("MAIL FROM:<c@example.test>", 250)
    for c in (c1, c2, c4):
        c.expect("QUIT", 221)


def test_exempt_networks_skip_client_limits_not_user_limits(netns, mxrelayd, fakesmtp):
    """rate_limit_exempt = 127.0.0.2: that client connects and sends past the client
    limits that hold 127.0.0.1 back; a user authenticated from it is still held by the
    user's own limit."""
    d, hop = start(mxrelayd, fakesmtp, "client_connection_rate = 1/1h", "client_message_rate = 1/1h",
                   "user_message_rate = 1/1h", "rate_limit_exempt = 127.0.0.2/32",
                   relay_networks="127.0.0.0/8")
    for i in range(3):
        c = session(source="127.0.0.2")
        c.expect("MAIL FROM:<x@example.test>", 250)
        c.expect("RCPT TO:<y@example.test>", 250)
        send_data(c, "x@example.test", ["y@example.test"], f"exempt {i}")
        c.expect("QUIT", 221)
    c = session(source="127.0.0.1")
    c.expect("MAIL FROM:<x@example.test>", 250)
    c.expect("QUIT", 221)
    c = Client("127.0.0.1", 25, source="127.0.0.1")
    assert c.reply().code == 421
    c.close()
    # User limits hold whatever the address.
    assert submit("alice", ["z@example.test"], "alice exempt 1", source="127.0.0.2") == {}
    with pytest.raises(smtplib.SMTPSenderRefused) as e:
        submit("alice", ["z@example.test"], "alice exempt 2", source="127.0.0.2")
    assert e.value.smtp_code == 452, e.value


# --- reload, status, metrics ---------------------------------------------------------------


def test_reload_keeps_the_counters(mxrelayd, fakesmtp, mxr_bin):
    """A reload keeps every bucket: alice, out of messages, is still refused after it; a
    new rate applies to what the bucket held (one of one taken is one of two taken: one
    more); a reload that changes nothing of the limits changes nothing."""
    # 127.0.0.1 (the submissions) is exempt from the client limits; 127.0.0.2 is not.
    d, hop = start(mxrelayd, fakesmtp, "user_message_rate = 1/1h", "client_connection_rate = 3/1h",
                   "rate_limit_exempt = 127.0.0.1/32")
    assert submit("alice", ["a@example.test"], "before") == {}
    with pytest.raises(smtplib.SMTPSenderRefused):
        submit("alice", ["a@example.test"], "refused before")
    reload_cli(mxr_bin, d)
    with pytest.raises(smtplib.SMTPSenderRefused) as e:
        submit("alice", ["a@example.test"], "refused after")
    assert 3000 <= retry_seconds(e.value.smtp_error.decode()) <= 3600, e.value
    # Connections too: three an hour from 127.0.0.2, counted across reloads.
    session(source="127.0.0.2").close()
    reload_cli(mxr_bin, d)
    session(source="127.0.0.2").close()
    session(source="127.0.0.2").close()
    c = Client("127.0.0.1", 25, source="127.0.0.2")
    assert c.reply().code == 421, "the fourth connection of the hour, across two reloads"
    c.close()
    rewrite(d, "user_message_rate = 1/1h", "user_message_rate = 2/1h")
    reload_cli(mxr_bin, d)
    assert submit("alice", ["a@example.test"], "after raise") == {}
    with pytest.raises(smtplib.SMTPSenderRefused):
        submit("alice", ["a@example.test"], "refused after raise")
    assert [l for l in d.log().splitlines() if "event=reloaded" in l], d.log()[-2000:]


def http_get(path):
    c = http.client.HTTPConnection("127.0.0.1", HTTP_PORT, timeout=10)
    try:
        c.request("GET", path)
        r = c.getresponse()
        return r.status, r.read().decode()
    finally:
        c.close()


def test_status_and_metrics_show_the_refusals(netns, mxrelayd, fakesmtp, mxr_bin, tmp_path):
    """After refusals by three limits: `mxrelay status` lists the limits in force, the
    buckets held, the refusals per limit and who is limited now; --json has them as
    docs/status.md says; /metrics counts mxrelay_rate_limited_total per limit (every
    limit written, 0 included), the buckets held, and passes promtool; the status page,
    drawn by headless Chromium, lists who is limited now."""
    d, hop = start(mxrelayd, fakesmtp, "user_message_rate = 1/1h", "client_recipient_rate = 2/1h",
                   "client_connection_rate = 4/1h", "user_rate = svc unlimited",
                   "rate_limit_exempt = 192.0.2.0/24", f"http_listen = 127.0.0.1:{HTTP_PORT}",
                   "http_allow = 127.0.0.1/32")
    wait_port("127.0.0.1", HTTP_PORT, proc=d.proc)
    assert submit("alice", ["a@example.test"], "one") == {}
    with pytest.raises(smtplib.SMTPSenderRefused):
        submit("alice", ["a@example.test"], "two")
    c = session()
    c.expect("MAIL FROM:<x@example.test>", 250)
    c.expect("RCPT TO:<p@example.test>", 250)
    assert c.cmd("RCPT TO:<q@example.test>").code == 452    # the third of the hour (alice took one)
    c.expect("QUIT", 221)
    # Connections from 127.0.0.1: the two submissions and the session above; one more fills
    # the hour, the next is refused.
    session().close()
    c = Client("127.0.0.1", 25)
    assert c.reply().code == 421
    c.close()

    def status(*args):
        r = subprocess.run([mxr_bin.mxrelay, "status", "-c", d.conf, *args], capture_output=True,
                           text=True, timeout=30, env=sanitizer_env())
        assert r.returncode == 0 and sanitizer_report(r.stderr) is None, r
        return r.stdout

    out = status()
    assert ("rate limits: client_connection 4/1h, client_message off, client_recipient 2/1h, "
            "user_message 1/1h, user_recipient off; 1 user_rate line; exempt: 192.0.2.0/24\n") in out, out
    assert re.search(r"^rate limit buckets: \d+ held of 100000, 0 dropped when full; refused since "
                     r"start: client_connection 1, client_message 0, client_recipient 1, "
                     r"user_message 1, user_recipient 0$", out, re.M), out
    limited = out.split("rate limited now (the latest refused first):\n", 1)[1].splitlines()
    # The session whose RCPT was refused queued nothing: its accepted RCPT was given back,
    # so the client's recipient bucket has room again and is not listed.
    assert re.match(r"  client_connection 127\.0\.0\.1: room again in \d+s, 1 refused$", limited[0]), out
    assert re.match(r"  user_message alice: room again in \d+s, 1 refused$", limited[1]), out
    assert limited[2].startswith("permanent failures"), out

    s = json.loads(status("--json"))["rate_limits"]
    assert s["limits"] == {"client_connection": "4/1h", "client_message": None,
                           "client_recipient": "2/1h", "user_message": "1/1h",
                           "user_recipient": None}, s
    assert s["user_rates"] == 1 and s["exempt"] == ["192.0.2.0/24"], s
    assert s["max_entries"] == 100000 and s["evictions"] == 0 and s["entries"] >= 3, s
    assert s["refused"] == {"client_connection": 1, "client_message": 0, "client_recipient": 1,
                            "user_message": 1, "user_recipient": 0}, s
    assert [(x["limit"], x["key"], x["refusals"]) for x in s["limited"]] == [
        ("client_connection", "127.0.0.1", 1), ("user_message", "alice", 1)], s
    assert all(0 < x["retry_in"] <= 3600 for x in s["limited"]), s

    code, text = http_get("/metrics")
    assert code == 200, text
    for limit, n in (("client_connection", 1), ("client_message", 0), ("client_recipient", 1),
                     ("user_message", 1), ("user_recipient", 0)):
        assert f'mxrelay_rate_limited_total{{limit="{limit}"}} {n}\n' in text, text
    m = re.search(r"^mxrelay_rate_limit_entries (\d+)$", text, re.M)
    assert m and int(m.group(1)) >= 3, text
    assert "\nmxrelay_rate_limit_evictions_total 0\n" in text, text
    # Refusals of MAIL and RCPT are transactions and replies refused for a limit, too.
    assert re.search(r'^mxrelay_recipients_total\{result="refused_limit"\} 1$', text, re.M), text
    if shutil.which("promtool") is None:
        pytest.fail("promtool is not installed (scripts/install-deps test)")
    path = tmp_path / "metrics.txt"
    path.write_text(text)
    with open(path) as f:
        r = subprocess.run(["promtool", "check", "metrics"], stdin=f, capture_output=True, text=True,
                           timeout=30)
    assert r.returncode == 0, f"promtool check metrics: {r.stdout}{r.stderr}"

    # The status page in a real browser lists who is limited now.
    if page.CHROMIUM is None:
        pytest.fail("chromium is not installed (scripts/install-deps test)")
    dom, err = page.chromium(tmp_path, "--dump-dom")
    assert page.console_lines(err) == [], "the page wrote to the console:\n" + err[-3000:]
    got = [r[:2] + [r[3]] for r in page.rows(page.element(dom, "table", "rate"))]
    assert got == [["client_connection", "127.0.0.1", "1"], ["user_message", "alice", "1"]], got
    assert "2 refused since start" not in dom and "3 refused since start" in dom, dom[:3000]
