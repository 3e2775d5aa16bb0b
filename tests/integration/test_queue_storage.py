"""What mxrelayd stores: the message byte for byte with one Received field
in front, its arrival as the time of the MAIL command (messages.received_at,
from which max_queue_age and the age in `mxrelay queue` count), and every
message that got its 250 survives a SIGKILL."""

import json
import os
import socket
import subprocess
import threading
import time

import pytest

from conftest import sanitizer_env
from daemon import Client, mxrelayd, queued_id, split_received  # noqa: F401

pytestmark = pytest.mark.netns
# What is stored and what survives a kill: on each backend.
QUEUE_BACKENDS = ("sqlite", "postgresql")


def test_dots_and_8bit_stored_byte_for_byte(mxrelayd):
    d = mxrelayd()
    c = Client()
    c.reply()
    c.expect("EHLO client.test", 250)
    c.expect("MAIL FROM:<a@b.test> BODY=8BITMIME", 250)
    c.expect("RCPT TO:<one@example.test>", 250)
    c.expect("RCPT TO:<two@example.test>", 250)
    c.expect("DATA", 354)
    text = ("Subject: caf\u00e9\r\n\r\n.single dot line\r\n..two dots\r\n.\u00fcber\r\n"
            "tabs\tand  spaces  \r\n" + "long " * 400 + "\r\n\r\n").encode()
    stuffed = b"".join(b"." + l if l.startswith(b".") else l for l in text.splitlines(keepends=True))
    c.send(stuffed + b".\r\n")
    qid = queued_id(c.reply())
    sender, rcpts, body = d.message(qid)
    received, rest = split_received(body)
    assert rest == text
    assert b" for <" not in received, "no recipient named when there are several"
    assert qid.encode() in received


def send_one(i, ok, stop):
    try:
        c = Client(timeout=5)
        c.reply()
        c.expect("EHLO c%d.test" % i, 250)
        n = 0
        while not stop.is_set():
            c.expect("MAIL FROM:<s%d@b.test>" % i, 250)
            c.expect("RCPT TO:<r%d@example.test>" % i, 250)
            c.expect("DATA", 354)
            body = b"Subject: crash %d.%d\r\n\r\n" % (i, n) + b"line\r\n" * 50
            c.send(body + b".\r\n")
            r = c.reply()
            if r.code == 250:
                ok.append((queued_id(r), body))
            n += 1
    except (OSError, EOFError, AssertionError):
        pass


def test_sigkill_keeps_every_acknowledged_message(mxrelayd):
    d = mxrelayd()
    ok, stop = [], threading.Event()
    threads = [threading.Thread(target=send_one, args=(i, ok, stop)) for i in range(4)]
    for t in threads:
        t.start()
    time.sleep(1.5)
    d.kill()
    stop.set()
    for t in threads:
        t.join(10)
    assert len(ok) > 10, f"only {len(ok)} messages acknowledged before the kill"
    d.start()
    msgs = d.messages()
    for qid, body in ok:
        assert qid in msgs, f"{qid} got 250 but is not in the queue after SIGKILL"
        assert split_received(msgs[qid][2])[1] == body


def test_received_at_is_the_time_of_the_mail_command(mxrelayd, mxr_bin):
    d = mxrelayd()
    c = Client()
    c.reply()
    c.expect("EHLO client.test", 250)
    before_mail = int(time.time())
    c.expect("MAIL FROM:<a@b.test>", 250)
    after_mail = int(time.time())
    time.sleep(2.5)
    c.expect("RCPT TO:<one@example.test>", 250)
    c.expect("DATA", 354)
    c.send(b"Subject: arrival\r\n\r\nhello\r\n.\r\n")
    qid = queued_id(c.reply())
    acked = int(time.time())
    c.expect("QUIT", 221)
    c.close()
    assert acked >= after_mail + 2

    (stored,), = d.sql("SELECT received_at FROM messages WHERE id = ?", (qid,))
    assert before_mail <= stored <= after_mail, \
        f"received_at {stored}: MAIL at {before_mail}..{after_mail}, the 250 at {acked}"

    r = subprocess.run([mxr_bin.mxrelay, "queue", "-c", d.conf, "list", "--json"], capture_output=True,
                       text=True, timeout=30, env=sanitizer_env())
    assert r.returncode == 0, r.stderr
    listed = {m["id"]: m for m in map(json.loads, r.stdout.splitlines())}
    assert listed[qid]["received_at"] == stored, r.stdout
