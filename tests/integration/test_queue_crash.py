"""Crash test of the queue runner: mail flows in and out while mxrelayd is
SIGKILLed several times, and once it is left to finish, every recipient
that got a 250 has arrived at its MX or come back to the sender in a
bounce. Nothing is lost; duplicates (allowed: delivery is at-least-once)
are counted and reported.

In the test's namespace nsd serves a.test (MX 127.0.0.11), b.test (MX
127.0.0.12) and sender.test (MX 127.0.0.13, where the bounces go). The
three receivers are fakesmtp servers in this process, so they outlive
every crash of the daemon and record every transaction. b.test refuses
every address starting with "bad" with 550 and waits 50-200 ms after the
final dot, so that deliveries are in flight when the daemon dies.

Python threads with smtplib submit messages, each with a unique
Message-ID and ENVID and two or three recipients over both domains; only
those answered 250 count as accepted. Meanwhile the daemon is killed at
random moments (some while it is still starting, some after the load,
while only deliveries run) and restarted on the same queue directory.
MXR_CRASH_SEED=n replays the moments of a run.
"""

import collections
import email
import email.policy
import json
import os
import random
import smtplib
import sqlite3
import subprocess
import threading
import time

import pytest

from conftest import sanitizer_env, sanitizer_report
from daemon import mxrelayd  # noqa: F401  (a fixture)
from mxtest.fakesmtp import _path_of
from mxtest.netns import wait_port

pytestmark = [pytest.mark.netns, pytest.mark.slow]   # about 10 s of load, kills and restarts
QUEUE_BACKENDS = ("sqlite", "postgresql")

SENDER = "alice@sender.test"
MESSAGES = 300          # messages the load generator wants accepted
CLIENTS = 8             # parallel submitting connections
KILLS_DURING_LOAD = 3
KILLS_AFTER_LOAD = 2
MAX_DELIVERIES = 20
MAX_PER_DESTINATION = 3
RATE = 60.0             # messages per second the load aims at (about 5 s of load)
LOAD_DEADLINE = 30.0    # seconds the load may take
FINISH_DEADLINE = 60.0  # seconds the queue may take to empty after the last restart


def recipients(i):
    """Two or three recipients over both domains; "bad..." ones are refused by b.test."""
    if i % 3 == 0:
        return [f"u{i}@a.test", f"v{i}@b.test", f"bad{i}@b.test"]
    if i % 3 == 1:
        return [f"u{i}@a.test", f"w{i}@b.test"]
    return [f"bad{i}@b.test", f"u{i}@a.test"]


def is_bad(addr):
    return addr.startswith("bad")


def b_rcpt(session, arg):
    return "550 5.1.1 no such user" if is_bad(_path_of(arg).lower()) else None


def b_dot(session, arg):
    return {"reply": "250 2.0.0 Ok", "delay": random.uniform(0.05, 0.2)}


class Load:
    """Threads submitting MESSAGES messages; a failed attempt is retried as a new message.

    Each attempt has its own tag (Message-ID <tag@client.test> and ENVID
    tag): accepted[tag] are its recipients when it got its 250; tried
    holds every tag sent, accepted or not.
    """

    def __init__(self, clients=CLIENTS, messages=MESSAGES):
        self.lock = threading.Lock()
        self.messages = messages
        self.next = 0
        self.accepted = {}
        self.tried = set()
        self.errors = collections.Counter()
        self.stop = threading.Event()
        self.threads = [threading.Thread(target=self.run, args=(n,), daemon=True)
                        for n in range(clients)]

    def start(self):
        for t in self.threads:
            t.start()
        return self

    def take(self):
        with self.lock:
            if self.next >= self.messages:
                return None
            self.next += 1
            return self.next - 1

    def done(self):
        return not any(t.is_alive() for t in self.threads)

    def join(self, timeout):
        end = time.monotonic() + timeout
        for t in self.threads:
            t.join(max(0.0, end - time.monotonic()))

    def run(self, n):
        smtp = None
        while not self.stop.is_set():
            i = self.take()
            if i is None:
                break
            rcpts = recipients(i)
            attempt = 0
            while not self.stop.is_set():
                tag = f"crash{i}.{attempt}"
                attempt += 1
                msg = (f"From: <{SENDER}>\r\nTo: {', '.join(rcpts)}\r\nSubject: crash {tag}\r\n"
                       f"Message-ID: <{tag}@client.test>\r\n\r\nmessage {tag}\r\n" + "body line\r\n" * 20)
                with self.lock:
                    self.tried.add(tag)
                try:
                    if smtp is None:
                        smtp = smtplib.SMTP("127.0.0.1", 25, local_hostname="client.test", timeout=10)
                    refused = smtp.sendmail(SENDER, rcpts, msg.encode(), mail_options=[f"ENVID={tag}"])
                except (smtplib.SMTPException, OSError) as e:
                    with self.lock:
                        self.errors[type(e).__name__] += 1
                    if smtp is not None:
                        try:
                            smtp.close()
                        except OSError:
                            pass
                    smtp = None
                    time.sleep(0.05)    # the daemon may be down: wait for the restart
                    continue
                with self.lock:
                    self.accepted[tag] = [r for r in rcpts if r not in refused]
                break
            time.sleep(CLIENTS / RATE)
        if smtp is not None:
            try:
                smtp.quit()
            except (smtplib.SMTPException, OSError):
                smtp.close()


def message_id(raw):
    mid = email.message_from_bytes(raw, policy=email.policy.compat32)["Message-ID"] or ""
    return mid.strip().strip("<>").split("@", 1)[0]


def arrivals(*servers):
    """Counter of (tag, recipient) over the messages the servers took."""
    got = collections.Counter()
    for srv in servers:
        for t in srv.messages:
            tag = message_id(t.message)
            for r in t.accepted:
                got[(tag, r.lower())] += 1
    return got


def bounces(home):
    """Counter of (tag, recipient) reported failed in the DSNs that reached the sender's MX."""
    got = collections.Counter()
    problems = []
    for t in home.messages:
        msg = email.message_from_bytes(t.message, policy=email.policy.compat32)
        if t.mail.split()[1].upper() != "FROM:<>" or msg.get_content_type() != "multipart/report":
            problems.append(f"not a DSN: {t.mail} {msg.get_content_type()}")
            continue
        parts = msg.get_payload()
        blocks = parts[1].get_payload()
        per_msg = dict(blocks[0].items())
        tag = per_msg.get("Original-Envelope-Id")
        if tag is None and len(parts) > 2:
            orig = parts[2].get_payload()
            orig = orig[0] if isinstance(orig, list) else email.message_from_string(orig)
            tag = (orig["Message-ID"] or "").strip("<>").split("@", 1)[0]
        for b in blocks[1:]:
            r = dict(b.items())
            if r.get("Action") != "failed" or not r.get("Status", "").startswith("5."):
                problems.append(f"{tag}: {r}")
                continue
            got[(tag, r["Final-Recipient"].split(";", 1)[1].strip().lower())] += 1
    return got, problems


def queue_count(d):
    try:
        return d.sql("SELECT COUNT(*) FROM messages")[0][0]
    except (sqlite3.Error, RuntimeError):
        return -1


def queue_list(d):
    """The queue as `mxrelay queue list --json` gives it (from the daemon, over its control
    socket), as a list of objects; None when the command fails."""
    res = subprocess.run([d.bins.mxrelay, "queue", "-c", d.conf, "list", "--json"], capture_output=True,
                         text=True, timeout=30, env=sanitizer_env())
    report = sanitizer_report(res.stderr)
    assert report is None, f"sanitizer report from mxrelay queue list:\n{report}"
    if res.returncode != 0:
        return None
    text = res.stdout.strip()
    if text.startswith("["):
        return json.loads(text)
    return [json.loads(l) for l in text.splitlines() if l.strip()]


def spawn(d):
    """Start the daemon without waiting for its listener: it may be killed while starting."""
    d.proc = d.netns.spawn([d.bins.mxrelayd, "-c", d.conf], name="mxrelayd", env=sanitizer_env(), cwd=d.dir)
    d.logs.append(d.proc)


def test_sigkill_during_deliveries_loses_no_recipient(netns, dns, fakesmtp, mxrelayd):
    seed = int(os.environ.get("MXR_CRASH_SEED", str(time.time_ns() % 1000000)))
    rng = random.Random(seed)
    print(f"MXR_CRASH_SEED={seed}")
    for dom, addr in (("a.test", "127.0.0.11"), ("b.test", "127.0.0.12"), ("sender.test", "127.0.0.13")):
        dns.mx(dom, [(10, f"mx.{dom}")]).a(f"mx.{dom}", addr)
    dns.start()
    mx_a = fakesmtp("127.0.0.11")
    mx_b = fakesmtp("127.0.0.12", replies={"rcpt": b_rcpt, "dot": b_dot})
    home = fakesmtp("127.0.0.13")
    d = mxrelayd(conf_extra="\n".join([
        "dns_server = 127.0.0.53", "retry_intervals = 1s", "delay_warning = 0",
        f"max_deliveries = {MAX_DELIVERIES}", f"max_per_destination = {MAX_PER_DESTINATION}"]))

    started = time.monotonic()
    load = Load().start()
    moments = []
    spawned = started
    for k in range(KILLS_DURING_LOAD):
        # The second kill comes while the restarted daemon is still starting
        # (its listener is bound about 0.1 s after exec, its queue opened after that).
        time.sleep(rng.uniform(0.0, 0.25) if k == 1 else rng.uniform(0.05, 2.0))
        starting = time.monotonic() - spawned < 0.3
        d.kill()
        moments.append(f"{time.monotonic() - started:.2f}s {'starting ' if starting else ''}"
                       f"load={len(load.accepted)} accepted")
        spawn(d)
        spawned = time.monotonic()
    load.join(LOAD_DEADLINE - (time.monotonic() - started))
    load.stop.set()
    load.join(15)
    load_time = time.monotonic() - started
    for k in range(KILLS_AFTER_LOAD):
        time.sleep(rng.uniform(0.05, 1.0))
        left = queue_count(d)
        d.kill()
        moments.append(f"{time.monotonic() - started:.2f}s after load, {left} messages queued")
        spawn(d)
    wait_port("127.0.0.1", 25, proc=d.proc)
    finish = time.monotonic() + FINISH_DEADLINE
    listed = queue_list(d)
    while listed != [] and time.monotonic() < finish:
        time.sleep(0.3)
        listed = queue_list(d)
    assert listed is not None, f"mxrelay queue list failed after the restarts\n{d.describe()}"
    left = len(listed)
    time.sleep(0.5)     # the last replies reach the receivers' records, the last log lines the log
    # The socket a killed daemon left is replaced: the last daemon answered the listing itself.
    assert "event=control-request" in d.proc.output(), d.describe()
    elapsed = time.monotonic() - started

    accepted = load.accepted
    got = arrivals(mx_a, mx_b)
    bounced, problems = bounces(home)
    pairs = [(tag, r) for tag, rcpts in accepted.items() for r in rcpts]
    delivered = [p for p in pairs if not is_bad(p[1]) and got[p] > 0]
    returned = [p for p in pairs if is_bad(p[1]) and bounced[p] > 0]
    lost = [p for p in pairs if got[p] == 0 and bounced[p] == 0]
    wrong = [p for p in pairs if (is_bad(p[1]) and got[p] > 0) or (not is_bad(p[1]) and bounced[p] > 0)]
    dups = {p: n for p, n in list(got.items()) + list(bounced.items()) if n > 1}
    ndup = sum(n - 1 for n in dups.values())
    extra = sorted({tag for tag, _ in list(got) + list(bounced) if tag not in accepted})
    unknown = [tag for tag in extra if tag not in load.tried]
    summary = (f"seed={seed} messages accepted={len(accepted)} recipients accepted={len(pairs)} "
               f"delivered={len(delivered)} bounced={len(returned)} lost={len(lost)} wrong={len(wrong)} "
               f"duplicates={ndup} (pairs {len(dups)}) extra_messages={len(extra)} "
               f"queue_left={left} load={load_time:.1f}s total={elapsed:.1f}s "
               f"submit_errors={dict(load.errors)} kills={moments}")
    print(summary)
    if dups:
        print("duplicates:", sorted(dups.items())[:40])
    if extra:
        print("arrived without a 250 (not accepted):", extra[:40])

    reports = [sanitizer_report(p.output()) for p in d.logs]
    assert not any(reports), f"sanitizer report from mxrelayd:\n{[r for r in reports if r][0]}"
    assert len(accepted) == MESSAGES, f"the load did not finish: {summary}"
    assert left == 0, f"the queue did not empty within {FINISH_DEADLINE}s: {summary}"
    assert not lost, f"{len(lost)} accepted recipients lost, e.g. {lost[:20]}: {summary}"
    assert not wrong, f"recipients with the wrong outcome: {wrong[:20]}: {summary}"
    assert not problems, f"DSNs that are not failure reports: {problems[:10]}"
    assert not unknown, f"messages that were never sent arrived: {unknown[:20]}"
    limit = (KILLS_DURING_LOAD + KILLS_AFTER_LOAD) * MAX_DELIVERIES * 3
    assert ndup <= limit, f"{ndup} duplicates, more than {limit} deliveries could be in flight: {summary}"
