"""The SMTP transaction: replies per recipient, per transaction and per
session, ESMTP extensions and misbehaving servers (RFC 5321, 1870, 3461,
6531)."""

import time

import pytest

from mxtest import expect
from mxtest.expect import EX_OK, EX_TEMPFAIL, EX_UNAVAILABLE, NO_CODE
from mxtest.fakesmtp import DEFAULT_EXTENSIONS, DROP, ENDLESS, HANG

pytestmark = pytest.mark.netns

MSG = expect.message()
SENDER = ["-f", "alice@sender.test"]


@pytest.fixture
def one_mx(dns):
    """a.test has one MX, mx1.a.test on 127.0.0.11; b.test has mx1.b.test on 127.0.0.21."""
    dns.mx("a.test", [(10, "mx1.a.test")]).a("mx1.a.test", "127.0.0.11")
    dns.mx("b.test", [(10, "mx1.b.test")]).a("mx1.b.test", "127.0.0.21")
    dns.start()
    return dns


def test_one_rcpt_refused_one_accepted(one_mx, fakesmtp, mxrelay_send):
    srv = fakesmtp("127.0.0.11", replies={"rcpt:carol@a.test": "550 5.1.1 <carol@a.test>: Recipient unknown"})

    run = mxrelay_send(SENDER + ["bob@a.test", "carol@a.test"], MSG)

    expect.exit_code(run, EX_UNAVAILABLE)
    expect.delivered(run, "bob@a.test", mx="mx1.a.test", ip="127.0.0.11")
    expect.failed(run, "carol@a.test", code=550, esc="5.1.1", stage="rcpt", mx="mx1.a.test")
    (txn,) = srv.messages
    assert txn.accepted == ["bob@a.test"], srv.describe()
    assert len(srv.transactions) == 1, "both recipients belong in one transaction\n" + srv.describe()


def test_4xx_on_rcpt_defers_only_that_recipient(one_mx, fakesmtp, mxrelay_send):
    fakesmtp("127.0.0.11", replies={"rcpt:carol@a.test": "450 4.2.1 <carol@a.test>: mailbox busy"})

    run = mxrelay_send(SENDER + ["bob@a.test", "carol@a.test"], MSG)

    expect.exit_code(run, EX_TEMPFAIL)
    expect.delivered(run, "bob@a.test")
    expect.deferred(run, "carol@a.test", code=450, esc="4.2.1", stage="rcpt")


def test_4xx_after_data_defers_every_recipient_of_the_transaction(one_mx, fakesmtp, mxrelay_send):
    srv = fakesmtp("127.0.0.11", replies={"dot": "451 4.3.0 Error: queue file write error"})

    run = mxrelay_send(SENDER + ["bob@a.test", "carol@a.test"], MSG)

    expect.exit_code(run, EX_TEMPFAIL)
    for rcpt in ("bob@a.test", "carol@a.test"):
        expect.deferred(run, rcpt, code=451, esc="4.3.0", stage="data", mx="mx1.a.test")
    assert len(srv.transactions) == 1 and srv.transactions[0].message is not None


def test_5xx_after_data_fails_every_recipient_of_the_transaction(one_mx, fakesmtp, mxrelay_send):
    fakesmtp("127.0.0.11", replies={"dot": "554 5.7.1 Message rejected as spam"})

    run = mxrelay_send(SENDER + ["bob@a.test", "carol@a.test"], MSG)

    expect.exit_code(run, EX_UNAVAILABLE)
    for rcpt in ("bob@a.test", "carol@a.test"):
        expect.failed(run, rcpt, code=554, esc="5.7.1", stage="data")


def test_two_domains_delivered_and_failed(one_mx, fakesmtp, smtp_sink, mxrelay_send):
    a = smtp_sink("127.0.0.11")
    fakesmtp("127.0.0.21", replies={"rcpt": "550 5.1.1 no such user here"})

    run = mxrelay_send(SENDER + ["bob@a.test", "dave@b.test"], MSG)

    expect.exit_code(run, EX_UNAVAILABLE)
    expect.delivered(run, "bob@a.test", mx="mx1.a.test", ip="127.0.0.11")
    expect.failed(run, "dave@b.test", code=550, esc="5.1.1", stage="rcpt", mx="mx1.b.test", ip="127.0.0.21")
    assert [m.recipients for m in a.messages()] == [["bob@a.test"]]


def test_three_domains_delivered_failed_deferred(one_mx, fakesmtp, mxrelay_send):
    fakesmtp("127.0.0.11")
    fakesmtp("127.0.0.21", replies={"mail": "451 4.3.2 try again later"})

    run = mxrelay_send(SENDER + ["bob@a.test", "dave@b.test", "erin@nowhere.test"], MSG)

    expect.exit_code(run, EX_TEMPFAIL)
    expect.delivered(run, "bob@a.test")
    expect.deferred(run, "dave@b.test", code=451, esc="4.3.2", stage="mail")
    expect.failed(run, "erin@nowhere.test", esc="5.1.2", stage="resolving")
    expect.only_recipients(run, ["bob@a.test", "dave@b.test", "erin@nowhere.test"])


def test_domains_are_grouped_case_insensitively(one_mx, fakesmtp, mxrelay_send):
    srv = fakesmtp("127.0.0.11")

    run = mxrelay_send(SENDER + ["bob@a.test", "carol@A.Test"], MSG)

    expect.exit_code(run, EX_OK)
    assert len(srv.transactions) == 1, srv.describe()
    assert len(srv.transactions[0].accepted) == 2


def test_452_on_the_third_rcpt_splits_the_transaction(one_mx, fakesmtp, mxrelay_send):
    srv = fakesmtp("127.0.0.11", max_rcpts=2)
    rcpts = ["r1@a.test", "r2@a.test", "r3@a.test"]

    run = mxrelay_send(SENDER + rcpts, MSG)

    expect.exit_code(run, EX_OK)
    for rcpt in rcpts:
        expect.delivered(run, rcpt)
    accepted = [t.accepted for t in srv.messages]
    assert accepted == [["r1@a.test", "r2@a.test"], ["r3@a.test"]], srv.describe()
    for txn in srv.messages:
        assert txn.message.endswith(MSG), srv.describe()


def test_size_too_small_fails_without_data(one_mx, fakesmtp, mxrelay_send):
    srv = fakesmtp("127.0.0.11", size=200)
    big = expect.message(body="x" * 70 + "\r\n" * 1 + ("y" * 70 + "\r\n") * 20)

    run = mxrelay_send(SENDER + ["bob@a.test"], big)

    expect.exit_code(run, EX_UNAVAILABLE)
    expect.failed(run, "bob@a.test", esc="5.3.4")
    assert srv.data_commands == [], "DATA sent although SIZE said no\n" + srv.describe()


def test_size_is_declared_when_offered(one_mx, fakesmtp, mxrelay_send):
    srv = fakesmtp("127.0.0.11", size=10_000_000)

    run = mxrelay_send(SENDER + ["bob@a.test"], MSG)

    expect.exit_code(run, EX_OK)
    (mail,) = srv.commands("MAIL")
    sizes = [p.split("=", 1)[1] for p in mail.split() if p.upper().startswith("SIZE=")]
    assert sizes and sizes[0].isdigit() and int(sizes[0]) >= len(MSG), f"MAIL without a true SIZE: {mail}"


def test_smtputf8_address_to_a_server_without_smtputf8(one_mx, fakesmtp, mxrelay_send):
    ext = [e for e in DEFAULT_EXTENSIONS if e != "SMTPUTF8"]
    srv = fakesmtp("127.0.0.11", extensions=ext)

    run = mxrelay_send(SENDER + ["jos\u00e9@a.test"], MSG)

    expect.exit_code(run, EX_UNAVAILABLE)
    expect.failed(run, "jos\u00e9@a.test", esc="5.6.7")
    assert srv.data_commands == [], srv.describe()


def test_smtputf8_address_to_a_server_with_smtputf8(one_mx, fakesmtp, mxrelay_send):
    srv = fakesmtp("127.0.0.11")

    run = mxrelay_send(SENDER + ["jos\u00e9@a.test"], MSG)

    expect.exit_code(run, EX_OK)
    expect.delivered(run, "jos\u00e9@a.test")
    (mail,) = srv.commands("MAIL")
    assert "SMTPUTF8" in mail.upper(), srv.describe()
    assert srv.commands("RCPT") == ["RCPT TO:<jos\u00e9@a.test>"], srv.describe()


DSN_ARGS = ["--notify", "SUCCESS,FAILURE", "--ret", "HDRS", "--envid", "QQ314159"]


def test_dsn_parameters_passed_on_when_offered(one_mx, fakesmtp, mxrelay_send):
    srv = fakesmtp("127.0.0.11")

    run = mxrelay_send(SENDER + DSN_ARGS + ["bob@a.test"], MSG)

    expect.exit_code(run, EX_OK)
    (mail,) = srv.commands("MAIL")
    (rcpt,) = srv.commands("RCPT")
    assert "RET=HDRS" in mail and "ENVID=QQ314159" in mail, srv.describe()
    assert "NOTIFY=SUCCESS,FAILURE" in rcpt, srv.describe()
    assert "ORCPT=rfc822;bob@a.test" in rcpt or "ORCPT=RFC822;bob@a.test" in rcpt, srv.describe()


def test_dsn_parameters_withheld_when_not_offered(one_mx, fakesmtp, mxrelay_send):
    ext = [e for e in DEFAULT_EXTENSIONS if e != "DSN"]
    srv = fakesmtp("127.0.0.11", extensions=ext)

    run = mxrelay_send(SENDER + DSN_ARGS + ["bob@a.test"], MSG)

    expect.exit_code(run, EX_OK)
    for line in srv.commands("MAIL") + srv.commands("RCPT"):
        for param in ("RET=", "ENVID=", "NOTIFY=", "ORCPT="):
            assert param not in line.upper(), f"{param} sent to a server without DSN: {line}\n{srv.describe()}"


def test_ehlo_refused_falls_back_to_helo(one_mx, fakesmtp, mxrelay_send):
    srv = fakesmtp("127.0.0.11", replies={"ehlo": "502 5.5.2 Error: command not recognized"})

    run = mxrelay_send(SENDER + ["--helo", "relay.sender.test", "bob@a.test"], MSG)

    expect.exit_code(run, EX_OK)
    expect.delivered(run, "bob@a.test")
    assert srv.commands("HELO") == ["HELO relay.sender.test"], srv.describe()
    mail = srv.commands("MAIL")[0]
    assert mail.upper() == "MAIL FROM:<ALICE@SENDER.TEST>", f"ESMTP parameters sent after HELO: {mail}"


def test_helo_name_is_used(one_mx, fakesmtp, mxrelay_send):
    srv = fakesmtp("127.0.0.11")

    run = mxrelay_send(SENDER + ["--helo", "relay.sender.test", "bob@a.test"], MSG)

    expect.exit_code(run, EX_OK)
    assert srv.commands("EHLO") == ["EHLO relay.sender.test"], srv.describe()


def test_null_sender(one_mx, fakesmtp, mxrelay_send):
    srv = fakesmtp("127.0.0.11")

    run = mxrelay_send(["-f", "", "bob@a.test"], MSG)

    expect.exit_code(run, EX_OK)
    (mail,) = srv.commands("MAIL")
    assert mail.upper().startswith("MAIL FROM:<>"), srv.describe()


def test_dropped_connection_after_rcpt_defers(one_mx, fakesmtp, mxrelay_send):
    srv = fakesmtp("127.0.0.11", extensions=[e for e in DEFAULT_EXTENSIONS if e != "PIPELINING"],
                   replies={"data": DROP})

    run = mxrelay_send(SENDER + ["bob@a.test"], MSG)

    expect.exit_code(run, EX_TEMPFAIL)
    expect.deferred(run, "bob@a.test", text=True)
    assert srv.messages == []


def test_dropped_connection_after_the_dot_defers(one_mx, fakesmtp, mxrelay_send):
    # The message went out but no reply came: it must not count as delivered.
    fakesmtp("127.0.0.11", replies={"dot": DROP})

    run = mxrelay_send(SENDER + ["bob@a.test"], MSG)

    expect.exit_code(run, EX_TEMPFAIL)
    expect.deferred(run, "bob@a.test", stage="data", text=True)


@pytest.mark.slow
def test_silent_server_times_out(one_mx, fakesmtp, mxrelay_send):
    fakesmtp("127.0.0.11", replies={"greeting": HANG})

    started = time.monotonic()
    run = mxrelay_send(SENDER + ["--timeout", "2", "--connect-timeout", "2", "bob@a.test"], MSG, timeout=30)
    took = time.monotonic() - started

    expect.exit_code(run, EX_TEMPFAIL)
    expect.deferred(run, "bob@a.test", stage="connecting", code_in=NO_CODE, text=True)
    assert 1.5 <= took <= 10, f"--timeout 2 took {took:.1f}s\n{run.describe()}"


@pytest.mark.slow
def test_slow_reply_to_mail_times_out(one_mx, fakesmtp, mxrelay_send):
    fakesmtp("127.0.0.11", replies={"mail": {"reply": "250 2.1.0 Ok", "delay": 8}})

    started = time.monotonic()
    run = mxrelay_send(SENDER + ["--timeout", "2", "bob@a.test"], MSG, timeout=30)
    took = time.monotonic() - started

    expect.exit_code(run, EX_TEMPFAIL)
    expect.deferred(run, "bob@a.test", stage="mail", text=True)
    assert took < 7, f"--timeout 2 took {took:.1f}s\n{run.describe()}"


def test_slow_but_timely_replies_deliver(one_mx, fakesmtp, mxrelay_send):
    fakesmtp("127.0.0.11", replies={"greeting": {"reply": "220 slow ESMTP", "delay": 1},
                                    "dot": {"reply": "250 2.0.0 Ok", "delay": 1}})

    run = mxrelay_send(SENDER + ["--timeout", "5", "bob@a.test"], MSG)

    expect.exit_code(run, EX_OK)
    expect.delivered(run, "bob@a.test")


@pytest.mark.parametrize("stage,garbage", [
    ("greeting", b"\x00\xff\xfe garbage \x01\r\n"),
    ("greeting", b"hello there\r\n"),
    ("ehlo", b"2x0 what\r\n"),
    ("mail", b"250\x00\r\n" + b"\xff" * 600 + b"\r\n"),
])
def test_garbage_reply_defers(one_mx, fakesmtp, mxrelay_send, stage, garbage):
    srv = fakesmtp("127.0.0.11", replies={stage: garbage})

    run = mxrelay_send(SENDER + ["--timeout", "3", "bob@a.test"], MSG, timeout=30)

    expect.exit_code(run, EX_TEMPFAIL)
    expect.deferred(run, "bob@a.test", text=True)
    assert srv.messages == []


def test_endless_reply_defers(one_mx, fakesmtp, mxrelay_send):
    fakesmtp("127.0.0.11", replies={"ehlo": ENDLESS})

    run = mxrelay_send(SENDER + ["--timeout", "3", "bob@a.test"], MSG, timeout=30)

    expect.exit_code(run, EX_TEMPFAIL)
    expect.deferred(run, "bob@a.test", text=True)


def test_events_precede_results_and_name_the_stages(one_mx, fakesmtp, mxrelay_send):
    fakesmtp("127.0.0.11")

    run = mxrelay_send(SENDER + ["bob@a.test"], MSG)

    expect.exit_code(run, EX_OK)
    lines = [l for l in run.stdout.splitlines() if l.strip()]
    kinds = ['"result"' in l for l in lines]
    assert kinds == sorted(kinds), "events after a result\n" + run.describe()
    stages = {e.get("stage") for e in run.events}
    allowed = {"resolving", "connecting", "helo", "tls", "auth", "mail", "rcpt", "data", "done"}
    assert stages <= allowed, f"unknown stages {stages - allowed}\n{run.describe()}"
    for ev in run.events:
        assert ev.get("rcpt") == "bob@a.test" and ev.get("domain") == "a.test", run.describe()
    res = run.result("bob@a.test")
    assert res["domain"] == "a.test" and res["tls"] is False, run.describe()


def test_no_pipelining_when_not_offered(one_mx, fakesmtp, mxrelay_send):
    ext = [e for e in DEFAULT_EXTENSIONS if e != "PIPELINING"]
    srv = fakesmtp("127.0.0.11", extensions=ext)

    run = mxrelay_send(SENDER + ["bob@a.test", "carol@a.test"], MSG)

    expect.exit_code(run, EX_OK)
    srv.settle()
    early = [l for s in srv.sessions for l in s.early]
    assert early == [], f"commands sent before the reply without PIPELINING: {early}\n{srv.describe()}"


def test_many_recipients_split_at_the_server_limit(one_mx, fakesmtp, mxrelay_send):
    srv = fakesmtp("127.0.0.11", max_rcpts=100)
    rcpts = [f"r{i:03d}@a.test" for i in range(150)]

    run = mxrelay_send(SENDER + rcpts, MSG)

    expect.exit_code(run, EX_OK)
    got = sorted(r for t in srv.messages for r in t.accepted)
    assert got == rcpts, srv.describe()[:3000]
    assert [len(t.accepted) for t in srv.messages] == [100, 50]


def test_one_transaction_per_domain(dns, fakesmtp, mxrelay_send):
    # Twenty domains on one MX host: one transaction each, every one delivered.
    for i in range(20):
        dns.mx(f"d{i}.test", [(10, "mx.hosting.test")])
    dns.a("mx.hosting.test", "127.0.0.11").start()
    srv = fakesmtp("127.0.0.11")
    rcpts = [f"user@d{i}.test" for i in range(20)]

    run = mxrelay_send(SENDER + rcpts, MSG)

    expect.exit_code(run, EX_OK)
    for rcpt in rcpts:
        expect.delivered(run, rcpt, mx="mx.hosting.test")
    assert sorted(t.accepted[0] for t in srv.messages) == sorted(rcpts)
    assert all(len(t.accepted) == 1 for t in srv.messages), srv.describe()[:3000]


@pytest.mark.slow
def test_slow_reply_after_the_dot_times_out(one_mx, fakesmtp, mxrelay_send):
    fakesmtp("127.0.0.11", replies={"dot": {"reply": "250 2.0.0 Ok", "delay": 8}})

    started = time.monotonic()
    run = mxrelay_send(SENDER + ["--data-timeout", "2", "--timeout", "2", "bob@a.test"], MSG, timeout=30)
    took = time.monotonic() - started

    expect.exit_code(run, EX_TEMPFAIL)
    expect.deferred(run, "bob@a.test", stage="data", text=True)
    assert took < 7, f"--data-timeout 2 took {took:.1f}s\n{run.describe()}"


@pytest.mark.slow
def test_connect_timeout_moves_to_the_next_mx(dns, netns, fakesmtp, mxrelay_send):
    # mx1's SYNs go unanswered (a full backlog), so only the timeout helps.
    dns.mx("a.test", [(10, "mx1.a.test"), (20, "mx2.a.test")])
    dns.a("mx1.a.test", "127.0.0.11").a("mx2.a.test", "127.0.0.12").start()
    netns.blackhole("127.0.0.11")
    good = fakesmtp("127.0.0.12")

    started = time.monotonic()
    run = mxrelay_send(SENDER + ["--connect-timeout", "2", "bob@a.test"], MSG, timeout=30)
    took = time.monotonic() - started

    expect.exit_code(run, EX_OK)
    expect.delivered(run, "bob@a.test", mx="mx2.a.test")
    assert len(good.messages) == 1
    assert 1.5 <= took < 8, f"--connect-timeout 2: took {took:.1f}s\n{run.describe()}"
