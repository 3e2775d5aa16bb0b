"""`mxrelay queue flush` of many messages, one request each, on a terminal.

A real mxrelayd holds 200 messages for dead.test, whose only MX has
nothing listening (retry_intervals is an hour, so they stay deferred).
Flushing them with standard output and error on a pseudo-terminal says
how many it flushes, shows a counter redrawn in place and erases it
before the count it always printed; on pipes not a byte of that appears
and the output is what it was.
"""

import re

import pytest

from conftest import sanitizer_report
from daemon import Client, mxrelayd, queued_id  # noqa: F401  (mxrelayd is a fixture)
from test_control_queue_cli import expect_rc, listing, run
from test_send_progress import run_on_pty

pytestmark = pytest.mark.netns
QUEUE_BACKENDS = ("sqlite", "postgresql")

DEAD = "dead.test"
SENDER = "alice@sender.test"
COUNT = 200


@pytest.fixture
def relay(netns, dns, mxrelayd, mxr_bin):
    dns.mx(DEAD, [(10, f"mx.{DEAD}")]).a(f"mx.{DEAD}", "127.0.0.11").start()
    netns.add_addr("127.0.0.11")
    d = mxrelayd(conf_extra="dns_server = 127.0.0.53\nretry_intervals = 1h\n",
                 relay_networks="127.0.0.0/8", relay_domains=None)
    d.queue = lambda *args, **kw: run([mxr_bin.mxrelay, "queue", "-c", d.conf, *args], **kw)
    d.argv = [mxr_bin.mxrelay, "queue", "-c", d.conf]
    return d


def submit_many(n):
    """n messages to dead.test in one SMTP session; their queue ids."""
    c = Client()
    assert c.reply().code == 220
    c.expect("EHLO client.test", 250)
    ids = []
    for i in range(n):
        c.expect(f"MAIL FROM:<{SENDER}>", 250)
        c.expect(f"RCPT TO:<r{i}@{DEAD}>", 250)
        c.expect("DATA", 354)
        c.send(f"From: <{SENDER}>\r\nSubject: {i}\r\n\r\nhello\r\n.\r\n")
        ids.append(queued_id(c.reply()))
    c.expect("QUIT", 221)
    c.close()
    return ids


def test_flush_progress_on_a_terminal(relay, netns):
    ids = submit_many(COUNT)
    assert len(listing(relay)) == COUNT
    stdin = "".join(f"{q}\n" for q in ids).encode()

    rc, raw = run_on_pty(relay.argv + ["flush", "-"], netns.workdir, input=stdin)
    text = raw.decode("utf-8", "replace")
    assert sanitizer_report(text) is None, sanitizer_report(text)
    assert rc == 0, text
    assert text.startswith(f"flushing {COUNT} messages\n"), text[:500]
    counts = [int(m) for m in re.findall(rf"\r\x1b\[K(\d+) of {COUNT} \(\d+%\)", text)]
    assert counts, f"no counter drawn:\n{text[:2000]!r}"
    assert counts == sorted(counts) and counts[0] == 1 and counts[-1] <= COUNT, counts
    # The count at the end follows the last erase; no counter after it.
    tail = text.rsplit("\r\x1b[K", 1)[1]
    assert tail.endswith(f"-- flushed {COUNT} messages\n"), tail[-500:]
    assert f" of {COUNT} (" not in tail, tail[-500:]
    for q in ids[:3] + ids[-3:]:
        assert f"flushed 1 recipient of {q}\n" in text


def test_flush_without_a_terminal_shows_no_progress(relay):
    ids = submit_many(COUNT)
    for args, kw in ((["flush", "-"], {"input": "".join(f"{q}\n" for q in ids)}),
                     (["flush", "--sender", SENDER], {})):
        r = expect_rc(relay.queue(*args, **kw), 0)
        lines = r.stdout.splitlines()
        assert lines[-1] == f"-- flushed {COUNT} messages", r
        assert len(lines) == COUNT + 1 and all(l.startswith("flushed 1 recipient of ") for l in lines[:-1]), r
        assert "\r" not in r.stdout + r.stderr and "\x1b" not in r.stdout + r.stderr, r
        assert "flushing" not in r.stderr and r.stderr == "", r
