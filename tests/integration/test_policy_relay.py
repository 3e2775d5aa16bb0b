"""Who may relay through mxrelayd (RFC 5321 3.6.2, 7.1): a listed network
relays anywhere; any other client only to relay_domains, and none of the
old address tricks gets past the check."""

import pytest

from daemon import Client, mxrelayd, queued_id  # noqa: F401

pytestmark = pytest.mark.netns

TRICKS = [
    "<victim%elsewhere.test@example.test>",        # % hack
    "<elsewhere.test!victim@example.test>",         # ! path
    '<"victim@elsewhere.test"@example.test>',       # quoted local part with @
    '<"victim%elsewhere.test"@example.test>',       # quoted local part with %
    "<victim@[192.0.2.1]>",                         # address literal
    "<victim@elsewhere.test.>",                     # trailing dot
    "<victim@ElseWhere.TEST>",                      # mixed case, not ours
    "<victim@elsewhere.test>",                      # plainly elsewhere
    "<@example.test:victim@elsewhere.test>",        # source route naming us
    "<victim>",                                     # missing domain
    "<elsewhere.test!victim>",                      # ! path without a domain
    '<"victim@elsewhere.test">',                    # quoted @ without a domain
]


def session(source):
    c = Client(source=source)
    assert c.reply().code == 220
    c.expect("EHLO client.test", 250)
    c.expect("MAIL FROM:<a@b.test>", 250)
    return c


def test_listed_network_relays_anywhere(mxrelayd):
    d = mxrelayd(relay_networks="127.0.0.1/32")
    c = session("127.0.0.1")
    c.expect("RCPT TO:<victim@elsewhere.test>", 250, "2.1.5")
    c.expect("DATA", 354)
    c.send(b"Subject: ok\r\n\r\nx\r\n.\r\n")
    queued_id(c.reply())


@pytest.mark.parametrize("rcpt", TRICKS)
def test_unlisted_source_cannot_relay(mxrelayd, netns, rcpt):
    netns.add_addr("127.0.0.99")
    d = mxrelayd(relay_networks="127.0.0.1/32", relay_domains="example.test")
    c = session("127.0.0.99")
    r = c.cmd(f"RCPT TO:{rcpt}")
    assert (r.code, r.esc) == (550, "5.7.1"), f"{rcpt}: got {r}, want 550 5.7.1"
    c.expect("RCPT TO:<user@example.test>", 250, "2.1.5")
    c.expect("RCPT TO:<user@EXAMPLE.test>", 250, "2.1.5")
    c.expect("RCPT TO:<user2@example.test.>", 250, "2.1.5")
    c.expect("RCPT TO:<postmaster>", 250, "2.1.5")
    c.expect("DATA", 354)
    c.send(b"Subject: local\r\n\r\nx\r\n.\r\n")
    qid = queued_id(c.reply())
    _, rcpts, _ = d.message(qid)
    assert "victim" not in " ".join(rcpts), rcpts


def test_missing_domain_refused(mxrelayd, netns):
    netns.add_addr("127.0.0.99")
    mxrelayd(relay_networks="127.0.0.1/32")
    c = session("127.0.0.99")
    r = c.cmd("RCPT TO:<victim>")
    assert (r.code, r.esc) == (550, "5.7.1"), r
    r = c.cmd("RCPT TO:<victim@>")
    assert r.code in (550, 553, 501), r
