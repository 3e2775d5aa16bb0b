"""REQUIRETLS on the server side (RFC 8689 3, 4.1): offered only once the
session is encrypted, taken on MAIL FROM only there, kept with the
message; and the "TLS-Required: No" header field kept with the message
for the delivery to honour."""

import json
import os
import sqlite3
import ssl
import subprocess

import pytest

from daemon import Client, mxrelayd, queued_id  # noqa: F401  (mxrelayd is a fixture)

pytestmark = pytest.mark.netns


def tls_ctx():
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    return ctx


def flags(d, qid):
    db = sqlite3.connect(f"file:{os.path.join(d.queue_dir, 'queue.db')}?mode=ro", uri=True)
    try:
        return db.execute("SELECT requiretls, tls_optional FROM messages WHERE id = ?",
                          (qid,)).fetchone()
    finally:
        db.close()


def test_requiretls_is_offered_only_after_starttls(mxrelayd, certs):
    mxrelayd(certs=certs)
    c = Client()
    c.reply()
    before = c.expect("EHLO client.test", 250)
    assert "REQUIRETLS" not in before.lines, before
    c.expect("STARTTLS", 220)
    c.starttls(tls_ctx())
    after = c.expect("EHLO client.test", 250)
    assert "REQUIRETLS" in after.lines, after
    c.close()


def test_requiretls_in_clear_text_is_refused_5_7_10(mxrelayd, certs):
    mxrelayd(certs=certs)
    c = Client()
    c.reply()
    c.expect("EHLO client.test", 250)
    r = c.expect("MAIL FROM:<alice@sender.test> REQUIRETLS", 530, esc="5.7.10")
    assert "STARTTLS" in r.text, r
    # The session goes on: the same sender without the parameter is taken.
    c.expect("MAIL FROM:<alice@sender.test>", 250)
    c.close()


@pytest.mark.parametrize("param, want", [("REQUIRETLS=yes", 501), ("REQUIRETLS REQUIRETLS", 501)])
def test_requiretls_takes_no_value_and_comes_once(mxrelayd, certs, param, want):
    mxrelayd(certs=certs)
    c = Client()
    c.reply()
    c.expect("EHLO client.test", 250)
    c.expect("STARTTLS", 220)
    c.starttls(tls_ctx())
    c.expect("EHLO client.test", 250)
    c.expect(f"MAIL FROM:<alice@sender.test> {param}", want, esc="5.5.4")
    c.close()


def submit(c, extra_mail="", header=""):
    c.expect(f"MAIL FROM:<alice@sender.test>{extra_mail}", 250)
    c.expect("RCPT TO:<bob@example.test>", 250)
    c.expect("DATA", 354)
    c.send(f"From: <alice@sender.test>\r\n{header}Subject: s\r\n\r\nbody\r\n.\r\n")
    return queued_id(c.reply())


def test_the_message_keeps_requiretls_and_tls_required_no(mxrelayd, certs, mxr_bin):
    d = mxrelayd(certs=certs, conf_extra="retry_intervals = 1h\nsmarthost = [127.0.0.99]:25 tls=verify")
    c = Client()
    c.reply()
    c.expect("EHLO client.test", 250)
    c.expect("STARTTLS", 220)
    c.starttls(tls_ctx())
    c.expect("EHLO client.test", 250)
    strict = submit(c, " REQUIRETLS")
    relaxed = submit(c, header="TLS-Required: No\r\n")
    # RFC 8689 4.1: with REQUIRETLS the header field is ignored.
    both = submit(c, " REQUIRETLS", header="TLS-Required: No\r\n")
    plain = submit(c)
    c.close()
    assert flags(d, strict) == (1, 0)
    assert flags(d, relaxed) == (0, 1)
    assert flags(d, both) == (1, 0)
    assert flags(d, plain) == (0, 0)
    assert "requiretls=yes" in d.log()
    # What the administrator sees of it.
    def show(qid, *opt):
        r = subprocess.run([mxr_bin.mxrelay, "queue", "show", *opt, qid, "-c", d.conf],
                           capture_output=True, text=True, timeout=30)
        assert r.returncode == 0, r.stderr
        return r.stdout
    assert "tls:       REQUIRETLS" in show(strict)
    assert "tls:       TLS-Required: No" in show(relaxed)
    assert "tls:" not in show(plain)
    j = json.loads(show(strict, "--json"))
    assert (j["requiretls"], j["tls_optional"]) == (True, False)
    j = json.loads(show(relaxed, "--json"))
    assert (j["requiretls"], j["tls_optional"]) == (False, True)
