"""python3-aiosmtpd as a receiving MX: a second, independent SMTP server.

AioSmtpd(netns, "127.0.0.12", cert=(certfile, keyfile)).start() runs
aiosmtpd (Debian's python3-aiosmtpd) in its own process inside the test's
namespace: port 25 offers STARTTLS when a certificate is given, port 465
speaks implicit TLS. Each message is written, as aiosmtpd received it
(CRLF line ends, dots unstuffed, nothing added), to its own file;
messages() reads them back in arrival order with their envelopes.

Run as a program, this file is the server itself:
  aiosmtpd_mx.py ADDR MAILDIR [CERT KEY]
"""

import asyncio
import json
import os
import ssl
import sys
import tempfile
import time

from .netns import wait_port

MAX_SIZE = 64 * 1024 * 1024


def available():
    try:
        import aiosmtpd  # noqa: F401
    except ImportError:
        return "python3-aiosmtpd is not installed"
    return None


class AioSmtpd:
    def __init__(self, netns, addr="127.0.0.12", cert=None, hostname=None):
        self.netns = netns
        self.addr = addr
        self.cert = cert
        self.hostname = hostname or f"aiosmtpd-{addr}.test"
        self.dir = tempfile.mkdtemp(prefix="mxr-aiosmtpd-")
        self.proc = None

    def start(self):
        reason = available()
        if reason:
            import pytest
            pytest.skip(reason)
        self.netns.add_addr(self.addr)
        argv = [sys.executable if sys.executable.startswith("/usr/bin/") else "/usr/bin/python3",
                "-m", "mxtest.aiosmtpd_mx", self.addr, self.dir, self.hostname]
        if self.cert:
            argv += list(self.cert)
        here = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
        self.proc = self.netns.spawn(argv, name=f"aiosmtpd {self.addr}", cwd=here)
        self.netns.peers.append(self)
        wait_port(self.addr, 25, proc=self.proc)
        if self.cert:
            wait_port(self.addr, 465, proc=self.proc)
        return self

    def messages(self, count=1, wait=10.0):
        """[(envelope dict, message bytes)] in arrival order; waits for count of them."""
        deadline = time.monotonic() + wait
        while True:
            names = sorted(n for n in os.listdir(self.dir) if n.endswith(".json"))
            if len(names) >= count or time.monotonic() >= deadline:
                out = []
                for n in names:
                    with open(os.path.join(self.dir, n)) as f:
                        env = json.load(f)
                    with open(os.path.join(self.dir, n[:-5] + ".eml"), "rb") as f:
                        out.append((env, f.read()))
                return out
            time.sleep(0.05)

    def describe(self):
        return f"--- aiosmtpd {self.addr} ---\n" + (self.proc.output()[-4000:] if self.proc else "")


class _Handler:
    def __init__(self, maildir):
        self.maildir = maildir
        self.n = 0

    async def handle_DATA(self, server, session, envelope):
        self.n += 1
        stem = os.path.join(self.maildir, f"{self.n:06d}")
        with open(stem + ".eml.tmp", "wb") as f:
            f.write(envelope.original_content)
        os.rename(stem + ".eml.tmp", stem + ".eml")
        env = {"mail_from": envelope.mail_from, "rcpt_tos": envelope.rcpt_tos,
               "mail_options": envelope.mail_options,
               "tls": server.transport.get_extra_info("ssl_object") is not None,
               "peer": session.peer[0]}
        with open(stem + ".json.tmp", "w") as f:
            json.dump(env, f)
        os.rename(stem + ".json.tmp", stem + ".json")
        print(f"message {self.n} from {envelope.mail_from} to {envelope.rcpt_tos} "
              f"{len(envelope.original_content)} octets tls={env['tls']}", flush=True)
        return "250 2.0.0 OK"


def _serve(addr, maildir, hostname, cert=None, key=None):
    from aiosmtpd.smtp import SMTP

    handler = _Handler(maildir)
    ctx = None
    if cert:
        ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        ctx.load_cert_chain(cert, key)
    loop = asyncio.new_event_loop()

    def factory(tls_context):
        return lambda: SMTP(handler, hostname=hostname, data_size_limit=MAX_SIZE,
                            tls_context=tls_context, enable_SMTPUTF8=True, loop=loop)

    loop.run_until_complete(loop.create_server(factory(ctx), addr, 25))
    if ctx is not None:
        loop.run_until_complete(loop.create_server(factory(None), addr, 465, ssl=ctx))
    print(f"aiosmtpd listening on {addr}", flush=True)
    loop.run_forever()


if __name__ == "__main__":
    _serve(*sys.argv[1:])
