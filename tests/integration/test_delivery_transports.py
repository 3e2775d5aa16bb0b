"""Every transport carries messages of every size, byte for byte, to real receivers.

What users meet: nearly every MX offers STARTTLS, and attachments make
messages of megabytes. Each transport (clear text, STARTTLS at the
opportunistic policy, STARTTLS required with the certificate verified
against a test CA, implicit TLS to a smarthost on 465) carries messages of
1 KiB, 300 KiB, 5 MiB and 30 MiB to three independent receivers: a private
Postfix smtpd, python3-aiosmtpd, and Postfix's smtp-sink (clear text only:
it offers no STARTTLS). Each message must arrive exactly as it was given,
after the trace fields the hops add: `mxrelay send` adds none, mxrelayd
adds one Received field.

The messages are MIME with a base64 part (76-octet lines, as mail
programs write attachments) and, every few hundred lines, lines that
begin with a dot or are only a dot, so dot-stuffing is crossed at every
size and at TLS record boundaries.

mxrelayd's tests run once with each queue backend (SQLite, and a
PostgreSQL server of the test's own), since a large body takes another
way through each.
"""

import smtplib
import ssl

import pytest

from daemon import mxrelayd  # noqa: F401 (fixture)
from mxtest import expect
from mxtest.aiosmtpd_mx import AioSmtpd
from mxtest.expect import EX_OK

pytestmark = pytest.mark.netns
# The daemon's tests run on each queue backend: on PostgreSQL a body over 256 KiB goes
# to the server in 1 MiB rows and comes back for the delivery.
QUEUE_BACKENDS = ("sqlite", "postgresql")

KIB = 1024
MIB = 1024 * KIB
SIZES = {"1k": KIB, "300k": 300 * KIB, "5m": 5 * MIB, "30m": 30 * MIB}
TRANSPORTS = ["clear", "starttls", "required", "implicit"]
SENDER = "alice@sender.test"


def make_message(size, rcpt="bob@a.test"):
    """A MIME message of about size octets, CRLF line ends, dot lines inside."""
    head = (f"From: <{SENDER}>\r\nTo: <{rcpt}>\r\nSubject: attachment of {size} octets\r\n"
            "Message-ID: <transport.1@sender.test>\r\nMIME-Version: 1.0\r\n"
            "Content-Type: multipart/mixed; boundary=\"b1\"\r\n\r\n"
            "--b1\r\nContent-Type: text/plain\r\n\r\nSee the attachment.\r\n.\r\n..two\r\n"
            "--b1\r\nContent-Type: application/octet-stream\r\n"
            "Content-Transfer-Encoding: base64\r\n\r\n").encode()
    tail = b"\r\n--b1--\r\n"
    alphabet = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
    lines = []
    n = len(head) + len(tail)
    i = 0
    while n < size:
        if i % 397 == 0:
            line = b"." if i % 2 else b".leading dot " + str(i).encode()
        else:
            line = bytes(alphabet[(i * 7 + k) % 64] for k in range(76))
        lines.append(line)
        n += len(line) + 2
        i += 1
    return head + b"\r\n".join(lines) + tail


def lf(data):
    return data.replace(b"\r\n", b"\n")


def send_args(transport, certs):
    """mxrelay send options for a transport to the host mx1.a.test."""
    return {
        "clear": ["--tls", "none"],
        "starttls": ["--tls", "opportunistic"],
        "required": ["--tls", "required", "--ca-file", certs.ca_file],
        "implicit": ["--smarthost", "[mx1.a.test]", "--tls", "implicit", "--ca-file", certs.ca_file],
    }[transport]


@pytest.fixture
def mx1(dns):
    dns.mx("a.test", [(10, "mx1.a.test")]).a("mx1.a.test", "127.0.0.11").start()
    return dns


def _check_send(run, transport):
    expect.exit_code(run, EX_OK)
    expect.delivered(run, "bob@a.test", tls=transport != "clear")


@pytest.mark.parametrize("size", SIZES, ids=list(SIZES))
@pytest.mark.parametrize("transport", TRANSPORTS)
def test_send_to_postfix(mx1, postfix, certs, mxrelay_send, transport, size):
    pf = postfix("127.0.0.11", hostname="mx1.a.test", cert=certs.server("mx1.a.test"), wrapper=True,
                 main={"message_size_limit": 64 * MIB, "virtual_mailbox_limit": 0})
    msg = make_message(SIZES[size])

    run = mxrelay_send(["-f", SENDER] + send_args(transport, certs) + ["bob@a.test"], msg, timeout=180)

    _check_send(run, transport)
    (got,) = pf.messages(wait=30)
    assert got.endswith(lf(msg)), f"{size} over {transport}: the message changed on the way"
    assert len(got) - len(lf(msg)) < 2000


# 30 MiB to aiosmtpd goes through the daemon test below.
@pytest.mark.parametrize("size", ["1k", "300k", "5m"])
@pytest.mark.parametrize("transport", TRANSPORTS)
def test_send_to_aiosmtpd(mx1, netns, certs, mxrelay_send, transport, size):
    srv = AioSmtpd(netns, "127.0.0.11", cert=certs.server("mx1.a.test"), hostname="mx1.a.test").start()
    msg = make_message(SIZES[size])

    run = mxrelay_send(["-f", SENDER] + send_args(transport, certs) + ["bob@a.test"], msg, timeout=180)

    _check_send(run, transport)
    ((env, got),) = srv.messages(wait=30)
    assert env["tls"] == (transport != "clear")
    assert got == msg, f"{size} over {transport}: {len(got)} octets arrived, {len(msg)} sent"


@pytest.mark.parametrize("size", SIZES, ids=list(SIZES))
def test_send_to_smtp_sink(mx1, smtp_sink, mxrelay_send, size):
    sink = smtp_sink("127.0.0.11")
    msg = make_message(SIZES[size])

    run = mxrelay_send(["-f", SENDER, "bob@a.test"], msg, timeout=180)

    _check_send(run, "clear")
    (got,) = sink.messages()
    assert got.message.endswith(lf(msg))


# --- the daemon: in over STARTTLS from smtplib, out over every transport ---

# Recipient domain -> how mxrelayd reaches the receiver at mx1.a.test.
DAEMON_DOMAINS = {
    "clear": ("clear.test", "route = clear.test smarthost=[mx1.a.test] tls=none"),
    "starttls": ("mx.test", ""),  # direct MX delivery at the default outbound_tls
    "required": ("required.test", "route = required.test smarthost=[mx1.a.test] tls=required"),
    "implicit": ("implicit.test", "route = implicit.test smarthost=[mx1.a.test]:465 tls=implicit"),
}


def _daemon(dns, mxrelayd, certs):
    dns.mx("mx.test", [(10, "mx1.a.test")]).a("mx1.a.test", "127.0.0.11").start()
    routes = "\n".join(r for _, r in DAEMON_DOMAINS.values() if r)
    return mxrelayd(certs=certs, relay_domains="",
                    conf_extra=f"dns_server = 127.0.0.53\nca_file = {certs.ca_file}\n"
                               f"max_message_size = {64 * MIB}\nretry_intervals = 1s\n{routes}")


def _submit_over_starttls(messages):
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    with smtplib.SMTP("127.0.0.1", 25, timeout=120) as c:
        c.starttls(context=ctx)
        for rcpt, msg in messages:
            c.sendmail(SENDER, [rcpt], msg)


def _daemon_cases():
    out = []
    for transport, (domain, _) in DAEMON_DOMAINS.items():
        for size, n in SIZES.items():
            rcpt = f"{transport}-{size}@{domain}"
            out.append((transport, size, rcpt, make_message(n, rcpt)))
    return out


def _received_and_rest(got):
    assert got.startswith(b"Received: "), got[:300]
    end = 0
    while True:
        end = got.index(b"\r\n", end) + 2
        if got[end:end + 1] not in (b" ", b"\t"):
            return got[:end], got[end:]


def test_daemon_to_aiosmtpd_every_transport_and_size(dns, netns, mxrelayd, certs):
    srv = AioSmtpd(netns, "127.0.0.11", cert=certs.server("mx1.a.test"), hostname="mx1.a.test").start()
    d = _daemon(dns, mxrelayd, certs)
    cases = _daemon_cases()

    _submit_over_starttls([(rcpt, msg) for _, _, rcpt, msg in cases])

    got = {env["rcpt_tos"][0]: (env, body) for env, body in srv.messages(count=len(cases), wait=180)}
    for transport, size, rcpt, msg in cases:
        assert rcpt in got, f"{size} over {transport} not delivered\n{d.log()[-3000:]}"
        env, body = got[rcpt]
        assert env["tls"] == (transport != "clear"), f"{rcpt}: tls={env['tls']}"
        received, rest = _received_and_rest(body)
        assert rest == msg, f"{size} over {transport}: the message changed on the way"
        assert b"mx.relay.test" in received
    assert "4.4.2" not in d.log()


def test_daemon_to_postfix_every_transport_and_size(dns, postfix, mxrelayd, certs):
    pf = postfix("127.0.0.11", hostname="mx1.a.test", cert=certs.server("mx1.a.test"), wrapper=True,
                 domains=[dom for dom, _ in DAEMON_DOMAINS.values()],
                 main={"message_size_limit": 64 * MIB, "virtual_mailbox_limit": 0,
                       "smtpd_tls_received_header": "yes"})
    d = _daemon(dns, mxrelayd, certs)
    cases = _daemon_cases()

    _submit_over_starttls([(rcpt, msg) for _, _, rcpt, msg in cases])

    got = pf.messages(count=len(cases), wait=180)
    assert len(got) == len(cases), f"{len(got)} of {len(cases)} delivered\n{d.log()[-3000:]}"
    for transport, size, rcpt, msg in cases:
        mine = [m for m in got if m.endswith(lf(msg))]
        assert len(mine) == 1, f"{size} over {transport} did not arrive intact"
        # Postfix's own Received field says whether the hop from mxrelayd was encrypted.
        trace = mine[0][:-len(lf(msg))]
        assert (b"using TLS" in trace) == (transport != "clear"), f"{rcpt}: {trace.decode(errors='replace')}"
        assert trace.count(b"Received: ") == 2, trace
