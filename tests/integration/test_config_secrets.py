"""Secrets only root can read, and the checks check-config makes.

An administrator's TLS key is mode 0600 and owned by root (as Let's Encrypt
and Debian's ssl-cert leave it), and so is the AUTH users file. mxrelayd
reads both while still root, before it drops to its own user, so STARTTLS
and AUTH work with them. check-config loads the certificate and key as the
daemon will: a key that does not match, a file that is not PEM, a
certificate past its end date and a queue directory the daemon could not
make are errors that name the line.
"""

import base64
import os
import smtplib
import ssl
import subprocess

import pytest

from daemon import HOSTNAME, Daemon, mxrelayd  # noqa: F401

pytestmark = pytest.mark.netns


def _root_only(path):
    os.chown(path, 0, 0)
    os.chmod(path, 0o600)


def _users_file(path, user, password):
    h = subprocess.run(["openssl", "passwd", "-6", "-stdin"], input=password, text=True,
                       capture_output=True, check=True).stdout.strip()
    with open(path, "w") as f:
        f.write(f"{user}:{h}\n")
    _root_only(path)


def test_root_only_key_and_users_file_work(netns, mxr_bin, certs, tmp_path):
    secret_dir = tmp_path / "private"
    secret_dir.mkdir(mode=0o700)
    cert, key = certs.server(HOSTNAME, "127.0.0.1")
    mykey = secret_dir / "relay.key"
    mykey.write_bytes(open(key, "rb").read())
    _root_only(mykey)
    mycert = secret_dir / "relay.pem"
    mycert.write_bytes(open(cert, "rb").read())
    _root_only(mycert)
    users = secret_dir / "users"
    _users_file(users, "alice", "correct horse")
    d = Daemon(netns, mxr_bin, relay_networks="192.0.2.0/24",
               conf_extra=f"tls_cert = {mycert}\ntls_key = {mykey}\nauth_file = {users}\n")
    netns.peers.append(d)
    d.start()
    try:
        ctx = ssl.create_default_context(cafile=certs.ca_file)
        with smtplib.SMTP("127.0.0.1", 25, timeout=20) as c:
            c.starttls(context=ctx)
            c.login("alice", "correct horse")
            c.sendmail("a@b.test", ["x@elsewhere.test"], b"Subject: root-only\r\n\r\nhi\r\n")
        assert len(d.messages()) == 1
        # The daemon runs as nobody: it could not have read these files itself.
        pid = d.proc.pid
        with open(f"/proc/{pid}/status") as f:
            uids = [line for line in f if line.startswith("Uid:")][0].split()[1:]
        assert all(int(u) != 0 for u in uids), uids
        assert "correct horse" not in d.log()
    finally:
        d.check_clean_exit()
        d.cleanup()


def _check_config(mxr_bin, conf_text, tmp_path):
    conf = tmp_path / "check.conf"
    conf.write_text(conf_text)
    return subprocess.run([mxr_bin.mxrelay, "check-config", str(conf)], capture_output=True, text=True)


def _openssl(*args, cwd):
    subprocess.run(["openssl", *args], cwd=cwd, capture_output=True, check=True)


@pytest.fixture
def pki(tmp_path, certs):
    d = tmp_path / "pki"
    d.mkdir()
    cert, key = certs.server("mx.relay.test")
    _openssl("genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256", "-out", "other.key", cwd=d)
    # A certificate that ended in 2020, signed with its own key (openssl ca sets past dates).
    (d / "index.txt").write_text("")
    (d / "serial").write_text("01\n")
    (d / "ca.cnf").write_text("[ca]\ndefault_ca = d\n[d]\ndatabase = index.txt\nnew_certs_dir = .\n"
                              "serial = serial\ndefault_md = sha256\npolicy = p\n[p]\ncommonName = supplied\n")
    _openssl("req", "-new", "-key", key, "-subj", "/CN=mx.relay.test", "-out", "expired.csr", cwd=d)
    _openssl("ca", "-batch", "-config", "ca.cnf", "-selfsign", "-keyfile", key, "-in", "expired.csr",
             "-out", "expired.pem", "-startdate", "20200101000000Z", "-enddate", "20200102000000Z", cwd=d)
    _openssl("x509", "-in", cert, "-outform", "DER", "-out", "cert.der", cwd=d)
    return {"cert": cert, "key": key, "other": str(d / "other.key"), "expired": str(d / "expired.pem"),
            "der": str(d / "cert.der")}


BASE = "listen = 127.0.0.1:2525 relay\nqueue_dir = {q}\n"


@pytest.mark.parametrize("case,lines,want", [
    ("mismatch", "tls_cert = {cert}\ntls_key = {other}\n", ":4: tls_key: private key "),
    ("der certificate", "tls_cert = {der}\ntls_key = {key}\n", ":3: tls_cert: {der} is not a PEM certificate"),
    ("key is a certificate", "tls_cert = {cert}\ntls_key = {cert}\n", ":4: tls_key: "),
    ("expired", "tls_cert = {expired}\ntls_key = {key}\n", ":3: tls_cert: certificate expired on"),
    ("missing queue parent", "", "queue_dir: "),
])
def test_check_config_loads_what_the_daemon_will(mxr_bin, pki, tmp_path, case, lines, want):
    q = tmp_path / "q" if case != "missing queue parent" else tmp_path / "no" / "such"
    text = BASE.format(q=q) + lines.format(**pki)
    res = _check_config(mxr_bin, text, tmp_path)
    assert res.returncode == 78, f"{case}: exit {res.returncode}\n{res.stdout}{res.stderr}"
    assert want.format(**pki) in res.stderr, f"{case}: {res.stderr}"
    assert str(tmp_path / "check.conf") in res.stderr


def test_check_config_accepts_a_good_pair(mxr_bin, pki, tmp_path):
    text = BASE.format(q=tmp_path / "q") + "tls_cert = {cert}\ntls_key = {key}\n".format(**pki)
    res = _check_config(mxr_bin, text, tmp_path)
    assert res.returncode == 0, res.stderr


def test_daemon_starts_with_an_expired_certificate_and_warns(netns, mxr_bin, pki):
    d = Daemon(netns, mxr_bin, conf_extra=f"tls_cert = {pki['expired']}\ntls_key = {pki['key']}\n")
    for p in (pki["expired"], pki["key"]):
        os.chmod(p, 0o600)
    netns.peers.append(d)
    d.start()
    try:
        assert "event=tls-certificate" in d.log() and "expired on" in d.log(), d.log()
    finally:
        d.check_clean_exit()
        d.cleanup()
