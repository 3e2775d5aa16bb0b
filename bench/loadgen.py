#!/usr/bin/python3
"""loadgen: SMTP load with many recipients per message, and idle connections.

Owns the client side that smtp-source cannot play: messages whose
recipients span several domains, the time from the end of DATA to its reply
for every message, a single probe session that measures that latency beside
another load, thousands of idle connections held open, and STARTTLS
(--tls: every session upgrades after EHLO when offered, through an
ssl.SSLObject over memory BIOs, so the sessions stay non-blocking). One thread, one
selector, every session a small state machine on a non-blocking socket, so
that the generator costs little of the machine it shares with the relay.

Prints one JSON object on stdout when done (in --idle mode, one when the
connections are up and one when they are closed). Times are CLOCK_MONOTONIC
seconds, comparable with the caller's time.monotonic().

Usage:
  loadgen.py --server 127.0.0.10:25 --sessions 20 --count 2000 --size 1024 \
      --rcpts 'a{n}@d1.test,b{n}@d2.test;c{n}@d1.test'
  loadgen.py --server ... --sessions 1 --count 0     (until a line on stdin)
  loadgen.py --server ... --idle 10000               (hold until a line on stdin)
  loadgen.py --server ... --tls --count 2000          (STARTTLS in every session)
"""

import argparse
import errno
import json
import os
import selectors
import socket
import ssl
import sys
import time

CRLF = b"\r\n"


def make_body(size):
    """A message body of about size octets after the headers, in 78-octet lines."""
    line = b"x" * 76 + CRLF
    n, rest = divmod(size, len(line))
    return line * n + (b"y" * max(0, rest - 2) + CRLF if rest >= 2 else b"")


class Load:
    """What to send: counts, sizes and the recipient sets messages rotate over."""

    def __init__(self, args):
        self.count = args.count          # 0: until stdin says stop
        self.first, self.stride = args.first, args.stride   # message numbers first + k * stride
        self.per_conn = args.per_conn
        self.sender = args.sender.encode()
        self.sets = [[r.strip() for r in s.split(",") if r.strip()]
                     for s in args.rcpts.split(";") if s.strip()]
        self.body = make_body(args.size)
        self.next_msg = 0
        self.stopping = False
        self.ok = 0
        self.failed = 0
        self.rcpt_ok = 0
        self.rcpt_failed = 0
        self.domain_txns = {}            # domain -> accepted messages with a recipient there
        self.latencies = []
        self.errors = {}
        self.t_last_ok = None
        self.tls_sessions = 0

    def take(self):
        """The number of the next message to send, or None when all are taken."""
        if self.stopping or (self.count and self.next_msg >= self.count):
            return None
        n = self.first + self.next_msg * self.stride
        self.next_msg += 1
        return n

    def error(self, what):
        self.errors[what] = self.errors.get(what, 0) + 1


class Session:
    """One SMTP connection: greeting, EHLO, then transactions, then QUIT."""

    def __init__(self, gen, load):
        self.gen = gen
        self.load = load
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.setblocking(False)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.inbuf = b""
        self.out = []                    # chunks still to write
        self.expect = []                 # tags of replies still to read
        self.pending = []                # (tag, line) not yet sent (no PIPELINING)
        self.pipelining = False
        self.state = "connect"
        self.msg = None
        self.sent_in_conn = 0
        self.t_dot = None
        self.rcpts_accepted = []
        self.registered = False
        self.tls = None                  # ssl.SSLObject once STARTTLS is under way
        self.tls_in = self.tls_out = None
        self.handshaking = False

    def start(self, addr):
        try:
            self.sock.connect(addr)
        except BlockingIOError:
            pass
        except OSError as e:
            self.load.error("connect: " + errno.errorcode.get(e.errno, str(e.errno)))
            self.close()
            return
        self.expect = ["greeting"]
        self._update()

    # ---- I/O ---------------------------------------------------------------
    def _update(self):
        if self.sock is None:
            return
        events = selectors.EVENT_READ
        if self.out or self.state == "connect":
            events |= selectors.EVENT_WRITE
        if self.registered:
            self.gen.sel.modify(self.sock, events, self)
        else:
            self.gen.sel.register(self.sock, events, self)
            self.registered = True

    def on_event(self, mask):
        if self.state == "connect" and mask & selectors.EVENT_WRITE:
            err = self.sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
            if err:
                self.load.error("connect: " + errno.errorcode.get(err, str(err)))
                self.close()
                return
            self.state = "greeting"
        if mask & selectors.EVENT_WRITE and self.out:
            self._flush()
        if self.sock is not None and mask & selectors.EVENT_READ:
            try:
                data = self.sock.recv(65536)
            except (BlockingIOError, InterruptedError):
                data = None
            except OSError as e:
                self.load.error("recv: " + errno.errorcode.get(e.errno, str(e.errno)))
                self.close()
                return
            if data is not None:
                if not data:
                    self.load.error("closed by server in " + self.state)
                    self.close()
                    return
                if self.tls is not None:
                    self._tls_received(data)
                else:
                    self.inbuf += data
                self._replies()
        self._update()

    def _flush(self):
        while self.out:
            chunk = self.out[0]
            try:
                n = self.sock.send(chunk)
            except (BlockingIOError, InterruptedError):
                return
            except OSError as e:
                self.load.error("send: " + errno.errorcode.get(e.errno, str(e.errno)))
                self.close()
                return
            if n < len(chunk):
                self.out[0] = chunk[n:]
                return
            self.out.pop(0)
        if self.state == "body" and self.t_dot is None:
            # The end-of-data line has left: the reply latency starts now.
            self.t_dot = time.monotonic()

    def _send(self, data):
        if self.tls is not None:
            self.tls.write(data)
            data = self.tls_out.read()
        # A memoryview, so that a partial send of a large body slices
        # without copying what is left.
        self.out.append(memoryview(data))

    # ---- TLS -----------------------------------------------------------------
    def _starttls(self):
        self.tls_in, self.tls_out = ssl.MemoryBIO(), ssl.MemoryBIO()
        self.tls = self.gen.tls_ctx.wrap_bio(self.tls_in, self.tls_out,
                                             server_hostname=self.gen.addr[0])
        self.handshaking = True
        self._handshake()

    def _handshake(self):
        try:
            self.tls.do_handshake()
            self.handshaking = False
        except ssl.SSLWantReadError:
            pass
        except ssl.SSLError as e:
            self.load.error("tls: " + (e.reason or str(e)))
            self.close()
            return
        pending = self.tls_out.read()
        if pending:
            self.out.append(memoryview(pending))
        if not self.handshaking:
            self.load.tls_sessions += 1
            self._send(b"EHLO client.bench.test" + CRLF)
            self.expect.append("ehlo-tls")

    def _tls_received(self, data):
        self.tls_in.write(data)
        if self.handshaking:
            self._handshake()
            if self.handshaking or self.sock is None:
                return
        while True:
            try:
                chunk = self.tls.read(65536)
            except ssl.SSLWantReadError:
                break
            except ssl.SSLError as e:
                self.load.error("tls: " + (e.reason or str(e)))
                self.close()
                return
            if not chunk:
                break
            self.inbuf += chunk
        pending = self.tls_out.read()
        if pending:
            self.out.append(memoryview(pending))

    def _replies(self):
        while self.sock is not None:
            # A reply ends with a line whose fourth octet is a space.
            start = 0
            end = None
            while True:
                i = self.inbuf.find(b"\n", start)
                if i < 0:
                    break
                line = self.inbuf[start:i]
                start = i + 1
                if len(line) < 4 or line[3:4] != b"-":
                    end = start
                    break
            if end is None:
                return
            reply, self.inbuf = self.inbuf[:end], self.inbuf[end:]
            try:
                code = int(reply[:3])
            except ValueError:
                code = 0
            self._on_reply(code, reply)

    # ---- the protocol ------------------------------------------------------
    def _command(self, tag, line):
        if self.pipelining or not self.expect:
            self._send(line + CRLF)
            self.expect.append(tag)
        else:
            self.pending.append((tag, line))

    def _on_reply(self, code, reply):
        tag = self.expect.pop(0) if self.expect else "unexpected"
        if self.pending and not self.pipelining and not self.expect:
            t, line = self.pending.pop(0)
            self._send(line + CRLF)
            self.expect.append(t)
        if tag == "greeting":
            if code != 220:
                self.load.error(f"greeting {code}")
                return self.close()
            self._send(b"EHLO client.bench.test" + CRLF)
            self.expect.append("ehlo")
        elif tag == "starttls":
            if code != 220:
                self.load.error(f"starttls {code}")
                return self.close()
            self._starttls()
        elif tag in ("ehlo", "ehlo-tls"):
            if code != 250:
                self.load.error(f"ehlo {code}")
                return self.close()
            if tag == "ehlo" and self.gen.tls_ctx is not None:
                if b"STARTTLS" not in reply.upper():
                    self.load.error("no STARTTLS offered")
                    return self.close()
                self._send(b"STARTTLS" + CRLF)
                self.expect.append("starttls")
                return
            self.pipelining = b"PIPELINING" in reply.upper()
            if self.gen.idle:
                self.gen.greeted += 1
                self.state = "idle"
                return
            self._next_message()
        elif tag == "mail":
            if code // 100 != 2:
                self.load.error(f"mail {code}")
        elif tag == "rcpt":
            if code // 100 == 2:
                self.load.rcpt_ok += 1
                self.rcpts_accepted.append(self._rcpt_list[len(self._rcpt_done)])
            else:
                self.load.rcpt_failed += 1
                self.load.error(f"rcpt {code}")
            self._rcpt_done.append(code)
        elif tag == "data":
            if code == 354:
                self.state = "body"
                self.t_dot = None
                self._send(self._headers())
                self._send(self.load.body)
                self._send(b"." + CRLF)
                self.expect.append("dot")
            else:
                self.load.failed += 1
                self.load.error(f"data {code}")
                self._command("rset", b"RSET")
                self.state = "rset"
        elif tag == "dot":
            now = time.monotonic()
            if code // 100 == 2:
                self.load.ok += 1
                self.load.t_last_ok = now
                if self.t_dot is not None:
                    self.load.latencies.append(now - self.t_dot)
                for d in {r.rsplit("@", 1)[-1].lower() for r in self.rcpts_accepted}:
                    self.load.domain_txns[d] = self.load.domain_txns.get(d, 0) + 1
            else:
                self.load.failed += 1
                self.load.error(f"end of data {code}")
            self.state = "ready"
            self._next_message()
        elif tag == "rset":
            self.state = "ready"
            self._next_message()
        elif tag == "quit":
            self.close()

    def _headers(self):
        n = self.msg
        return (f"From: <{self.load.sender.decode()}>\r\n"
                f"To: <{self._rcpt_list[0]}>\r\n"
                f"Subject: bench message {n}\r\n"
                f"Message-ID: <{os.getpid()}.{n}@client.bench.test>\r\n"
                "\r\n").encode()

    def _next_message(self):
        n = None
        if self.sent_in_conn < self.load.per_conn:
            n = self.load.take()
        if n is None:
            self.state = "quit"
            self._command("quit", b"QUIT")
            return
        self.msg = n
        self.sent_in_conn += 1
        rset = self.load.sets[n % len(self.load.sets)]
        self._rcpt_list = [r.replace("{n}", str(n)) for r in rset]
        self._rcpt_done = []
        self.rcpts_accepted = []
        self.state = "txn"
        self._command("mail", b"MAIL FROM:<" + self.load.sender + b">")
        for r in self._rcpt_list:
            self._command("rcpt", b"RCPT TO:<" + r.encode() + b">")
        self._command("data", b"DATA")

    def close(self):
        if self.sock is None:
            return
        if self.registered:
            self.gen.sel.unregister(self.sock)
        self.sock.close()
        self.sock = None
        self.gen.closed(self)


class Generator:
    def __init__(self, args):
        host, port = args.server.rsplit(":", 1)
        self.addr = (host, int(port))
        self.sel = selectors.DefaultSelector()
        self.load = Load(args)
        self.sessions = set()
        self.idle = args.idle
        self.greeted = 0
        self.want_sessions = args.sessions
        self.tls_ctx = None
        if args.tls:
            # The relays under test have self-signed certificates: encrypt, do not verify.
            self.tls_ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
            self.tls_ctx.check_hostname = False
            self.tls_ctx.verify_mode = ssl.CERT_NONE

    def open(self):
        s = Session(self, self.load)
        self.sessions.add(s)
        s.start(self.addr)

    def closed(self, s):
        self.sessions.discard(s)
        # Keep the number of sessions up while messages remain.
        if not self.idle and not self.load.stopping and \
                (self.load.count == 0 or self.load.next_msg < self.load.count):
            self.open()

    def watch_stdin(self, callback):
        self.sel.register(sys.stdin.fileno(), selectors.EVENT_READ, callback)

    def run_until(self, done, timeout=None):
        end = None if timeout is None else time.monotonic() + timeout
        while not done():
            wait = 1.0 if end is None else max(0.0, min(1.0, end - time.monotonic()))
            for key, mask in self.sel.select(wait):
                if callable(key.data):
                    key.data()
                else:
                    key.data.on_event(mask)
            if end is not None and time.monotonic() >= end:
                return False
        return True


def percentile(values, p):
    if not values:
        return None
    v = sorted(values)
    k = min(len(v) - 1, max(0, int(round(p / 100.0 * len(v) + 0.5)) - 1))
    return v[k]


def run_procs(args):
    """--procs N: N processes of sessions/N sessions each, the messages dealt
    out among them, one result merged from theirs (a TLS client in Python
    needs more than one core's share to keep up with a relay)."""
    kids = []
    for i in range(args.procs):
        r, w = os.pipe()
        pid = os.fork()
        if pid == 0:
            os.close(r)
            args.first, args.stride = i, args.procs
            args.count = args.count // args.procs + (1 if i < args.count % args.procs else 0)
            args.sessions = max(1, args.sessions // args.procs)
            res = run_messages(args, keep_latencies=True)
            with os.fdopen(w, "w") as f:
                f.write(json.dumps(res))
            os._exit(0)
        os.close(w)
        kids.append((pid, r))
    parts = []
    for pid, r in kids:
        with os.fdopen(r) as f:
            text = f.read()
        os.waitpid(pid, 0)
        if text:
            parts.append(json.loads(text))
    lat = [x for p in parts for x in p["latencies"]]
    errors, txns = {}, {}
    for p in parts:
        for k, v in p["errors"].items():
            errors[k] = errors.get(k, 0) + v
        for k, v in p["domain_txns"].items():
            txns[k] = txns.get(k, 0) + v
    oks = [p["t_last_ok"] for p in parts if p["t_last_ok"] is not None]
    total = lambda key: sum(p[key] for p in parts)  # noqa: E731
    return {
        "t_start": min(p["t_start"] for p in parts) if parts else None,
        "t_last_ok": max(oks) if oks else None,
        "t_end": max(p["t_end"] for p in parts) if parts else None,
        "messages_ok": total("messages_ok"), "messages_failed": total("messages_failed"),
        "rcpts_ok": total("rcpts_ok"), "rcpts_failed": total("rcpts_failed"),
        "domain_txns": txns,
        "latency_p50": percentile(lat, 50), "latency_p99": percentile(lat, 99),
        "latency_n": len(lat), "errors": errors, "tls_sessions": total("tls_sessions"),
    }


def run_messages(args, keep_latencies=False):
    gen = Generator(args)
    load = gen.load

    def stop():
        os.read(sys.stdin.fileno(), 4096)
        gen.sel.unregister(sys.stdin.fileno())
        load.stopping = True
    if args.count == 0:
        gen.watch_stdin(stop)
    t_start = time.monotonic()
    for _ in range(args.sessions):
        gen.open()
    gen.run_until(lambda: not gen.sessions, args.timeout)
    lat = load.latencies
    return {
        "t_start": t_start, "t_last_ok": load.t_last_ok, "t_end": time.monotonic(),
        "messages_ok": load.ok, "messages_failed": load.failed,
        "rcpts_ok": load.rcpt_ok, "rcpts_failed": load.rcpt_failed,
        "domain_txns": load.domain_txns,
        "latency_p50": percentile(lat, 50), "latency_p99": percentile(lat, 99),
        "latency_n": len(lat), "errors": load.errors, "tls_sessions": load.tls_sessions,
        **({"latencies": lat} if keep_latencies else {}),
    }


def run_idle(args):
    gen = Generator(args)
    for _ in range(args.idle):
        gen.open()
    t_start = time.monotonic()
    last, moved = 0, time.monotonic()

    def settled():
        nonlocal last, moved
        if gen.greeted != last:
            last, moved = gen.greeted, time.monotonic()
        return gen.greeted >= args.idle or time.monotonic() - moved > args.settle
    gen.run_until(settled, args.timeout)
    up = {"event": "up", "opened": args.idle, "greeted": gen.greeted,
          "open_now": len(gen.sessions), "seconds": time.monotonic() - t_start,
          "errors": gen.load.errors}
    print(json.dumps(up), flush=True)
    released = []
    gen.watch_stdin(lambda: released.append(os.read(sys.stdin.fileno(), 4096)))
    gen.run_until(lambda: released, args.timeout)
    for s in list(gen.sessions):
        s.close()
    return {"event": "closed", "greeted": gen.greeted}


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--server", default="127.0.0.10:25")
    ap.add_argument("--sessions", type=int, default=20)
    ap.add_argument("--count", type=int, default=1000,
                    help="messages in all; 0: until a line arrives on stdin")
    ap.add_argument("--per-conn", type=int, default=1,
                    help="messages per connection (1, as smtp-source without -d)")
    ap.add_argument("--size", type=int, default=1024, help="body octets")
    ap.add_argument("--sender", default="sender@src.bench.test")
    ap.add_argument("--rcpts", default="r{n}@d1.bench.test",
                    help="recipient sets, ';' between sets, ',' within; {n} is the message number")
    ap.add_argument("--tls", action="store_true", help="STARTTLS in every session")
    ap.add_argument("--procs", type=int, default=1,
                    help="processes to share the sessions and messages (with --count > 0)")
    ap.add_argument("--first", type=int, default=0, help=argparse.SUPPRESS)
    ap.add_argument("--stride", type=int, default=1, help=argparse.SUPPRESS)
    ap.add_argument("--idle", type=int, default=0, help="hold this many idle connections")
    ap.add_argument("--settle", type=float, default=5.0,
                    help="idle mode: stop waiting for greetings after this long without one")
    ap.add_argument("--timeout", type=float, default=600.0)
    args = ap.parse_args()
    if args.idle:
        result = run_idle(args)
    elif args.procs > 1 and args.count > 0:
        result = run_procs(args)
    else:
        result = run_messages(args)
    print(json.dumps(result), flush=True)


if __name__ == "__main__":
    main()
