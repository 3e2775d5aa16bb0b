"""Sessions carrying more than one domain: through a smarthost every
recipient domain goes to the same next hop, so `mxrelay send` puts them in
one transaction (RFC 5321 allows any recipients in one), split only when
the smarthost says 452 too many recipients. Connection reuse across
messages needs several deliveries on one context; tests/unit/
test_client_reuse.c drives that."""

import pytest

from mxtest import expect
from mxtest.expect import EX_OK

pytestmark = pytest.mark.netns

SENDER = ["-f", "alice@sender.test"]


@pytest.fixture
def two_domains(dns):
    """a.test and b.test have MX hosts of their own, which a smarthost makes irrelevant."""
    dns.mx("a.test", [(10, "mx1.a.test")]).a("mx1.a.test", "127.0.0.21")
    dns.mx("b.test", [(10, "mx1.b.test")]).a("mx1.b.test", "127.0.0.22")
    dns.start()
    return dns


def test_smarthost_takes_two_domains_in_one_transaction(two_domains, fakesmtp, mxrelay_send):
    hub = fakesmtp("127.0.0.11")
    mx_a = fakesmtp("127.0.0.21")
    mx_b = fakesmtp("127.0.0.22")

    run = mxrelay_send(SENDER + ["--smarthost", "[127.0.0.11]:25", "bob@a.test", "dave@b.test",
                                 "carol@a.test"], expect.message())

    expect.exit_code(run, EX_OK)
    for rcpt, domain in (("bob@a.test", "a.test"), ("dave@b.test", "b.test"), ("carol@a.test", "a.test")):
        r = expect.delivered(run, rcpt, ip="127.0.0.11")
        assert r["domain"] == domain, f"{rcpt}: domain {r['domain']!r}, want {domain!r}"
    assert hub.connections == 1, "one next hop, one connection\n" + hub.describe()
    assert len(hub.transactions) == 1, "one transaction for both domains\n" + hub.describe()
    (txn,) = hub.messages
    assert txn.accepted == ["bob@a.test", "dave@b.test", "carol@a.test"], hub.describe()
    expect.no_connection(mx_a, mx_b)


def test_smarthost_recipient_limit_splits_the_transaction(two_domains, fakesmtp, mxrelay_send):
    hub = fakesmtp("127.0.0.11", max_rcpts=2)

    run = mxrelay_send(SENDER + ["--smarthost", "[127.0.0.11]:25", "bob@a.test", "dave@b.test",
                                 "carol@a.test"], expect.message())

    expect.exit_code(run, EX_OK)
    for rcpt in ("bob@a.test", "dave@b.test", "carol@a.test"):
        expect.delivered(run, rcpt, ip="127.0.0.11")
    assert hub.connections == 1, hub.describe()
    assert [t.accepted for t in hub.messages] == [["bob@a.test", "dave@b.test"], ["carol@a.test"]], \
        "split at the 452, on the same connection\n" + hub.describe()


def test_without_smarthost_each_domain_keeps_its_transaction(two_domains, fakesmtp, mxrelay_send):
    mx_a = fakesmtp("127.0.0.21")
    mx_b = fakesmtp("127.0.0.22")

    run = mxrelay_send(SENDER + ["bob@a.test", "dave@b.test"], expect.message())

    expect.exit_code(run, EX_OK)
    expect.delivered(run, "bob@a.test", ip="127.0.0.21")
    expect.delivered(run, "dave@b.test", ip="127.0.0.22")
    assert [t.accepted for t in mx_a.messages] == [["bob@a.test"]], mx_a.describe()
    assert [t.accepted for t in mx_b.messages] == [["dave@b.test"]], mx_b.describe()
