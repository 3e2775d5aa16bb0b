"""Operating a fleet's PostgreSQL queue: the schema made by `mxrelay queue
migrate` (or by the first node), a node refusing a schema newer than it
knows, a server whose commits are not durable, a node_id already running,
and the database's password: read from a passfile only root can read,
before the daemon drops to its own user, and never printed or logged.
And the housekeeping a node does when it starts (and every 10 minutes):
the body rows of messages a crash left uncommitted, and the backoffs of
destinations nobody has tried for a day.
"""

import os
import re
import subprocess
import time

import pytest

from conftest import sanitizer_env
from daemon import Daemon, mxrelayd, wait_for  # noqa: F401  (mxrelayd is a fixture)

pytestmark = pytest.mark.netns


def daemon(netns, mxr_bin, db, name="a", addr="127.0.0.2", dsn=None):
    netns.add_addr(addr)
    d = Daemon(netns, mxr_bin, listen=[f"{addr}:25 relay"], pg=db, node_id=name)
    if dsn is not None:
        text = open(d.conf).read().replace(f"queue_dsn = {db.dsn}", f"queue_dsn = {dsn}")
        with open(d.conf, "w") as f:
            f.write(text)
    netns.peers.append(d)
    return d


def mxrelay(d, *args):
    return subprocess.run([d.bins.mxrelay, *args], capture_output=True, text=True, timeout=60,
                          env=sanitizer_env())


def start_fails(d):
    """Start d, which must exit at once with an error; its log."""
    d.proc = d.netns.spawn([d.bins.mxrelayd, "-c", d.conf], name="mxrelayd",
                           env=sanitizer_env(), cwd=d.dir)
    d.logs.append(d.proc)
    rc = d.proc.popen.wait(30)
    d.proc = None
    assert rc != 0, d.log()
    return d.log()


def test_migrate_then_nodes_start_and_a_newer_schema_is_refused(netns, postgres, mxr_bin):
    db = postgres().database("fleet")
    d = daemon(netns, mxr_bin, db)
    r = mxrelay(d, "queue", "-c", d.conf, "migrate")
    assert r.returncode == 0, r.stderr
    assert r.stdout == "queue schema: backend=postgresql version=1 (this program's: 1)\n"
    assert db.value("SELECT version FROM mxrelay_schema") == "1"
    # Once more: nothing to do, the same answer.
    assert mxrelay(d, "queue", "-c", d.conf, "migrate").stdout == r.stdout
    d.start()
    d.check_clean_exit()
    # A newer release migrated the database: this one must not write into it.
    db.sql("UPDATE mxrelay_schema SET version = 7")
    log = start_fails(d)
    assert "queue schema version 7 is newer than this program's 1" in log, log
    r = mxrelay(d, "queue", "-c", d.conf, "list")
    assert r.returncode != 0 and "newer than this program's 1" in r.stderr, r


def test_migrate_on_sqlite_reports_its_version(netns, mxr_bin, mxrelayd):
    d = mxrelayd()
    d.check_clean_exit()
    r = mxrelay(d, "queue", "-c", d.conf, "migrate")
    assert r.returncode == 0, r.stderr
    m = re.fullmatch(r"queue schema: backend=sqlite version=(\d+) \(this program's: (\d+)\)\n",
                     r.stdout)
    assert m and m.group(1) == m.group(2), r.stdout


def test_a_server_that_does_not_commit_durably_is_refused(netns, postgres, mxr_bin):
    db = postgres().database("fleet")
    db.sql("ALTER DATABASE fleet SET synchronous_commit = off")
    log = start_fails(daemon(netns, mxr_bin, db))
    assert "synchronous_commit is off" in log, log


def test_a_node_id_already_running_is_refused(netns, postgres, mxr_bin):
    db = postgres().database("fleet")
    a = daemon(netns, mxr_bin, db, "same", "127.0.0.2").start()
    try:
        log = start_fails(daemon(netns, mxr_bin, db, "same", "127.0.0.3"))
        assert "node_id same is in use by another running node" in log, log
    finally:
        a.check_clean_exit()


def test_password_from_a_root_only_passfile_never_shown(netns, postgres, mxr_bin, tmp_path):
    pg = postgres()
    db = pg.database("fleet")
    secret = "Pg-fleet-s3cret"
    pg.psql(f"ALTER ROLE mxrelay PASSWORD '{secret}'")
    # The server now asks this role for its password on the socket.
    hba = os.path.join(pg.data, "pg_hba.conf")
    with open(hba, "w") as f:
        f.write("local all mxrelay scram-sha-256\nlocal all all trust\n")
    pg.psql("SELECT pg_reload_conf()")
    passfile = tmp_path / "pgpass"
    passfile.write_text(f"localhost:*:fleet:mxrelay:{secret}\n")
    os.chown(passfile, 0, 0)
    os.chmod(passfile, 0o600)
    d = daemon(netns, mxr_bin, db, dsn=f"{db.dsn}&passfile={passfile}")
    d.start()
    try:
        assert secret not in d.log()
        r = mxrelay(d, "check-config", "--print", "-c", d.conf)
        assert r.returncode == 0, r.stderr
        assert secret not in r.stdout and f"passfile={passfile}" in r.stdout, r.stdout
        r = mxrelay(d, "queue", "-c", d.conf, "migrate")
        assert r.returncode == 0 and "version=1" in r.stdout, r
    finally:
        d.check_clean_exit()
    # A password in the DSN itself: masked in the configuration's print and in the logs.
    d2 = daemon(netns, mxr_bin, db, "b", "127.0.0.3",
                dsn=f"postgresql://mxrelay:{secret}@/fleet?host={pg.sockdir}")
    d2.start()
    try:
        assert secret not in d2.log()
        assert "postgresql://mxrelay:*****@/fleet" in d2.log()
        r = mxrelay(d2, "check-config", "--print", "-c", d2.conf)
        assert secret not in r.stdout and "queue_dsn = postgresql://mxrelay:*****@" in r.stdout
    finally:
        d2.check_clean_exit()


def queue_id_at(t, tail="abcdefghi"):
    """A queue id made at t (docs/queue.md: 11 base32 digits of the microseconds, 9 random)."""
    alphabet = "0123456789abcdefghijklmnopqrstuv"
    us, digits = int(t * 1e6), []
    for _ in range(11):
        digits.append(alphabet[us & 31])
        us >>= 5
    return "".join(reversed(digits)) + tail


def test_a_node_clears_uncommitted_bodies_and_forgotten_backoffs(netns, postgres, mxr_bin):
    db = postgres().database("fleet")
    d = daemon(netns, mxr_bin, db)
    assert mxrelay(d, "queue", "-c", d.conf, "migrate").returncode == 0
    now = int(time.time())
    day_us, now_us = 86400 * 10**6, now * 10**6
    # Chunks of two large bodies whose messages were never committed: one from two hours
    # ago (a crash's), one from a minute ago (perhaps a commit on its way).
    crashed, recent = queue_id_at(now - 7200), queue_id_at(now - 60)
    db.sql(f"INSERT INTO body (msg_id, seq, data) VALUES ('{crashed}', 0, 'x'),"
           f" ('{crashed}', 1, 'y'), ('{recent}', 0, 'z')")
    db.sql("INSERT INTO destinations (key, failures, backoff_from, backoff_until, reason, changed)"
           " VALUES "
           f"('quiet.test', 3, {now - 2 * 86400}, {now - 2 * 86400 + 600}, 'x',"
           f" {now_us - 2 * day_us}),"
           f"('long-backoff.test', 9, {now - 2 * 86400}, {now + 3600}, 'x', {now_us - 2 * day_us}),"
           f"('failed-lately.test', 1, {now - 60}, {now - 30}, 'x', {now_us - 60 * 10**6})")
    d.start()

    def left():
        return (sorted(r[0] for r in db.rows("SELECT DISTINCT msg_id FROM body")),
                sorted(r[0] for r in db.rows("SELECT key FROM destinations")))
    wait_for("the node's housekeeping", lambda: left()[0] == [recent], timeout=15,
             describe=lambda: f"{left()}\n{d.describe()}")
    wait_for("the forgotten backoff gone", lambda: "quiet.test" not in left()[1], timeout=15,
             describe=lambda: f"{left()}\n{d.describe()}")
    assert left() == ([recent], ["failed-lately.test", "long-backoff.test"])
    d.check_clean_exit()
