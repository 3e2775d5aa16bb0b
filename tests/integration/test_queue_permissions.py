"""The queue directory is private: it ends up 0700 and its files 0600
whatever the umask and the mode of a directory that was already there,
and files made readable by someone else are made private again at start.
"""

import os
import smtplib
import stat

import pytest

from daemon import Daemon

pytestmark = pytest.mark.netns


def test_queue_is_private_under_umask_022_and_a_0755_directory(netns, mxr_bin):
    d = Daemon(netns, mxr_bin)
    os.chmod(d.queue_dir, 0o755)
    netns.peers.append(d)
    old = os.umask(0o022)
    try:
        d.start()
    finally:
        os.umask(old)
    try:
        with smtplib.SMTP("127.0.0.1", 25, timeout=20) as c:
            c.sendmail("a@b.test", ["x@example.test"], b"Subject: private\r\n\r\nhi\r\n")
        mode = stat.S_IMODE(os.stat(d.queue_dir).st_mode)
        assert mode == 0o700, oct(mode)
        files = [f for f in os.listdir(d.queue_dir) if os.path.isfile(os.path.join(d.queue_dir, f))]
        assert "queue.db" in files, files
        for f in files:
            m = stat.S_IMODE(os.stat(os.path.join(d.queue_dir, f)).st_mode)
            assert m & 0o077 == 0, f"{f} is {oct(m)}"
        assert "event=queue-permissions" in d.log()
    finally:
        d.check_clean_exit()
        d.cleanup()


def test_queue_files_made_readable_earlier_are_made_private_at_start(netns, mxr_bin):
    d = Daemon(netns, mxr_bin)
    netns.peers.append(d)
    d.start()
    with smtplib.SMTP("127.0.0.1", 25, timeout=20) as c:
        c.sendmail("a@b.test", ["x@example.test"], b"Subject: private\r\n\r\nhi\r\n")
    d.check_clean_exit()
    db = os.path.join(d.queue_dir, "queue.db")
    os.chmod(db, 0o644)
    d.start()
    try:
        m = stat.S_IMODE(os.stat(db).st_mode)
        assert m == 0o600, oct(m)
        assert "fixed=" in d.log()
    finally:
        d.check_clean_exit()
        d.cleanup()
