"""DKIM signatures made by lib/dkim, checked by verifiers that are not ours.

tests/tools/mxr_dkimsign (built with the tests, beside mxrelay) signs a
message read on stdin the way the daemon will: the header section whole,
the body streamed through dkim_body in pieces of changing sizes. The keys
come from `mxrelay dkim keygen` (RSA-2048 and Ed25519); the TXT records it
writes are published by nsd in the test's network namespace, and two
independent verifiers look them up there:

  - dkimverify of python3-dkim (dkimpy; Ed25519 through python3-nacl),
  - opendkim-testmsg of opendkim-tools (libopendkim).

Both read /etc/resolv.conf; mxtest/dkim.py runs them in a mount
namespace of their own where a resolv.conf naming the test's nsd is
bound over it (what `ip netns exec` does with /etc/netns/NAME/).

Each message is signed with each key and must verify with both; a body
octet changed after signing, a signed header changed, or a From added
above the signed one must fail with both, and a Received field added in
transit must not.
"""

import os
import subprocess

import pytest

from conftest import sanitizer_env, sanitizer_report
from mxtest.dkim import ZONE_LINE, dkimverify, opendkim_testmsg, write_resolv

pytestmark = pytest.mark.netns

DOMAIN = "dkim.test"
# Selector per algorithm.
SELECTORS = {"rsa-sha256": "rsa2048", "ed25519-sha256": "ed"}
# The time the signatures carry (t=): fixed, so runs compare.
T = "1767225600"


def tool(mxr_bin, name):
    path = os.path.join(mxr_bin.dir, name)
    if not os.access(path, os.X_OK):
        pytest.fail(f"no {path}: build the tests (make asan) or set MXR_BIN to a test build")
    return path


def run_checked(argv, stdin=b"", timeout=120, env=None):
    """Run one of our programs; fail on a sanitizer report; (rc, stdout, stderr)."""
    p = subprocess.run(argv, input=stdin, capture_output=True, timeout=timeout,
                       env=env or sanitizer_env())
    err = p.stderr.decode("utf-8", "replace")
    report = sanitizer_report(err)
    assert report is None, f"sanitizer report from {argv}:\n{report}"
    return p.returncode, p.stdout, err


def keygen(mxr_bin, keydir, alg):
    """A key made by `mxrelay dkim keygen`: its file and the TXT strings of its .txt line."""
    sel = SELECTORS[alg]
    rc, out, err = run_checked([mxr_bin.mxrelay, "dkim", "keygen", DOMAIN, sel,
                                "--algorithm", alg, "--dir", str(keydir)])
    assert rc == 0, f"mxrelay dkim keygen {alg}: exit {rc}: {err}"
    keyfile = os.path.join(keydir, f"{DOMAIN}.{sel}.key")
    with open(os.path.join(keydir, f"{DOMAIN}.{sel}.txt")) as f:
        line = f.read()
    m = ZONE_LINE.match(line)
    assert m, f"the .txt file is not one zone-file line as expected: {line!r}"
    assert m.group(1) == f"{sel}._domainkey.{DOMAIN}"
    assert line.rstrip("\n") in out.decode(), "keygen did not print the record it wrote"
    return {"alg": alg, "selector": sel, "keyfile": keyfile, "owner": m.group(1),
            "strings": m.group(2).strip()}


@pytest.fixture(scope="module")
def keys(mxr_bin, tmp_path_factory):
    keydir = tmp_path_factory.mktemp("dkimkeys") / "keys"
    return {alg: keygen(mxr_bin, keydir, alg) for alg in SELECTORS}


@pytest.fixture
def resolv(dns, keys, tmp_path):
    """nsd publishing both keys' records; the resolv.conf that names it."""
    dns.zone(DOMAIN + ".")
    for k in keys.values():
        dns.record(k["owner"], "TXT", k["strings"])
    dns.start()
    return write_resolv(tmp_path / "resolv.conf", dns.addr)


def sign(mxr_bin, key, msg):
    rc, out, err = run_checked([tool(mxr_bin, "mxr_dkimsign"), "-t", T, key["keyfile"], DOMAIN,
                                key["selector"]], stdin=msg)
    assert rc == 0, f"mxr_dkimsign {key['alg']}: exit {rc}: {err}"
    assert out.startswith(b"DKIM-Signature: v=1; a=" + key["alg"].encode() + b";"), out[:200]
    assert out.endswith(msg), "the message after the signature is not the message signed"
    return out


def verdicts(resolv, signed, tmp_path):
    """Both verifiers' (ok, what it said), by name."""
    tmpdir = tmp_path / "testmsg"
    tmpdir.mkdir(exist_ok=True)
    return {"dkimverify": dkimverify(resolv, signed),
            "opendkim-testmsg": opendkim_testmsg(resolv, signed, tmpdir)}


def header(*extra, subject="Quarterly figures"):
    lines = ["From: Alice Example <alice@dkim.test>", "To: Bob <bob@example.net>",
             f"Subject: {subject}", "Date: Thu, 1 Jan 2026 00:00:00 +0000",
             "Message-ID: <20260101000000.1@dkim.test>", "MIME-Version: 1.0", *extra]
    return "".join(line + "\r\n" for line in lines).encode()


def text_lines(n, seed=1):
    """n lines of text with single and double spaces, tabs and trailing blanks, as bytes."""
    words = [b"mail", b"relay", b"figure", b"quarter", b"the", b"of", b"signature", b"a",
             b"domain", b"key", b"selector", b"header", b"body"]
    out = []
    x = seed
    for i in range(n):
        parts = []
        for j in range(8 + i % 5):
            x = (x * 1103515245 + 12345) & 0x7FFFFFFF
            parts.append(words[x % len(words)])
        gap = b"  " if i % 7 == 0 else b"\t" if i % 11 == 0 else b" "
        line = gap.join(parts)
        if i % 13 == 0:
            line += b"  \t"
        out.append(line + b"\r\n")
    return b"".join(out)


def message_1k():
    body = text_lines(18)
    assert 900 <= len(body) <= 1200
    return header("Content-Type: text/plain; charset=us-ascii") + b"\r\n" + body


def message_folded():
    h = ("From: Alice Example\r\n <alice@dkim.test>\r\n"
         "To: Bob <bob@example.net>,\r\n\tCarol <carol@example.net>,\r\n   Dave <dave@example.net>\r\n"
         "Cc:\r\n erin@example.net\r\n"
         "Subject: A subject folded\r\n over three\r\n\tlines  with   runs of   spaces\r\n"
         "Date: Thu, 1 Jan 2026 00:00:00 +0000\r\n"
         "Message-ID: <20260101000000.2@dkim.test>\r\n"
         "References: <a@example.net>\r\n <b@example.net>\r\n <c@example.net>\r\n"
         "X-Unsigned: stays out of h=\r\n"
         "Content-Type: text/plain;\r\n\tcharset=us-ascii;\r\n\tformat=flowed\r\n")
    return h.encode() + b"\r\n" + text_lines(6)


def message_8bit():
    body = ("Grüße aus Zürich, ça va ? 日本語のテキスト\r\n".encode()
            + b"Latin-1: \xe9t\xe9, \xfcber, na\xefve \xa9 \xff\r\n"
            + "mixed  UTF-8\tand  spaces: naïve café \r\n".encode())
    return (header("Content-Type: text/plain; charset=utf-8", "Content-Transfer-Encoding: 8bit",
                   subject="Gr\u00fc\u00dfe \u2014 8-bit")
            + b"\r\n" + body)


def message_oddities():
    body = (b"  leading spaces\r\n"
            b"\tleading tab\r\n"
            b"trailing spaces   \r\n"
            b"trailing tab\t\r\n"
            b"runs  of \t spaces\t\tand tabs\r\n"
            b"\r\n"
            b" \t \r\n"
            b".\r\n"
            b"..dots\r\n"
            b"last line with content \t \r\n"
            b"\r\n\r\n \r\n\t\r\n\r\n")
    return header() + b"\r\n" + body


def message_30mib():
    block = text_lines(2000, seed=7)
    n = 30 * 1024 * 1024 // len(block) + 1
    return header("Content-Type: text/plain; charset=us-ascii") + b"\r\n" + block * n


MESSAGES = {
    "1k": message_1k,
    "folded": message_folded,
    "8bit": message_8bit,
    "oddities": message_oddities,
    "30mib": message_30mib,
}


@pytest.mark.parametrize("alg", list(SELECTORS))
@pytest.mark.parametrize("kind", list(MESSAGES))
def test_signature_verifies(mxr_bin, keys, resolv, tmp_path, alg, kind):
    signed = sign(mxr_bin, keys[alg], MESSAGES[kind]())
    got = verdicts(resolv, signed, tmp_path)
    for verifier, (ok, said) in got.items():
        assert ok, (f"{kind} signed with {alg}: {verifier} got a failure, want a pass: {said}\n"
                    f"signature:\n{signed[:signed.index(b'From:')].decode()}")


def test_unsigned_message_fails(resolv, tmp_path):
    """What "pass" means: neither verifier passes a message without a signature."""
    got = verdicts(resolv, message_1k(), tmp_path)
    for verifier, (ok, said) in got.items():
        assert not ok, f"{verifier} passes an unsigned message: {said}"
    assert "No signature" in got["opendkim-testmsg"][1], got


def tamper_body(signed):
    at = signed.index(b"\r\n\r\n") + 4
    at = signed.index(b"figure", at)
    return signed[:at] + b"F" + signed[at + 1:]


def tamper_header(signed):
    return signed.replace(b"Subject: Quarterly figures", b"Subject: Quarterly figurez", 1)


def add_from(signed):
    at = signed.index(b"\r\nFrom: ") + 2
    return signed[:at] + b"From: Mallory <mallory@evil.example>\r\n" + signed[at:]


def add_received(signed):
    return b"Received: from relay.example.net by mx.example.net; Thu, 1 Jan 2026 00:00:01 +0000\r\n" + signed


# What each verifier must say of a changed message: a pass, or a failure
# for one of the reasons given (anything else, such as a DNS error, is no
# verdict). libopendkim refuses a header with two From fields as
# malformed before it gets to the signature; dkimpy's failure there is
# the over-signed From at work (without it the added field is ignored).
BAD_SIGNATURE = {"dkimverify": ("signature verification failed",),
                 "opendkim-testmsg": ("Bad signature",)}
BAD_BODY = {"dkimverify": ("body hash mismatch",), "opendkim-testmsg": ("Bad signature",)}
TWO_FROM = {"dkimverify": ("signature verification failed",),
            "opendkim-testmsg": ("Bad signature", "Syntax error")}
CHANGES = {
    "body octet changed": (tamper_body, BAD_BODY),
    "signed header changed": (tamper_header, BAD_SIGNATURE),
    "From added above": (add_from, TWO_FROM),
    "Received added in transit": (add_received, None),
}


@pytest.mark.parametrize("alg", list(SELECTORS))
@pytest.mark.parametrize("change", list(CHANGES))
def test_changed_after_signing(mxr_bin, keys, resolv, tmp_path, alg, change):
    fn, reasons = CHANGES[change]
    signed = sign(mxr_bin, keys[alg], message_1k())
    changed = fn(signed)
    assert changed != signed
    got = verdicts(resolv, signed, tmp_path)
    assert all(ok for ok, _ in got.values()), f"the unchanged message does not verify: {got}"
    got = verdicts(resolv, changed, tmp_path)
    for verifier, (ok, said) in got.items():
        if reasons is None:
            assert ok, f"{change} ({alg}): {verifier} got a failure, want a pass: {said}"
            continue
        assert not ok, f"{change} ({alg}): {verifier} got a pass, want a failure"
        assert any(r in said for r in reasons[verifier]), (
            f"{change} ({alg}): {verifier} failed for another reason than {reasons[verifier]}: "
            f"{said[-500:]}")
