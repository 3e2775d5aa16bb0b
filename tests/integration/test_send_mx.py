"""MX resolution and the choice of host: `mxrelay send` against nsd and real
receivers (RFC 5321 5.1, RFC 7505)."""

import pytest

from mxtest import expect
from mxtest.expect import EX_OK, EX_TEMPFAIL, EX_UNAVAILABLE, NO_CODE
from mxtest.fakesmtp import DROP

pytestmark = pytest.mark.netns

MSG = expect.message()


def test_lowest_preference_gets_the_message(dns, smtp_sink, mxrelay_send):
    dns.mx("a.test", [(20, "mx2.a.test"), (10, "mx1.a.test")])
    dns.a("mx1.a.test", "127.0.0.11").a("mx2.a.test", "127.0.0.12").start()
    mx1, mx2 = smtp_sink("127.0.0.11"), smtp_sink("127.0.0.12")

    run = mxrelay_send(["-f", "alice@sender.test", "bob@a.test"], MSG)

    expect.exit_code(run, EX_OK)
    expect.delivered(run, "bob@a.test", mx="mx1.a.test", ip="127.0.0.11")
    assert len(mx1.messages()) == 1, mx1.describe()
    assert mx1.messages()[0].recipients == ["bob@a.test"]
    assert mx1.messages()[0].sender == "alice@sender.test"
    expect.no_connection(mx2)


def test_dead_first_mx_fails_over_to_the_second(dns, smtp_sink, mxrelay_send):
    # Nothing listens on 127.0.0.11: the connection is refused at once.
    dns.mx("a.test", [(10, "mx1.a.test"), (20, "mx2.a.test")])
    dns.a("mx1.a.test", "127.0.0.11").a("mx2.a.test", "127.0.0.12").start()
    mx2 = smtp_sink("127.0.0.12")

    run = mxrelay_send(["-f", "alice@sender.test", "bob@a.test"], MSG)

    expect.exit_code(run, EX_OK)
    expect.delivered(run, "bob@a.test", mx="mx2.a.test", ip="127.0.0.12")
    assert len(mx2.messages()) == 1, mx2.describe()


def test_all_mx_dead_defers(dns, mxrelay_send):
    dns.mx("a.test", [(10, "mx1.a.test"), (20, "mx2.a.test")])
    dns.a("mx1.a.test", "127.0.0.11").a("mx2.a.test", "127.0.0.12").start()

    run = mxrelay_send(["-f", "alice@sender.test", "bob@a.test"], MSG)

    expect.exit_code(run, EX_TEMPFAIL)
    expect.deferred(run, "bob@a.test", stage="connecting", code_in=NO_CODE, esc_prefix="4.4.")


def test_equal_preferences_share_the_load(dns, smtp_sink, mxrelay_send):
    dns.mx("a.test", [(10, "mx1.a.test"), (10, "mx2.a.test")])
    dns.a("mx1.a.test", "127.0.0.11").a("mx2.a.test", "127.0.0.12").start()
    mx1, mx2 = smtp_sink("127.0.0.11"), smtp_sink("127.0.0.12")

    seen = {"mx1.a.test": 0, "mx2.a.test": 0}
    for _ in range(20):
        run = mxrelay_send(["-f", "alice@sender.test", "bob@a.test"], MSG)
        expect.exit_code(run, EX_OK)
        res = expect.delivered(run, "bob@a.test")
        seen[res["mx"]] += 1

    assert seen["mx1.a.test"] > 0 and seen["mx2.a.test"] > 0, f"20 runs went {seen}: equal preferences not shuffled"
    assert len(mx1.messages()) == seen["mx1.a.test"] and len(mx2.messages()) == seen["mx2.a.test"]


def test_implicit_mx_from_the_a_record(dns, smtp_sink, mxrelay_send):
    # No MX at all: the domain's own address is the implicit MX (RFC 5321 5.1).
    dns.a("a.test", "127.0.0.11").start()
    sink = smtp_sink("127.0.0.11")

    run = mxrelay_send(["-f", "alice@sender.test", "bob@a.test"], MSG)

    expect.exit_code(run, EX_OK)
    expect.delivered(run, "bob@a.test", mx="a.test", ip="127.0.0.11")
    assert len(sink.messages()) == 1


def test_null_mx_fails_without_connecting(dns, smtp_sink, mxrelay_send):
    # RFC 7505: "MX 0 ." says the domain takes no mail. The A record is bait.
    dns.record("a.test", "MX", "0 .").a("a.test", "127.0.0.11").start()
    sink = smtp_sink("127.0.0.11")

    run = mxrelay_send(["-f", "alice@sender.test", "bob@a.test"], MSG)

    expect.exit_code(run, EX_UNAVAILABLE)
    expect.failed(run, "bob@a.test", esc="5.1.10", stage="resolving", code_in=NO_CODE)
    expect.no_connection(sink)


def test_nxdomain_fails(dns, mxrelay_send):
    dns.mx("a.test", [(10, "mx1.a.test")]).a("mx1.a.test", "127.0.0.11").start()

    run = mxrelay_send(["-f", "alice@sender.test", "bob@nowhere.test"], MSG)

    expect.exit_code(run, EX_UNAVAILABLE)
    expect.failed(run, "bob@nowhere.test", esc="5.1.2", stage="resolving", code_in=NO_CODE)


def test_mx_host_without_address_fails_or_defers(dns, mxrelay_send):
    # The MX names a host that does not exist: nothing to connect to.
    dns.mx("a.test", [(10, "gone.a.test")]).start()

    run = mxrelay_send(["-f", "alice@sender.test", "bob@a.test"], MSG)

    assert run.rc in (EX_TEMPFAIL, EX_UNAVAILABLE), run.describe()
    res = run.result("bob@a.test")
    assert res["status"] in ("deferred", "failed") and res["stage"] == "resolving", run.describe()


def test_servfail_defers(dns, mxrelay_send):
    # nsd is not authoritative for example.net and refuses; the resolver
    # makes that a SERVFAIL, a temporary failure.
    dns.mx("a.test", [(10, "mx1.a.test")]).start()

    run = mxrelay_send(["-f", "alice@sender.test", "bob@broken.example.net"], MSG)

    expect.exit_code(run, EX_TEMPFAIL)
    expect.deferred(run, "bob@broken.example.net", stage="resolving", code_in=NO_CODE, esc_prefix="4.")


def test_servfail_from_the_server_itself_defers(faulty_dns, mxrelay_send):
    faulty_dns(rules={"a.test": "servfail"})

    run = mxrelay_send(["-f", "alice@sender.test", "bob@a.test"], MSG)

    expect.exit_code(run, EX_TEMPFAIL)
    expect.deferred(run, "bob@a.test", stage="resolving", code_in=NO_CODE, esc_prefix="4.")


def test_truncated_answer_without_tcp_defers(faulty_dns, mxrelay_send):
    # TC set, no answer, and nobody on TCP port 53.
    faulty_dns(rules={"a.test": "truncated"})

    run = mxrelay_send(["-f", "alice@sender.test", "bob@a.test"], MSG, timeout=90)

    expect.exit_code(run, EX_TEMPFAIL)
    expect.deferred(run, "bob@a.test", stage="resolving", esc_prefix="4.")


@pytest.mark.slow
@pytest.mark.parametrize("fault", ["garbage", "wrongid"])
def test_nonsense_dns_answer_defers(faulty_dns, mxrelay_send, fault):
    # The resolver drops what it cannot match to its query and times out.
    faulty_dns(rules={"a.test": fault})

    run = mxrelay_send(["-f", "alice@sender.test", "bob@a.test"], MSG, timeout=90)

    expect.exit_code(run, EX_TEMPFAIL)
    expect.deferred(run, "bob@a.test", stage="resolving", esc_prefix="4.")


def test_multihomed_mx_with_a_dead_first_address(dns, smtp_sink, mxrelay_send):
    # One host, two addresses; nothing listens on the first: the second is used.
    dns.mx("a.test", [(10, "mx1.a.test")]).a("mx1.a.test", "127.0.0.11", "127.0.0.12").start()
    sink = smtp_sink("127.0.0.12")

    for _ in range(3):  # either address order must end at the live one
        run = mxrelay_send(["-f", "alice@sender.test", "bob@a.test"], MSG)
        expect.exit_code(run, EX_OK)
        expect.delivered(run, "bob@a.test", mx="mx1.a.test", ip="127.0.0.12")
    assert len(sink.messages()) == 3


def test_ipv6_address_of_the_mx(dns, fakesmtp, mxrelay_send):
    dns.mx("a.test", [(10, "mx1.a.test")]).a("mx1.a.test", "::1").start()
    srv = fakesmtp("::1")

    run = mxrelay_send(["-f", "alice@sender.test", "bob@a.test"], MSG)

    expect.exit_code(run, EX_OK)
    expect.delivered(run, "bob@a.test", mx="mx1.a.test", ip="::1")
    assert len(srv.messages) == 1


def test_ipv4_only_skips_the_ipv6_address(dns, fakesmtp, mxrelay_send):
    dns.mx("a.test", [(10, "mx1.a.test")]).a("mx1.a.test", "::1", "127.0.0.11").start()
    v6, v4 = fakesmtp("::1"), fakesmtp("127.0.0.11")

    run = mxrelay_send(["-4", "-f", "alice@sender.test", "bob@a.test"], MSG)

    expect.exit_code(run, EX_OK)
    expect.delivered(run, "bob@a.test", ip="127.0.0.11")
    expect.no_connection(v6)
    assert len(v4.messages) == 1


def test_greeting_421_moves_to_the_next_mx(dns, fakesmtp, mxrelay_send):
    dns.mx("a.test", [(10, "mx1.a.test"), (20, "mx2.a.test")])
    dns.a("mx1.a.test", "127.0.0.11").a("mx2.a.test", "127.0.0.12").start()
    busy = fakesmtp("127.0.0.11", replies={"greeting": "421 4.3.2 mx1 busy, try later"})
    good = fakesmtp("127.0.0.12")

    run = mxrelay_send(["-f", "alice@sender.test", "bob@a.test"], MSG)

    expect.exit_code(run, EX_OK)
    expect.delivered(run, "bob@a.test", mx="mx2.a.test", ip="127.0.0.12")
    assert busy.connections == 1 and not busy.commands("MAIL"), busy.describe()
    assert len(good.messages) == 1


def test_5xx_is_not_retried_at_the_backup(dns, fakesmtp, mxrelay_send):
    dns.mx("a.test", [(10, "mx1.a.test"), (20, "mx2.a.test")])
    dns.a("mx1.a.test", "127.0.0.11").a("mx2.a.test", "127.0.0.12").start()
    fakesmtp("127.0.0.11", replies={"rcpt": "550 5.1.1 <bob@a.test>: no such user"})
    backup = fakesmtp("127.0.0.12")

    run = mxrelay_send(["-f", "alice@sender.test", "bob@a.test"], MSG)

    expect.exit_code(run, EX_UNAVAILABLE)
    expect.failed(run, "bob@a.test", code=550, esc="5.1.1", stage="rcpt", mx="mx1.a.test", ip="127.0.0.11")
    expect.no_connection(backup)


def test_4xx_greeting_on_every_mx_defers(dns, fakesmtp, mxrelay_send):
    dns.mx("a.test", [(10, "mx1.a.test"), (20, "mx2.a.test")])
    dns.a("mx1.a.test", "127.0.0.11").a("mx2.a.test", "127.0.0.12").start()
    mx1 = fakesmtp("127.0.0.11", replies={"greeting": "421 4.3.2 busy"})
    mx2 = fakesmtp("127.0.0.12", replies={"greeting": "421 4.3.2 busy too"})

    run = mxrelay_send(["-f", "alice@sender.test", "bob@a.test"], MSG)

    expect.exit_code(run, EX_TEMPFAIL)
    expect.deferred(run, "bob@a.test", code=421)
    assert mx1.connections == 1 and mx2.connections == 1


def test_dropped_connection_before_mail_moves_to_the_next_mx(dns, fakesmtp, mxrelay_send):
    dns.mx("a.test", [(10, "mx1.a.test"), (20, "mx2.a.test")])
    dns.a("mx1.a.test", "127.0.0.11").a("mx2.a.test", "127.0.0.12").start()
    fakesmtp("127.0.0.11", replies={"ehlo": DROP})
    good = fakesmtp("127.0.0.12")

    run = mxrelay_send(["-f", "alice@sender.test", "bob@a.test"], MSG)

    expect.exit_code(run, EX_OK)
    expect.delivered(run, "bob@a.test", mx="mx2.a.test")
    assert len(good.messages) == 1


def test_mx_greeting_with_our_own_name_is_a_mail_loop(dns, fakesmtp, mxrelay_send):
    # RFC 5321 6.3: the best MX is this host itself; the mail would come back.
    # Backups of lower preference would only bring it here again.
    dns.mx("a.test", [(10, "mx1.a.test"), (20, "mx2.a.test")])
    dns.a("mx1.a.test", "127.0.0.11").a("mx2.a.test", "127.0.0.12").start()
    mx1 = fakesmtp("127.0.0.11", replies={"greeting": "220 relay.test ESMTP"})
    mx2 = fakesmtp("127.0.0.12")

    run = mxrelay_send(["--helo", "Relay.Test", "-f", "alice@sender.test", "bob@a.test"], MSG)

    expect.exit_code(run, EX_UNAVAILABLE)
    res = expect.failed(run, "bob@a.test", esc="5.4.6", mx="mx1.a.test", code_in=NO_CODE)
    assert "loops back to myself" in res["text"], res
    assert mx1.commands() == ["QUIT"], mx1.describe()
    expect.no_connection(mx2)


def test_ehlo_reply_with_our_own_name_is_a_mail_loop(dns, fakesmtp, mxrelay_send):
    dns.mx("a.test", [(10, "mx1.a.test")]).a("mx1.a.test", "127.0.0.11").start()
    mx1 = fakesmtp("127.0.0.11", replies={"ehlo": "250-relay.test hello\n250 PIPELINING"})

    run = mxrelay_send(["--helo", "relay.test", "-f", "alice@sender.test", "bob@a.test"], MSG)

    expect.exit_code(run, EX_UNAVAILABLE)
    expect.failed(run, "bob@a.test", esc="5.4.6", stage="helo", code_in=NO_CODE)
    assert mx1.commands("MAIL") == [] and mx1.commands("QUIT"), mx1.describe()


def test_smarthost_that_is_ourselves_is_a_mail_loop(dns, fakesmtp, mxrelay_send):
    # A smarthost route that leads back here would pass the message round
    # to the hop limit; the greeting names us, so stop at once.
    dns.start()
    relay = fakesmtp("127.0.0.31", replies={"greeting": "220 relay.test ESMTP"})

    run = mxrelay_send(["--helo", "relay.test", "--smarthost", "[127.0.0.31]:25",
                        "-f", "alice@sender.test", "bob@a.test"], MSG)

    expect.exit_code(run, EX_UNAVAILABLE)
    res = expect.failed(run, "bob@a.test", esc="5.4.6", code_in=NO_CODE)
    assert "loops back to myself" in res["text"], res
    assert relay.commands("MAIL") == [], relay.describe()


def test_greeting_with_another_name_is_no_loop(dns, fakesmtp, mxrelay_send):
    dns.mx("a.test", [(10, "mx1.a.test")]).a("mx1.a.test", "127.0.0.11").start()
    mx1 = fakesmtp("127.0.0.11", replies={"greeting": "220 relay.test ESMTP"})

    run = mxrelay_send(["--helo", "client.test", "-f", "alice@sender.test", "bob@a.test"], MSG)

    expect.exit_code(run, EX_OK)
    expect.delivered(run, "bob@a.test", mx="mx1.a.test")
    assert len(mx1.messages) == 1, mx1.describe()
