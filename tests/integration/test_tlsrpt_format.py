"""The TLS-RPT report mail and JSON, read by other software than ours.

tests/tools/mxr_tlsrpt_sample (built with the tests, beside mxrelay)
writes a report mail from the library's codecs: lib/sts parses an
MTA-STS policy, lib/tlsrpt writes the report's JSON, gzips it and wraps
it in the mail of RFC 8460 5.3. Python's email package takes the mail
apart (multipart/report, report-type tlsrpt, the attachment's 5.1 file
name, base64, gzip) and the JSON is validated against
schema/tlsrpt-report.schema.json, written from RFC 8460 section 4.
No network namespace is needed: nothing here touches the network.
"""

import copy
import datetime
import email
import email.policy
import email.utils
import gzip
import json
import os
import re
import subprocess

import jsonschema
import pytest

from conftest import REPO, sanitizer_env, sanitizer_report

SCHEMA_PATH = os.path.join(REPO, "tests", "integration", "schema", "tlsrpt-report.schema.json")


@pytest.fixture(scope="module")
def schema():
    with open(SCHEMA_PATH, encoding="utf-8") as f:
        s = json.load(f)
    jsonschema.Draft7Validator.check_schema(s)
    return s


def validate(schema, report):
    """Validate with the format checkers python3-jsonschema has (ipv4, ipv6, email, date-time when present)."""
    jsonschema.Draft7Validator(schema, format_checker=jsonschema.FormatChecker()).validate(report)


@pytest.fixture(scope="module")
def sample(mxr_bin):
    path = os.path.join(mxr_bin.dir, "mxr_tlsrpt_sample")
    if not os.access(path, os.X_OK):
        pytest.fail(f"no {path}: build the tests (make asan) or set MXR_BIN to a test build")

    def run(*args):
        p = subprocess.run([path, *args], capture_output=True, env=sanitizer_env(), timeout=60)
        report = sanitizer_report(p.stderr.decode("utf-8", "replace"))
        assert report is None, f"sanitizer report from {args}:\n{report}"
        assert p.returncode == 0, f"mxr_tlsrpt_sample {args}: exit {p.returncode}: {p.stderr!r}"
        return p.stdout
    return run


def check_lines(raw, longest=78):
    """Every line ends CRLF, no bare CR or LF, none over `longest` characters."""
    assert raw.endswith(b"\r\n"), "the mail does not end with CRLF"
    lines = raw[:-2].split(b"\r\n")
    for n, line in enumerate(lines, 1):
        assert b"\r" not in line and b"\n" not in line, f"line {n}: a bare CR or LF: {line!r}"
        assert len(line) <= longest, f"line {n}: {len(line)} characters, want at most {longest}: {line!r}"


def attachment(msg):
    """The report part of a multipart/report mail, after checking the structure."""
    assert msg.get_content_type() == "multipart/report"
    assert msg.get_param("report-type") == "tlsrpt"
    parts = list(msg.iter_parts())
    assert [p.get_content_type() for p in parts] == ["text/plain", "application/tlsrpt+gzip"]
    assert parts[0].get_content_charset() == "us-ascii"
    assert "aggregate SMTP TLS report" in parts[0].get_content()
    report = parts[1]
    assert report["Content-Transfer-Encoding"] == "base64"
    assert report.get_content_disposition() == "attachment"
    return report


# Each row: the options given, and what the mail must say.
MAIL_ROWS = [
    pytest.param([], {
        "from": "tlsrpt@company-x.example", "to": "tlsrpt-reports@example.com",
        "submitter": "company-x.example", "domain": "example.com",
        "date": "Sat, 02 Apr 2016 01:00:00 +0000",
        "msgid": "<5065427c-23d3-47ca-b6e0-946ea0e8c4be@company-x.example>",
        "filename": "company-x.example!example.com!1459468800!1459555199.json.gz",
        "start": "2016-04-01T00:00:00Z", "end": "2016-04-01T23:59:59Z",
    }, id="defaults"),
    pytest.param(["--from", "reports@mail.sender.example.com", "--to", "mts-sts-tlsrpt@example.net",
                  "--submitter", "mail.sender.example.com", "--policy-domain", "example.net",
                  "--date", "1494377670", "--start", "1494288000", "--end", "1494374399",
                  "--report-id", "2017-05-09T00:00:00Z_example.net", "--unique-id", "001",
                  "--message-id", "<735ff.e317+bf22029@example.net>"], {
        "from": "reports@mail.sender.example.com", "to": "mts-sts-tlsrpt@example.net",
        "submitter": "mail.sender.example.com", "domain": "example.net",
        "date": "Wed, 10 May 2017 00:54:30 +0000", "msgid": "<735ff.e317+bf22029@example.net>",
        "filename": "mail.sender.example.com!example.net!1494288000!1494374399!001.json.gz",
        "start": "2017-05-09T00:00:00Z", "end": "2017-05-09T23:59:59Z",
    }, id="rfc-5.3-values"),
    pytest.param(["--report-id", "2024-01-01T00:00:00Z!example.com", "--submitter", "mx.sender.test"], {
        "msgid": "<2024-01-01T00.00.00Z!example.com@mx.sender.test>",
        "submitter": "mx.sender.test",
        "filename": "mx.sender.test!example.com!1459468800!1459555199.json.gz",
    }, id="message-id-made-from-report-id"),
]


@pytest.mark.parametrize("args,want", MAIL_ROWS)
def test_tlsrpt_mail_parses_as_report(sample, schema, args, want):
    raw = sample(*args)
    check_lines(raw)
    msg = email.message_from_bytes(raw, policy=email.policy.default)
    for field, key in (("From", "from"), ("To", "to"), ("Date", "date"), ("Message-ID", "msgid"),
                       ("TLS-Report-Submitter", "submitter"), ("TLS-Report-Domain", "domain")):
        if key in want:
            assert msg[field] == want[key], f"{field}: got {msg[field]!r}, want {want[key]!r}"
    assert email.utils.parsedate_to_datetime(msg["Date"]).utcoffset().total_seconds() == 0
    assert msg["MIME-Version"] == "1.0"
    # RFC 8460 5.3: "Report" "Domain:" domain "Submitter:" domain "Report-ID:" msg-id.
    subject = str(msg["Subject"])
    m = re.fullmatch(r"Report Domain: (\S+) Submitter: (\S+) Report-ID: (<[^<>@\s]+@[^<>@\s]+>)", subject)
    assert m, f"Subject: got {subject!r}"
    assert m.group(1) == msg["TLS-Report-Domain"]
    assert m.group(2) == msg["TLS-Report-Submitter"]
    assert m.group(3) == msg["Message-ID"]
    part = attachment(msg)
    assert part.get_filename() == want["filename"]
    # 5.1: sender "!" policy-domain "!" begin "!" end ["!" unique-id] ".json.gz".
    assert re.fullmatch(r"[A-Za-z0-9.-]+![A-Za-z0-9.-]+![0-9]+![0-9]+(![A-Za-z0-9]+)?\.json\.gz",
                        part.get_filename())
    report = json.loads(gzip.decompress(part.get_content()))
    validate(schema, report)
    assert report["policies"][0]["policy"]["policy-domain"] == msg["TLS-Report-Domain"]
    if "start" in want:
        assert report["date-range"] == {"start-datetime": want["start"], "end-datetime": want["end"]}
        # The file name's Unix times are the JSON's date range.
        begin, end = (datetime.datetime.fromtimestamp(int(t), datetime.timezone.utc)
                      for t in part.get_filename().removesuffix(".json.gz").split("!")[2:4])
        assert begin == datetime.datetime.fromisoformat(want["start"].replace("Z", "+00:00"))
        assert end == datetime.datetime.fromisoformat(want["end"].replace("Z", "+00:00"))


def test_tlsrpt_json_holds_the_policy_and_escaped_text(sample, schema):
    report = json.loads(sample("--json", "--reason", "bad\x01\ttab \u00e9 \"q\""))
    validate(schema, report)
    policy = report["policies"][0]["policy"]
    assert policy == {
        "policy-type": "sts",
        "policy-string": ["version: STSv1", "mode: testing", "mx: mx1.example.com",
                          "mx: *.mail.example.com", "max_age: 86400"],
        "policy-domain": "example.com",
        "mx-host": ["mx1.example.com", "*.mail.example.com"],
    }
    details = report["policies"][0]["failure-details"]
    # Left out when not given: receiving-ip, helo and the rest of the first entry.
    assert set(details[0]) == {"result-type", "sending-mta-ip", "receiving-mx-hostname", "failed-session-count"}
    # Control characters escaped, UTF-8 kept, invalid octets made U+FFFD.
    assert details[1]["receiving-mx-helo"] == 'mx-backup "quoted"\t\x01 caf\u00e9 \ufffd\ufffd'
    assert details[1]["failure-reason-code"] == "bad\x01\ttab \u00e9 \"q\""
    assert report["policies"][0]["summary"] == {
        "total-successful-session-count": 5326, "total-failure-session-count": 103}


def test_tlsrpt_policy_file_lines_become_policy_string(sample, schema, tmp_path):
    policy = tmp_path / "mta-sts.txt"
    policy.write_bytes(b"version: STSv1\nmode: enforce\nmx: MX.Example.NET.\nx-ext: ignored\n"
                       b"max_age: 99999999\nmode: none\n")
    report = json.loads(sample("--json", "--policy", str(policy)))
    validate(schema, report)
    assert report["policies"][0]["policy"]["policy-string"] == [
        "version: STSv1", "mode: enforce", "mx: mx.example.net", "max_age: 31557600"]


def test_tlsrpt_long_names_fold_and_continue(sample, schema):
    sub = ".".join(["a" * 63, "b" * 63, "c" * 63, "d" * 61])
    dom = "policy-" + "p" * 40 + ".example"
    raw = sample("--submitter", sub, "--policy-domain", dom, "--unique-id", "42")
    # Only lines holding the 253-octet name (a word longer than a line) may pass 78.
    for line in raw.split(b"\r\n"):
        assert len(line) <= 78 or sub.encode() in line, f"{len(line)} characters: {line!r}"
    msg = email.message_from_bytes(raw, policy=email.policy.default)
    assert msg["TLS-Report-Submitter"] == sub
    assert msg["TLS-Report-Domain"] == dom
    assert str(msg["Subject"]).startswith(f"Report Domain: {dom} Submitter: {sub} Report-ID: <")
    part = attachment(msg)
    # RFC 2231 continuations, joined by the reader.
    assert b'filename*0="' in raw and b'filename*1="' in raw
    assert part.get_filename() == f"{sub}!{dom}!1459468800!1459555199!42.json.gz"
    validate(schema, json.loads(gzip.decompress(part.get_content())))


def test_tlsrpt_result_types_are_the_schemas(sample, schema):
    names = sample("--result-types").decode().split()
    enum = schema["definitions"]["failure-details"]["properties"]["result-type"]["enum"]
    assert names == enum


# RFC 8460 Appendix B, with mx-host an array (erratum 6241).
RFC_EXAMPLE = {
    "organization-name": "Company-X",
    "date-range": {"start-datetime": "2016-04-01T00:00:00Z", "end-datetime": "2016-04-01T23:59:59Z"},
    "contact-info": "sts-reporting@company-x.example",
    "report-id": "5065427c-23d3-47ca-b6e0-946ea0e8c4be",
    "policies": [{
        "policy": {
            "policy-type": "sts",
            "policy-string": ["version: STSv1", "mode: testing", "mx: *.mail.company-y.example",
                              "max_age: 86400"],
            "policy-domain": "company-y.example",
            "mx-host": ["*.mail.company-y.example"],
        },
        "summary": {"total-successful-session-count": 5326, "total-failure-session-count": 303},
        "failure-details": [{
            "result-type": "certificate-expired", "sending-mta-ip": "2001:db8:abcd:0012::1",
            "receiving-mx-hostname": "mx1.mail.company-y.example", "failed-session-count": 100,
        }, {
            "result-type": "starttls-not-supported", "sending-mta-ip": "2001:db8:abcd:0013::1",
            "receiving-mx-hostname": "mx2.mail.company-y.example", "receiving-ip": "203.0.113.56",
            "failed-session-count": 200,
            "additional-information":
                "https://reports.company-x.example/report_info?id=5065427c-23d3#StarttlsNotSupported",
        }, {
            "result-type": "validation-failure", "sending-mta-ip": "198.51.100.62",
            "receiving-ip": "203.0.113.58", "receiving-mx-hostname": "mx-backup.mail.company-y.example",
            "failed-session-count": 3, "failure-reason-code": "X509_V_ERR_PROXY_PATH_LENGTH_EXCEEDED",
        }],
    }],
}


def _spoil(path, value):
    """A copy of the RFC example with the member at path set to value (None deletes it)."""
    doc = copy.deepcopy(RFC_EXAMPLE)
    node = doc
    for key in path[:-1]:
        node = node[key]
    if value is None:
        del node[path[-1]]
    else:
        node[path[-1]] = value
    return doc


def test_tlsrpt_schema_takes_the_rfc_example(schema):
    validate(schema, RFC_EXAMPLE)


@pytest.mark.parametrize("path,value", [
    (["organization-name"], None),
    (["report-id"], None),
    (["contact-info"], "not an address"),
    (["date-range", "end-datetime"], "2016-04-01 23:59:59"),
    (["date-range", "start-datetime"], None),
    (["policies", 0, "policy", "policy-type"], "dane"),
    (["policies", 0, "policy", "mx-host"], "*.mail.company-y.example"),
    (["policies", 0, "policy", "policy-domain"], "b\u00fccher.example"),
    (["policies", 0, "summary", "total-failure-session-count"], -1),
    (["policies", 0, "summary", "total-failure-session-count"], "303"),
    (["policies", 0, "failure-details", 0, "result-type"], "certificate-revoked"),
    (["policies", 0, "failure-details", 0, "sending-mta-ip"], "not-an-ip"),
    (["policies", 0, "failure-details", 0, "failed-session-count"], None),
    (["policies", 0, "failure-details", 0, "policy_type"], "sts"),
], ids=lambda v: "/".join(map(str, v)) if isinstance(v, list) else None)
def test_tlsrpt_schema_refuses_what_the_rfc_refuses(schema, path, value):
    with pytest.raises(jsonschema.ValidationError):
        validate(schema, _spoil(path, value))
