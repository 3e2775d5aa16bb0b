"""The header section of a submission (RFC 6409 8): a Bcc field never
reaches a recipient, and an authenticated or local submission without Date
or Message-ID gets them; mail merely passing through to relay_domains is
stored as it came. Real clients: smtplib sending bytes with LF line ends,
and sendmail on the local socket."""

import email.utils
import smtplib
import subprocess

import pytest

from daemon import Client, mxrelayd, queued_id, split_received  # noqa: F401

pytestmark = pytest.mark.netns

USERS = {"alice": "alice pw"}
SUBMISSION = "127.0.0.1:587 submission auth-plaintext"


@pytest.fixture
def relay(mxrelayd):
    return mxrelayd(auth_users=USERS, listen=["127.0.0.1:25 relay", SUBMISSION],
                    relay_networks="127.0.0.0/8", relay_domains="example.test",
                    conf_extra="retry_intervals = 1h\nsmarthost = [127.0.0.99]:25\n")


def stored(d, qid):
    """The header fields (name, raw value) and body of a stored message, Received set aside."""
    _, text = split_received(d.message(qid)[2])
    head, _, body = text.partition(b"\r\n\r\n")
    head = head.removesuffix(b"\r\n")
    fields = []
    for line in head.split(b"\r\n"):
        if line[:1] in (b" ", b"\t"):
            fields[-1] = (fields[-1][0], fields[-1][1] + b"\r\n" + line)
        else:
            name, _, value = line.partition(b":")
            fields.append((name.decode().lower(), value))
    return fields, body


def names(fields):
    return [n for n, _ in fields]


def send_authenticated(raw, rcpts=("to@elsewhere.test", "hidden@elsewhere.test")):
    with smtplib.SMTP("127.0.0.1", 587, timeout=30) as c:
        c.login("alice", USERS["alice"])
        c.sendmail("alice@example.org", list(rcpts), raw)
        return c.noop()


def last_id(d):
    return max(d.messages())


def test_an_authenticated_submission_gets_date_and_message_id_and_loses_bcc(relay):
    # smtplib sends bytes as given: LF line ends, as many applications do.
    raw = (b"From: Alice <alice@example.org>\nTo: to@elsewhere.test\n"
           b"Bcc: hidden@elsewhere.test,\n  other@elsewhere.test\nSubject: hi\n\nbody\n")
    send_authenticated(raw)
    qid = last_id(relay)
    fields, body = stored(relay, qid)
    assert names(fields) == ["from", "to", "subject", "date", "message-id"], fields
    value = dict(fields)
    assert email.utils.parsedate_to_datetime(value["date"].decode().strip()) is not None
    assert value["message-id"].strip() == f"<{qid}@mx.relay.test>".encode(), value["message-id"]
    # smtplib ends the text with CRLF before the dot: one more (empty) line.
    assert body == b"body\r\n\r\n"
    # The Bcc recipient still gets the message: only the field is gone.
    assert relay.message(qid)[1] == ["to@elsewhere.test", "hidden@elsewhere.test"]


def test_a_submission_that_has_them_is_left_as_it_came(relay):
    raw = (b"Date: Mon, 7 Dec 2026 10:00:00 +0000\r\nMessage-ID: <own@example.org>\r\n"
           b"From: <alice@example.org>\r\nSubject: kept\r\n\r\nbody\r\n")
    send_authenticated(raw)
    _, text = split_received(relay.message(last_id(relay))[2])
    assert text == raw


def test_a_message_that_is_all_header_gets_its_fields_after_the_last_line(relay):
    c = Client(port=587)
    c.reply()
    c.expect("EHLO client.test", 250)
    c.expect("AUTH PLAIN AGFsaWNlAGFsaWNlIHB3", 235)
    c.expect("MAIL FROM:<alice@example.org>", 250)
    c.expect("RCPT TO:<to@elsewhere.test>", 250)
    c.expect("DATA", 354)
    c.send(b"Subject: no body\r\nBcc: x@elsewhere.test\r\n.\r\n")
    qid = queued_id(c.reply())
    fields, body = stored(relay, qid)
    assert names(fields) == ["subject", "date", "message-id"], fields
    assert body == b""


def test_relay_networks_clients_lose_bcc_but_get_no_fields_added(relay):
    c = Client()
    c.reply()
    c.expect("EHLO app.test", 250)
    c.expect("MAIL FROM:<app@example.org>", 250)
    c.expect("RCPT TO:<to@elsewhere.test>", 250)
    text = b"Subject: from an app\r\nBcc: x@elsewhere.test\r\n\r\nbody\r\n"
    c.send(b"BDAT %d LAST\r\n" % len(text) + text)
    qid = queued_id(c.reply())
    fields, _ = stored(relay, qid)
    assert names(fields) == ["subject"], fields


def test_mail_passing_through_to_relay_domains_is_stored_as_it_came(mxrelayd):
    d = mxrelayd(relay_networks="192.0.2.0/24", relay_domains="example.test",
                 conf_extra="retry_intervals = 1h\nsmarthost = [127.0.0.99]:25\n")
    raw = b"From: <someone@far.test>\r\nBcc: <bob@example.test>\r\nSubject: in\r\n\r\nbody\r\n"
    with smtplib.SMTP("127.0.0.1", 25, timeout=30) as c:
        c.sendmail("someone@far.test", ["bob@example.test"], raw)
    _, text = split_received(d.message(last_id(d))[2])
    assert text == raw


def test_a_header_section_past_a_mebibyte_is_refused_for_a_submission(relay):
    big = b"".join(b"X-Filler-%d: %s\r\n" % (i, b"x" * 900) for i in range(1200))
    with smtplib.SMTP("127.0.0.1", 587, timeout=60) as c:
        c.login("alice", USERS["alice"])
        with pytest.raises(smtplib.SMTPDataError) as e:
            c.sendmail("alice@example.org", ["to@elsewhere.test"], big + b"\r\nbody\r\n")
    assert e.value.smtp_code == 552 and e.value.smtp_error.startswith(b"5.3.4 "), e.value
    assert not relay.messages()


def test_sendmail_on_the_local_socket_gets_date_and_message_id(relay, mxr_bin):
    raw = b"From: root\nTo: to@elsewhere.test\nBcc: hidden@elsewhere.test\nSubject: cron\n\nok\n"
    r = subprocess.run([mxr_bin.mxrelay, "sendmail", "-C", relay.conf, "-t", "-i"], input=raw,
                       capture_output=True, timeout=60)
    assert r.returncode == 0, r.stderr
    fields, _ = stored(relay, last_id(relay))
    assert names(fields)[:3] == ["from", "to", "subject"], fields
    assert "bcc" not in names(fields) and "date" in names(fields) and "message-id" in names(fields)
