"""Connection reuse by the daemon's scheduler: queued messages to one
destination travel over one SMTP connection (connection_reuse_time), at
most connection_reuse_limit per connection, and one connection per message
when reuse is off. Counted at the receiver: connections accepted and
transactions per connection.

max_per_destination = 1 makes the deliveries to a.test run one after the
other, so every message after the first finds the previous one's
connection parked, whatever the timing.
"""

import pytest

from daemon import mxrelayd  # noqa: F401  (a fixture)
from test_queue_delivery import SENDER, conf, queue_empty, submit, wait_for, zones

pytestmark = pytest.mark.netns

N = 4


def deliver_all(d, mx, n=N):
    """Queue n messages to a.test and wait until the receiver took them all and the queue is empty."""
    rcpts = [f"rcpt{i}@a.test" for i in range(n)]
    for r in rcpts:
        submit(SENDER, [r])
    wait_for(f"{n} messages at the MX", lambda: len(mx.messages) == n,
             describe=lambda: mx.describe() + d.describe())
    wait_for("an empty queue", lambda: queue_empty(d), describe=d.describe)
    got = sorted(a for t in mx.messages for a in t.accepted)
    assert got == sorted(rcpts), f"got recipients {got}, want {sorted(rcpts)}\n" + mx.describe()


def per_connection(mx):
    return [len(s.transactions) for s in list(mx.sessions)]


def test_queued_messages_share_one_connection(netns, dns, fakesmtp, mxrelayd):
    zones(dns, a_test="127.0.0.11")
    mx = fakesmtp("127.0.0.11")
    d = mxrelayd(conf_extra=conf("max_per_destination = 1", "connection_reuse_time = 1h"))

    deliver_all(d, mx)

    assert mx.connections == 1, f"got {mx.connections} connections, want 1\n" + mx.describe()
    assert per_connection(mx) == [N], f"got transactions per connection {per_connection(mx)}, want [{N}]"
    assert "event=reuse-retry" not in d.log(), d.describe()


def test_reuse_limit_opens_a_fresh_connection(netns, dns, fakesmtp, mxrelayd):
    zones(dns, a_test="127.0.0.11")
    mx = fakesmtp("127.0.0.11")
    d = mxrelayd(conf_extra=conf("max_per_destination = 1", "connection_reuse_time = 1h",
                                 "connection_reuse_limit = 2"))

    deliver_all(d, mx)

    assert per_connection(mx) == [2, 2], \
        f"got transactions per connection {per_connection(mx)}, want [2, 2]\n" + mx.describe()
    # The full connection said goodbye instead of idling.
    assert mx.sessions[0].closed, mx.describe()
    assert mx.commands("QUIT"), mx.describe()


def test_reuse_off_opens_one_connection_per_message(netns, dns, fakesmtp, mxrelayd):
    zones(dns, a_test="127.0.0.11")
    mx = fakesmtp("127.0.0.11")
    d = mxrelayd(conf_extra=conf("max_per_destination = 1", "connection_reuse_time = 0"))

    deliver_all(d, mx)

    assert per_connection(mx) == [1] * N, \
        f"got transactions per connection {per_connection(mx)}, want {[1] * N}\n" + mx.describe()

