"""Postfix's smtp-sink as a real receiving MTA.

Each transaction is dumped to its own file (-d); messages() parses them
back into envelope and message. smtp-sink writes the message as text lines
ending in "\\n" with the dots unstuffed, so compare bytes against
fakesmtp when CRLF matters. -v puts the conversation in the log, which
tells whether any connection was made at all.
"""

import os
import re
import shutil
import tempfile

from .netns import wait_port

SMTP_SINK = "/usr/sbin/smtp-sink"


class SinkMessage:
    def __init__(self, path, helo, mail, rcpts, client, message):
        self.path = path
        self.helo = helo          # "name" of the last EHLO/HELO
        self.mail = mail          # arguments of MAIL after "FROM:", e.g. "<a@b.test> SIZE=12"
        self.rcpts = rcpts        # arguments of each RCPT
        self.client = client      # client IP
        self.message = message    # bytes as dumped: header and body, LF line ends

    @property
    def sender(self):
        m = re.match(r"(?i)(?:FROM:)?\s*<([^>]*)>", self.mail or "")
        return m.group(1) if m else self.mail

    @property
    def recipients(self):
        out = []
        for r in self.rcpts:
            m = re.match(r"(?i)(?:TO:)?\s*<([^>]*)>", r)
            out.append(m.group(1) if m else r)
        return out


class SmtpSink:
    def __init__(self, netns, addr="127.0.0.11", port=25, hostname=None, options=(), name=None):
        self.netns = netns
        self.addr = addr
        self.port = port
        self.hostname = hostname or f"sink-{addr}"
        self.options = list(options)
        self.name = name or f"smtp-sink {addr}:{port}"
        self.proc = None
        # smtp-sink runs as nobody: its dump directory must be reachable by
        # nobody, which the 0700 pytest temporary directories are not.
        self.dumpdir = tempfile.mkdtemp(prefix="mxr-sink-")
        os.chmod(self.dumpdir, 0o777)

    def start(self):
        self.netns.add_addr(self.addr)
        listen = f"[{self.addr}]:{self.port}" if ":" in self.addr else f"{self.addr}:{self.port}"
        argv = [SMTP_SINK, "-u", "nobody", "-v", "-h", self.hostname,
                "-d", os.path.join(self.dumpdir, "msg."), *self.options, listen, "100"]
        self.proc = self.netns.spawn(argv, name=self.name.replace(" ", "-"))
        self.proc.described = True  # describe() shows the log
        self.netns.on_stop(self.stop)
        self.netns.peers.append(self)
        wait_port(self.addr, self.port, proc=self.proc)
        return self

    def stop(self):
        if self.proc:
            self.proc.stop()
        shutil.rmtree(self.dumpdir, ignore_errors=True)

    def log(self):
        return self.proc.output() if self.proc else ""

    @property
    def connections(self):
        """Sessions smtp-sink saw, from its verbose log."""
        return len(re.findall(r"(?m)connect from|^.*: connect\b", self.log()))

    def saw_anything(self):
        return bool(self.log().strip())

    def messages(self):
        out = []
        try:
            names = sorted(os.listdir(self.dumpdir), key=lambda n: os.stat(os.path.join(self.dumpdir, n)).st_mtime)
        except FileNotFoundError:
            return out
        for name in names:
            path = os.path.join(self.dumpdir, name)
            with open(path, "rb") as f:
                out.append(self._parse(path, f.read()))
        return out

    @staticmethod
    def _parse(path, data):
        helo = mail = client = None
        rcpts = []
        lines = data.split(b"\n")
        i = 0
        while i < len(lines):
            line = lines[i].decode("utf-8", "replace")
            if line.startswith("X-Client-Addr: "):
                client = line.split(": ", 1)[1]
            elif line.startswith("X-Helo-Args: "):
                helo = line.split(": ", 1)[1]
            elif line.startswith("X-Mail-Args: "):
                mail = line.split(": ", 1)[1]
            elif line.startswith("X-Rcpt-Args: "):
                rcpts.append(line.split(": ", 1)[1])
            elif line.startswith("Received: "):
                i += 3  # the three-line trace header ends smtp-sink's own part
                break
            elif not line.startswith("X-"):
                break
            i += 1
        body = b"\n".join(lines[i:])
        # The dump ends with one empty line of its own.
        if body.endswith(b"\n\n"):
            body = body[:-1]
        return SinkMessage(path, helo, mail, rcpts, client, body)

    def describe(self):
        msgs = self.messages() if os.path.isdir(self.dumpdir) else []
        head = f"--- {self.name}: {len(msgs)} message(s) dumped ---\n"
        for m in msgs:
            head += f"  MAIL {m.mail} RCPT {m.rcpts} ({len(m.message)} octets)\n"
        return head + "log:\n" + self.log()[-4000:]
