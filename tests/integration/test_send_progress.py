"""The live progress lines of `mxrelay send` on a terminal.

Run on a pseudo-terminal against a slow fakesmtp (replies to RCPT and after
the final dot delayed), the command draws a line per domain on standard
error with the stage, the bytes of the message sent during DATA and the
seconds waited, redrawn in place with carriage returns and erase-line
sequences, and erases it before the final table. On pipes, and with
--quiet or --json even on a terminal, not one control byte is written.
"""

import fcntl
import os
import pty
import re
import select
import struct
import subprocess
import termios
import time

import pytest

from conftest import DNS_ADDR, sanitizer_env, sanitizer_report
from mxtest import expect

pytestmark = pytest.mark.netns

SENDER = ["-f", "alice@sender.test"]
BODY = ("x" * 76 + "\r\n") * 4000          # about 300 KiB
SLOW = {"rcpt": {"reply": "250 2.1.5 ok", "delay": 2.2},
        "dot": {"reply": "250 2.0.0 queued", "delay": 1.5}}


@pytest.fixture
def two_mx(dns):
    dns.mx("a.test", [(10, "mx1.a.test")]).a("mx1.a.test", "127.0.0.11")
    dns.mx("b.test", [(10, "mx1.b.test")]).a("mx1.b.test", "127.0.0.21")
    dns.start()
    return dns


def _message(path):
    data = expect.message(to=("bob@a.test", "carol@b.test"), body=BODY)
    with open(path, "wb") as f:
        f.write(data)
    return len(data)


def _argv(mxr_bin, path, *extra):
    return [mxr_bin.mxrelay, "send", "--dns", DNS_ADDR, *SENDER, "-i", path, *extra,
            "bob@a.test", "carol@b.test"]


def run_on_pty(argv, cwd, timeout=60, input=None, stdout_file=None):
    """Run argv with standard output and error on one pseudo-terminal; (rc, bytes written).

    Standard input is input (bytes) through a pipe, or /dev/null; with
    stdout_file (an open file), standard output goes there instead.
    """
    master, slave = pty.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 30, 160, 0, 0))
    attrs = termios.tcgetattr(slave)
    attrs[1] &= ~termios.ONLCR          # every \r read back is one the command wrote
    termios.tcsetattr(slave, termios.TCSANOW, attrs)
    proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL if input is None else subprocess.PIPE,
                            stdout=slave if stdout_file is None else stdout_file, stderr=slave,
                            cwd=cwd, env=sanitizer_env({"TERM": "xterm"}))
    os.close(slave)
    if input is not None:
        proc.stdin.write(input)         # small: the ids of a few hundred messages
        proc.stdin.close()
    out = b""
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline:
            ready, _, _ = select.select([master], [], [], 0.2)
            if not ready:
                if proc.poll() is not None:
                    break
                continue
            try:
                chunk = os.read(master, 65536)
            except OSError:             # EIO: every writer closed the terminal
                break
            if not chunk:
                break
            out += chunk
        rc = proc.wait(timeout=max(1, deadline - time.monotonic()))
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        os.close(master)
    return rc, out


def _no_sanitizer(out):
    report = sanitizer_report(out.decode("utf-8", "replace"))
    assert report is None, report


def test_progress_lines_on_a_terminal(two_mx, fakesmtp, mxr_bin, netns, tmp_path):
    fakesmtp("127.0.0.11", replies=SLOW)
    fakesmtp("127.0.0.21", replies=SLOW)
    path = str(tmp_path / "msg.eml")
    _message(path)

    rc, raw = run_on_pty(_argv(mxr_bin, path), netns.workdir)
    _no_sanitizer(raw)
    text = raw.decode("utf-8", "replace")
    assert rc == expect.EX_OK, text

    assert re.search(r"\r\x1b\[\d+A\x1b\[J", text), f"no lines redrawn in place:\n{text!r}"
    frames = re.split(r"\r(?:\x1b\[\d+A)?\x1b\[J", text)
    # A line per domain with its stage and the seconds in it.
    for dom in ("a.test", "b.test"):
        # The reply to RCPT takes 2.2 s: the line counts the seconds of the stage it is in.
        assert re.search(rf"{dom}  (mail|rcpt)  1s", text), f"no second counted for {dom}:\n{text!r}"
        assert re.search(rf"{dom}  data  [\d,]+ of [\d,]+ bytes \(\d+%\)  1s", text), text
        m = re.findall(rf"{dom}  data  ([\d,]+) of ([\d,]+) bytes \(\d+%\)  \d+s", text)
        assert m, f"no byte count in the data stage for {dom}:\n{text!r}"
        sent, total = (int(x.replace(",", "")) for x in m[-1])
        assert sent == total and total > len(BODY), f"{dom}: last count {sent} of {total}"
    # Both domains at once: one frame holds two lines.
    assert any("a.test  " in f and "b.test  " in f and "\n" in f for f in frames), text
    # The table comes after the last frame, which erased the lines.
    tail = frames[-1]
    assert re.search(r"RECIPIENT +STATUS", tail), f"no table after the progress lines:\n{tail!r}"
    for rcpt in ("<bob@a.test>", "<carol@b.test>"):
        assert re.search(rf"{re.escape(rcpt)} +delivered", tail), tail
    assert "  data  " not in tail.split("RECIPIENT")[1], f"progress after the table:\n{tail!r}"


def test_progress_on_the_terminal_and_a_clean_table_in_a_file(two_mx, fakesmtp, mxr_bin, netns,
                                                              tmp_path):
    fakesmtp("127.0.0.11", replies=SLOW)
    fakesmtp("127.0.0.21", replies=SLOW)
    path = str(tmp_path / "msg.eml")
    _message(path)
    with open(tmp_path / "out.txt", "wb") as out:
        rc, raw = run_on_pty(_argv(mxr_bin, path), netns.workdir, stdout_file=out)
    _no_sanitizer(raw)
    term = raw.decode("utf-8", "replace")
    table = (tmp_path / "out.txt").read_text()
    assert rc == expect.EX_OK, term + table
    assert re.search(r"a\.test  data  [\d,]+ of [\d,]+ bytes", term), term
    assert term.endswith("\r\x1b[J") or term.endswith("\x1b[J"), f"lines left on the terminal:\n{term!r}"
    assert not _control_bytes(table), table
    assert "stage=data" in table and re.search(r"<bob@a\.test> +delivered", table), table


def _control_bytes(data):
    return [c for c in ("\r", "\x1b") if c in data]


def test_no_progress_on_pipes(two_mx, fakesmtp, mxr_bin, netns, tmp_path):
    fakesmtp("127.0.0.11", replies=SLOW)
    fakesmtp("127.0.0.21", replies=SLOW)
    path = str(tmp_path / "msg.eml")
    _message(path)
    proc = subprocess.run(_argv(mxr_bin, path), capture_output=True, timeout=60, cwd=netns.workdir,
                          env=sanitizer_env({"TERM": "xterm"}))
    out, err = proc.stdout.decode(), proc.stderr.decode()
    assert proc.returncode == expect.EX_OK, out + err
    assert not _control_bytes(out) and not _control_bytes(err), (out, err)
    assert "RECIPIENT" in out and "bytes (" not in out + err, (out, err)
    # The step lines are what they were: no line for the byte counts.
    assert "stage=data" in out and "sent 0 of" not in out, out


@pytest.mark.parametrize("flag", ["--quiet", "--json"])
def test_no_progress_quiet_or_json_on_a_terminal(flag, two_mx, fakesmtp, mxr_bin, netns, tmp_path):
    fakesmtp("127.0.0.11", replies=SLOW)
    fakesmtp("127.0.0.21", replies=SLOW)
    path = str(tmp_path / "msg.eml")
    _message(path)
    rc, raw = run_on_pty(_argv(mxr_bin, path, flag), netns.workdir)
    _no_sanitizer(raw)
    text = raw.decode("utf-8", "replace")
    assert rc == expect.EX_OK, text
    assert not _control_bytes(text), f"{flag}: control bytes on the terminal:\n{text!r}"
    assert "bytes (" not in text, text
    if flag == "--json":
        assert '"type":"result"' in text and "octets" not in text, text
    else:
        assert text == "", f"--quiet printed on success:\n{text!r}"
