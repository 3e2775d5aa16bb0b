"""Postfix's smtp-source pushing 200 messages through mxrelayd: every one
gets its 250 and lands in the queue."""

import os
import subprocess

import pytest

from daemon import mxrelayd  # noqa: F401

pytestmark = pytest.mark.netns

SMTP_SOURCE = "/usr/sbin/smtp-source"


@pytest.mark.skipif(not os.access(SMTP_SOURCE, os.X_OK), reason="smtp-source not installed")
def test_smtp_source_200_messages(mxrelayd):
    d = mxrelayd(conf_extra="max_connections_per_ip = 100")
    res = subprocess.run([SMTP_SOURCE, "-s", "10", "-m", "200", "-c", "-f", "src@b.test",
                          "-t", "dst@example.test", "-l", "2048", "127.0.0.1:25"],
                         capture_output=True, text=True, timeout=120)
    assert res.returncode == 0, res.stdout + res.stderr
    msgs = d.messages()
    assert len(msgs) == 200, f"{len(msgs)} messages queued, want 200"
    assert "event=refused" not in d.log()
