"""The `mxrelay send` command line: recipients from the headers, arguments,
exit codes, the plain (non-JSON) output, smarthosts, and the default
timeouts --help and mxrelay(1) state."""

import base64
import json
import os
import subprocess

import pytest

from conftest import REPO, sanitizer_env
from mxtest import expect
from mxtest.expect import EX_OK, EX_TEMPFAIL, EX_UNAVAILABLE, EX_USAGE

pytestmark = pytest.mark.netns

SENDER = ["-f", "alice@sender.test"]


@pytest.fixture
def one_mx(dns):
    dns.mx("a.test", [(10, "mx1.a.test")]).a("mx1.a.test", "127.0.0.11")
    dns.mx("b.test", [(10, "mx1.b.test")]).a("mx1.b.test", "127.0.0.21")
    dns.start()
    return dns


HEADERS_T = (
    b"From: Alice <alice@sender.test>\r\n"
    b"To: Bob <bob@a.test>, \"Carol, C.\" <carol@a.test>\r\n"
    b"Cc: dave@b.test\r\n"
    b"Bcc: Hidden <erin@a.test>,\r\n"
    b"  frank@b.test\r\n"
    b"Subject: recipients from the header\r\n"
    b"\r\n"
    b"Bcc: this line is body text and stays\r\n"
)


def test_t_takes_to_cc_bcc_and_removes_bcc(one_mx, fakesmtp, mxrelay_send):
    a = fakesmtp("127.0.0.11")
    b = fakesmtp("127.0.0.21")

    run = mxrelay_send(SENDER + ["-t"], HEADERS_T)

    expect.exit_code(run, EX_OK)
    want = ["bob@a.test", "carol@a.test", "dave@b.test", "erin@a.test", "frank@b.test"]
    expect.only_recipients(run, want)
    assert sorted(a.messages[0].accepted) == ["bob@a.test", "carol@a.test", "erin@a.test"], a.describe()
    assert sorted(b.messages[0].accepted) == ["dave@b.test", "frank@b.test"], b.describe()
    for srv in (a, b):
        (txn,) = srv.messages
        head, _, body = txn.message.partition(b"\r\n\r\n")
        assert b"\nbcc:" not in b"\n" + head.lower(), f"Bcc left in the header: {head!r}"
        assert b"Hidden" not in head and b"frank@b.test" not in head, f"Bcc continuation left: {head!r}"
        assert b"To: Bob <bob@a.test>" in head and b"Cc: dave@b.test" in head
        assert body == b"Bcc: this line is body text and stays\r\n", body


def test_t_adds_command_line_recipients(one_mx, fakesmtp, mxrelay_send):
    a = fakesmtp("127.0.0.11")
    msg = b"From: <alice@sender.test>\r\nTo: <bob@a.test>\r\nSubject: x\r\n\r\nbody\r\n"

    run = mxrelay_send(SENDER + ["-t", "zoe@a.test"], msg)

    expect.exit_code(run, EX_OK)
    assert sorted(a.messages[0].accepted) == ["bob@a.test", "zoe@a.test"], run.describe()


@pytest.mark.parametrize("args", [
    [],                                          # no recipient at all
    ["--no-such-option", "bob@a.test"],
    ["--tls", "sometimes", "bob@a.test"],
    ["--port", "seventy", "bob@a.test"],
    ["--port", "70000", "bob@a.test"],
    ["--timeout", "-3", "bob@a.test"],
    ["--notify", "SOMETIMES", "bob@a.test"],
    ["--notify", "SUCCESS,SUCCESS", "bob@a.test"],   # a keyword twice (RFC 3461 4.1)
    ["--notify", "SUCCESS,,DELAY", "bob@a.test"],    # an empty item
    ["--notify", "NEVER,DELAY", "bob@a.test"],       # NEVER with another keyword
    ["--ret", "EVERYTHING", "bob@a.test"],
    ["--dns", "not an address", "bob@a.test"],
    ["--auth-user", "u", "bob@a.test"],          # AUTH without a smarthost or password
    ["bob@"],                                    # recipient without a domain
    ["@a.test"],                                 # recipient without a local part
    ["-f", "not an address", "bob@a.test"],
    ["-f"],                                      # option without its value
])
def test_bad_arguments_exit_64(netns, mxrelay_send, args):
    run = mxrelay_send(SENDER + args, expect.message())

    expect.exit_code(run, EX_USAGE)
    assert run.stderr.strip(), "a usage error says what is wrong on stderr\n" + run.describe()
    assert run.results == {}, run.describe()


def test_unreadable_input_file_is_an_error(netns, mxrelay_send, tmp_path):
    run = mxrelay_send(SENDER + ["-i", str(tmp_path / "missing.eml"), "bob@a.test"], b"")

    assert run.rc not in (EX_OK, EX_TEMPFAIL, EX_UNAVAILABLE) and run.rc != 0, run.describe()
    assert run.results == {}, run.describe()


def test_plain_output_without_json(one_mx, fakesmtp, mxrelay_send):
    fakesmtp("127.0.0.11")

    run = mxrelay_send(SENDER + ["bob@a.test"], expect.message(), json=False)

    expect.exit_code(run, EX_OK)
    assert "bob@a.test" in run.stdout + run.stderr, run.describe()


def test_quiet_prints_nothing_on_success(one_mx, fakesmtp, mxrelay_send):
    fakesmtp("127.0.0.11")

    run = mxrelay_send(SENDER + ["-q", "bob@a.test"], expect.message(), json=False)

    expect.exit_code(run, EX_OK)
    assert run.stdout == "", run.describe()


def test_options_may_follow_the_recipients(one_mx, fakesmtp, mxrelay_send, certs):
    # As GNU tools allow: "mxrelay send bob@a.test --tls none".
    mx = fakesmtp("127.0.0.11", starttls=True, cert=certs.self_signed("mx1.a.test"))

    run = mxrelay_send(SENDER + ["bob@a.test", "--tls", "none"], expect.message())

    expect.exit_code(run, EX_OK)
    expect.delivered(run, "bob@a.test")
    assert mx.commands("STARTTLS") == [], "--tls none after the recipient was taken"


def test_json_results_are_one_object_per_line(one_mx, fakesmtp, mxrelay_send):
    fakesmtp("127.0.0.11")

    run = mxrelay_send(SENDER + ["bob@a.test", "carol@a.test"], expect.message())

    expect.exit_code(run, EX_OK)
    results = [json.loads(l) for l in run.stdout.splitlines() if '"result"' in l]
    assert [r["rcpt"] for r in results] == ["bob@a.test", "carol@a.test"], "results in the order given"
    for r in results:
        for key in ("type", "rcpt", "domain", "status", "stage", "code", "esc", "text", "mx", "ip", "tls"):
            assert key in r, f"result without {key!r}: {r}"


def test_bracketed_smarthost_skips_mx_lookup(one_mx, fakesmtp, mxrelay_send):
    # b.test's MX is 127.0.0.21, but everything goes to the smarthost.
    hub = fakesmtp("127.0.0.31", port=2525)
    mx = fakesmtp("127.0.0.21")

    run = mxrelay_send(SENDER + ["--smarthost", "[127.0.0.31]:2525", "bob@a.test", "dave@b.test"],
                       expect.message())

    expect.exit_code(run, EX_OK)
    expect.delivered(run, "bob@a.test", ip="127.0.0.31")
    expect.delivered(run, "dave@b.test", ip="127.0.0.31")
    assert sorted(r for t in hub.messages for r in t.accepted) == ["bob@a.test", "dave@b.test"]
    expect.no_connection(mx)


def test_smarthost_auth_plain(one_mx, fakesmtp, certs, mxrelay_send):
    hub = fakesmtp("127.0.0.31", port=587, starttls=True, cert=certs.server("hub.test"),
                   auth="PLAIN LOGIN", auth_needs_tls=True)

    run = mxrelay_send(SENDER + ["--smarthost", "[127.0.0.31]:587", "--auth-user", "relayuser", "bob@a.test"],
                       expect.message(), env={"MXRELAY_AUTH_PASSWORD": "s3cret pass"})

    expect.exit_code(run, EX_OK)
    expect.delivered(run, "bob@a.test", tls=True)
    (auth,) = hub.commands("AUTH")
    words = auth.split()
    mech = words[1].upper()
    if mech == "PLAIN" and len(words) > 2:
        assert base64.b64decode(words[2]) == b"\0relayuser\0s3cret pass", auth
    assert "s3cret" not in run.stdout + run.stderr, "the password reached the output"


def test_smarthost_auth_password_file(one_mx, fakesmtp, certs, mxrelay_send, tmp_path):
    hub = fakesmtp("127.0.0.31", port=587, starttls=True, cert=certs.server("hub.test"), auth="PLAIN")
    pw = tmp_path / "pw"
    pw.write_text("from-a-file\n")
    pw.chmod(0o600)

    run = mxrelay_send(SENDER + ["--smarthost", "[127.0.0.31]:587", "--auth-user", "relayuser",
                                 "--auth-password-file", str(pw), "bob@a.test"], expect.message())

    expect.exit_code(run, EX_OK)
    (auth,) = hub.commands("AUTH")
    assert len(hub.messages) == 1


def test_smarthost_auth_rejected_defers_or_fails(one_mx, fakesmtp, certs, mxrelay_send):
    fakesmtp("127.0.0.31", port=587, starttls=True, cert=certs.server("hub.test"), auth="PLAIN",
             replies={"auth": "535 5.7.8 Authentication credentials invalid"})

    run = mxrelay_send(SENDER + ["--smarthost", "[127.0.0.31]:587", "--auth-user", "relayuser", "bob@a.test"],
                       expect.message(), env={"MXRELAY_AUTH_PASSWORD": "wrong"})

    res = run.result("bob@a.test")
    assert res["status"] in ("deferred", "failed") and res["stage"] == "auth", run.describe()
    assert res["code"] == 535, run.describe()


def test_address_literal_needs_no_dns(netns, fakesmtp, mxrelay_send):
    # No DNS server at all: [127.0.0.11] is the host itself (RFC 5321 4.1.3).
    srv = fakesmtp("127.0.0.11")

    run = mxrelay_send(SENDER + ["bob@[127.0.0.11]"], expect.message())

    expect.exit_code(run, EX_OK)
    expect.delivered(run, "bob@[127.0.0.11]", ip="127.0.0.11")
    assert srv.messages[0].accepted == ["bob@[127.0.0.11]"]


def test_duplicate_recipients_are_sent_once(one_mx, fakesmtp, mxrelay_send):
    srv = fakesmtp("127.0.0.11")

    run = mxrelay_send(SENDER + ["bob@a.test", "bob@a.test"], expect.message())

    expect.exit_code(run, EX_OK)
    assert [t.accepted for t in srv.messages] == [["bob@a.test"]], srv.describe()


# The default limits of `mxrelay send` (RFC 5321 4.5.3.2 where it gives one),
# in seconds, as --help states them and in the words of mxrelay(1).
SEND_TIMEOUTS = {
    "--connect-timeout": {"help": ["default 30"], "man": ["(default 30)"]},
    "--timeout": {"help": ["default 300", "DATA 120", "TLS 60"],
                  "man": ["5 minutes", "2 minutes for DATA", "1 minute for the TLS handshake"]},
    "--data-timeout": {"help": ["each block of message data (default 180)",
                                "the reply after its end (default 600)"],
                       "man": ["each block of the message", "the reply after its end",
                               "defaults 3 and 10 minutes"]},
}


def _help_entry(text, option):
    """The lines of --help for option: its own line and the indented lines after it."""
    lines = text.splitlines()
    start = next(i for i, l in enumerate(lines) if l.split()[:1] == [option])
    entry = [lines[start]]
    for line in lines[start + 1:]:
        if line.lstrip().startswith("-") or not line.strip():
            break
        entry.append(line)
    return " ".join(" ".join(entry).split())


def _man_entry(option):
    man = open(os.path.join(REPO, "man", "mxrelay.1")).read()
    roff = option.replace("-", "\\-")
    body = man.split(f".BI {roff} ", 1)[1].split(".TP", 1)[0]
    return " ".join(body.split("\n", 1)[1].split())


def test_help_and_man_page_state_the_same_timeouts(mxr_bin):
    p = subprocess.run([mxr_bin.mxrelay, "send", "--help"], capture_output=True, text=True,
                       timeout=30, env=sanitizer_env())
    assert p.returncode == 0, p.stderr
    for option, want in SEND_TIMEOUTS.items():
        got = _help_entry(p.stdout, option)
        for text in want["help"]:
            assert text in got, f"mxrelay send --help, {option}: {got!r} does not say {text!r}"
        got = _man_entry(option)
        for text in want["man"]:
            assert text in got, f"mxrelay(1), {option}: {got!r} does not say {text!r}"
