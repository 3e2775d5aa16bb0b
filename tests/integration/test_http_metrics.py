"""The daemon's metrics (docs/metrics.md) on its HTTP listener, counted from
known traffic through real peers: every named family holds exactly what
the traffic made of it, in both text formats, each checked by promtool; the
listener answers only the addresses of http_allow and only GET; a reload
keeps every counter; destinations get series of their own up to
metrics_destinations, the rest count in destination="other".

Peers: nsd answers for the zones, Postfix (with STARTTLS) and smtp-sink
receive, the scriptable fakesmtp plays the receivers that answer 4xx and
5xx. Clients come from 127.0.0.1 (a relay network) and 127.0.0.99 (not).
"""

import http.client
import os
import re
import shutil
import signal
import socket
import ssl
import subprocess
import time

import pytest

from daemon import wait_for, Client, mxrelayd, queued_id  # noqa: F401  (mxrelayd is a fixture)
from mxtest import postfix as postfix_mod
from mxtest.netns import wait_port

pytestmark = pytest.mark.netns

SENDER = "alice@sender.test"
HTTP_PORT = 9425
OUTSIDER = "127.0.0.99"
LISTENER = "127.0.0.1:25"
# Families that only grow: a reload must leave every one of their series as it was.
COUNTERS = ("mxrelay_messages_received_total", "mxrelay_recipients_total",
            "mxrelay_deliveries_total", "mxrelay_connections_total",
            "mxrelay_tls_sessions_total", "mxrelay_dsn_sent_total",
            "mxrelay_destination_deliveries_total")
HISTOGRAMS = ("mxrelay_commit_seconds", "mxrelay_commit_batch_messages",
              "mxrelay_delivery_seconds", "mxrelay_dns_seconds")


# --- the text format, read back ------------------------------------------------

SAMPLE = re.compile(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)(?: \S+)?$')
LABEL = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)",?')


def parse(text):
    """{(name, ((label, value), ...)): float} of every sample line."""
    out = {}
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        m = SAMPLE.match(line)
        assert m, f"not a sample line: {line!r}"
        name, labels, value = m.groups()
        pairs = tuple(sorted((k, re.sub(r'\\(.)', lambda e: {"n": "\n"}.get(e[1], e[1]), v))
                             for k, v in LABEL.findall(labels or "")))
        out[(name, pairs)] = float(value)
    return out


def value(samples, name, **labels):
    key = (name, tuple(sorted(labels.items())))
    assert key in samples, f"no sample {name}{labels}; have:\n" + "\n".join(
        f"{n}{dict(l)} {v}" for (n, l), v in sorted(samples.items()) if n.startswith(name))
    return samples[key]


def series(samples, name):
    return {dict(l).get("destination", "") + "/" + dict(l).get("status", ""): v
            for (n, l), v in samples.items() if n == name}


def request(method="GET", path="/metrics", source=None, accept=None):
    """(status, headers, body text) of one request to the daemon's HTTP listener."""
    c = http.client.HTTPConnection("127.0.0.1", HTTP_PORT, timeout=10,
                                   source_address=(source, 0) if source else None)
    try:
        c.request(method, path, headers={"Accept": accept} if accept else {})
        r = c.getresponse()
        return r.status, dict(r.getheaders()), r.read().decode()
    finally:
        c.close()


def scrape(accept=None):
    status, headers, body = request(accept=accept)
    assert status == 200, f"GET /metrics: {status}\n{body}"
    return headers, body


def promtool(text, tmp_path, name):
    path = tmp_path / name
    path.write_text(text)
    with open(path) as f:
        return subprocess.run(["promtool", "check", "metrics"], stdin=f, capture_output=True,
                              text=True, timeout=30)


def promtool_ok(text, tmp_path, name):
    r = promtool(text, tmp_path, name)
    assert r.returncode == 0, f"promtool check metrics ({name}): {r.stdout}{r.stderr}\n{text}"


def promtool_ok_openmetrics(text, tmp_path, name):
    """promtool check metrics reads the Prometheus text format only: it parses the
    OpenMetrics text without an error (exit 1 is a parse error) but, not knowing
    that an OpenMetrics counter family is named without _total, finds no help for
    the _total samples (exit 3). Those complaints, and only they, are allowed,
    each for a family whose HELP the text does carry."""
    r = promtool(text, tmp_path, name)
    out = (r.stdout + r.stderr).strip()
    assert r.returncode in (0, 3), f"promtool check metrics ({name}): {out}\n{text}"
    for line in out.splitlines():
        m = re.fullmatch(r"(\w+)_total no help text", line.strip())
        assert m, f"promtool check metrics ({name}): {line}\n{text}"
        assert f"# HELP {m[1]} " in text and f"# TYPE {m[1]} counter\n" in text, (line, text)


# --- traffic ---------------------------------------------------------------------


def greet(c):
    assert c.reply().code == 220
    c.expect("EHLO client.test", 250)


def submit(rcpt, tls_ctx=None):
    """One message from 127.0.0.1 (STARTTLS first with tls_ctx); its queue id."""
    c = Client("127.0.0.1", 25)
    try:
        greet(c)
        if tls_ctx is not None:
            c.expect("STARTTLS", 220)
            c.starttls(tls_ctx)
            c.expect("EHLO client.test", 250)
        c.expect(f"MAIL FROM:<{SENDER}>", 250)
        c.expect(f"RCPT TO:<{rcpt}>", 250)
        c.expect("DATA", 354)
        c.send(f"From: {SENDER}\r\nTo: {rcpt}\r\nSubject: metrics\r\n"
               f"Message-ID: <{time.time_ns()}@client.test>\r\n\r\nHello.\r\n.\r\n")
        qid = queued_id(c.reply())
        c.expect("QUIT", 221)
        return qid
    finally:
        c.close()


def refused_for_relaying():
    """From an address outside relay_networks: the one RCPT is refused, then QUIT."""
    c = Client("127.0.0.1", 25, source=OUTSIDER)
    try:
        greet(c)
        c.expect(f"MAIL FROM:<{SENDER}>", 250)
        c.expect("RCPT TO:<victim@elsewhere.test>", 550, "5.7.1")
        c.expect("QUIT", 221)
    finally:
        c.close()


def refused_by_size_and_aborted(max_size):
    """One session: a MAIL over SIZE, a message over the size, a transaction reset."""
    c = Client("127.0.0.1", 25)
    try:
        greet(c)
        c.expect(f"MAIL FROM:<{SENDER}> SIZE={max_size * 2}", 552, "5.3.4")
        c.expect(f"MAIL FROM:<{SENDER}>", 250)
        c.expect("RCPT TO:<big@a.test>", 250)
        c.expect("DATA", 354)
        c.send("Subject: big\r\n\r\n" + ("x" * 70 + "\r\n") * (max_size // 70 + 10) + ".\r\n")
        r = c.reply()
        assert (r.code, r.esc) == (552, "5.3.4"), r
        c.expect(f"MAIL FROM:<{SENDER}>", 250)
        c.expect("RCPT TO:<never@a.test>", 250)
        c.expect("RSET", 250)
        c.expect("QUIT", 221)
    finally:
        c.close()


def daemon_conf(*extra):
    # No connection reuse and hour-long retries: every delivery makes one
    # connection and one lookup, and a deferral is not tried again here.
    return "\n".join(["dns_server = 127.0.0.53", "retry_intervals = 1h", "delay_warning = 0",
                      "connection_reuse_time = 0", f"http_listen = 127.0.0.1:{HTTP_PORT}",
                      "http_allow = 127.0.0.1/32", *extra])


def start_daemon(mxrelayd, netns, **kw):
    d = mxrelayd(relay_networks="127.0.0.1/32", relay_domains="example.test", **kw)
    wait_port("127.0.0.1", HTTP_PORT, proc=d.proc)
    return d


def zones(dns, **hosts):
    for name, addr in hosts.items():
        domain = name.replace("_", ".")
        dns.mx(domain, [(10, f"mx.{domain}")])
        dns.a(f"mx.{domain}", addr)
    dns.start()


# --- tests -----------------------------------------------------------------------

def test_every_metric_counts_known_traffic(netns, dns, smtp_sink, fakesmtp, certs, mxrelayd,
                                           mxr_bin, tmp_path):
    why = postfix_mod.available()
    if why:
        pytest.skip(why)
    if shutil.which("promtool") is None:
        pytest.fail("promtool is not installed (scripts/install-deps test)")
    zones(dns, a_test="127.0.0.11", b_test="127.0.0.13", c_test="127.0.0.14",
          sender_test="127.0.0.12")
    cert = certs.server("mx.a.test")
    pf = postfix_mod.Postfix(netns, "127.0.0.11", domains=["a.test"], cert=cert).start()
    netns.peers.append(pf)
    netns.on_stop(pf.stop)
    home = smtp_sink("127.0.0.12")
    fakesmtp("127.0.0.13", replies={"rcpt:slow@b.test": "451 4.3.0 try again later"})
    fakesmtp("127.0.0.14", replies={"rcpt:bad@c.test": "550 5.1.1 no such user"})
    netns.add_addr(OUTSIDER)
    max_size = 20000
    d = start_daemon(mxrelayd, netns, certs=certs,
                     conf_extra=daemon_conf(f"max_message_size = {max_size}"))

    tls = ssl.create_default_context(cafile=certs.ca_file)
    submit("ok1@a.test", tls_ctx=tls)
    submit("ok2@a.test")
    submit("slow@b.test")
    submit("bad@c.test")
    refused_for_relaying()
    refused_by_size_and_aborted(max_size)

    wait_for("two messages at Postfix", lambda: len(pf.messages(wait=0)) == 2, describe=d.describe)
    wait_for("the bounce at the sender's MX", lambda: len(home.messages()) == 1,
             describe=d.describe)

    def settled():
        s = parse(scrape()[1])
        return (value(s, "mxrelay_deliveries_total", status="delivered") == 3 and
                value(s, "mxrelay_deliveries_total", status="deferred") == 1 and
                value(s, "mxrelay_deliveries_total", status="failed") == 1) and s
    s = wait_for("every outcome counted", settled, describe=d.describe)

    def rx(result):
        return value(s, "mxrelay_messages_received_total", listener=LISTENER, result=result)
    assert rx("accepted") == 4
    assert rx("refused_policy") == 1
    assert rx("refused_size") == 2      # the MAIL over SIZE and the message over the size
    assert rx("aborted") == 1
    assert not [k for k in s if k[0] == "mxrelay_messages_received_total"
                and dict(k[1])["result"] not in ("accepted", "refused_policy", "refused_size",
                                                 "aborted")], s
    def rcpt(result):
        return value(s, "mxrelay_recipients_total", result=result)
    assert rcpt("accepted") == 6        # four queued, the one too big, the one reset
    assert rcpt("refused_policy") == 1
    assert rcpt("refused_address") == rcpt("refused_limit") == rcpt("refused_other") == 0

    assert value(s, "mxrelay_connections_total", direction="inbound") == 6
    # ok1, ok2 (Postfix), slow, bad, and the bounce: one connection each, no reuse.
    assert value(s, "mxrelay_connections_total", direction="outbound") == 5
    assert value(s, "mxrelay_tls_sessions_total", direction="inbound", version="TLSv1.3") == 1
    assert value(s, "mxrelay_tls_sessions_total", direction="outbound", version="TLSv1.3") == 2

    assert value(s, "mxrelay_dsn_sent_total", type="failure") == 1
    assert value(s, "mxrelay_dsn_sent_total", type="delay") == 0
    assert value(s, "mxrelay_dsn_sent_total", type="success") == 0
    assert value(s, "mxrelay_delivery_seconds_count") == 5
    assert value(s, "mxrelay_dns_seconds_count") == 5
    # Four messages received and one bounce made durable; commits of outcomes carry none.
    assert value(s, "mxrelay_commit_batch_messages_sum") == 5
    assert value(s, "mxrelay_commit_seconds_count") == value(s, "mxrelay_commit_batch_messages_count")
    assert value(s, "mxrelay_commit_seconds_count") >= 2

    dest = series(s, "mxrelay_destination_deliveries_total")
    for want in ("a.test/delivered", "b.test/deferred", "c.test/failed", "sender.test/delivered"):
        assert want in dest, dest
    assert dest["a.test/delivered"] == 2
    assert dest["b.test/deferred"] == 1
    assert dest["c.test/failed"] == 1
    assert dest["sender.test/delivered"] == 1
    assert dest.get("other/delivered", 0) == 0, dest

    # The queue (a gauge): the deferred message waits, nothing else does.
    assert value(s, "mxrelay_queue_messages", state="queued") == 1
    assert value(s, "mxrelay_queue_recipients", state="deferred") == 1

    # Both text formats are what Prometheus reads.
    headers, text = scrape()
    assert headers["Content-Type"].startswith("text/plain; version=0.0.4"), headers
    promtool_ok(text, tmp_path, "scrape.prom")
    headers, om = scrape(accept="application/openmetrics-text; version=1.0.0,text/plain;q=0.5")
    assert headers["Content-Type"].startswith("application/openmetrics-text"), headers
    assert om.endswith("# EOF\n")
    promtool_ok_openmetrics(om, tmp_path, "scrape.om")
    assert parse(om.replace("# EOF\n", ""))[("mxrelay_dsn_sent_total", (("type", "failure"),))] == 1

    # Only GET (and HEAD), only from http_allow.
    status, headers, _ = request("POST")
    assert status == 405 and "GET" in headers.get("Allow", ""), (status, headers)
    status, _, _ = request(source=OUTSIDER)
    assert status == 403, status

    # A reload keeps every counter and histogram as it was.
    before = {k: v for k, v in parse(scrape()[1]).items()
              if k[0] in COUNTERS or k[0].rsplit("_", 1)[0] in HISTOGRAMS}
    generation = d.log().count("event=reloaded")
    os.kill(d.proc.pid, signal.SIGHUP)
    wait_for("the reload", lambda: d.log().count("event=reloaded") > generation,
             describe=d.describe)
    after = parse(scrape()[1])
    changed = {k: (v, after.get(k)) for k, v in before.items() if after.get(k) != v}
    assert not changed, f"changed by the reload: {changed}"


def test_destinations_beyond_the_limit_count_as_other(netns, dns, smtp_sink, fakesmtp, mxrelayd):
    zones(dns, a_test="127.0.0.11", b_test="127.0.0.13")
    smtp_sink("127.0.0.11")
    fakesmtp("127.0.0.13", replies={"rcpt:slow@b.test": "451 4.3.0 try again later"})
    d = start_daemon(mxrelayd, netns, conf_extra=daemon_conf("metrics_destinations = 1"))

    submit("one@a.test")
    wait_for("a.test counted", lambda: series(parse(scrape()[1]),
             "mxrelay_destination_deliveries_total").get("a.test/delivered") == 1,
             describe=d.describe)
    submit("slow@b.test")

    def other_counted():
        dest = series(parse(scrape()[1]), "mxrelay_destination_deliveries_total")
        return dest.get("other/deferred") == 1 and dest
    dest = wait_for("b.test counted as other", other_counted, describe=d.describe)
    assert dest["a.test/delivered"] == 1, dest
    assert not any(k.startswith("b.test/") for k in dest), dest
    s = parse(scrape()[1])
    assert value(s, "mxrelay_deliveries_total", status="deferred") == 1
    assert value(s, "mxrelay_deliveries_total", status="delivered") == 1

    # The local submission socket is a listener of its own, named local:PATH.
    path = os.path.join(d.queue_dir + "-public", "submit.sock")
    c = Client.__new__(Client)
    c.sock, c.buf = socket.socket(socket.AF_UNIX), b""
    c.sock.settimeout(10)
    c.sock.connect(path)
    try:
        greet(c)
        c.expect(f"MAIL FROM:<{SENDER}>", 250)
        c.expect("RCPT TO:<later@a.test>", 250)
        c.expect("QUIT", 221)
    finally:
        c.close()
    def local_counted():
        s = parse(scrape()[1])
        key = ("mxrelay_messages_received_total",
               (("listener", f"local:{path}"), ("result", "aborted")))
        return key in s and s
    s = wait_for("the local transaction counted", local_counted, describe=d.describe)
    assert value(s, "mxrelay_messages_received_total", listener=f"local:{path}",
                 result="aborted") == 1
    assert value(s, "mxrelay_messages_received_total", listener=LISTENER, result="accepted") == 2
    assert value(s, "mxrelay_connections_total", direction="inbound") == 3
