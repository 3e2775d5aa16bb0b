"""check_recipient_domain: each recipient domain is looked up (through a
real nsd) while the session's input waits; a domain that cannot receive
mail is refused at RCPT."""

import pytest

from conftest import DNS_ADDR
from daemon import Client, mxrelayd, queued_id  # noqa: F401

pytestmark = pytest.mark.netns


def test_recipient_domain_check(mxrelayd, dns):
    dns.mx("good.test", [(10, "mx.good.test")]).a("mx.good.test", "127.0.0.11")
    dns.record("nullmx.test", "MX", "0 .")
    dns.a("mx.relay.test", "127.0.0.1")
    dns.start()
    d = mxrelayd(conf_extra=f"check_recipient_domain = yes\ndns_server = {DNS_ADDR}")
    c = Client()
    c.reply()
    c.expect("EHLO client.test", 250)
    c.expect("MAIL FROM:<a@b.test>", 250)
    # Pipelined: the replies keep their order although the lookups take time.
    c.send("RCPT TO:<x@good.test>\r\nRCPT TO:<x@missing.test>\r\nRCPT TO:<x@nullmx.test>\r\n"
           "RCPT TO:<x@[127.0.0.1]>\r\nNOOP\r\n")
    got = [c.reply() for _ in range(5)]
    assert [(r.code, r.esc) for r in got] == [(250, "2.1.5"), (550, "5.1.2"), (556, "5.1.10"),
                                              (250, "2.1.5"), (250, "2.0.0")], got
    c.expect("DATA", 354)
    c.send(b"Subject: dns\r\n\r\nx\r\n.\r\n")
    _, rcpts, _ = d.message(queued_id(c.reply()))
    assert rcpts == ["x@good.test", "x@[127.0.0.1]"]
    # The client leaves while a lookup is pending: the session must go away cleanly.
    c2 = Client()
    c2.reply()
    c2.expect("EHLO client.test", 250)
    c2.expect("MAIL FROM:<a@b.test>", 250)
    c2.send("RCPT TO:<x@good.test>\r\n")
    c2.close()
