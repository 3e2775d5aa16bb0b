"""A node of a fleet dies under load: its mail is delivered by the others.

Three mxrelayd nodes share one PostgreSQL queue (a server of the test's
own). Python threads submit several hundred messages (two or three
recipients over a.test and b.test, some refused by b.test with 550) to
the nodes in turn; a client whose node is gone moves to the next one,
and only a 250 counts. Partway through, node a is killed with SIGKILL:
the recipients it had claimed stay leased to it until its leases run out
(queue_lease_time), then the survivors take them. At the end every
recipient that got its 250 arrived at its MX or came back in a bounce,
exactly once but for the duplicates a dead node's deliveries in flight
can make (counted, and bounded by what it could have in flight), and
those of node a's messages still queued when it died arrived within the
lease time plus one retry.
"""

import collections
import random
import re
import smtplib
import threading
import time

import pytest

from daemon import Daemon, wait_for
from test_queue_crash import Load, arrivals, bounces, is_bad, message_id, recipients
from mxtest.fakesmtp import _path_of

pytestmark = [pytest.mark.netns, pytest.mark.slow]   # about 15 s of load, a kill and a failover

SENDER = "alice@sender.test"
MESSAGES = 300
CLIENTS = 6
RATE = 60.0             # messages per second the load aims at
LEASE = 5               # queue_lease_time of the nodes (seconds)
RETRY = 1               # retry_intervals
MAX_DELIVERIES = 20
NODES = (("a", "127.0.0.2"), ("b", "127.0.0.3"), ("c", "127.0.0.4"))


class Arrivals:
    """When each queued recipient reached its MX (the times of its final dots), by the
    queue id of the Received field the accepting node added."""

    def __init__(self):
        self.lock = threading.Lock()
        self.times = collections.defaultdict(list)

    def note(self, session):
        txn = session.transactions[-1] if session.transactions else None
        if txn is None or txn.message is None:
            return
        m = re.search(rb"with E?SMTPS?A? id (\w+)", txn.message[:2000])
        if m is None:
            return
        now = time.monotonic()
        with self.lock:
            for r in txn.accepted:
                self.times[(m.group(1).decode(), r.lower())].append(now)


class FleetLoad(Load):
    """CLIENTS threads submitting MESSAGES messages to the nodes in turn.

    accepted[tag]: its recipients, once it got its 250; by_node[tag]: the node
    that gave it; a failed attempt is tried again as a new message (new tag).
    """

    def __init__(self, addrs):
        super().__init__(clients=CLIENTS, messages=MESSAGES)
        self.addrs = list(addrs)
        self.by_node = {}

    def run(self, n):
        turn = n
        while not self.stop.is_set():
            i = self.take()
            if i is None:
                return
            rcpts = recipients(i)
            attempt = 0
            while not self.stop.is_set():
                tag = f"fleet{i}.{attempt}"
                attempt += 1
                addr = self.addrs[turn % len(self.addrs)]
                turn += 1
                msg = (f"From: <{SENDER}>\r\nTo: {', '.join(rcpts)}\r\nSubject: {tag}\r\n"
                       f"Message-ID: <{tag}@client.test>\r\n\r\nmessage {tag}\r\n" +
                       "body line\r\n" * 20)
                with self.lock:
                    self.tried.add(tag)
                try:
                    with smtplib.SMTP(addr, 25, local_hostname="client.test", timeout=10) as s:
                        refused = s.sendmail(SENDER, rcpts, msg.encode(),
                                             mail_options=[f"ENVID={tag}"])
                except (smtplib.SMTPException, OSError) as e:
                    with self.lock:
                        self.errors[type(e).__name__] += 1
                    time.sleep(0.05)
                    continue
                with self.lock:
                    self.accepted[tag] = [r for r in rcpts if r not in refused]
                    self.by_node[tag] = addr
                break
            time.sleep(CLIENTS / RATE)


def test_a_killed_nodes_mail_is_delivered_by_the_survivors(netns, dns, fakesmtp, postgres,
                                                            mxr_bin):
    seed = int(time.time_ns() % 1000000)
    rng = random.Random(seed)
    for dom, addr in (("a.test", "127.0.0.11"), ("b.test", "127.0.0.12"),
                      ("sender.test", "127.0.0.13")):
        dns.mx(dom, [(10, f"mx.{dom}")]).a(f"mx.{dom}", addr)
    dns.start()
    seen = Arrivals()

    def a_dot(session, arg):
        seen.note(session)
        return "250 2.0.0 Ok"

    def b_rcpt(session, arg):
        return "550 5.1.1 no such user" if is_bad(_path_of(arg).lower()) else None

    def b_dot(session, arg):
        seen.note(session)
        return {"reply": "250 2.0.0 Ok", "delay": random.uniform(0.05, 0.2)}

    mx_a = fakesmtp("127.0.0.11", replies={"dot": a_dot})
    mx_b = fakesmtp("127.0.0.12", replies={"rcpt": b_rcpt, "dot": b_dot})
    home = fakesmtp("127.0.0.13")
    db = postgres().database("fleet")
    nodes = {}
    for name, addr in NODES:
        netns.add_addr(addr)
        d = Daemon(netns, mxr_bin, listen=[f"{addr}:25 relay"], relay_networks="127.0.0.0/8",
                   pg=db, node_id=name, lease_time=LEASE, conf_extra="\n".join([
                       "dns_server = 127.0.0.53", f"retry_intervals = {RETRY}s",
                       "delay_warning = 0", f"max_deliveries = {MAX_DELIVERIES}",
                       "max_per_destination = 6"]))
        netns.peers.append(d)
        nodes[name] = d.start()

    started = time.monotonic()
    load = FleetLoad([addr for _, addr in NODES]).start()
    time.sleep(rng.uniform(1.0, 2.5))
    # What a holds (claimed, and so not yet recorded) when it dies.
    held = {(q, r.lower()) for q, r in db.rows(
        "SELECT msg_id, address FROM recipients WHERE lease_node = 'a'"
        " AND lease_until >= mxr_now() AND address NOT LIKE 'bad%'")}
    nodes["a"].kill()
    killed = time.monotonic()
    load.join(60)
    load.stop.set()
    load_done = time.monotonic()
    survivors = [nodes["b"], nodes["c"]]
    def left():
        rows = db.rows("SELECT r.msg_id, r.address, r.state, r.tries, r.lease_node, r.lease_until"
                       " - mxr_now(), r.next_try - mxr_now(), r.last_reply FROM recipients r"
                       " ORDER BY r.msg_id LIMIT 30")
        return ("left in the queue (id, rcpt, state, tries, lease, lease left, next try in, "
                "reply):\n" + "\n".join(map(str, rows)) + "\n" +
                "".join(d.describe() for d in survivors))
    wait_for("the fleet's queue to empty", lambda: db.value("SELECT count(*) FROM messages") == "0",
             timeout=LEASE + RETRY + 60, describe=left)
    emptied = time.monotonic()
    time.sleep(0.5)

    accepted = load.accepted
    got = arrivals(mx_a, mx_b)
    bounced, problems = bounces(home)
    pairs = [(tag, r) for tag, rcpts in accepted.items() for r in rcpts]
    lost = [p for p in pairs if got[p] == 0 and bounced[p] == 0]
    wrong = [p for p in pairs if (is_bad(p[1]) and got[p] > 0) or
             (not is_bad(p[1]) and bounced[p] > 0)]
    dups = {p: n for p, n in list(got.items()) + list(bounced.items()) if n > 1}
    ndup = sum(n - 1 for n in dups.values())
    unknown = sorted({t for t, _ in list(got) + list(bounced) if t not in load.tried})
    # The recipients a held when it died and had not delivered: how long the survivors took.
    late = [seen.times[p][0] - killed for p in held
            if seen.times[p] and seen.times[p][0] > killed]
    in_flight = sum(1 for p in held if seen.times[p] and seen.times[p][0] <= killed)
    worst = max(late, default=0.0)
    summary = (f"seed={seed} accepted={len(accepted)} recipients={len(pairs)} lost={len(lost)} "
               f"wrong={len(wrong)} duplicates={ndup} a_held={len(held)} "
               f"a_in_flight_or_done={in_flight} taken_over={len(late)} "
               f"worst_after_kill={worst:.1f}s load={load_done - started:.1f}s "
               f"emptied_after_load={emptied - load_done:.1f}s errors={dict(load.errors)}")
    print(summary)
    assert len(accepted) == MESSAGES, f"the load did not finish: {summary}"
    assert not lost, f"accepted recipients lost, e.g. {lost[:20]}: {summary}"
    assert not wrong, f"recipients with the wrong outcome: {wrong[:20]}: {summary}"
    assert not problems, f"DSNs that are not failure reports: {problems[:10]}"
    assert not unknown, f"messages never submitted arrived: {unknown[:20]}"
    # Duplicates come only from a's deliveries in flight when it died (a job is one message
    # at one domain: at most two recipients).
    assert ndup <= MAX_DELIVERIES * 2, f"{ndup} duplicates: {summary}"
    # What a held is free again once its leases run out, and is tried at the next scan.
    assert worst <= LEASE + RETRY + 5, f"a's mail waited {worst:.1f}s after the kill: {summary}"
    assert any("status=delivered" in d.log() for d in survivors)
    for d in survivors:
        d.check_clean_exit()
