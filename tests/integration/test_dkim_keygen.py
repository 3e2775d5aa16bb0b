"""`mxrelay dkim keygen`: the key file and the record file it makes, their
modes, that it never replaces a file, the arguments it refuses, what it
prints, and that the record it prints verifies mail signed with its key:
published by nsd in the test's network namespace, a message signed with
the key (tests/tools/mxr_dkimsign) passes python3-dkim's dkimverify."""

import os
import re
import stat
import subprocess

import pytest

from conftest import REPO, sanitizer_env, sanitizer_report
from mxtest.dkim import ZONE_LINE, dkimverify, write_resolv
from mxtest.expect import message

EX_USAGE = 64
EX_CANTCREAT = 73


def keygen(mxr_bin, *args):
    """Run `mxrelay dkim ARGS`: (rc, stdout, stderr), failing on a sanitizer report."""
    p = subprocess.run([mxr_bin.mxrelay, "dkim", *args], capture_output=True, timeout=120,
                       env=sanitizer_env())
    out, err = p.stdout.decode(), p.stderr.decode()
    report = sanitizer_report(err)
    assert report is None, f"sanitizer report from mxrelay dkim {args}:\n{report}"
    return p.returncode, out, err


def mode(path):
    return stat.S_IMODE(os.stat(path).st_mode)


def listing(d):
    return sorted(os.listdir(d)) if os.path.isdir(d) else []


@pytest.mark.parametrize("alg,bits,want_type", [
    ("rsa-sha256", None, "RSA-2048"),
    ("rsa-sha256", "3072", "RSA-3072"),
    ("ed25519-sha256", None, "ED25519"),
])
def test_files_and_modes(mxr_bin, tmp_path, alg, bits, want_type):
    d = tmp_path / "dkim"
    args = ["keygen", "example.com", "mail2026", "--algorithm", alg, "--dir", str(d)]
    if bits:
        args += ["--bits", bits]
    rc, out, err = keygen(mxr_bin, *args)
    assert rc == 0, f"exit {rc}: {err}"
    key, txt = d / "example.com.mail2026.key", d / "example.com.mail2026.txt"
    assert listing(d) == [key.name, txt.name], "files other than the key and the record (a temporary left?)"
    assert mode(d) == 0o700, f"the directory made: mode got {oct(mode(d))}, want 0o700"
    assert mode(key) == 0o600, f"{key.name}: mode got {oct(mode(key))}, want 0o600"
    assert mode(txt) == 0o644, f"{txt.name}: mode got {oct(mode(txt))}, want 0o644"
    pem = key.read_text()
    assert pem.startswith("-----BEGIN PRIVATE KEY-----\n"), "the key is not PKCS#8 PEM"
    # OpenSSL reads it and agrees on its type and size.
    p = subprocess.run(["openssl", "pkey", "-in", str(key), "-noout", "-text"], capture_output=True,
                       text=True)
    assert p.returncode == 0, p.stderr
    first = p.stdout.splitlines()[0]
    if want_type.startswith("RSA"):
        assert f"({want_type[4:]} bit" in first, f"openssl says {first!r}, want {want_type}"
    else:
        assert first.startswith("ED25519 Private-Key"), f"openssl says {first!r}"
    # The record file is one zone-file line of strings of at most 255 octets.
    line = txt.read_text()
    m = ZONE_LINE.match(line)
    assert m, f"not a zone-file line: {line!r}"
    assert m.group(1) == "mail2026._domainkey.example.com"
    strings = re.findall(r'"([^"]*)"', m.group(2))
    assert all(1 <= len(s) <= 255 for s in strings), [len(s) for s in strings]
    data = "".join(strings)
    k = "rsa" if alg == "rsa-sha256" else "ed25519"
    assert data.startswith(f"v=DKIM1; k={k}; p="), data
    # It prints the record, the configuration line, and never the key.
    assert line in out, f"the record printed is not the file's:\n{out}"
    conf = f"dkim_sign = example.com mail2026 {os.path.realpath(key)} algorithm={alg}"
    assert conf in out.splitlines(), f"got:\n{out}\nwant a line {conf!r}"
    assert "PRIVATE" not in out + err and pem.splitlines()[1] not in out + err


def test_never_replaces(mxr_bin, tmp_path):
    d = tmp_path / "dkim"
    rc, _, err = keygen(mxr_bin, "keygen", "example.com", "s1", "--dir", str(d))
    assert rc == 0, err
    key, txt = d / "example.com.s1.key", d / "example.com.s1.txt"
    before = (key.read_bytes(), txt.read_bytes())
    for alg in ("rsa-sha256", "ed25519-sha256"):
        rc, out, err = keygen(mxr_bin, "keygen", "example.com", "s1", "-a", alg, "--dir", str(d))
        assert rc == EX_CANTCREAT, f"a second keygen: exit got {rc}, want {EX_CANTCREAT}: {err}"
        assert "exists" in err and "not replaced" in err, err
        assert out == ""
    assert (key.read_bytes(), txt.read_bytes()) == before, "a file was changed"
    assert listing(d) == [key.name, txt.name]
    # The record alone there: refused too, and no key is made beside it.
    key.unlink()
    rc, _, err = keygen(mxr_bin, "keygen", "example.com", "s1", "--dir", str(d))
    assert rc == EX_CANTCREAT, err
    assert listing(d) == [txt.name]
    # A name taken by a link (to a file or to nowhere) is not followed or replaced either.
    os.symlink("/nonexistent", d / "example.com.s2.key")
    rc, _, err = keygen(mxr_bin, "keygen", "example.com", "s2", "--dir", str(d))
    assert rc == EX_CANTCREAT, err
    assert not os.path.exists("/nonexistent")


def test_domain_made_a_labels(mxr_bin, tmp_path):
    d = tmp_path / "dkim"
    rc, out, err = keygen(mxr_bin, "keygen", "B\u00fccher.Example.", "s", "-a", "ed25519-sha256",
                          "--dir", str(d))
    assert rc == 0, err
    assert listing(d) == ["xn--bcher-kva.example.s.key", "xn--bcher-kva.example.s.txt"]
    assert "s._domainkey.xn--bcher-kva.example. IN TXT (" in out


BAD = [
    (["keygen", "exa mple.com", "s"], "DOMAIN"),
    (["keygen", "exa_mple.com", "s"], "DOMAIN"),
    (["keygen", "-bad.example", "s"], "DOMAIN"),
    (["keygen", "a..example", "s"], "DOMAIN"),
    (["keygen", "", "s"], "DOMAIN"),
    (["keygen", "a" * 64 + ".example", "s"], "DOMAIN"),
    (["keygen", "\u2603\u2603.ex ample", "s"], "DOMAIN"),
    (["keygen", "example.com", "s;t=y"], "SELECTOR"),
    (["keygen", "example.com", "s/../x"], "SELECTOR"),
    (["keygen", "example.com", "s_1"], "SELECTOR"),
    (["keygen", "example.com", "-s"], "unknown option"),
    (["keygen", "example.com", ""], "SELECTOR"),
    (["keygen", "b" * 63 + "." + "c" * 63 + ".example", ".".join(["a" * 63] * 3)], "253"),
    (["keygen", "example.com"], "DOMAIN and SELECTOR"),
    (["keygen", "example.com", "s", "extra"], "DOMAIN and SELECTOR"),
    (["keygen", "example.com", "s", "--algorithm", "rsa-sha1"], "--algorithm"),
    (["keygen", "example.com", "s", "--bits", "1024"], "--bits"),
    (["keygen", "example.com", "s", "--bits", "8192"], "--bits"),
    (["keygen", "example.com", "s", "--bits", "2048x"], "--bits"),
    (["keygen", "example.com", "s", "-a", "ed25519-sha256", "--bits", "2048"], "--bits"),
    (["keygen", "example.com", "s", "--bits"], "needs a value"),
    (["keygen", "example.com", "s", "--frobnicate"], "unknown option"),
    (["generate", "example.com", "s"], "unknown action"),
    ([], "no action"),
]


@pytest.mark.parametrize("args,why", BAD, ids=[" ".join(a) or "nothing" for a, _ in BAD])
def test_bad_arguments(mxr_bin, tmp_path, args, why):
    d = tmp_path / "dkim"
    rc, out, err = keygen(mxr_bin, "--dir", str(d), *args)
    assert rc == EX_USAGE, f"exit got {rc}, want {EX_USAGE}: {err}"
    assert why in err, f"stderr got {err!r}, want it to say {why!r}"
    assert "usage: mxrelay dkim keygen" in err
    assert out == ""
    assert not d.exists(), "a refused command made the directory"


def test_dir_is_a_file(mxr_bin, tmp_path):
    f = tmp_path / "file"
    f.write_text("x")
    rc, _, err = keygen(mxr_bin, "keygen", "example.com", "s", "--dir", str(f))
    assert rc == EX_CANTCREAT and "not a directory" in err, (rc, err)
    rc, _, err = keygen(mxr_bin, "keygen", "example.com", "s", "--dir", str(tmp_path / "a" / "b"))
    assert rc == EX_CANTCREAT and "cannot make the directory" in err, (rc, err)


def _help_options(text):
    return sorted(set(re.findall(r"--[a-z]+", text)) - {"--help"})


def test_help_and_man_page_agree(mxr_bin):
    rc, out, _ = keygen(mxr_bin, "--help")
    assert rc == 0
    assert out.startswith("usage: mxrelay dkim keygen DOMAIN SELECTOR")
    with open(os.path.join(REPO, "man", "mxrelay.1")) as f:
        man = f.read()
    section = man.split("\n.SH DKIM\n", 1)[1].split("\n.SH ", 1)[0]
    roff = section.replace("\\-", "-")
    assert _help_options(out) == _help_options(roff) == ["--algorithm", "--bits", "--dir"]
    for word in ("rsa-sha256", "ed25519-sha256", "2048", "4096", "0600", "0700", "255"):
        assert word in roff, f"mxrelay(1) DKIM does not say {word}"
    for code in ("64", "70", "73", "74"):
        assert code in out and code in roff, f"exit status {code} not in both --help and mxrelay(1)"
    # The top-level usage lists the command.
    p = subprocess.run([mxr_bin.mxrelay, "--help"], capture_output=True, text=True,
                       env=sanitizer_env())
    assert re.search(r"^  dkim +", p.stdout, re.M), p.stdout


@pytest.mark.netns
@pytest.mark.parametrize("alg", ["rsa-sha256", "ed25519-sha256"])
def test_printed_record_verifies(mxr_bin, dns, tmp_path, alg):
    d = tmp_path / "dkim"
    rc, out, err = keygen(mxr_bin, "keygen", "keys.test", "sel", "-a", alg, "--dir", str(d))
    assert rc == 0, err
    # The record as printed, published as it would be in the zone.
    zone = next(line for line in out.splitlines() if "IN TXT" in line)
    m = ZONE_LINE.match(zone + "\n")
    assert m, zone
    dns.zone("keys.test.").record(m.group(1), "TXT", m.group(2).strip()).start()
    resolv = write_resolv(tmp_path / "resolv.conf", dns.addr)
    # The key named by the configuration line printed.
    conf = next(line for line in out.splitlines() if line.startswith("dkim_sign = "))
    _, _, domain, selector, keyfile, algorithm = conf.split()
    assert algorithm == f"algorithm={alg}"
    signer = os.path.join(mxr_bin.dir, "mxr_dkimsign")
    msg = message(sender="alice@keys.test", to=("bob@example.net",), body="Hello.\r\n")
    p = subprocess.run([signer, keyfile, domain, selector], input=msg, capture_output=True,
                       env=sanitizer_env(), timeout=60)
    assert p.returncode == 0, p.stderr.decode()
    ok, said = dkimverify(resolv, p.stdout)
    assert ok, said
