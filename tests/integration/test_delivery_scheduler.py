"""The scheduler against the real daemon: a destination's backoff never
pushes a recipient's retry past the message's expiry, and a stop that cuts
the running delivery to a busy destination also frees the deliveries
waiting behind it.
"""

import os
import signal
import time

import pytest

from daemon import mxrelayd  # noqa: F401  (a fixture)
from mxtest.fakesmtp import HANG
from test_delivery_retries_and_bounces import SENDER, conf, rcpt_states, submit, wait_for, zones

pytestmark = pytest.mark.netns
QUEUE_BACKENDS = ("sqlite", "postgresql")


def next_try_and_arrival(d, addr):
    rows = d.sql("SELECT r.next_try, m.received_at, r.tries FROM recipients r"
                 " JOIN messages m ON m.id = r.msg_id WHERE r.address = ?", (addr,))
    return rows[0] if rows else None


def test_destination_backoff_never_pushes_a_retry_past_the_expiry(netns, dns, fakesmtp, mxrelayd):
    """retry_intervals = 1s 1h: the second unreachable attempt backs the
    destination off for an hour, but the message expires after two minutes:
    its next try must be at the expiry, not an hour later."""
    zones(dns, dead_test="127.0.0.13")
    fakesmtp("127.0.0.13", replies={"greeting": "421 4.3.2 service not available"})
    d = mxrelayd(conf_extra=conf("max_queue_age = 2m", retry="1s 1h"))
    submit(SENDER, ["bob@dead.test"])
    wait_for("two tries", lambda: (next_try_and_arrival(d, "bob@dead.test") or (0, 0, 0))[2] >= 2,
             describe=d.describe)
    next_try, received_at, tries = next_try_and_arrival(d, "bob@dead.test")
    assert rcpt_states(d)["bob@dead.test"][0] == "deferred"
    assert next_try <= received_at + 120, (
        f"after {tries} tries next_try is {next_try - received_at}s after arrival, "
        f"want at most the 120s of max_queue_age")


def test_stop_cutting_a_delivery_frees_the_deliveries_waiting_behind_it(netns, dns, fakesmtp,
                                                                         mxrelayd):
    """max_per_destination = 1: the second message waits while the first one
    hangs after its final dot; a stop that abandons the first must not leak
    the second (LeakSanitizer), and both stay queued, untried."""
    zones(dns, a_test="127.0.0.11")
    mx = fakesmtp("127.0.0.11", replies={"dot": HANG})
    d = mxrelayd(conf_extra=conf("max_per_destination = 1"))
    first = submit(SENDER, ["bob@a.test"])
    wait_for("DATA at the MX", lambda: mx.data_commands, describe=mx.describe)
    second = submit(SENDER, ["carol@a.test"])
    # Its commit wakes the scheduler; a tick (1 s) later it waits at the destination for sure.
    time.sleep(1.5)
    os.killpg(d.proc.popen.pid, signal.SIGTERM)
    wait_for("the orderly stop", lambda: "event=stopping" in d.log(), describe=d.describe)
    os.killpg(d.proc.popen.pid, signal.SIGTERM)
    d.check_clean_exit()

    assert "event=delivery-abandoned" in d.log(), d.describe()
    states = rcpt_states(d)
    assert states["bob@a.test"][:2] == ("pending", 0), states
    assert states["carol@a.test"][:2] == ("pending", 0), states
    assert {first, second} <= set(d.messages())
