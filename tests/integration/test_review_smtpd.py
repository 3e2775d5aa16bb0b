"""mxrelayd server sessions fed exact bytes: what a client sends must not
forge log fields, desynchronise replies or outlive STARTTLS."""

import base64
import ssl

import pytest

from daemon import Client, mxrelayd  # noqa: F401

pytestmark = pytest.mark.netns

USERS = {"alice": "correct horse"}
SUBMISSION = "127.0.0.1:587 submission auth-plaintext"


def plain(user, pw):
    return base64.b64encode(f"\0{user}\0{pw}".encode()).decode()


def tls_ctx(certs):
    ctx = ssl.create_default_context(cafile=certs.ca_file)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    return ctx


def test_helo_quotes_escaped_in_log(mxrelayd):
    """A '"' or '\\' in the HELO name cannot end the helo="..." field of the log line."""
    d = mxrelayd()
    c = Client()
    c.reply()
    c.expect('EHLO x"status=forged\\', 250)
    c.expect("QUIT", 221)
    c.close()
    lines = [l for l in d.log().splitlines() if "event=helo" in l]
    assert lines, d.log()
    got = lines[-1].split("helo=", 1)[1]
    assert got == '"x\\"status=forged\\\\"', f"got helo={got}, want the quote and backslash escaped"


def test_overlong_auth_response_ends_exchange(mxrelayd):
    """After "500 Line too long" for an AUTH response, the next line is a command again."""
    mxrelayd(auth_users=USERS, listen=["127.0.0.1:25 relay", SUBMISSION])
    c = Client(port=587)
    c.reply()
    c.expect("EHLO client.test", 250)
    c.expect("AUTH PLAIN", 334)
    c.send(b"A" * 5000 + b"\r\n")
    r = c.reply()
    assert r.code == 500, f"overlong response: got {r}, want 500"
    c.expect("NOOP", 250, "2.0.0")
    c.expect("AUTH PLAIN " + plain("alice", "correct horse"), 235, "2.7.0")
    c.expect("QUIT", 221)


def test_starttls_discards_auth(mxrelayd, certs):
    """RFC 3207 4.2: an AUTH done in clear does not survive STARTTLS."""
    d = mxrelayd(certs=certs, auth_users=USERS, relay_networks="192.0.2.0/24",
                 listen=["127.0.0.1:25 relay", SUBMISSION])
    c = Client(port=587)
    c.reply()
    c.expect("EHLO client.test", 250)
    c.expect("AUTH PLAIN " + plain("alice", "correct horse"), 235, "2.7.0")
    c.expect("STARTTLS", 220, "2.0.0")
    c.starttls(tls_ctx(certs))
    r = c.expect("EHLO client.test", 250)
    assert "AUTH PLAIN LOGIN" in r.lines, f"EHLO after STARTTLS: got {r.lines}, want AUTH offered again"
    c.expect("MAIL FROM:<a@b.test>", 530, "5.7.0")
    c.expect("AUTH PLAIN " + plain("alice", "correct horse"), 235, "2.7.0")
    c.expect("MAIL FROM:<a@b.test>", 250)
    c.expect("RCPT TO:<x@elsewhere.test>", 250, "2.1.5")
    c.expect("QUIT", 221)
    assert "correct horse" not in d.log()


def test_refused_bdat_chunk_returns_to_the_command_timeout(mxrelayd):
    """After a BDAT chunk that is read and refused, an idle client is timed out
    by command_timeout, not by the longer data_timeout."""
    mxrelayd(conf_extra="command_timeout = 10s\ndata_timeout = 60s\n")
    c = Client(timeout=30)
    c.reply()
    c.expect("EHLO client.test", 250)
    c.send(b"BDAT 5\r\nhello")          # no MAIL yet: the chunk is read, then refused
    r = c.reply()
    assert r.code == 503, r
    r = c.reply()                       # idle: 421 after command_timeout
    assert r.code == 421 and r.esc == "4.4.2", r
