"""Connection reuse by the daemon's scheduler: queued messages to one
destination travel over one SMTP connection (connection_reuse_time), at
most connection_reuse_limit per connection, and one connection per message
when reuse is off. Counted at the receiver: connections accepted and
transactions per connection. And the stop: idle connections get QUIT, a
delivery still running when the daemon must go now is abandoned cleanly.

max_per_destination = 1 makes the deliveries to a.test run one after the
other, so every message after the first finds the previous one's
connection parked, whatever the timing.
"""

import os
import signal

import pytest

from daemon import mxrelayd  # noqa: F401  (a fixture)
from mxtest.fakesmtp import HANG
from test_delivery_retries_and_bounces import SENDER, conf, queue_empty, rcpt_states, submit, wait_for, zones

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



def test_stop_says_quit_to_idle_connections(netns, dns, fakesmtp, mxrelayd):
    zones(dns, a_test="127.0.0.11")
    mx = fakesmtp("127.0.0.11")
    d = mxrelayd(conf_extra=conf("connection_reuse_time = 1h"))

    deliver_all(d, mx, n=1)
    assert not mx.sessions[0].closed, "the connection should idle for the next message\n" + mx.describe()

    d.check_clean_exit()

    assert mx.settle(), "the idle connection is still open after the daemon stopped\n" + mx.describe()
    assert mx.commands("QUIT"), "the daemon closed its idle connection without QUIT\n" + mx.describe()


def test_stop_now_abandons_a_running_delivery(netns, dns, fakesmtp, mxrelayd):
    """A second SIGTERM drops what still runs: the delivery is cancelled in the
    engine (LeakSanitizer stays quiet), the message stays queued, due again."""
    zones(dns, a_test="127.0.0.11")
    mx = fakesmtp("127.0.0.11", replies={"dot": HANG})
    d = mxrelayd(conf_extra=conf())
    qid = submit(SENDER, ["bob@a.test"])
    wait_for("DATA at the MX", lambda: mx.data_commands, describe=mx.describe)

    os.killpg(d.proc.popen.pid, signal.SIGTERM)
    wait_for("the orderly stop", lambda: "event=stopping" in d.log(), describe=d.describe)
    os.killpg(d.proc.popen.pid, signal.SIGTERM)
    d.check_clean_exit()

    assert "event=delivery-abandoned" in d.log(), d.describe()
    assert mx.messages == [], "the MX must not have taken the cut message\n" + mx.describe()
    state, tries = rcpt_states(d)["bob@a.test"][:2]
    assert (state, tries) == ("pending", 0), f"got {state} after {tries} tries, want pending, untried"
    assert qid in d.messages()
