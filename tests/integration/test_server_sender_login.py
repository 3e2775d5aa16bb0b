"""Sender binding (sender_login, from_check): an authenticated user sends
only as the addresses its entry names, at MAIL FROM (553 5.7.1) and in the
From header at the end of DATA (550 5.7.1); clients of relay_networks are
bound only when the file names their network. Real clients: Python's
smtplib logging in on the submission port, and swaks."""

import shutil
import smtplib
import subprocess

import pytest

from daemon import Client, mxrelayd, queued_id  # noqa: F401  (mxrelayd is a fixture)

pytestmark = pytest.mark.netns

USERS = {"alice": "alice pw", "bob": "bob pw", "billing": "billing pw",
         "Carol@Example.ORG": "carol pw"}
SUBMISSION = "127.0.0.1:587 submission auth-plaintext"
LOGINS = """\
# who may send as whom
alice:   alice@example.org, @example.net
         Alice.Smith@example.org
billing: *
carol@example.org: carol@example.org
[127.0.0.2]: @app.example.org
"""


def bound_daemon(mxrelayd, tmp_path, extra="", logins=LOGINS):
    path = tmp_path / "sender_login"
    path.write_text(logins)
    path.chmod(0o644)
    tmp_path.chmod(0o755)
    return mxrelayd(auth_users=USERS, listen=["127.0.0.1:25 relay", "127.0.0.2:25 relay",
                                              SUBMISSION],
                    relay_networks="127.0.0.0/8",
                    conf_extra=f"sender_login = {path}\nretry_intervals = 1h\n"
                               f"smarthost = [127.0.0.99]:25\n{extra}")


def message(frm, subject="binding"):
    return (f"From: {frm}\r\nTo: <rcpt@elsewhere.test>\r\nSubject: {subject}\r\n\r\n"
            f"hello\r\n").encode()


def submit(user, sender, frm=None, port=587, host="127.0.0.1"):
    """Log in as user and send; the SMTP error, or None when the message was queued."""
    with smtplib.SMTP(host, port, timeout=30) as c:
        c.ehlo("client.test")
        if user is not None:
            c.login(user, USERS[user])
        try:
            c.sendmail(sender, ["rcpt@elsewhere.test"], message(frm or f"<{sender}>"))
        except smtplib.SMTPSenderRefused as e:
            return e.smtp_code, e.smtp_error.decode()
        except smtplib.SMTPDataError as e:
            return e.smtp_code, e.smtp_error.decode()
    return None


def test_alice_is_refused_as_someone_else_at_mail_from(mxrelayd, tmp_path):
    d = bound_daemon(mxrelayd, tmp_path)
    code, text = submit("alice", "ceo@bigbank.test")
    assert code == 553 and text.startswith("5.7.1 "), (code, text)
    assert "<ceo@bigbank.test>: Sender address rejected: not owned by user alice" in text, text
    assert not d.messages()
    line = [l for l in d.log().splitlines() if "event=mail" in l and "status=refused" in l]
    assert line and "code=553 dsn=5.7.1" in line[0], d.log()


@pytest.mark.parametrize("sender", ["alice@example.org", "ALICE@Example.Org",
                                    "anyone@example.net", "alice.smith@EXAMPLE.org"])
def test_alice_is_accepted_as_herself_and_at_her_domain(mxrelayd, tmp_path, sender):
    d = bound_daemon(mxrelayd, tmp_path)
    assert submit("alice", sender) is None
    (m,) = d.messages().values()
    assert m[0] == sender


def test_a_from_header_she_does_not_own_is_refused_at_the_end_of_data(mxrelayd, tmp_path):
    d = bound_daemon(mxrelayd, tmp_path)
    code, text = submit("alice", "alice@example.org", frm='"The CEO" <ceo@bigbank.test>')
    assert code == 550 and text.startswith("5.7.1 "), (code, text)
    assert "From header address <ceo@bigbank.test> rejected: not owned by user alice" in text
    # A second From address of someone else, folded onto the next line: refused too.
    code, _ = submit("alice", "alice@example.org",
                     frm="Alice <alice@example.org>,\r\n (the boss)\r\n ceo@bigbank.test")
    assert code == 550
    assert not d.messages()
    # Hers, with a display name, a comment and quoting: taken.
    assert submit("alice", "alice@example.org",
                  frm='"Smith, Alice" (work) <"alice"@Example.NET>') is None
    assert len(d.messages()) == 1


def test_from_check_off_leaves_the_header_alone(mxrelayd, tmp_path):
    d = bound_daemon(mxrelayd, tmp_path, extra="from_check = off")
    assert submit("alice", "alice@example.org", frm="<ceo@bigbank.test>") is None
    assert len(d.messages()) == 1
    # MAIL FROM is still bound.
    assert submit("alice", "ceo@bigbank.test")[0] == 553


def test_a_user_without_an_entry_owns_nothing_but_the_null_sender(mxrelayd, tmp_path):
    d = bound_daemon(mxrelayd, tmp_path)
    code, text = submit("bob", "bob@example.org")
    assert code == 553 and "not owned by user bob" in text, text
    # A bounce or a receipt from a user agent: the null path, its From still checked.
    assert submit("bob", "", frm="<bob@example.org>")[0] == 550
    assert not d.messages()


def test_a_service_account_may_send_as_anyone_and_logins_match_in_any_case(mxrelayd, tmp_path):
    d = bound_daemon(mxrelayd, tmp_path)
    assert submit("billing", "invoices@shop.test", frm="Shop <noreply@shop.test>") is None
    assert submit("Carol@Example.ORG", "carol@example.org") is None
    assert submit("Carol@Example.ORG", "alice@example.org")[0] == 553
    assert len(d.messages()) == 2


def test_relay_networks_clients_are_bound_only_when_their_network_is_named(mxrelayd, tmp_path):
    d = bound_daemon(mxrelayd, tmp_path)
    # 127.0.0.1: a trusted network not in the file: not bound.
    assert submit(None, "anything@anywhere.test", port=25) is None
    # 127.0.0.2 connects from 127.0.0.2: bound to @app.example.org.
    c = Client(host="127.0.0.2", source="127.0.0.2")
    c.reply()
    c.expect("EHLO app.test", 250)
    r = c.expect("MAIL FROM:<ceo@bigbank.test>", 553, "5.7.1")
    assert "not owned by client [127.0.0.2]" in r.text, r
    c.expect("MAIL FROM:<alerts@app.example.org>", 250)
    c.expect("RCPT TO:<ops@elsewhere.test>", 250)
    c.expect("DATA", 354)
    c.send(b"From: <alerts@app.example.org>\r\nSubject: up\r\n\r\nok\r\n.\r\n")
    queued_id(c.reply())
    c.expect("QUIT", 221)
    assert len(d.messages()) == 2


def test_swaks_as_alice(mxrelayd, tmp_path):
    if shutil.which("swaks") is None:
        pytest.skip("swaks is not installed")
    d = bound_daemon(mxrelayd, tmp_path)
    base = ["swaks", "--server", "127.0.0.1", "--port", "587", "--auth", "PLAIN",
            "--auth-user", "alice", "--auth-password", USERS["alice"], "--to",
            "rcpt@elsewhere.test", "--timeout", "20"]
    r = subprocess.run(base + ["--from", "ceo@bigbank.test"], capture_output=True, text=True,
                       timeout=60)
    assert r.returncode != 0 and "553 5.7.1" in r.stdout, r.stdout
    r = subprocess.run(base + ["--from", "alice@example.org", "--header",
                               "From: Alice <alice@example.org>"],
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stdout
    assert len(d.messages()) == 1


def test_a_bad_line_is_an_error_naming_the_file_and_line(mxr_bin, tmp_path):
    logins = tmp_path / "logins"
    logins.write_text("alice: alice@example.org\n\nbob: not an address here@\n")
    conf = tmp_path / "mxrelay.conf"
    conf.write_text(f"listen = 127.0.0.1:2525 relay\nqueue_dir = {tmp_path}/q\n"
                    f"sender_login = {logins}\n")
    r = subprocess.run([mxr_bin.mxrelay, "check-config", str(conf)], capture_output=True,
                       text=True, timeout=30)
    assert r.returncode == 78, r
    assert f"sender_login: {logins}:3: 'not' is not an address, @domain or *" in r.stderr, r.stderr
    logins.write_text("alice: a@example.org\nALICE: b@example.org\n")
    r = subprocess.run([mxr_bin.mxrelay, "check-config", str(conf)], capture_output=True,
                       text=True, timeout=30)
    assert r.returncode == 78 and f"{logins}:2: user ALICE is also at line 1" in r.stderr, r.stderr


def test_a_reload_takes_the_new_file(mxrelayd, tmp_path, mxr_bin):
    d = bound_daemon(mxrelayd, tmp_path)
    assert submit("bob", "bob@example.org")[0] == 553
    (tmp_path / "sender_login").write_text(LOGINS + "bob: bob@example.org\n")
    r = subprocess.run([mxr_bin.mxrelay, "reload", "-c", d.conf], capture_output=True, text=True,
                       timeout=60)
    assert r.returncode == 0, r.stderr
    assert submit("bob", "bob@example.org") is None
