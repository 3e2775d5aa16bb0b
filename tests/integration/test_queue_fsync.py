"""The 250 after DATA waits for the fsync of the queue's WAL.

mxrelayd runs with the fsync shim preloaded (tests/shim/fsync_shim.c,
built beside the binaries as libmxr_fsync_shim.so): it wraps fsync and
fdatasync, delays them or makes them fail with EIO as a control file says,
and logs when each call started and returned (CLOCK_MONOTONIC, the clock
of time.monotonic_ns()).

These are the tests that would fail if the queue ran with synchronous=OFF
(or NORMAL, which does not sync the WAL at each commit): without a WAL
fsync between the final dot and the reply, the first finds no delayed sync
that the 250 waited for, and the second gets a 250 where an fsync failing
with EIO must give 452 4.3.1.
"""

import os
import tempfile
import time

import pytest

from conftest import sanitizer_env
from daemon import Client, mxrelayd, queued_id  # noqa: F401

pytestmark = pytest.mark.netns

DELAY_MS = 300


class Shim:
    """The shim's control file and log, in a directory the daemon (as nobody) can write."""

    def __init__(self, bindir):
        self.lib = os.path.join(bindir, "libmxr_fsync_shim.so")
        if not os.path.exists(self.lib):
            pytest.skip(f"{self.lib} is not built")
        self.dir = tempfile.mkdtemp(prefix="fsync-shim-")
        os.chmod(self.dir, 0o777)
        self.ctl = os.path.join(self.dir, "ctl")
        self.log = os.path.join(self.dir, "log")
        self.set("sync")

    def env(self):
        # A sanitizer build checks that its runtime is loaded first; the shim
        # is preloaded before it, which is harmless here.
        asan = sanitizer_env()["ASAN_OPTIONS"] + ":verify_asan_link_order=0"
        return {"LD_PRELOAD": self.lib, "MXR_FSYNC_SHIM_CTL": self.ctl,
                "MXR_FSYNC_SHIM_LOG": self.log, "ASAN_OPTIONS": asan}

    def set(self, mode):
        """"sync", "fail" or "delay=MS", for every later call."""
        tmp = self.ctl + ".new"
        with open(tmp, "w") as f:
            f.write(mode + "\n")
        os.chmod(tmp, 0o644)
        os.rename(tmp, self.ctl)

    def calls(self):
        """[(name, rc, errno, start_ns, end_ns, path)] of every call so far."""
        out = []
        if not os.path.exists(self.log):
            return out
        with open(self.log) as f:
            for line in f:
                parts = line.rstrip("\n").split(" ", 6)
                if len(parts) < 6:
                    continue
                name, _fd, rc, err, start, end = parts[:6]
                path = parts[6] if len(parts) > 6 else ""
                out.append((name, int(rc), int(err), int(start), int(end), path))
        return out


def wal_syncs(shim, since_ns):
    """The shim's calls on the queue's WAL that started at or after since_ns."""
    return [c for c in shim.calls() if c[5].endswith("/queue.db-wal") and c[3] >= since_ns]


def start_message(c, n):
    """A transaction up to the 354, on an open session."""
    c.expect(f"MAIL FROM:<s{n}@b.test>", 250)
    c.expect(f"RCPT TO:<r{n}@example.test>", 250)
    c.expect("DATA", 354)
    return b"Subject: fsync %d\r\n\r\nbody\r\n" % n


def send_body(c, body):
    """The body and its final dot; (when the dot was sent, the reply, when it arrived)."""
    c.send(body)
    sent = time.monotonic_ns()
    c.send(b".\r\n")
    r = c.reply()
    return sent, r, time.monotonic_ns()


@pytest.fixture
def shim(mxr_bin):
    return Shim(mxr_bin.dir)


def test_250_waits_for_the_delayed_wal_fsync(mxrelayd, shim):
    d = mxrelayd(env=shim.env())
    c = Client()
    c.reply()
    c.expect("EHLO client.test", 250)
    for n in range(3):
        body = start_message(c, n)
        shim.set(f"delay={DELAY_MS}")
        sent, r, got = send_body(c, body)
        shim.set("sync")
        qid = queued_id(r)
        syncs = wal_syncs(shim, sent)
        assert syncs, (f"{qid}: no fsync of the WAL between the final dot and the 250 "
                       f"(synchronous=OFF?); calls: {shim.calls()[-10:]}")
        first = min(syncs, key=lambda s: s[3])
        assert first[4] - first[3] >= DELAY_MS * 1_000_000 * 0.9, f"sync not delayed: {first}"
        assert first[4] <= got, (f"{qid}: 250 arrived {(first[4] - got) / 1e6:.1f} ms before "
                                 f"the delayed WAL {first[0]} returned")
        assert got - sent >= DELAY_MS * 1_000_000, \
            f"{qid}: 250 after {(got - sent) / 1e6:.1f} ms, want at least the {DELAY_MS} ms delay"
        assert qid in d.messages()
    c.expect("QUIT", 221)


def test_failing_fsync_gives_452_and_the_daemon_recovers(mxrelayd, shim):
    d = mxrelayd(env=shim.env())
    c = Client()
    c.reply()
    c.expect("EHLO client.test", 250)
    body = start_message(c, 1)
    before = set(d.messages())
    shim.set("fail")
    sent, r, _ = send_body(c, body)
    failed = [s for s in wal_syncs(shim, sent) if s[1] != 0]
    shim.set("sync")
    assert r.code == 452 and r.esc == "4.3.1", f"got {r} with fsync failing, want 452 4.3.1"
    assert failed, f"no failed WAL sync recorded: {shim.calls()[-10:]}"
    assert d.proc.poll() is None, "mxrelayd died after a failed fsync"
    assert set(d.messages()) == before, "a message refused with 452 is in the queue"
    assert "op=queue_commit" in d.log() and "status=failed" in d.log()

    # fsync works again: the same session and a new one get their 250.
    body = start_message(c, 2)
    _, r, _ = send_body(c, body)
    qid = queued_id(r)
    c.expect("QUIT", 221)
    c2 = Client()
    c2.reply()
    c2.expect("EHLO client2.test", 250)
    body = start_message(c2, 3)
    _, r, _ = send_body(c2, body)
    qid2 = queued_id(r)
    msgs = d.messages()
    assert qid in msgs and qid2 in msgs
    c2.expect("QUIT", 221)
