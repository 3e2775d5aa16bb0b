"""Limits per client that survive reconnecting and changing address:
max_connections_per_ip counts an IPv6 client by its network prefix
(client_ipv6_prefix, /64 by default), and AUTH failures are counted per
client across sessions (auth_failure_limit in auth_failure_window)."""

import base64
import time

import pytest

from daemon import Client, mxrelayd  # noqa: F401

pytestmark = pytest.mark.netns

SERVER6 = "fd00::ff"


@pytest.mark.parametrize("prefix, third_gets", [(None, 421), (128, 220)])
def test_ipv6_connections_counted_by_prefix(mxrelayd, netns, prefix, third_gets):
    """With max_connections_per_ip 2, a third connection from another address of
    the same /64 is refused with 421 4.7.0; another /64 is not. With
    client_ipv6_prefix = 128 every address counts alone."""
    for a in (SERVER6, "fd00::1", "fd00::2", "fd00::3", "fd00:0:0:1::1"):
        netns.add_addr(a)
    extra = "max_connections_per_ip = 2\n"
    if prefix is not None:
        extra += f"client_ipv6_prefix = {prefix}\n"
    mxrelayd(conf_extra=extra, listen=[f"[{SERVER6}]:25 relay"])
    held = []
    for src in ("fd00::1", "fd00::2"):
        c = Client(SERVER6, 25, source=src)
        r = c.reply()
        assert r.code == 220, f"connection from {src}: got {r}, want 220"
        held.append(c)
    third = Client(SERVER6, 25, source="fd00::3")
    r = third.reply()
    assert r.code == third_gets, f"third connection from fd00::3 (prefix {prefix}): got {r}, want {third_gets}"
    if third_gets == 421:
        assert r.esc == "4.7.0", r
        assert third.closed(), "the refused connection stays open"
    third.close()
    other = Client(SERVER6, 25, source="fd00:0:0:1::1")
    r = other.reply()
    assert r.code == 220, f"connection from another /64: got {r}, want 220"
    other.expect("QUIT", 221)
    for c in held:
        c.expect("QUIT", 221)


USERS = {"alice": "correct horse"}
SUBMISSION = "127.0.0.1:587 submission auth-plaintext"


def plain(user, pw):
    return base64.b64encode(f"\0{user}\0{pw}".encode()).decode()


def auth_once(pw, source=None):
    """One new session, one AUTH PLAIN; returns the reply."""
    c = Client("127.0.0.1", 587, source=source)
    try:
        c.reply()
        c.expect("EHLO client.test", 250)
        return c.cmd("AUTH PLAIN " + plain("alice", pw))
    finally:
        c.close()


def test_auth_failures_limited_per_client_across_sessions(mxrelayd):
    """Three failed AUTH over three new connections use up auth_failure_limit:
    then even the correct password gets 454 4.7.0 until the window ends, while
    another address authenticates; after the window the client may again."""
    d = mxrelayd(auth_users=USERS, listen=["127.0.0.1:25 relay", SUBMISSION],
                 conf_extra="auth_failure_limit = 3\nauth_failure_window = 6s\n")
    start = time.monotonic()
    for i in range(3):
        r = auth_once(f"guess {i}")
        assert (r.code, r.esc) == (535, "5.7.8"), f"failure {i + 1}: got {r}, want 535 5.7.8"
    r = auth_once("correct horse")
    assert (r.code, r.esc) == (454, "4.7.0"), f"correct password after 3 failures: got {r}, want 454 4.7.0"
    assert "try again" in r.text, r
    r = auth_once("correct horse", source="127.0.0.2")
    assert (r.code, r.esc) == (235, "2.7.0"), f"another address: got {r}, want 235"
    time.sleep(max(0.0, start + 6.5 - time.monotonic()))
    r = auth_once("correct horse")
    assert (r.code, r.esc) == (235, "2.7.0"), f"after the window: got {r}, want 235"
    log = d.log()
    assert "auth_failure_limit" in log and "client=127.0.0.1" in log, log[-3000:]
    for secret in ("correct horse", "guess 0", plain("alice", "correct horse")):
        assert secret not in log, f"{secret!r} in the log"
