"""mxrelayd under test: a running daemon, a raw SMTP client, and the queue.

The `mxrelayd` fixture is a factory: mxrelayd(conf_extra=..., listen=...)
writes a configuration into a fresh directory, starts MXR_BIN/mxrelayd -c
FILE inside the test's network namespace, waits for its ports and stops
it at teardown (SIGTERM; the exit must be 0 and the log free of sanitizer
reports). The daemon runs as user nobody, so its queue directory lives
outside pytest's private temporary tree.

The queue is SQLite unless the test runs on PostgreSQL: a test module
that sets QUEUE_BACKENDS = ("sqlite", "postgresql") runs each of its
tests on both (conftest.py parametrises the `queue_backend` fixture), the
daemon then queueing in a database of the test's own PostgreSQL server.
d.sql(query, params) and d.messages() read the queue on either backend
(the same SQL: the two schemas name the same tables and columns).

Client is a byte-exact SMTP client for protocol tests: send() writes raw
bytes, reply() reads one whole (multi-line) reply.
"""

import os
import re
import shutil
import signal
import socket
import sqlite3
import ssl
import subprocess
import tempfile
import time

import pytest

from conftest import sanitizer_env, sanitizer_report
from mxtest.netns import wait_port

HOSTNAME = "mx.relay.test"


def wait_for(what, cond, timeout=30.0, describe=None, step=0.1):
    """cond()'s first true answer, polled every step seconds; after timeout, an
    AssertionError naming what was awaited and, with describe, the state seen."""
    end = time.monotonic() + timeout
    while True:
        got = cond()
        if got:
            return got
        if time.monotonic() > end:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}\n"
                                 f"{describe() if describe else ''}")
        time.sleep(step)


class Reply:
    def __init__(self, code, lines):
        self.code = code
        self.lines = lines          # text after "NNN-" / "NNN "

    @property
    def text(self):
        return "\n".join(self.lines)

    @property
    def esc(self):
        first = self.lines[0] if self.lines else ""
        return first.split(" ", 1)[0] if first[:1].isdigit() else ""

    def __repr__(self):
        return f"Reply({self.code}, {self.lines!r})"


class Client:
    """A raw SMTP client: exact bytes out, whole replies in."""

    def __init__(self, host="127.0.0.1", port=25, source=None, timeout=10.0, tls_ctx=None):
        self.sock = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET)
        self.sock.settimeout(timeout)
        if source:
            self.sock.bind((source, 0))
        self.sock.connect((host, port))
        if tls_ctx is not None:
            self.sock = tls_ctx.wrap_socket(self.sock, server_hostname=HOSTNAME)
        self.buf = b""

    def send(self, data):
        if isinstance(data, str):
            data = data.encode()
        self.sock.sendall(data)

    def _line(self):
        while b"\n" not in self.buf:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise EOFError(f"connection closed; unread: {self.buf!r}")
            self.buf += chunk
        line, self.buf = self.buf.split(b"\n", 1)
        return line.rstrip(b"\r").decode("utf-8", "replace")

    def reply(self):
        lines = []
        while True:
            line = self._line()
            assert len(line) >= 3 and line[:3].isdigit(), f"bad reply line {line!r}"
            lines.append(line[4:])
            if len(line) == 3 or line[3] == " ":
                return Reply(int(line[:3]), lines)

    def cmd(self, line):
        self.send(line + "\r\n")
        return self.reply()

    def expect(self, line, code, esc=None):
        r = self.cmd(line)
        assert r.code == code, f"{line!r}: got {r}, want {code}"
        if esc is not None:
            assert r.esc == esc, f"{line!r}: got {r}, want {code} {esc}"
        return r

    def starttls(self, ctx):
        self.sock = ctx.wrap_socket(self.sock, server_hostname=HOSTNAME)

    def closed(self, timeout=3.0):
        """Whether the server closed the connection (reading gives EOF)."""
        self.sock.settimeout(timeout)
        try:
            while True:
                data = self.sock.recv(65536)
                if not data:
                    return True
                self.buf += data
        except (ConnectionResetError, ssl.SSLError):
            return True
        except socket.timeout:
            return False

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass


def _pg_literal(v):
    """A Python value as an SQL literal for psql (the tests' own values only)."""
    if v is None:
        return "NULL"
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, (int, float)):
        return repr(v)
    return "'" + str(v).replace("'", "''") + "'"


class Daemon:
    def __init__(self, netns, bins, conf_extra="", listen=None, relay_networks="127.0.0.1/32",
                 relay_domains="example.test", certs=None, auth_users=None, env=None,
                 hostname=HOSTNAME, pg=None, node_id=None, lease_time=None):
        self.netns = netns
        self.pg = pg            # a mxtest.postgres.PgDatabase: the queue is there
        self.env = env or {}    # added to the daemon's environment (e.g. LD_PRELOAD)
        self.bins = bins
        self.dir = tempfile.mkdtemp(prefix="mxrd-")
        os.chmod(self.dir, 0o755)
        self.queue_dir = os.path.join(self.dir, "queue")
        os.mkdir(self.queue_dir)
        shutil.chown(self.queue_dir, "nobody")
        self.listen = listen or ["127.0.0.1:25 relay"]
        lines = [f"hostname = {hostname}", "user = nobody", f"queue_dir = {self.queue_dir}",
                 f"relay_networks = {relay_networks}"]
        if pg is not None:
            lines += ["queue_backend = postgresql", f"queue_dsn = {pg.dsn}"]
            if node_id:
                lines.append(f"node_id = {node_id}")
            if lease_time:
                lines.append(f"queue_lease_time = {lease_time}")
        if relay_domains:
            lines.append(f"relay_domains = {relay_domains}")
        lines += [f"listen = {l}" for l in self.listen]
        if certs is not None:
            cert, key = certs.server(HOSTNAME, "127.0.0.1")
            lines += [f"tls_cert = {cert}", f"tls_key = {key}"]
            for p in (cert, key):
                os.chmod(p, 0o644)
            d = os.path.dirname(cert)
            while d not in ("/", ""):
                os.chmod(d, os.stat(d).st_mode | 0o011)
                d = os.path.dirname(d)
        if auth_users:
            path = os.path.join(self.dir, "users")
            with open(path, "w") as f:
                for user, pw in auth_users.items():
                    h = subprocess.run(["openssl", "passwd", "-6", "-stdin"], input=pw, text=True,
                                       capture_output=True, check=True).stdout.strip()
                    f.write(f"{user}:{h}\n")
            os.chmod(path, 0o644)
            lines.append(f"auth_file = {path}")
        lines.append(conf_extra)
        self.conf = os.path.join(self.dir, "mxrelayd.conf")
        with open(self.conf, "w") as f:
            f.write("\n".join(lines) + "\n")
        os.chmod(self.conf, 0o644)
        self.proc = None
        self.logs = []

    def start(self):
        env = sanitizer_env(self.env)
        self.proc = self.netns.spawn([self.bins.mxrelayd, "-c", self.conf], name="mxrelayd",
                                     env=env, cwd=self.dir)
        self.logs.append(self.proc)
        for l in self.listen:
            hostport = l.split()[0]
            host, port = hostport.rsplit(":", 1)
            wait_port(host.strip("[]"), int(port), proc=self.proc)
        return self

    def log(self):
        return "\n".join(p.output() for p in self.logs)

    def stop(self, sig=signal.SIGTERM):
        if self.proc is None:
            return None
        rc = self.proc.stop(sig)
        self.proc = None
        return rc

    def kill(self):
        return self.stop(signal.SIGKILL)

    def check_clean_exit(self):
        rc = self.stop()
        report = sanitizer_report(self.log())
        assert report is None, f"sanitizer report from mxrelayd:\n{report}"
        assert rc == 0, f"mxrelayd exited {rc}\n{self.log()[-4000:]}"

    def describe(self):
        return f"--- mxrelayd ({self.conf}) ---\n" + open(self.conf).read() + "\nlog:\n" + self.log()[-6000:]

    # --- the queue, read back with sqlite3 or psql ---

    def _db(self):
        db = sqlite3.connect(f"file:{os.path.join(self.queue_dir, 'queue.db')}?mode=ro", uri=True)
        return db

    def sql(self, query, params=()):
        """Rows of query (qmark parameters) on this daemon's queue, SQLite or PostgreSQL.
        PostgreSQL's values come back as text (None for NULL); the caller converts."""
        if self.pg is None:
            db = sqlite3.connect(os.path.join(self.queue_dir, "queue.db"), timeout=10)
            try:
                rows = db.execute(query, params).fetchall()
                db.commit()
                return rows
            finally:
                db.close()
        parts = query.split("?")
        assert len(parts) == len(params) + 1, (query, params)
        text = parts[0] + "".join(_pg_literal(v) + rest for v, rest in zip(params, parts[1:]))
        if not text.lstrip().upper().startswith(("SELECT", "WITH")):
            self.pg.sql(text)
            return []
        # psql's text back into SQLite's types: integers are numbers.
        return [tuple(int(v) if v is not None and re.fullmatch(r"-?[0-9]+", v) else v for v in r)
                for r in self.pg.rows(text)]

    def messages(self):
        """{queue id: (sender, [recipients], message bytes as delivered)} of every queued message."""
        if self.pg is not None:
            return self._pg_messages()
        out = {}
        db = self._db()
        try:
            cols = [r[1] for r in db.execute("PRAGMA table_info(messages)")]
            # The prefix (DKIM signatures, docs/queue.md) is delivered before the stored text.
            prefix = "prefix" if "prefix" in cols else "NULL"
            for mid, sender, body_file, pre in db.execute(
                    f"SELECT id, sender, body_file, {prefix} FROM messages"):
                rcpts = [r[0] for r in db.execute(
                    "SELECT address FROM recipients WHERE msg_id = ? ORDER BY id", (mid,))]
                if body_file:
                    # A large body is a spool file of its own (docs/queue.md).
                    with open(os.path.join(self.queue_dir, "bodies", mid), "rb") as f:
                        body = f.read()
                else:
                    body = b"".join(r[0] for r in db.execute(
                        "SELECT data FROM body WHERE msg_id = ? ORDER BY seq", (mid,)))
                out[mid] = (sender, rcpts, (pre or b"") + body)
        finally:
            db.close()
        return out

    def _pg_messages(self):
        """messages() on PostgreSQL: three queries, whatever the number of messages."""
        import base64
        rcpts, chunks = {}, {}
        for mid, addr in self.pg.rows("SELECT msg_id, address FROM recipients ORDER BY msg_id, id"):
            rcpts.setdefault(mid, []).append(addr)
        for mid, data in self.pg.rows("SELECT msg_id, encode(data, 'base64') FROM body"
                                      " ORDER BY msg_id, seq"):
            chunks.setdefault(mid, []).append(base64.b64decode(data))
        out = {}
        for mid, sender, body, nchunks, pre in self.pg.rows(
                "SELECT id, sender, encode(body, 'base64'), body_chunks, encode(prefix, 'base64')"
                " FROM messages"):
            data = b"".join(chunks.get(mid, [])) if int(nchunks) > 0 else base64.b64decode(body or "")
            out[mid] = (sender, rcpts.get(mid, []), base64.b64decode(pre or "") + data)
        return out

    def message(self, queue_id):
        msgs = self.messages()
        assert queue_id in msgs, f"{queue_id} not in the queue: {sorted(msgs)}"
        return msgs[queue_id]

    def cleanup(self):
        shutil.rmtree(self.dir, ignore_errors=True)


def queued_id(reply):
    """The queue id from "250 2.0.0 Ok: queued as ID"."""
    assert reply.code == 250, f"got {reply}, want 250 queued"
    return reply.text.rsplit(" ", 1)[1]


def split_received(body):
    """(the Received field mxrelayd added, the rest) of a stored message."""
    assert body.startswith(b"Received: "), f"no Received field first: {body[:200]!r}"
    end = 0
    while True:
        nl = body.index(b"\r\n", end)
        end = nl + 2
        if body[end:end + 1] not in (b" ", b"\t"):
            return body[:end], body[end:]


@pytest.fixture
def mxrelayd(netns, mxr_bin, request, queue_backend):
    if not os.access(mxr_bin.mxrelayd, os.X_OK):
        pytest.fail(f"{mxr_bin.mxrelayd} is not built (MXR_BIN={mxr_bin.dir})")
    daemons = []
    state = {}

    def make(**kw):
        if queue_backend == "postgresql" and "pg" not in kw:
            # One server per test, a database per daemon unless the test shares one.
            if "cluster" not in state:
                state["cluster"] = request.getfixturevalue("postgres")()
            state["n"] = state.get("n", 0) + 1
            kw["pg"] = state["cluster"].database(f"mxrelay{state['n']}")
        d = Daemon(netns, mxr_bin, **kw)
        daemons.append(d)
        netns.peers.append(d)
        return d.start()

    yield make
    failed = getattr(request.node, "rep_call_failed", False)
    for d in daemons:
        try:
            if d.proc is not None:
                d.check_clean_exit()
        finally:
            if not failed:
                d.cleanup()
