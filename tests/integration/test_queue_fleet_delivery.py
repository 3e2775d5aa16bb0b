"""A fleet of mxrelayd nodes on one PostgreSQL queue: what one node takes,
another may deliver; the work is shared; max_per_destination holds for
the fleet; the queue command lists the whole fleet's queue with the node
holding each claim, and prints what it prints for SQLite.

Each test starts its own PostgreSQL server (mxtest/postgres.py) and
nodes on one database of it, each with its own node_id, SMTP listener
and queue_dir (its local files), delivering through nsd to a private
Postfix with STARTTLS where what arrives is the point (messages of 1 KiB
to 30 MiB taken by one node and delivered by another), and to the
scriptable receiver of mxtest/fakesmtp.py where a test needs a reply
held back or a failure on cue.
"""

import json
import re
import smtplib
import subprocess
import threading
import time

import pytest

from conftest import sanitizer_env
from daemon import Client, Daemon, queued_id, wait_for  # noqa: F401
from mxtest.fakesmtp import HANG
from test_delivery_retries_and_bounces import zones
from test_delivery_transports import KIB, MIB, lf, make_message

BIG = 64 * MIB

pytestmark = pytest.mark.netns


def conf(*extra, retry="1s"):
    return "\n".join(["dns_server = 127.0.0.53", f"retry_intervals = {retry}",
                      "delay_warning = 0"] + list(extra))


def node(netns, mxr_bin, db, name, addr, extra="", lease_time=10, retry="1s", start=True):
    """A node of the fleet listening on addr:25, its queue in db (None: SQLite)."""
    netns.add_addr(addr)
    d = Daemon(netns, mxr_bin, conf_extra=conf(extra, retry=retry), listen=[f"{addr}:25 relay"],
               relay_networks="127.0.0.0/8", pg=db, node_id=name if db else None,
               lease_time=lease_time if db else None)
    netns.peers.append(d)
    return d.start() if start else d


def submit(addr, rcpts, subject="test", sender="alice@sender.test"):
    """One message to the node at addr; its queue id."""
    c = Client(addr, 25)
    try:
        assert c.reply().code == 220
        c.expect("EHLO client.test", 250)
        c.expect(f"MAIL FROM:<{sender}>", 250)
        for r in ([rcpts] if isinstance(rcpts, str) else rcpts):
            c.expect(f"RCPT TO:<{r}>", 250)
        c.expect("DATA", 354)
        c.send(f"Subject: {subject}\r\nMessage-ID: <{time.time_ns()}@client.test>\r\n\r\nHi.\r\n.\r\n")
        return queued_id(c.reply())
    finally:
        c.close()


def queue_cmd(d, *args):
    r = subprocess.run([d.bins.mxrelay, "queue", "-c", d.conf, *args], capture_output=True,
                       text=True, timeout=30, env=sanitizer_env())
    assert r.returncode == 0, f"mxrelay queue {args}: exit {r.returncode}\n{r.stderr}"
    return r.stdout


def delivered_ids(d):
    """Queue ids this node logged a delivery of."""
    return set(re.findall(r"queue=(\w+) rcpt=\"<[^>]*>\" status=delivered", d.log()))


def test_one_node_on_postgresql_delivers(netns, dns, fakesmtp, postgres, mxr_bin):
    zones(dns, a_test="127.0.0.11")
    mx = fakesmtp("127.0.0.11")
    db = postgres().database("fleet")
    a = node(netns, mxr_bin, db, "a", "127.0.0.2")
    try:
        qid = submit("127.0.0.2", "bob@a.test")
        wait_for("delivery", lambda: len(mx.messages) == 1, describe=a.describe)
        wait_for("the queue to empty", lambda: db.value("SELECT count(*) FROM messages") == "0",
                 describe=a.describe)
        assert f"queue={qid} rcpt=\"<bob@a.test>\" status=delivered" in a.log()
        assert "op=queue_open backend=postgresql" in a.log()
    finally:
        a.check_clean_exit()


def test_mail_accepted_by_one_node_is_delivered_by_another(netns, dns, postfix, certs, postgres,
                                                           mxr_bin):
    """Node a takes messages of 1 KiB to 30 MiB while its MX is down, and stops; node b
    delivers them over STARTTLS to a real Postfix, byte for byte."""
    zones(dns, a_test="127.0.0.11")
    netns.add_addr("127.0.0.11")    # nothing listens yet: node a can only defer
    db = postgres().database("fleet")
    a = node(netns, mxr_bin, db, "a", "127.0.0.2", retry="2s", extra=f"max_message_size = {BIG}")
    sizes = {"1k": KIB, "300k": 300 * KIB, "5m": 5 * MIB, "30m": 30 * MIB}
    msgs = {f"u-{name}@a.test": make_message(n, f"u-{name}@a.test") for name, n in sizes.items()}
    with smtplib.SMTP("127.0.0.2", 25, local_hostname="client.test", timeout=120) as c:
        for rcpt, msg in msgs.items():
            c.sendmail("alice@sender.test", [rcpt], msg)
    ids = set(re.findall(r"queue=(\w+) event=queued", a.log()))
    assert len(ids) == len(msgs), a.log()[-3000:]
    wait_for("a's first tries", lambda: db.value(
        "SELECT count(*) FROM recipients WHERE tries >= 1 AND state = 'deferred'") ==
        str(len(msgs)), describe=a.describe)
    a.check_clean_exit()
    pf = postfix("127.0.0.11", hostname="mx.a.test", cert=certs.server("mx.a.test"),
                 main={"message_size_limit": BIG, "virtual_mailbox_limit": 0,
                       "smtpd_tls_received_header": "yes"})
    b = node(netns, mxr_bin, db, "b", "127.0.0.3", retry="2s",
             extra=f"max_message_size = {BIG}")
    try:
        got = pf.messages(count=len(msgs), wait=120)
        assert len(got) == len(msgs), b.describe()
        wait_for("the queue to empty", lambda: db.value("SELECT count(*) FROM messages") == "0",
                 describe=b.describe)
        for rcpt, msg in msgs.items():
            mine = [m for m in got if m.endswith(lf(msg))]
            assert len(mine) == 1, f"{rcpt} did not arrive intact"
            assert b"using TLS" in mine[0][:-len(lf(msg))], f"{rcpt}: not over TLS"
        assert delivered_ids(b) == ids, b.log()[-3000:]
        assert not delivered_ids(a)
    finally:
        b.check_clean_exit()


def test_the_fleet_shares_the_work_and_hears_new_mail(netns, dns, fakesmtp, postgres, mxr_bin):
    zones(dns, a_test="127.0.0.11")
    mx = fakesmtp("127.0.0.11", replies={"dot": {"reply": "250 2.0.0 Ok", "delay": 0.05}})
    db = postgres().database("fleet")
    # Each node claims only what it can soon start (max_deliveries), so all mail taken
    # by one listener is shared with the other node, woken by NOTIFY rather than its tick.
    extra = "max_deliveries = 3\nmax_per_destination = 3"
    a = node(netns, mxr_bin, db, "a", "127.0.0.2", extra)
    b = node(netns, mxr_bin, db, "b", "127.0.0.3", extra)
    try:
        n = 60
        ids = [submit("127.0.0.2", f"u{i}@a.test") for i in range(n)]
        wait_for("every delivery", lambda: len(mx.messages) == n, timeout=60,
                 describe=lambda: a.describe() + b.describe())
        wait_for("the queue to empty", lambda: db.value("SELECT count(*) FROM messages") == "0",
                 describe=lambda: a.describe() + b.describe())
        by_a, by_b = delivered_ids(a), delivered_ids(b)
        assert by_a | by_b == set(ids)
        assert not by_a & by_b, f"delivered twice: {by_a & by_b}"
        assert by_b, "node b delivered none of the mail node a took"
        # Each message arrived once.
        subjects = [m.message for m in mx.messages]
        assert len(set(subjects)) == n
    finally:
        a.check_clean_exit()
        b.check_clean_exit()


def test_max_per_destination_holds_for_the_fleet(netns, dns, fakesmtp, postgres, mxr_bin):
    zones(dns, a_test="127.0.0.11")
    lock = threading.Lock()
    active = {"now": 0, "peak": 0}

    def on_mail(session, arg):
        with lock:
            active["now"] += 1
            active["peak"] = max(active["peak"], active["now"])
        return "250 2.1.0 Ok"

    def on_dot(session, arg):
        time.sleep(0.3)
        with lock:
            active["now"] -= 1
        return "250 2.0.0 Ok"

    mx = fakesmtp("127.0.0.11", replies={"mail": on_mail, "dot": on_dot})
    db = postgres().database("fleet")
    extra = "max_deliveries = 10\nmax_per_destination = 2\nconnection_reuse_time = 0"
    nodes = [node(netns, mxr_bin, db, name, addr, extra)
             for name, addr in (("a", "127.0.0.2"), ("b", "127.0.0.3"), ("c", "127.0.0.4"))]
    try:
        n = 18
        for i in range(n):
            submit(nodes[i % 3].listen[0].split(":")[0], f"u{i}@a.test")
        wait_for("every delivery", lambda: len(mx.messages) == n, timeout=60,
                 describe=lambda: "".join(d.describe() for d in nodes))
        # Three nodes, two slots for a.test in the whole fleet.
        assert active["peak"] <= 2, f"{active['peak']} deliveries to a.test at once"
        assert sum(1 for d in nodes if delivered_ids(d)) >= 2
    finally:
        for d in nodes:
            d.check_clean_exit()


def test_listing_names_the_node_holding_a_claim(netns, dns, fakesmtp, postgres, mxr_bin):
    zones(dns, a_test="127.0.0.11", b_test="127.0.0.12")
    mx = fakesmtp("127.0.0.11", replies={"dot": HANG})
    netns.add_addr("127.0.0.12")    # b.test: nothing listens, deferred
    db = postgres().database("fleet")
    a = node(netns, mxr_bin, db, "a", "127.0.0.2", retry="1h")
    b = node(netns, mxr_bin, db, "b", "127.0.0.3", retry="1h")
    try:
        hung = submit("127.0.0.3", "x@a.test")
        waiting = submit("127.0.0.2", "y@b.test")
        wait_for("the delivery to hang", lambda: "status=deferred" in a.log() + b.log(),
                 describe=lambda: a.describe() + b.describe())
        text = queue_cmd(a, "list")
        holder = "a" if f"queue={hung} event=delivery" in a.log() else "b"
        line = next(l for l in text.splitlines() if "<x@a.test>" in l)
        assert f"claimed-by={holder}" in line, text
        other = next(l for l in text.splitlines() if "<y@b.test>" in l)
        assert "claimed-by" not in other, text
        msgs = {m["id"]: m for m in map(json.loads, queue_cmd(b, "list", "--json").splitlines())}
        assert msgs[hung]["recipients"][0]["claimed_by"] == holder
        assert "claimed_by" not in msgs[waiting]["recipients"][0]
        # Every node lists the whole fleet's queue, and so does the command line alone.
        assert sorted(msgs) == sorted([hung, waiting])
        assert f"claimed by {holder}" in queue_cmd(b, "show", hung)
    finally:
        mx.stop()   # the hung delivery ends, so that the nodes stop at once
        a.check_clean_exit()
        b.check_clean_exit()


def _normalise(text, ids):
    """A listing with what differs between two runs made equal: ids, ages, times."""
    for i, qid in enumerate(ids):
        text = text.replace(qid, f"<ID{i}>")
    text = re.sub(r"\b\d+[smhd](\d\d[mh])?\b", "<AGE>", text)
    text = re.sub(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC", "<TIME>", text)
    text = re.sub(r'"(received_at|age|next_try|first_fail|at)":\d+', r'"\1":0', text)
    text = re.sub(r"Message-ID: <\d+@client.test>", "Message-ID: <X>", text)
    text = re.sub(r"by mx.relay.test \(mxrelay\) with ESMTP id \w+", "by X", text)
    text = re.sub(r";\s+\w{3}, \d+ \w{3} \d{4} \d\d:\d\d:\d\d [+-]\d{4}", "; <DATE>", text)
    return text


@pytest.mark.parametrize("command", [("list",), ("list", "--json"), ("show", 0), ("show", 0, "--json")])
def test_queue_command_prints_the_same_on_both_backends(netns, dns, postgres, mxr_bin, command):
    # Two destinations, so that one's backoff never decides the other's outcome.
    for dom in ("dead.test", "gone.test"):
        dns.mx(dom, [(10, f"mx.{dom}")]).a(f"mx.{dom}", "127.0.0.11")
    dns.start()
    netns.add_addr("127.0.0.11")
    db = postgres().database("fleet")
    outputs = {}
    for backend, addr in (("sqlite", "127.0.0.2"), ("postgresql", "127.0.0.3")):
        d = node(netns, mxr_bin, db if backend == "postgresql" else None, "a", addr, retry="1h")
        ids = [submit(addr, ["bob@dead.test", "carol@dead.test"], subject="one"),
               submit(addr, "dave@gone.test", subject="two", sender="")]
        wait_for("the first tries", lambda: d.sql(
            "SELECT count(*) FROM recipients WHERE tries >= 1")[0][0] == 3, describe=d.describe)
        queue_cmd(d, "hold", ids[1])
        d.check_clean_exit()
        # The command line reads the store itself: the same code for both, and no claim left.
        args = [ids[a] if isinstance(a, int) else a for a in command]
        outputs[backend] = _normalise(queue_cmd(d, *args), ids)
    assert outputs["sqlite"] == outputs["postgresql"], outputs


def test_a_backoff_holds_for_the_fleet(netns, dns, fakesmtp, postgres, mxr_bin):
    """A destination one node found unreachable is backed off for the others too:
    they defer its mail without a connection of their own."""
    zones(dns, dead_test="127.0.0.11")
    dead = fakesmtp("127.0.0.11", replies={"greeting": "421 4.3.2 service not available"})
    db = postgres().database("fleet")
    a = node(netns, mxr_bin, db, "a", "127.0.0.2", retry="30s")
    b = node(netns, mxr_bin, db, "b", "127.0.0.3", retry="30s")
    try:
        submit("127.0.0.2", "x@dead.test")
        wait_for("node a to back dead.test off", lambda: "dest=dead.test event=unreachable" in
                 a.log() + b.log(), describe=lambda: a.describe() + b.describe())
        tried = dead.connections
        wait_for("the backoff in the database", lambda: db.value(
            "SELECT failures FROM destinations WHERE key = 'dead.test'") not in (None, "0"),
            describe=lambda: a.describe() + b.describe())
        time.sleep(1.5)     # every node has read it (each second)
        for addr in ("127.0.0.2", "127.0.0.3") * 3:
            submit(addr, f"y{time.time_ns()}@dead.test")
        wait_for("every recipient deferred", lambda: db.value(
            "SELECT count(*) FROM recipients WHERE state = 'deferred'") == "7",
            describe=lambda: a.describe() + b.describe())
        assert dead.connections == tried, f"{dead.connections - tried} new connections"
        assert "note=backoff" in a.log() and "note=backoff" in b.log()
    finally:
        a.check_clean_exit()
        b.check_clean_exit()


def test_each_failure_is_bounced_once_by_the_fleet(netns, dns, fakesmtp, postgres, mxr_bin):
    """Two nodes, messages with a recipient the MX refuses: one DSN each, whichever
    node delivered, bounced or recovered it."""
    zones(dns, a_test="127.0.0.11", sender_test="127.0.0.12")
    fakesmtp("127.0.0.11", replies={"rcpt": "550 5.1.1 no such user"})
    home = fakesmtp("127.0.0.12")
    db = postgres().database("fleet")
    a = node(netns, mxr_bin, db, "a", "127.0.0.2")
    b = node(netns, mxr_bin, db, "b", "127.0.0.3")
    try:
        n = 20
        ids = [submit(("127.0.0.2", "127.0.0.3")[i % 2], f"gone{i}@a.test") for i in range(n)]
        wait_for("every bounce", lambda: len(home.messages) >= n,
                 describe=lambda: a.describe() + b.describe())
        wait_for("the queue to empty", lambda: db.value("SELECT count(*) FROM messages") == "0",
                 describe=lambda: a.describe() + b.describe())
        time.sleep(1.0)
        assert len(home.messages) == n, f"{len(home.messages)} DSNs for {n} failures"
        # Each DSN returns its original, whose Received field names its queue id.
        named = {qid: sum(1 for m in home.messages if qid.encode() in m.message) for qid in ids}
        assert all(c == 1 for c in named.values()), named
    finally:
        a.check_clean_exit()
        b.check_clean_exit()
