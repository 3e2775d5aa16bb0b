"""A client cannot hold a session by sending one octet at a time: a command
line must be complete within command_timeout of its first octet, and the
message text must keep min_data_rate once data_timeout has passed. The
read timeouts restart at every octet, so without these a dribbling
client kept its session for ever. After a BDAT chunk that is read and
refused, the session waits for a command again, under command_timeout.

These tests wait for the 10 s minimum of the timeouts by design."""

import threading
import time

import pytest

from daemon import Client, mxrelayd, queued_id  # noqa: F401

pytestmark = [pytest.mark.netns, pytest.mark.slow]


def dribble(c, data, every, until):
    """Send data one octet every `every` seconds until the server closes or
    `until` (monotonic) passes; returns (reply or None, seconds taken)."""
    start = time.monotonic()
    for i in range(len(data)):
        if time.monotonic() > until:
            return None, time.monotonic() - start
        try:
            c.send(data[i:i + 1])
        except (BrokenPipeError, ConnectionResetError):
            break
        c.sock.settimeout(every)
        try:
            chunk = c.sock.recv(4096)
        except TimeoutError:
            continue
        except ConnectionResetError:
            break
        c.buf += chunk
        break
    c.sock.settimeout(5)
    try:
        return c.reply(), time.monotonic() - start
    except (EOFError, ConnectionResetError):
        return None, time.monotonic() - start


def test_command_line_has_a_deadline(mxrelayd):
    """One octet a second of an endless EHLO line: 421 4.4.2 after
    command_timeout (10 s) from the first octet, not never."""
    mxrelayd(conf_extra="command_timeout = 10s\n")
    c = Client(timeout=30)
    c.reply()
    c.expect("EHLO client.test", 250)
    r, took = dribble(c, b"NOOP " + b"x" * 100, every=1.0, until=time.monotonic() + 20)
    assert r is not None and (r.code, r.esc) == (421, "4.4.2"), \
        f"after {took:.1f}s of dribbling: got {r}, want 421 4.4.2"
    assert 9 <= took <= 14, f"421 after {took:.1f}s, want about 10s"
    assert c.closed(), "the session stays open after 421"


def test_message_data_has_a_minimum_rate(mxrelayd):
    """With data_timeout 10 s and min_data_rate 500: a client sending one octet
    a second after DATA gets 421 4.4.2 at about 10 s, while one sending 2000
    octets a second for 12 s is accepted."""
    d = mxrelayd(conf_extra="data_timeout = 10s\nmin_data_rate = 500\n")
    slow = Client(timeout=30)
    fast = Client(timeout=30)
    for c in (slow, fast):
        c.reply()
        c.expect("EHLO client.test", 250)
        c.expect("MAIL FROM:<s@client.test>", 250)
        c.expect("RCPT TO:<a@example.test>", 250)
        c.expect("DATA", 354)
    fast_reply = {}

    def send_fast():
        line = b"x" * 498 + b"\r\n"
        end = time.monotonic() + 12
        fast.send(b"Subject: steady\r\n\r\n")
        while time.monotonic() < end:
            fast.send(line)
            time.sleep(0.25)
        fast.send(b".\r\n")
        fast_reply["r"] = fast.reply()

    t = threading.Thread(target=send_fast)
    t.start()
    r, took = dribble(slow, b"Subject: slow\r\n\r\n" + b"y" * 100, every=1.0,
                      until=time.monotonic() + 20)
    t.join(30)
    assert r is not None and (r.code, r.esc) == (421, "4.4.2"), \
        f"after {took:.1f}s at 1 octet/s: got {r}, want 421 4.4.2"
    assert 9 <= took <= 14, f"421 after {took:.1f}s, want about 10s"
    qid = queued_id(fast_reply.get("r"))
    fast.expect("QUIT", 221)
    msgs = d.messages()
    assert list(msgs) == [qid], f"queued: {sorted(msgs)}, want only the steady client's {qid}"


def test_refused_bdat_chunk_returns_to_the_command_timeout(mxrelayd):
    """After a BDAT chunk that is read and refused, an idle client is timed out
    by command_timeout, not by the longer data_timeout."""
    mxrelayd(conf_extra="command_timeout = 10s\ndata_timeout = 60s\n")
    c = Client(timeout=30)
    c.reply()
    c.expect("EHLO client.test", 250)
    c.send(b"BDAT 5\r\nhello")          # no MAIL yet: the chunk is read, then refused
    r = c.reply()
    assert r.code == 503, r
    r = c.reply()                       # idle: 421 after command_timeout
    assert r.code == 421 and r.esc == "4.4.2", r
