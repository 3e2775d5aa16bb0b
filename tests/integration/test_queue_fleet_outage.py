"""The fleet's database goes away under load and comes back.

Two mxrelayd nodes share a PostgreSQL queue (a server of the test's
own). While clients submit mail to both, the server is stopped as a crash
(pg_ctl -m immediate: no checkpoint, WAL recovery at the next start) and
started again a few seconds later. Meanwhile sessions are answered
`451 4.3.0` (never 250: no reply promises what no commit made durable),
the nodes keep running and reconnect with backoff, and once the server
is back every message that got a 250 is delivered; nothing acknowledged
is lost.

The same with a failover, as docs/fleet.md sets it up: the primary has a
synchronous streaming standby, the nodes' DSN lists both hosts, the
primary crashes under load and the standby is promoted; the nodes find
it by themselves (libpq's host list with target_session_attrs=read-write)
and every message that got a 250 is delivered from it.
"""

import collections
import json
import re
import smtplib
import subprocess
import threading
import time

import pytest

from conftest import sanitizer_env
from daemon import Daemon, wait_for
from test_queue_crash import message_id

pytestmark = [pytest.mark.netns, pytest.mark.slow]   # a few seconds of outage under load

SENDER = "alice@sender.test"
CLIENTS = 4
NODES = (("a", "127.0.0.2"), ("b", "127.0.0.3"))


class Load:
    """Clients submitting one-recipient messages to the nodes in turn until stopped.

    replies[code] counts the final replies (the reply to MAIL when refused there);
    accepted: the tags that got 250.
    """

    def __init__(self, addrs):
        self.addrs = addrs
        self.lock = threading.Lock()
        self.n = 0
        self.accepted, self.tried = set(), set()
        self.replies = collections.Counter()
        self.texts = collections.Counter()
        self.stop = threading.Event()
        self.threads = [threading.Thread(target=self.run, args=(k,), daemon=True)
                        for k in range(CLIENTS)]

    def start(self):
        for t in self.threads:
            t.start()
        return self

    def join(self):
        for t in self.threads:
            t.join(30)

    def run(self, k):
        turn = k
        while not self.stop.is_set():
            with self.lock:
                self.n += 1
                tag = f"outage{self.n}"
                self.tried.add(tag)
            addr = self.addrs[turn % len(self.addrs)]
            turn += 1
            msg = (f"From: <{SENDER}>\r\nSubject: {tag}\r\nMessage-ID: <{tag}@client.test>\r\n"
                   f"\r\nmessage {tag}\r\n")
            code, text = 0, ""
            try:
                with smtplib.SMTP(addr, 25, local_hostname="client.test", timeout=15) as s:
                    s.ehlo()
                    code, text = s.mail(SENDER)
                    if code == 250:
                        code, text = s.rcpt(f"u-{tag}@a.test")
                    if code == 250:
                        code, text = s.data(msg.encode())
            except (smtplib.SMTPException, OSError) as e:
                code, text = -1, type(e).__name__.encode()
            with self.lock:
                self.replies[code] += 1
                if code != 250:
                    self.texts[f"{code} {text.decode(errors='replace')[:60]}"] += 1
                else:
                    self.accepted.add(tag)
            time.sleep(0.02)


class FailoverDatabase:
    """The fleet's database on a primary and its standby: the DSN lists both
    hosts; the test's reads go to the one that takes writes."""

    def __init__(self, primary, standby, name):
        self.primary, self.standby, self.name = primary, standby, name
        self.promoted = False

    @property
    def dsn(self):
        return (f"postgresql:///{self.name}?host={self.primary.sockdir},{self.standby.sockdir}"
                "&user=mxrelay")

    def current(self):
        return self.standby if self.promoted else self.primary

    def rows(self, sql):
        return self.current().rows(sql, db=self.name)

    def value(self, sql):
        rows = self.rows(sql)
        return rows[0][0] if rows else None

    def sql(self, sql):
        self.current().psql(sql, db=self.name)


def start_nodes(netns, mxr_bin, db, which=NODES):
    nodes = []
    for name, addr in which:
        netns.add_addr(addr)
        d = Daemon(netns, mxr_bin, listen=[f"{addr}:25 relay"], relay_networks="127.0.0.0/8",
                   pg=db, node_id=name, lease_time=15, conf_extra="\n".join([
                       "dns_server = 127.0.0.53", "retry_intervals = 1s", "delay_warning = 0"]))
        netns.peers.append(d)
        nodes.append(d.start())
    return nodes


def store_status(node):
    """The queue store's part of the node's `mxrelay status --json`."""
    r = subprocess.run([node.bins.mxrelay, "status", "--json", "-c", node.conf],
                       capture_output=True, text=True, timeout=30, env=sanitizer_env())
    assert r.returncode == 0, r
    q = json.loads(r.stdout)["queue"]
    return {k: q[k] for k in ("backend", "node", "available")}


def outage_under_load(nodes, go_away, come_back):
    """Clients submit to the nodes while go_away() and, 3 s later, come_back() run;
    returns the Load once the nodes have taken 20 messages more after it."""
    load = Load([addr for _, addr in NODES]).start()
    time.sleep(1.5)
    before = len(load.accepted)
    go_away()
    down_at = time.monotonic()
    # What an administrator sees meanwhile: `mxrelay status` says so once the node has
    # noticed (its next use of each connection).
    while True:
        load.status_during = store_status(nodes[0])
        if not load.status_during["available"] or time.monotonic() > down_at + 2.5:
            break
        time.sleep(0.2)
    time.sleep(max(0.0, down_at + 3.0 - time.monotonic()))
    load.during = dict(load.replies)
    come_back()
    back_at = time.monotonic()
    load.outage = back_at - down_at
    wait_for("the nodes to take mail again", lambda: len(load.accepted) > before + 20 and
             all("event=reconnected" in d.log() for d in nodes), timeout=30,
             describe=lambda: "".join(d.describe() for d in nodes))
    load.resumed = time.monotonic() - back_at
    load.stop.set()
    load.join()
    load.before = before
    load.status_after = store_status(nodes[0])
    return load


def check_nothing_acknowledged_lost(nodes, load, db, mx):
    accepted = set(load.accepted)

    def arrived():
        return {message_id(t.message) for t in mx.messages}
    wait_for("every accepted message delivered", lambda: accepted <= arrived(), timeout=60,
             describe=lambda: f"missing: {sorted(accepted - arrived())[:20]}\n" +
             "".join(d.describe() for d in nodes))
    wait_for("the queue to empty", lambda: db.value("SELECT count(*) FROM messages") == "0",
             timeout=30, describe=lambda: "".join(d.describe() for d in nodes))
    got = arrived()
    extra = got - accepted
    summary = (f"accepted={len(accepted)} before_outage={load.before} "
               f"replies={dict(load.replies)} texts={dict(load.texts)} outage={load.outage:.1f}s "
               f"taking_mail_again_after={load.resumed:.1f}s "
               f"arrived_without_250={len(extra)}")
    print(summary)
    # While the server was away: 451 4.3.0, or a connection the node dropped; never 452 or 5xx.
    assert load.replies[451] > 0, summary
    assert all(k in (250, 451, -1) for k in load.replies), summary
    assert all(re.match(r"(451 4\.3\.0|-1 )", t) for t in load.texts), summary
    # Nothing acknowledged is lost; what arrived without a 250 was at least sent (a commit
    # whose answer the crash took: the client was told 451 and would send it again).
    assert not (extra - load.tried), summary
    for d in nodes:
        assert "event=lost" in d.log(), d.describe()
        assert d.proc.poll() is None, f"node exited:\n{d.describe()}"
        d.check_clean_exit()
    assert load.during, summary
    node = {"backend": "postgresql", "node": NODES[0][0]}
    assert load.status_during == {**node, "available": False}, load.status_during
    assert load.status_after == {**node, "available": True}, load.status_after


def test_database_outage_answers_451_and_loses_nothing(netns, dns, fakesmtp, postgres, mxr_bin):
    dns.mx("a.test", [(10, "mx.a.test")]).a("mx.a.test", "127.0.0.11").start()
    mx = fakesmtp("127.0.0.11")
    pg = postgres()
    db = pg.database("fleet")
    nodes = start_nodes(netns, mxr_bin, db)
    load = outage_under_load(nodes, lambda: pg.stop("immediate"), pg.start)
    check_nothing_acknowledged_lost(nodes, load, db, mx)


def test_failover_to_a_synchronous_standby_loses_nothing(netns, dns, fakesmtp, postgres,
                                                          mxr_bin):
    dns.mx("a.test", [(10, "mx.a.test")]).a("mx.a.test", "127.0.0.11").start()
    mx = fakesmtp("127.0.0.11")
    primary = postgres()
    primary.database("fleet")
    db = FailoverDatabase(primary, primary.standby(synchronous=True), "fleet")
    nodes = start_nodes(netns, mxr_bin, db)

    def fail_over():
        db.standby.promote()
        db.promoted = True
    load = outage_under_load(nodes, lambda: primary.stop("immediate"), fail_over)
    check_nothing_acknowledged_lost(nodes, load, db, mx)
    # The nodes reconnected to the promoted standby: the primary never came back.
    assert not primary.running


@pytest.mark.parametrize("errcode, sqlstate, reply", [
    ("disk_full", "53100", (452, b"4.3.1")),          # no room: the storage refuses
    ("internal_error", "XX000", (451, b"4.3.0")),     # any other failure: try again later
])
def test_a_commit_the_server_refuses_is_answered_by_why(netns, dns, fakesmtp, postgres, mxr_bin,
                                                        errcode, sqlstate, reply):
    """The server is up but refuses the commit (made here by a trigger): out of room
    (SQLSTATE class 53) the client hears 452 4.3.1, for any other reason 451 4.3.0;
    never 250. Once the server takes writes again, so does the node."""
    dns.mx("a.test", [(10, "mx.a.test")]).a("mx.a.test", "127.0.0.11").start()
    mx = fakesmtp("127.0.0.11")
    db = postgres().database("fleet")
    (node,) = start_nodes(netns, mxr_bin, db, NODES[:1])
    db.sql("CREATE FUNCTION refuse() RETURNS trigger LANGUAGE plpgsql AS $$BEGIN"
           f" RAISE EXCEPTION 'could not extend file' USING ERRCODE = '{errcode}'; END$$;"
           "CREATE TRIGGER refuse BEFORE INSERT ON messages"
           " FOR EACH ROW EXECUTE FUNCTION refuse()")

    def send(tag):
        try:
            with smtplib.SMTP(NODES[0][1], 25, local_hostname="client.test", timeout=15) as s:
                s.ehlo()
                for verb in (lambda: s.mail(SENDER), lambda: s.rcpt("u@a.test"),
                             lambda: s.data(f"Message-ID: <{tag}@client.test>\r\n\r\nhi\r\n"
                                            .encode())):
                    code, text = verb()
                    if code >= 400:
                        return code, text
                return code, text
        except smtplib.SMTPResponseException as e:
            return e.smtp_code, e.smtp_error
    code, text = send("refused")
    assert (code, text[:5]) == reply, (code, text)
    assert db.value("SELECT count(*) FROM messages") == "0"
    db.sql("DROP TRIGGER refuse ON messages")
    tries = iter(range(100))
    wait_for("a 250 again", lambda: send(f"taken{next(tries)}")[0] == 250, timeout=15,
             describe=node.describe)
    wait_for("the accepted message delivered", lambda: any(
        message_id(t.message).startswith("taken") for t in mx.messages), timeout=30,
        describe=node.describe)
    assert not any(message_id(t.message) == "refused" for t in mx.messages)
    # The log says what the server said, and its SQLSTATE.
    assert re.search(rf'event=queue-failed code={reply[0]} reason="could not extend file'
                     rf' \(SQLSTATE {sqlstate}\)"', node.log()), node.describe()
    node.check_clean_exit()
