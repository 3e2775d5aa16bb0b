"""DKIM signing by the daemon, end to end: alice submits on port 587 with
smtplib, mxrelayd signs with the dkim_sign keys of her From domain (RSA-2048
and Ed25519, made by `mxrelay dkim keygen`), and delivers to a real Postfix
MX offering STARTTLS with a test-CA certificate. What Postfix stored is then
checked by two verifiers that are not ours, dkimverify (python3-dkim) and
opendkim-testmsg (libopendkim), which find the keys in the test's nsd.
Mail that only passes through to relay_domains is never signed."""

import os
import smtplib
import subprocess

import pytest

from daemon import mxrelayd, wait_for  # noqa: F401  (mxrelayd is a fixture)
from mxtest.dkim import ZONE_LINE, opendkim_testmsg, with_resolv, write_resolv

pytestmark = pytest.mark.netns

MX = "127.0.0.11"
DOMAIN = "dkim.test"
USERS = {"alice": "alice pw"}
SUBMISSION = "127.0.0.1:587 submission auth-plaintext"
KEYS = {"rsa-sha256": "rsa2048", "ed25519-sha256": "ed"}


@pytest.fixture
def bed(dns, postfix, certs, mxr_bin, tmp_path):
    """Keys made by keygen and published by nsd, a Postfix MX for bob.test, and a resolv.conf."""
    keydir = tmp_path / "dkim"
    dns.zone(DOMAIN + ".")
    lines = []
    for alg, sel in KEYS.items():
        r = subprocess.run([mxr_bin.mxrelay, "dkim", "keygen", DOMAIN, sel, "--algorithm", alg,
                            "--dir", str(keydir)], capture_output=True, text=True, timeout=60)
        assert r.returncode == 0, r.stderr
        with open(keydir / f"{DOMAIN}.{sel}.txt") as f:
            m = ZONE_LINE.match(f.read())
        dns.record(m.group(1), "TXT", m.group(2).strip())
        conf_line = [l for l in r.stdout.splitlines() if l.startswith("dkim_sign = ")]
        assert conf_line, r.stdout
        lines.append(conf_line[0])
    dns.mx("bob.test", [(10, "mx.bob.test")]).a("mx.bob.test", MX)
    dns.start()
    pf = postfix(MX, domains=["bob.test"], cert=certs.server("mx.bob.test"),
                 main={"message_size_limit": "0", "mailbox_size_limit": "0",
                       "virtual_mailbox_limit": "0"})
    return {"pf": pf, "conf": "\n".join(lines), "resolv": write_resolv(tmp_path / "resolv.conf",
                                                                       dns.addr),
            "keydir": keydir, "tmp": tmp_path}


def relay(mxrelayd, certs, bed, extra=""):
    return mxrelayd(auth_users=USERS, certs=certs, listen=["127.0.0.1:25 relay", SUBMISSION],
                    relay_networks="192.0.2.0/24", relay_domains="bob.test",
                    conf_extra=f"dns_server = 127.0.0.53\nca_file = {certs.ca_file}\n"
                               f"dnssec_trust_anchor = none\n{bed['conf']}\n{extra}")


def crlf(msg):
    """A stored message (LF line ends) as it goes over SMTP."""
    return msg.replace(b"\r\n", b"\n").replace(b"\n", b"\r\n")


def verify(bed, msg, index):
    """dkimverify's verdict on the index-th signature: (ok, what it said)."""
    p = subprocess.run(with_resolv(bed["resolv"], ["/usr/bin/dkimverify", "--index", str(index)]),
                       input=msg, capture_output=True, timeout=300)
    said = (p.stdout + p.stderr).decode("utf-8", "replace").strip()
    return p.returncode == 0 and "signature ok" in said, said


def signatures(msg):
    """The a= of each DKIM-Signature, in order."""
    out = []
    for line in msg.split(b"\r\n"):
        if line.startswith(b"DKIM-Signature:"):
            out.append(line.split(b"a=")[1].split(b";")[0].decode())
    return out


def submit(raw, sender="alice@dkim.test", rcpts=("bob@bob.test",)):
    with smtplib.SMTP("127.0.0.1", 587, timeout=120) as c:
        c.login("alice", USERS["alice"])
        c.sendmail(sender, list(rcpts), raw)


def both_verify(bed, msg):
    """Every signature by dkimverify, and the message by opendkim-testmsg."""
    sigs = signatures(msg)
    assert sorted(sigs) == sorted(KEYS), f"signatures {sigs}, want one per key"
    for i, alg in enumerate(sigs):
        ok, said = verify(bed, msg, i)
        assert ok, f"dkimverify of the {alg} signature: {said}"
    tmpdir = bed["tmp"] / "testmsg"
    tmpdir.mkdir(exist_ok=True)
    ok, said = opendkim_testmsg(bed["resolv"], msg, tmpdir)
    assert ok, f"opendkim-testmsg: {said}"


FOLDED = ("From: Alice Example\r\n <alice@dkim.test>\r\n"
          "To: Bob <bob@bob.test>,\r\n\tCarol <carol@bob.test>\r\n"
          "Subject: A subject folded\r\n over  two\tlines\r\n"
          "Content-Type: text/plain;\r\n\tcharset=utf-8\r\n"
          "Content-Transfer-Encoding: 8bit\r\nMIME-Version: 1.0\r\n").encode()
BODY_8BIT = ("Grüße aus Zürich — naïve café  \r\n\tindented\r\n\r\n\r\n".encode()
             + b"Latin-1 \xe9t\xe9\r\n")


# The signatures are the queue's prefix (stored with the message, delivered first): on each backend.
@pytest.mark.parametrize("queue_backend", ["sqlite", "postgresql"], indirect=True)
def test_a_submission_is_signed_with_rsa_and_ed25519_and_verifies_at_the_mx(bed, mxrelayd,
                                                                            certs):
    d = relay(mxrelayd, certs, bed)
    # Folded headers, an 8-bit body, no Date or Message-ID (added, then signed), and a Bcc
    # (removed before signing).
    submit(FOLDED + b"Bcc: secret@bob.test\r\n\r\n" + BODY_8BIT, rcpts=("bob@bob.test",))
    (msg,) = bed["pf"].messages(count=1, wait=30)
    msg = crlf(msg)
    both_verify(bed, msg)
    assert b"Bcc:" not in msg and b"\r\nDate: " in msg and b"\r\nMessage-ID: <" in msg
    sig = msg[msg.index(b"DKIM-Signature:"):]
    assert b"c=relaxed/relaxed" in sig and b"d=dkim.test" in sig and b" l=" not in sig
    assert "event=dkim-signed domain=dkim.test selector=rsa2048 algorithm=rsa-sha256" in d.log()
    assert "event=dkim-signed domain=dkim.test selector=ed algorithm=ed25519-sha256" in d.log()


def test_a_changed_body_fails_verification(bed, mxrelayd, certs):
    relay(mxrelayd, certs, bed)
    submit(FOLDED + b"\r\n" + BODY_8BIT)
    (msg,) = bed["pf"].messages(count=1, wait=30)
    msg = crlf(msg)
    bad = msg.replace(b"indented", b"Indented", 1)
    assert bad != msg
    for i in range(2):
        ok, said = verify(bed, bad, i)
        assert not ok and "body hash" in said.lower(), said


@pytest.mark.parametrize("queue_backend", ["sqlite", "postgresql"], indirect=True)
def test_a_30_mib_submission_is_signed_as_it_streams(bed, mxrelayd, certs):
    d = relay(mxrelayd, certs, bed)
    line = b"0123456789 abcdefghij  klmnopqrst\tuvwxyz ABCDEFGHIJ KLMNOPQRST UVWXYZ 0123\r\n"
    body = line * (30 * 1024 * 1024 // len(line) + 1)
    submit(b"From: <alice@dkim.test>\r\nTo: <bob@bob.test>\r\nSubject: big\r\n\r\n" + body)
    (msg,) = bed["pf"].messages(count=1, wait=120)
    msg = crlf(msg)
    assert len(msg) > 30 * 1024 * 1024
    both_verify(bed, msg)
    d.check_clean_exit()


def test_a_from_below_the_domain_is_signed_by_the_domain(bed, mxrelayd, certs):
    relay(mxrelayd, certs, bed)
    submit(b"From: <news@letters.dkim.test>\r\nTo: <bob@bob.test>\r\nSubject: sub\r\n\r\nhi\r\n",
           sender="news@letters.dkim.test")
    (msg,) = bed["pf"].messages(count=1, wait=30)
    msg = crlf(msg)
    assert b"d=dkim.test;" in msg
    both_verify(bed, msg)


def test_mail_passing_through_to_relay_domains_is_not_signed(bed, mxrelayd, certs):
    d = relay(mxrelayd, certs, bed)
    # An Internet client (not in relay_networks, no AUTH) writing to a relay domain.
    with smtplib.SMTP("127.0.0.1", 25, timeout=60) as c:
        c.sendmail("alice@dkim.test", ["bob@bob.test"],
                   b"From: <alice@dkim.test>\r\nSubject: inbound\r\n\r\nhello\r\n")
    (msg,) = bed["pf"].messages(count=1, wait=30)
    assert b"DKIM-Signature" not in msg
    assert "dkim-signed" not in d.log()


def test_mail_from_a_domain_without_a_key_is_not_signed(bed, mxrelayd, certs):
    relay(mxrelayd, certs, bed)
    submit(b"From: <alice@elsewhere.test>\r\nSubject: no key\r\n\r\nhello\r\n",
           sender="alice@elsewhere.test")
    (msg,) = bed["pf"].messages(count=1, wait=30)
    assert b"DKIM-Signature" not in msg


def test_a_key_other_users_can_read_is_refused(bed, mxr_bin, tmp_path):
    key = bed["keydir"] / f"{DOMAIN}.ed.key"
    os.chmod(key, 0o644)
    conf = tmp_path / "mxrelay.conf"
    conf.write_text(f"listen = 127.0.0.1:2525 relay\nqueue_dir = {tmp_path}/q\n"
                    f"dkim_sign = {DOMAIN} ed {key}\n")
    r = subprocess.run([mxr_bin.mxrelay, "check-config", str(conf)], capture_output=True,
                       text=True, timeout=30)
    assert r.returncode == 78 and f"{conf}:3: dkim_sign: {key} can be read by every user (mode " \
        "0644): make it 0600 or 0640" in r.stderr, r.stderr
    os.chmod(key, 0o600)
    conf.write_text(conf.read_text() + f"dkim_sign = {DOMAIN} other {key} "
                    "algorithm=rsa-sha256\n")
    r = subprocess.run([mxr_bin.mxrelay, "check-config", str(conf)], capture_output=True,
                       text=True, timeout=30)
    assert r.returncode == 78, r.stderr
    assert f"{conf}:4: dkim_sign: algorithm=rsa-sha256, but {key} holds an Ed25519 key" \
        in r.stderr, r.stderr
    assert "PRIVATE KEY" not in r.stderr


def test_a_reload_reads_root_only_keys_again(bed, mxrelayd, certs, mxr_bin):
    """The keys are 0600 root's: the daemon (nobody after start) cannot read them; the
    reload's privileged helper does, and a key added by the reload signs."""
    d = relay(mxrelayd, certs, bed, extra="")
    conf = open(d.conf).read()
    # Only the Ed25519 key at first.
    with open(d.conf, "w") as f:
        f.write("\n".join(l for l in conf.splitlines() if " rsa2048 " not in l) + "\n")
    r = subprocess.run([mxr_bin.mxrelay, "reload", "-c", d.conf], capture_output=True, text=True,
                       timeout=60)
    assert r.returncode == 0, r.stderr
    submit(b"From: <alice@dkim.test>\r\nSubject: one\r\n\r\nhi\r\n")
    (msg,) = bed["pf"].messages(count=1, wait=30)
    assert signatures(crlf(msg)) == ["ed25519-sha256"]
    for key in bed["keydir"].iterdir():
        assert key.stat().st_mode & 0o077 == 0 or key.suffix == ".txt", key
    # Both again, read by the helper as root.
    with open(d.conf, "w") as f:
        f.write(conf)
    r = subprocess.run([mxr_bin.mxrelay, "reload", "-c", d.conf], capture_output=True, text=True,
                       timeout=60)
    assert r.returncode == 0, r.stderr
    submit(b"From: <alice@dkim.test>\r\nSubject: two\r\n\r\nhi\r\n")
    msgs = bed["pf"].messages(count=2, wait=30)
    both_verify(bed, crlf(msgs[-1]))
