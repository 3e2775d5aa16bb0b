"""A scriptable SMTP server for fault tests.

It speaks enough SMTP (RFC 5321, STARTTLS, implicit TLS, BDAT) to take mail
from a real client, and replies at every stage with what the test asks for:
a code, a delay, a dropped connection, silence, garbage or a reply that
never ends. It records every command line, every reply and the raw DATA
bytes of every transaction, so a test can read the transcript.

Reply specs, keyed by stage in `replies`:
  "greeting", "ehlo", "helo", "starttls", "auth", "mail", "rcpt",
  "rcpt:<address>" (lower case, no brackets), "data", "dot" (after the
  final dot or the last BDAT chunk), "bdat", "rset", "noop", "quit".
A spec is one of
  "451 4.3.0 text"           a reply; "\n" separates the lines of a
                             multi-line reply, given in full ("250-a\n250 b")
  b"raw bytes"               sent as they are
  DROP                       close the connection without a reply
  HANG                       never reply (until the test ends)
  ENDLESS                    a multi-line reply that never ends
  {"reply": spec, "delay": seconds, "then": DROP}
  [spec, spec, ...]          one per occurrence of the stage, in order over
                             all sessions; the last one repeats
  callable(session, arg)     returns a spec
A 421 reply closes the connection after it is sent, as servers do.
"""

import os
import socket
import ssl
import threading
import time

DROP = "<drop>"
HANG = "<hang>"
ENDLESS = "<endless>"

DEFAULT_EXTENSIONS = ("PIPELINING", "8BITMIME", "ENHANCEDSTATUSCODES", "SMTPUTF8", "DSN")

LINE_MAX = 1 << 20


class Closed(Exception):
    """The peer went away, or the test asked to drop the connection."""


class Transaction:
    def __init__(self, mail):
        self.mail = mail            # the MAIL command line
        self.rcpts = []             # (RCPT command line, reply code)
        self.data_raw = b""         # the DATA bytes as they came, dot-stuffed, up to and without ".\r\n"
        self.message = None         # unstuffed message bytes once the final dot came, else None
        self.dot_reply = None       # the reply to the final dot
        self.chunks = []            # BDAT chunk sizes

    @property
    def accepted(self):
        """Addresses of the recipients that got a 2xx."""
        out = []
        for line, code in self.rcpts:
            if 200 <= code < 300:
                out.append(_path_of(line))
        return out

    @property
    def delivered(self):
        return self.message is not None and self.dot_reply is not None and self.dot_reply.startswith("2")


def _path_of(line):
    """The address in the angle brackets of a MAIL or RCPT line."""
    start = line.find("<")
    end = line.find(">", start + 1)
    if start < 0 or end < 0:
        return line.split(":", 1)[-1].strip()
    return line[start + 1:end]


class Session:
    def __init__(self, server, sock, peer):
        self.server = server
        self.sock = sock
        self.peer = peer
        self.buf = b""
        self.commands = []          # command lines as text (UTF-8, bad bytes escaped)
        self.log = []               # "C: ..." / "S: ..." / "-- ..." lines
        self.transactions = []
        self.tls = False
        self.tls_error = None
        self.helo = None
        self.closed = False
        self.txn = None
        self.plain_after_starttls = b""  # bytes sent after STARTTLS before the handshake
        self.early = []             # lines the client sent more after, before our reply (pipelined)

    # --- input -----------------------------------------------------------
    def _fill(self):
        while True:
            if self.server.stopping.is_set():
                raise Closed("server stopping")
            try:
                data = self.sock.recv(65536)
            except (socket.timeout, TimeoutError):
                if time.monotonic() > self.deadline:
                    self.note("idle timeout")
                    raise Closed("idle")
                continue
            except ssl.SSLWantReadError:
                continue
            except (OSError, ssl.SSLError) as e:
                raise Closed(repr(e))
            if not data:
                raise Closed("eof")
            self.deadline = time.monotonic() + self.server.idle_timeout
            self.buf += data
            return

    def readline(self):
        while b"\n" not in self.buf:
            if len(self.buf) > LINE_MAX:
                raise Closed("line too long")
            self._fill()
        line, _, self.buf = self.buf.partition(b"\n")
        return line + b"\n"

    def readexact(self, n):
        while len(self.buf) < n:
            self._fill()
        out, self.buf = self.buf[:n], self.buf[n:]
        return out

    # --- output ----------------------------------------------------------
    def note(self, text):
        self.log.append(f"-- {text}")

    def send_raw(self, data):
        try:
            self.sock.sendall(data)
        except (OSError, ssl.SSLError) as e:
            raise Closed(repr(e))

    def reply(self, stage, default, arg=None):
        """Send the reply the test configured for stage, else default.

        Returns the reply text sent (its first line), or raises Closed.
        """
        spec = self.server.spec_for(stage, self, arg)
        if spec is None:
            spec = default
        return self._send_spec(spec)

    def _send_spec(self, spec):
        delay = 0
        then = None
        if isinstance(spec, dict):
            delay = spec.get("delay", 0)
            then = spec.get("then")
            spec = spec.get("reply", "")
        if delay:
            self.note(f"waiting {delay}s")
            if self.server.stopping.wait(delay):
                raise Closed("server stopping")
        if spec == DROP:
            self.note("dropping the connection")
            raise Closed("dropped")
        if spec == HANG:
            self.note("never answering")
            self.server.stopping.wait(self.server.idle_timeout)
            raise Closed("hung")
        if spec == ENDLESS:
            self.note("sending an endless reply")
            line = b"250-" + b"x" * 70 + b"\r\n"
            while not self.server.stopping.is_set():
                self.send_raw(line * 100)
            raise Closed("endless")
        if isinstance(spec, bytes):
            self.log.append(f"S: {spec!r}")
            self.send_raw(spec)
            text = spec.decode("latin-1")
        else:
            lines = spec.split("\n") if spec else []
            for line in lines:
                self.log.append(f"S: {line}")
            self.send_raw("".join(l + "\r\n" for l in lines).encode())
            text = spec
        if then == DROP:
            self.note("dropping the connection")
            raise Closed("dropped")
        if text.startswith("421"):
            raise Closed("421 sent")
        return text

    # --- the conversation ------------------------------------------------
    def run(self):
        self.deadline = time.monotonic() + self.server.idle_timeout
        try:
            if self.server.implicit_tls:
                self.start_tls()
            self.reply("greeting", f"220 {self.server.hostname} ESMTP fakesmtp")
            while True:
                raw = self.readline()
                text = raw.rstrip(b"\r\n").decode("utf-8", "backslashreplace")
                if not raw.endswith(b"\r\n"):
                    self.note("command line without CRLF")
                self.commands.append(text)
                self.log.append(f"C: {text}")
                if self.buf:
                    self.early.append(text)
                verb, _, arg = text.partition(" ")
                verb = verb.upper()
                handler = getattr(self, "cmd_" + verb.lower(), None)
                if handler is None or not verb.isalpha():
                    self.reply("unknown", "500 5.5.2 Error: command not recognized")
                    continue
                handler(arg)
        except Closed as e:
            self.note(f"closed: {e}")
        finally:
            self.closed = True
            try:
                self.sock.close()
            except OSError:
                pass

    def ehlo_lines(self):
        srv = self.server
        ext = list(srv.extensions)
        if srv.size is not None:
            ext.append(f"SIZE {srv.size}")
        if srv.starttls and not self.tls:
            ext.append("STARTTLS")
        if srv.auth and (self.tls or not srv.auth_needs_tls):
            ext.append("AUTH " + srv.auth)
        lines = [srv.hostname] + ext
        return "\n".join(f"250{'-' if i < len(lines) - 1 else ' '}{l}" for i, l in enumerate(lines))

    def cmd_ehlo(self, arg):
        self.txn = None
        text = self.reply("ehlo", self.ehlo_lines(), arg)
        if text.startswith("2"):
            self.helo = ("EHLO", arg)

    def cmd_helo(self, arg):
        self.txn = None
        text = self.reply("helo", f"250 {self.server.hostname}", arg)
        if text.startswith("2"):
            self.helo = ("HELO", arg)

    def cmd_starttls(self, arg):
        if not self.server.starttls or self.tls:
            self.reply("starttls", "502 5.5.1 Error: command not implemented")
            return
        text = self.reply("starttls", "220 2.0.0 Ready to start TLS")
        if text.startswith("220"):
            if self.buf:
                self.plain_after_starttls = self.buf
                self.note(f"plain bytes after STARTTLS discarded: {self.buf!r}")
                self.buf = b""
            self.start_tls()
            self.helo = None
            self.txn = None

    def start_tls(self):
        ctx = self.server.tls_context()
        self.sock.settimeout(self.server.idle_timeout)
        try:
            self.sock = ctx.wrap_socket(self.sock, server_side=True)
        except (ssl.SSLError, OSError) as e:
            self.tls_error = repr(e)
            self.note(f"TLS handshake failed: {e!r}")
            raise Closed("tls failed")
        self.sock.settimeout(0.2)
        self.tls = True
        self.note(f"TLS established: {self.sock.version()} {self.sock.cipher()[0]}")

    def cmd_auth(self, arg):
        self.reply("auth", "235 2.7.0 Authentication successful", arg)

    def cmd_mail(self, arg):
        line = "MAIL " + arg
        if self.txn is not None:
            self.reply("mail", "503 5.5.1 Error: nested MAIL command", arg)
            return
        size = None
        for param in arg.split()[1:]:
            key, _, val = param.partition("=")
            if key.upper() == "SIZE" and val.isdigit():
                size = int(val)
        if self.server.size and size is not None and size > self.server.size:
            self.reply("mail", "552 5.3.4 Error: message file too big", arg)
            return
        text = self.reply("mail", "250 2.1.0 Ok", arg)
        if text.startswith("2"):
            self.txn = Transaction(line)
            self.transactions.append(self.txn)

    def cmd_rcpt(self, arg):
        line = "RCPT " + arg
        if self.txn is None:
            self.reply("rcpt", "503 5.5.1 Error: need MAIL command", arg)
            return
        addr = _path_of(line).lower()
        accepted = len(self.txn.accepted)
        if self.server.max_rcpts is not None and accepted >= self.server.max_rcpts:
            text = self._send_spec("452 4.5.3 Error: too many recipients")
        elif self.server.has_spec("rcpt:" + addr):
            text = self.reply("rcpt:" + addr, "250 2.1.5 Ok", arg)
        else:
            text = self.reply("rcpt", "250 2.1.5 Ok", arg)
        try:
            code = int(text[:3])
        except ValueError:
            code = 0
        self.txn.rcpts.append((line, code))

    def cmd_data(self, arg):
        if self.txn is None or not self.txn.accepted:
            self.reply("data", "554 5.5.1 Error: no valid recipients")
            return
        text = self.reply("data", "354 End data with <CR><LF>.<CR><LF>")
        if not text.startswith("354"):
            return
        txn = self.txn
        raw = []
        while True:
            line = self.readline()
            if line == b".\r\n":
                if self.buf:
                    self.early.append(".")
                break
            raw.append(line)
        txn.data_raw = b"".join(raw)
        txn.message = b"".join(l[1:] if l.startswith(b".") else l for l in raw)
        self.note(f"message of {len(txn.message)} octets")
        self.txn = None
        txn.dot_reply = self.reply("dot", "250 2.0.0 Ok: queued as FAKE")

    def cmd_bdat(self, arg):
        parts = arg.split()
        if not parts or not parts[0].isdigit():
            self.reply("bdat", "501 5.5.4 Syntax: BDAT count [LAST]")
            return
        n = int(parts[0])
        last = len(parts) > 1 and parts[1].upper() == "LAST"
        chunk = self.readexact(n)
        txn = self.txn
        if txn is None or not txn.accepted:
            self.reply("bdat", "503 5.5.1 Error: no valid recipients")
            return
        txn.data_raw += chunk
        txn.chunks.append(n)
        if not last:
            self.reply("bdat", f"250 2.0.0 {n} octets received")
            return
        txn.message = txn.data_raw
        self.note(f"message of {len(txn.message)} octets in {len(txn.chunks)} chunks")
        self.txn = None
        txn.dot_reply = self.reply("dot", "250 2.0.0 Ok: queued as FAKE")

    def cmd_rset(self, arg):
        self.txn = None
        self.reply("rset", "250 2.0.0 Ok")

    def cmd_noop(self, arg):
        self.reply("noop", "250 2.0.0 Ok")

    def cmd_vrfy(self, arg):
        self.reply("vrfy", "252 2.0.0 Cannot VRFY")

    def cmd_quit(self, arg):
        self.reply("quit", "221 2.0.0 Bye")
        raise Closed("quit")


class FakeSmtp:
    """The server: one listening socket, one thread per connection."""

    def __init__(self, netns, addr="127.0.0.11", port=25, hostname=None, replies=None,
                 extensions=DEFAULT_EXTENSIONS, size=None, max_rcpts=None,
                 starttls=False, implicit_tls=False, cert=None, auth=None, auth_needs_tls=False,
                 idle_timeout=30.0, name=None):
        self.netns = netns
        self.addr = addr
        self.port = port
        self.hostname = hostname or f"fake-{addr}"
        self.name = name or f"fakesmtp {addr}:{port}"
        self.replies = dict(replies or {})
        self.extensions = list(extensions)
        self.size = size
        self.max_rcpts = max_rcpts
        self.starttls = starttls
        self.implicit_tls = implicit_tls
        self.cert = cert            # (certfile, keyfile)
        self.auth = auth            # e.g. "PLAIN LOGIN"
        self.auth_needs_tls = auth_needs_tls
        self.idle_timeout = idle_timeout
        self.sessions = []
        self.stopping = threading.Event()
        self._counters = {}
        self._lock = threading.Lock()
        self._threads = []
        self._sock = None
        self._ctx = None

    # --- configuration ---------------------------------------------------
    def has_spec(self, stage):
        return stage in self.replies

    def spec_for(self, stage, session, arg):
        spec = self.replies.get(stage)
        if isinstance(spec, list):
            with self._lock:
                i = self._counters.get(stage, 0)
                self._counters[stage] = i + 1
            spec = spec[min(i, len(spec) - 1)] if spec else None
        if callable(spec):
            spec = spec(session, arg)
        return spec

    def tls_context(self):
        if self._ctx is None:
            if not self.cert:
                raise RuntimeError(f"{self.name}: TLS asked for but no certificate given")
            ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            ctx.load_cert_chain(*self.cert)
            self._ctx = ctx
        return self._ctx

    # --- running ---------------------------------------------------------
    def start(self):
        self.netns.add_addr(self.addr)
        if self.starttls or self.implicit_tls:
            self.tls_context()
        family = socket.AF_INET6 if ":" in self.addr else socket.AF_INET
        sock = socket.socket(family, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((self.addr, self.port))
        sock.listen(128)
        sock.settimeout(0.1)
        self._sock = sock
        t = threading.Thread(target=self._accept_loop, name=self.name, daemon=True)
        t.start()
        self._threads.append(t)
        self.netns.on_stop(self.stop)
        self.netns.peers.append(self)
        return self

    def _accept_loop(self):
        while not self.stopping.is_set():
            try:
                conn, peer = self._sock.accept()
            except (socket.timeout, TimeoutError):
                continue
            except OSError:
                return
            conn.settimeout(0.2)
            conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            session = Session(self, conn, peer)
            with self._lock:
                self.sessions.append(session)
            t = threading.Thread(target=session.run, name=f"{self.name} session", daemon=True)
            t.start()
            self._threads.append(t)

    def settle(self, timeout=5.0):
        """Wait until every session so far has ended (the client hung up)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if all(s.closed for s in list(self.sessions)):
                return True
            time.sleep(0.02)
        return False

    def stop(self):
        self.stopping.set()
        if self._sock:
            self._sock.close()
        for t in self._threads:
            t.join(5)

    # --- what happened ---------------------------------------------------
    @property
    def connections(self):
        return len(self.sessions)

    @property
    def transactions(self):
        return [t for s in list(self.sessions) for t in s.transactions]

    @property
    def messages(self):
        """Transactions whose message was taken (2xx after the final dot)."""
        return [t for t in self.transactions if t.delivered]

    @property
    def data_commands(self):
        return [c for s in list(self.sessions) for c in s.commands if c.upper().startswith(("DATA", "BDAT"))]

    def commands(self, verb=None):
        out = [c for s in list(self.sessions) for c in s.commands]
        if verb:
            out = [c for c in out if c.upper().startswith(verb.upper())]
        return out

    def describe(self):
        lines = [f"--- {self.name}: {len(self.sessions)} connection(s) ---"]
        for i, s in enumerate(list(self.sessions)):
            lines.append(f"[session {i} from {s.peer[0]} tls={s.tls}]")
            lines.extend("  " + l for l in s.log[:400])
            if len(s.log) > 400:
                lines.append(f"  ... {len(s.log) - 400} more lines")
        return "\n".join(lines)
