"""End to end as an administrator tries a relay: a message from a relay
network to two domains, one of them down, with real DNS (nsd) and real
receivers; `mxrelay queue` shows what waits and why, and a flush once the
dead MX is back delivers at once, as `postqueue -f` does."""

import smtplib
import subprocess

import pytest

from daemon import wait_for, mxrelayd, split_received  # noqa: F401  (mxrelayd is a fixture)

pytestmark = pytest.mark.netns


def test_two_domains_one_dead_then_flushed(netns, dns, fakesmtp, mxrelayd, mxr_bin):
    dns.mx("a.test", [(10, "mx.a.test")]).a("mx.a.test", "127.0.0.11")
    dns.mx("b.test", [(10, "mx.b.test")]).a("mx.b.test", "127.0.0.13")
    dns.start()
    mx_a = fakesmtp("127.0.0.11")
    netns.add_addr("127.0.0.13")           # b.test's MX: nothing listens yet
    # Retries an hour apart: only the flush can bring the second delivery.
    d = mxrelayd(conf_extra="dns_server = 127.0.0.53\nretry_intervals = 1h")

    def queue(*args):
        r = subprocess.run([mxr_bin.mxrelay, "queue", "-c", d.conf, *args], capture_output=True,
                           text=True, timeout=30)
        assert r.returncode == 0, f"mxrelay queue {args}: {r.returncode}\n{r.stdout}{r.stderr}"
        return r.stdout

    text = (b"From: Alice <alice@client.test>\r\nTo: x@a.test, y@b.test\r\n"
            b"Subject: two domains\r\nMessage-ID: <e2e@client.test>\r\n\r\n"
            b".a line starting with a dot\r\n\xc3\xa9t\xc3\xa9, 8-bit text\r\n")
    with smtplib.SMTP("127.0.0.1", 25, local_hostname="client.test", timeout=10) as s:
        assert s.sendmail("alice@client.test", ["x@a.test", "y@b.test"], text,
                          mail_options=["BODY=8BITMIME"]) == {}

    wait_for("delivery to a.test", lambda: len(mx_a.messages) == 1, describe=d.describe)
    received, rest = split_received(mx_a.messages[0].message)
    assert rest == text, f"the message changed beyond the Received field:\n{rest!r}\nwant\n{text!r}"
    assert received.startswith(b"Received: from client.test"), received

    listing = wait_for("b.test deferred in the queue listing",
                       lambda: (lambda o: o if "deferred  <y@b.test>" in o else None)(queue("list")),
                       describe=d.describe)
    assert "delivered <x@a.test>" in listing, listing
    assert "Connection refused" in listing, f"the last reply must be shown:\n{listing}"

    mx_b = fakesmtp("127.0.0.13")
    out = queue("flush")
    assert "flushed 1 recipient" in out, out
    wait_for("delivery to b.test after the flush", lambda: len(mx_b.messages) == 1,
             timeout=10, describe=d.describe)
    assert split_received(mx_b.messages[0].message)[1] == text
    wait_for("an empty queue", lambda: "1 message" not in queue("list"), describe=d.describe)
    assert "y@b.test" not in queue("list")


def test_mail_looping_back_to_ourselves_is_bounced_at_once(netns, dns, fakesmtp, mxrelayd):
    """<postmaster> is accepted from anyone and queued for postmaster@<hostname>;
    when that name's MX is this relay, each pass queues the message again until
    the hop limit: a hundred deliveries from one RCPT. It should bounce (5.4.6)
    at the first pass that meets our own greeting."""
    from daemon import Client, queued_id
    dns.mx("relay.test", [(10, "mx.relay.test")]).a("mx.relay.test", "127.0.0.1")
    dns.mx("s.test", [(10, "mx.s.test")]).a("mx.s.test", "127.0.0.12")
    dns.start()
    home = fakesmtp("127.0.0.12")
    netns.add_addr("127.0.0.99")
    d = mxrelayd(conf_extra="dns_server = 127.0.0.53\nretry_intervals = 1h")
    c = Client(source="127.0.0.99")
    c.reply()
    c.expect("EHLO client.test", 250)
    c.expect("MAIL FROM:<s@s.test>", 250)
    c.expect("RCPT TO:<postmaster>", 250)
    c.expect("DATA", 354)
    c.send(b"Subject: for the postmaster\r\n\r\nhello\r\n.\r\n")
    qid = queued_id(c.reply())
    c.close()
    wait_for("the bounce", lambda: len(home.messages) >= 1, describe=d.describe)
    passes = d.log().count("event=queued")
    assert passes <= 3, f"the message went round {passes} times before it was bounced"
    assert b"Status: 5.4.6" in home.messages[0].message
    # The engine's lines name the message they deliver, as the scheduler's do.
    loops = [l for l in d.log().splitlines() if "event=mail-loop" in l]
    assert loops and f" queue={qid} " in loops[0], f"no queue={qid} on the loop line: {loops}"
