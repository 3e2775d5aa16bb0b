"""The HTTPS test bed checks itself (mxtest/https.py): certificates chosen
by SNI, content changed at run time, requests recorded, redirects and
delays. These tests need no mxrelay binary: Python's http.client is the
client, verifying against the test CA as the relay will."""

import gzip
import http.client
import json
import socket
import ssl
import time

import pytest

from mxtest.dns import query
from mxtest.https import DEFAULT_NAME

pytestmark = pytest.mark.netns

ADDR = "127.0.0.80"
POLICY_A = "version: STSv1\r\nmode: enforce\r\nmx: mx1.a.test\r\nmax_age: 86400\r\n"
POLICY_B = "version: STSv1\r\nmode: testing\r\nmx: *.b.test\r\nmax_age: 3600\r\n"


@pytest.fixture
def sts_dns(dns):
    for name in ("mta-sts.a.test", "mta-sts.b.test", "tlsrpt.a.test"):
        dns.a(name, ADDR)
    dns.start()
    assert query("127.0.0.53", "mta-sts.a.test", "A")["ancount"] == 1
    return dns


def client_context(certs):
    return ssl.create_default_context(cafile=certs.ca_file)


def request(certs, name, path, method="GET", body=None, headers=None, timeout=5.0, addr=ADDR):
    """method https://name/path, connecting to addr with SNI and Host = name,
    verifying against the test CA. Returns (status, headers, body, peer certificate)."""
    conn = http.client.HTTPSConnection(name, 443, timeout=timeout, context=client_context(certs))
    conn._create_connection = lambda _addr, t, src=None: socket.create_connection((addr, 443), t, src)
    try:
        conn.request(method, path, body=body, headers=headers or {})
        resp = conn.getresponse()
        data = resp.read()
        return resp.status, resp.headers, data, conn.sock.getpeercert()
    finally:
        conn.close()


def san_names(cert):
    return [v for k, v in cert.get("subjectAltName", ()) if k == "DNS"]


def test_policy_fetched_over_verified_tls(sts_dns, https, certs):
    srv = https(ADDR)
    url = srv.policy("a.test", POLICY_A)
    assert url == "https://mta-sts.a.test/.well-known/mta-sts.txt"

    status, headers, body, cert = request(certs, "mta-sts.a.test", "/.well-known/mta-sts.txt")

    assert status == 200
    assert headers["Content-Type"] == "text/plain"
    assert body == POLICY_A.encode()
    assert san_names(cert) == ["mta-sts.a.test"]
    (req,) = srv.requests()
    assert (req["method"], req["sni"], req["host"], req["path"]) == \
        ("GET", "mta-sts.a.test", "mta-sts.a.test", "/.well-known/mta-sts.txt")
    assert req["host_header"] == "mta-sts.a.test" and req["body"] == b""
    assert [h["sni"] for h in srv.handshakes()] == ["mta-sts.a.test"]


def test_second_domain_gets_its_own_certificate(sts_dns, https, certs):
    srv = https(ADDR)
    srv.policy("a.test", POLICY_A)
    srv.policy("b.test", POLICY_B, content_type="text/plain; charset=utf-8")

    status, headers, body, cert = request(certs, "mta-sts.b.test", "/.well-known/mta-sts.txt")

    assert (status, body) == (200, POLICY_B.encode())
    assert headers["Content-Type"] == "text/plain; charset=utf-8"
    assert san_names(cert) == ["mta-sts.b.test"]
    assert [r["host"] for r in srv.requests(host="mta-sts.b.test")] == ["mta-sts.b.test"]
    assert srv.requests(host="mta-sts.a.test") == []


def test_unknown_name_gets_a_certificate_that_fails_verification(sts_dns, https, certs):
    srv = https(ADDR)
    srv.policy("a.test", POLICY_A)

    with pytest.raises(ssl.SSLCertVerificationError, match="match|mismatch"):
        request(certs, "mta-sts.c.test", "/.well-known/mta-sts.txt")

    # Only the name is wrong: the certificate chains to the test CA.
    ctx = client_context(certs)
    ctx.check_hostname = False
    with socket.create_connection((ADDR, 443), 5) as raw, \
            ctx.wrap_socket(raw, server_hostname="mta-sts.c.test") as tls:
        assert san_names(tls.getpeercert()) == [DEFAULT_NAME]
    assert srv.requests() == []
    failed, good = srv.wait_handshakes(2)
    assert (failed["sni"], failed["cert"], failed["ok"]) == ("mta-sts.c.test", DEFAULT_NAME, False)
    assert (good["sni"], good["ok"]) == ("mta-sts.c.test", True)


def test_policy_changes_between_two_fetches(sts_dns, https, certs):
    srv = https(ADDR)
    srv.policy("a.test", POLICY_A)
    assert request(certs, "mta-sts.a.test", "/.well-known/mta-sts.txt")[2] == POLICY_A.encode()

    srv.policy("a.test", POLICY_B)
    assert request(certs, "mta-sts.a.test", "/.well-known/mta-sts.txt")[2] == POLICY_B.encode()
    srv.policy("a.test", "gone", status=404)
    status, _, body, _ = request(certs, "mta-sts.a.test", "/.well-known/mta-sts.txt")
    assert (status, body) == (404, b"gone")
    assert len(srv.requests(path="/.well-known/mta-sts.txt")) == 3


def test_unrouted_path_is_404(sts_dns, https, certs):
    srv = https(ADDR)
    srv.policy("a.test", POLICY_A)
    status, _, _, _ = request(certs, "mta-sts.a.test", "/other")
    assert status == 404
    assert srv.requests(path="/other")[0]["method"] == "GET"


def test_gzipped_json_post_is_read_back(sts_dns, https, certs):
    srv = https(ADDR)
    url = srv.route("tlsrpt.a.test", "/report", b"", status=201)
    assert url == "https://tlsrpt.a.test/report"
    report = {"organization-name": "sender.test", "report-id": "r1",
              "policies": [{"policy": {"policy-type": "sts", "policy-domain": "a.test"},
                            "summary": {"total-successful-session-count": 1, "total-failure-session-count": 0}}]}

    status, _, _, _ = request(certs, "tlsrpt.a.test", "/report", method="POST",
                              body=gzip.compress(json.dumps(report).encode()),
                              headers={"Content-Type": "application/tlsrpt+gzip"})

    assert status == 201
    assert srv.posted_json("/report") == [report]
    (post,) = srv.posts()
    assert post["headers"]["content-type"] == "application/tlsrpt+gzip"
    assert gzip.decompress(post["body"]) == json.dumps(report).encode()
    # A body that is not gzip'd fails the reading, showing the request.
    request(certs, "tlsrpt.a.test", "/report", method="POST", body=b"{}")
    with pytest.raises(AssertionError, match="not gzip'd JSON"):
        srv.posted_json("/report")


def test_redirect_route(sts_dns, https, certs):
    srv = https(ADDR)
    srv.route("mta-sts.a.test", "/.well-known/mta-sts.txt", "moved", status=301,
              headers={"Location": "https://mta-sts.b.test/.well-known/mta-sts.txt"})

    status, headers, body, _ = request(certs, "mta-sts.a.test", "/.well-known/mta-sts.txt")

    assert (status, body) == (301, b"moved")
    assert headers["Location"] == "https://mta-sts.b.test/.well-known/mta-sts.txt"


def test_delay_times_a_client_out(sts_dns, https, certs):
    srv = https(ADDR)
    srv.policy("a.test", POLICY_A)
    srv.delay("mta-sts.a.test", "/.well-known/mta-sts.txt", 5)

    started = time.monotonic()
    with pytest.raises(TimeoutError):
        request(certs, "mta-sts.a.test", "/.well-known/mta-sts.txt", timeout=1)
    elapsed = time.monotonic() - started

    assert 0.9 < elapsed < 3, elapsed
    # Recorded on arrival, before the delay.
    assert len(srv.requests(host="mta-sts.a.test")) == 1
    srv.delay("mta-sts.a.test", "/.well-known/mta-sts.txt", 0)
    assert request(certs, "mta-sts.a.test", "/.well-known/mta-sts.txt")[2] == POLICY_A.encode()
