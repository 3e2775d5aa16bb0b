"""A fleet of mxrelayd nodes on one PostgreSQL queue: what one node takes,
another may deliver; the work is shared; new mail is heard at once.

Each test starts its own PostgreSQL server (mxtest/postgres.py) and
nodes on one database of it, each with its own node_id, SMTP listener
and queue_dir (its local files), delivering through nsd and the
scriptable receiver of mxtest/fakesmtp.py.
"""

import time

import pytest

from daemon import Client, Daemon, queued_id, wait_for  # noqa: F401

pytestmark = pytest.mark.netns


def conf(*extra, retry="1s"):
    return "\n".join(["dns_server = 127.0.0.53", f"retry_intervals = {retry}",
                      "delay_warning = 0"] + list(extra))


def zones(dns, **mx):
    for name, addr in mx.items():
        domain = name.replace("_", ".")
        dns.mx(domain, [(10, f"mx.{domain}")])
        dns.a(f"mx.{domain}", addr)
    dns.start()


def node(netns, mxr_bin, db, name, addr, extra="", lease_time=10):
    """A node of the fleet listening on addr:25, its queue in db."""
    netns.add_addr(addr)
    d = Daemon(netns, mxr_bin, conf_extra=conf(extra), listen=[f"{addr}:25 relay"],
               relay_networks="127.0.0.0/8", pg=db, node_id=name, lease_time=lease_time)
    netns.peers.append(d)
    return d.start()


def submit(addr, rcpt, subject="test"):
    c = Client(addr, 25)
    try:
        assert c.reply().code == 220
        c.expect("EHLO client.test", 250)
        c.expect("MAIL FROM:<alice@sender.test>", 250)
        c.expect(f"RCPT TO:<{rcpt}>", 250)
        c.expect("DATA", 354)
        c.send(f"Subject: {subject}\r\nMessage-ID: <{time.time_ns()}@client.test>\r\n\r\nHi.\r\n.\r\n")
        return queued_id(c.reply())
    finally:
        c.close()


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
    finally:
        a.check_clean_exit()
