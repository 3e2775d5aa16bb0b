"""mxrelayd's queue directory as an administrator meets it: one daemon per
queue, a clear refusal for a second one and for a directory the daemon's
user cannot write, and a full disk that loses nothing already accepted."""

import os
import shutil
import subprocess
import time

import pytest

from conftest import sanitizer_env
from daemon import Client, Daemon, mxrelayd, queued_id  # noqa: F401  (mxrelayd is a fixture)

pytestmark = pytest.mark.netns


def wait_exit(proc, timeout=10.0):
    end = time.monotonic() + timeout
    while proc.poll() is None and time.monotonic() < end:
        time.sleep(0.05)
    return proc.poll()


def second_conf(d, port, control):
    """d's configuration on another port and another control socket, same queue_dir."""
    text = open(d.conf).read().replace("127.0.0.1:25 ", f"127.0.0.1:{port} ")
    text += f"control_socket = {control}\n"
    path = d.conf + f".{port}"
    with open(path, "w") as f:
        f.write(text)
    os.chmod(path, 0o644)
    return path


def submit(port=25):
    c = Client("127.0.0.1", port)
    try:
        assert c.reply().code == 220
        c.expect("EHLO client.test", 250)
        c.expect("MAIL FROM:<a@b.test>", 250)
        c.expect("RCPT TO:<x@example.test>", 250)
        c.expect("DATA", 354)
        c.send(b"Subject: one\r\n\r\nbody\r\n.\r\n")
        return queued_id(c.reply())
    finally:
        c.close()


def test_second_daemon_on_the_same_queue_is_refused(mxrelayd, netns, mxr_bin):
    """SQLite lets two processes write one database: two schedulers would deliver
    the same mail twice. The second daemon must refuse to start, naming the first."""
    d = mxrelayd()
    pidfile = os.path.join(d.queue_dir, "mxrelayd.pid")
    assert os.path.exists(pidfile), f"no lock file {pidfile}: {os.listdir(d.queue_dir)}"
    assert open(pidfile).read().strip() == str(d.proc.pid), "the lock file names the daemon"
    sockdir = tempfile_dir()
    netns.on_stop(lambda: shutil.rmtree(sockdir, ignore_errors=True))
    control = os.path.join(sockdir, "second.sock")
    p = netns.spawn([mxr_bin.mxrelayd, "-c", second_conf(d, 2526, control)], name="second",
                    env=sanitizer_env(), cwd=d.dir)
    rc = wait_exit(p)
    out = p.output()
    assert rc == 1, f"a second daemon on the same queue must exit 1, got {rc}\n{out}"
    assert "in use" in out and str(d.proc.pid) in out, f"the refusal must say why and name the pid:\n{out}"
    assert not os.path.exists(control), "the second daemon must stop before opening anything"
    # The first one is untouched and still serves and queues.
    assert submit() in d.messages()


def test_lock_freed_by_a_killed_daemon(mxrelayd):
    """A daemon killed with SIGKILL leaves its lock file; the next start takes it over."""
    d = mxrelayd()
    qid = submit()
    d.kill()
    d.start()
    assert open(os.path.join(d.queue_dir, "mxrelayd.pid")).read().strip() == str(d.proc.pid)
    assert qid in d.messages()
    submit()


def test_unwritable_queue_directory_is_a_clear_error(netns, mxr_bin):
    """Started as an ordinary user (as under systemd's User=), a queue_dir that
    user cannot write stops the start with a message naming the directory,
    the user and the cause, not SQLite's "unable to open database file"."""
    top = tempfile_dir()
    qdir = os.path.join(top, "queue")
    os.mkdir(qdir, 0o755)                 # root's, so nobody may not write there
    conf = os.path.join(top, "c.conf")
    with open(conf, "w") as f:
        f.write(f"hostname = mx.relay.test\nqueue_dir = {qdir}\nlisten = 127.0.0.1:2525 relay\n")
    os.chmod(conf, 0o644)
    try:
        r = subprocess.run(["setpriv", "--reuid=nobody", "--regid=nogroup", "--clear-groups",
                            mxr_bin.mxrelayd, "-c", conf], capture_output=True, text=True,
                           timeout=20, env=sanitizer_env())
    finally:
        shutil.rmtree(top, ignore_errors=True)
    assert r.returncode == 1, r
    assert qdir in r.stderr and "nobody" in r.stderr and "Permission denied" in r.stderr, \
        f"the error must name the directory, the user and the cause: {r.stderr}"
    assert "unable to open database file" not in r.stderr, r.stderr


def tempfile_dir():
    import tempfile
    d = tempfile.mkdtemp(prefix="mxrtest-")
    os.chmod(d, 0o755)
    return d


def test_disk_full_is_452_and_loses_nothing(netns, mxr_bin):
    """A queue on a full file system: 452 4.3.1 for the message that does not fit,
    every message acknowledged before is intact, and the daemon keeps serving."""
    d = Daemon(netns, mxr_bin)
    netns.peers.append(d)
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=600k,mode=0700", "tmpfs", d.queue_dir], check=True)
    try:
        shutil.chown(d.queue_dir, "nobody")
        d.start()
        body = b"Subject: fill\r\n\r\n" + (b"y" * 76 + b"\r\n") * 600
        acked, full = [], None
        c = Client()
        c.reply()
        c.expect("EHLO client.test", 250)
        for _ in range(30):
            c.expect("MAIL FROM:<a@b.test>", 250)
            c.expect("RCPT TO:<x@example.test>", 250)
            c.expect("DATA", 354)
            c.send(body + b".\r\n")
            r = c.reply()
            if r.code != 250:
                full = r
                break
            acked.append(queued_id(r))
        assert full is not None and (full.code, full.esc) == (452, "4.3.1"), full
        assert acked, "some messages fit before the disk filled"
        c.expect("NOOP", 250, "2.0.0")
        c.close()
        d.stop()
        msgs = d.messages()
        for qid in acked:
            assert qid in msgs and msgs[qid][2].endswith(body), f"{qid} lost or damaged"
    finally:
        d.stop()
        subprocess.run(["umount", d.queue_dir])
        d.cleanup()


def test_size_larger_than_the_free_space_is_452_at_mail(netns, mxr_bin):
    """RFC 1870 6.1: a SIZE the queue has no room for now is refused at MAIL with
    452 4.3.1, before the client sends the message, not after its last octet."""
    d = Daemon(netns, mxr_bin)
    netns.peers.append(d)
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=600k,mode=0700", "tmpfs", d.queue_dir], check=True)
    try:
        shutil.chown(d.queue_dir, "nobody")
        d.start()
        c = Client()
        c.reply()
        c.expect("EHLO client.test", 250)
        c.expect("MAIL FROM:<a@b.test> SIZE=5000000", 452, "4.3.1")
        c.expect("MAIL FROM:<a@b.test> SIZE=1000", 250, "2.1.0")
        c.expect("RCPT TO:<x@example.test>", 250)
        c.expect("DATA", 354)
        c.send(b"Subject: small\r\n\r\nfits\r\n.\r\n")
        qid = queued_id(c.reply())
        c.close()
        d.stop()
        assert qid in d.messages()
    finally:
        d.stop()
        subprocess.run(["umount", d.queue_dir])
        d.cleanup()


def queue_state(d, sql, args=()):
    """One value from the daemon's queue database (read-only)."""
    db = d._db()
    try:
        row = db.execute(sql, args).fetchone()
    finally:
        db.close()
    return row[0] if row else None


def wait_until(what, cond, timeout=20.0):
    end = time.monotonic() + timeout
    while not cond():
        assert time.monotonic() < end, f"timed out waiting for {what}"
        time.sleep(0.1)


def fill_up(path):
    """Write zeros into path until the file system is full."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        for size in (65536, 4096, 512, 1):
            try:
                while True:
                    os.write(fd, b"\0" * size)
            except OSError:
                pass
    finally:
        os.close(fd)


def test_full_disk_never_wedges_the_queue(netns, dns, fakesmtp, mxr_bin):
    """The queue on a full 16 MiB file system, filled by the queue's own mail and
    then topped up to the last block: `mxrelay queue delete` works, a bounce is
    queued, the daemon restarts, and new mail gets 452 4.3.1, never a 250 that
    is not kept. With room again, new mail is taken as before."""
    dns.mx("fail.test", [(10, "mx.fail.test")]).a("mx.fail.test", "127.0.0.11")
    # Nothing listens on the MX of the other domains: their mail (and the bounce) stays, deferred.
    dns.mx("example.test", [(10, "mx.dead.test")]).mx("b.test", [(10, "mx.dead.test")])
    dns.a("mx.dead.test", "127.0.0.99").start()
    # The first try of the doomed recipient is deferred; the next one, on the full disk, fails.
    mx = fakesmtp("127.0.0.11", replies={"rcpt": ["451 4.2.0 later", "550 5.1.1 no such user"]})
    d = Daemon(netns, mxr_bin, relay_domains="example.test, fail.test",
               conf_extra="dns_server = 127.0.0.53\nretry_intervals = 1h\nqueue_reserve = 1M\n")
    netns.peers.append(d)
    netns.peers.append(mx)
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=16m,mode=0700", "tmpfs", d.queue_dir], check=True)
    queue = lambda *args: subprocess.run([mxr_bin.mxrelay, "queue", "-c", d.conf, *args],  # noqa: E731
                                         capture_output=True, text=True, timeout=60, env=sanitizer_env())
    try:
        shutil.chown(d.queue_dir, "nobody")
        d.start()
        assert os.path.getsize(os.path.join(d.queue_dir, "reserve")) == 1 << 20, "the reserve is made at start"

        c = Client()
        c.reply()
        c.expect("EHLO client.test", 250)
        c.expect("MAIL FROM:<a@b.test>", 250)
        c.expect("RCPT TO:<y@fail.test>", 250)
        c.expect("DATA", 354)
        c.send(b"Subject: doomed\r\n\r\nbody\r\n.\r\n")
        doomed = queued_id(c.reply())
        wait_until("the first, deferred, try", lambda: queue_state(
            d, "SELECT state FROM recipients WHERE msg_id = ?", (doomed,)) == "deferred")

        # Another writer's file on the same file system, removed at the end to make room.
        with open(os.path.join(d.queue_dir, "other"), "wb") as f:
            f.write(b"o" * (8 << 20))
        # Fill the file system with the queue's own mail, until it refuses.
        body = b"Subject: fill\r\n\r\n" + (b"y" * 76 + b"\r\n") * 600
        acked, refused = [], None
        for _ in range(400):
            c.expect("MAIL FROM:<a@b.test>", 250)
            c.expect("RCPT TO:<x@example.test>", 250)
            c.expect("DATA", 354)
            c.send(body + b".\r\n")
            r = c.reply()
            if r.code != 250:
                refused = r
                break
            acked.append(queued_id(r))
        assert refused is not None and (refused.code, refused.esc) == (452, "4.3.1"), refused
        assert len(acked) > 20, f"only {len(acked)} messages fit in 5 MiB"
        # Then to the last block, as another writer on the same file system would.
        fill_up(os.path.join(d.queue_dir, "filler"))
        assert os.statvfs(d.queue_dir).f_bavail == 0

        # New mail is refused while the disk is full, with SIZE at MAIL, without at the end.
        c.expect("MAIL FROM:<a@b.test> SIZE=2000", 452, "4.3.1")
        c.expect("MAIL FROM:<a@b.test>", 250)
        c.expect("RCPT TO:<x@example.test>", 250)
        c.expect("DATA", 354)
        c.send(body + (b"z" * 76 + b"\r\n") * 4000 + b".\r\n")
        r = c.reply()
        assert (r.code, r.esc) == (452, "4.3.1"), f"new mail on a full disk: got {r}, want 452 4.3.1"
        c.close()

        # Deleting works on the full disk.
        r = queue("delete", acked[0])
        assert r.returncode == 0, f"queue delete on a full disk: {r}"
        assert queue_state(d, "SELECT count(*) FROM messages WHERE id = ?", (acked[0],)) == 0

        # So does a bounce: the doomed recipient fails now, and its report is queued.
        r = queue("flush", doomed)
        assert r.returncode == 0, f"queue flush on a full disk: {r}"
        wait_until("the bounce", lambda: queue_state(
            d, "SELECT state FROM recipients WHERE msg_id = ?", (doomed,)) in ("bounced", None))
        assert queue_state(d, "SELECT count(*) FROM messages WHERE sender = ''") == 1, \
            "the bounce is in the queue"

        # And a restart, with the file system still full.
        assert d.stop() == 0, d.log()[-3000:]
        assert os.statvfs(d.queue_dir).f_bavail * os.statvfs(d.queue_dir).f_frsize < (1 << 20)
        d.start()
        c = Client()
        c.reply()
        c.expect("EHLO client.test", 250)
        c.expect("MAIL FROM:<a@b.test>", 250)
        c.expect("RCPT TO:<x@example.test>", 250)
        c.expect("DATA", 354)
        c.send(body + b".\r\n")
        r = c.reply()
        assert (r.code, r.esc) == (452, "4.3.1"), f"new mail after the restart: got {r}, want 452"
        c.close()
        msgs = d.messages()
        for qid in acked[1:]:
            assert qid in msgs and msgs[qid][2].endswith(body), f"{qid} lost or damaged"

        # With room again, the reserve comes back and new mail is taken.
        os.unlink(os.path.join(d.queue_dir, "filler"))
        os.unlink(os.path.join(d.queue_dir, "other"))
        qid = submit()
        assert qid in d.messages()
        assert os.path.getsize(os.path.join(d.queue_dir, "reserve")) == 1 << 20
        assert d.stop() == 0, d.log()[-3000:]
        assert sanitizer_report_of(d) is None
    finally:
        d.stop()
        subprocess.run(["umount", d.queue_dir])
        d.cleanup()


def sanitizer_report_of(d):
    from conftest import sanitizer_report
    return sanitizer_report(d.log())
