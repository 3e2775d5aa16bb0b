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
