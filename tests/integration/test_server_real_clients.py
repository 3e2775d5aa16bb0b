"""Real clients in, a real receiver out: every octet arrives as it was sent.

The relay takes mail from a raw SMTP client, `mxrelay sendmail`, Python's
smtplib, Perl's Net::SMTP and Exim (BDAT and PIPELINING), and delivers it
to a private Postfix for a.test; `mxrelay send` delivers to the same
Postfix directly. The text that Postfix stores (LF line ends, in a
Maildir) must be the text that was sent, with CRLF line ends and nothing
else changed but the one Received field the relay adds: lines of exactly
998 octets that start with '.', lines that are only '.' or '..', 8-bit
octets, a last line without a newline.

Exim conflicts with Postfix as a package: scripts/fetch-exim unpacks it
into a cache directory (MXR_EXIM_DIR, default /var/cache/mxrelay-test/exim);
the Exim test skips, saying why, when that cannot be done.
"""

import os
import pathlib
import shutil
import smtplib
import subprocess
import tempfile

import pytest

from conftest import sanitizer_env, sanitizer_report
from daemon import HOSTNAME, Client, mxrelayd, queued_id  # noqa: F401  (mxrelayd is a fixture)

pytestmark = pytest.mark.netns

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SENDER = "a@sender.test"
RCPT = "bob@a.test"

# The awkward lines, without line ends.
AWKWARD = [
    b"From: Awkward <a@sender.test>",
    b"To: bob@a.test",
    b"Subject: awkward octets",
    b"Date: Tue, 01 Dec 2026 20:00:00 +0000",
    b"Message-ID: <awkward.1@sender.test>",
    b"MIME-Version: 1.0",
    b"Content-Type: text/plain; charset=iso-8859-1",
    b"Content-Transfer-Encoding: 8bit",
    b"",
    b"." + b"d" * 997,            # 998 octets starting with '.': at the limit, unchanged
    b".",
    b"..",
    b"...",
    b"." + b"e" * 996,
    b"f" * 998,
    b"." + b"g" * 997,
    b"caf\xe9 \xff\x80\xa0 eight bit",
    b" leading space",
    b"\ttab",
    b"trailing space ",
    b"From the start of a line",
    b".",
    b"last line",
]


def crlf_text(lines):
    return b"".join(l + b"\r\n" for l in lines)


def stuffed(text):
    """DATA wire form of CRLF text, without the final dot."""
    return b"".join((b"." + l if l.startswith(b".") else l) + b"\r\n"
                    for l in text.split(b"\r\n")[:-1])


def after_received(msg, by):
    """The stored message after the Received field that names `by` (LF form)."""
    i = 0
    while True:
        nl = msg.index(b"\n", i)
        assert nl != i, f"no Received field by {by!r} in the header:\n{msg[:2000]!r}"
        end = nl + 1
        while msg[end:end + 1] in (b" ", b"\t"):
            end = msg.index(b"\n", end) + 1
        field = msg[i:end]
        if field.startswith(b"Received: ") and b"by " + by.encode() in field:
            return msg[end:]
        i = end


def as_stored(text):
    """CRLF text as Postfix's Maildir keeps it."""
    return text.replace(b"\r\n", b"\n")


def assert_same(got, want, what):
    if got == want:
        return
    for n, (a, b) in enumerate(zip(got.split(b"\n"), want.split(b"\n"))):
        if a != b:
            raise AssertionError(f"{what}: line {n} differs:\n got  {a[:120]!r}... ({len(a)} octets)\n"
                                 f" want {b[:120]!r}... ({len(b)} octets)")
    raise AssertionError(f"{what}: got {len(got)} octets, want {len(want)}:\n{got[-300:]!r}\n{want[-300:]!r}")


@pytest.fixture
def relay(netns, dns, postfix, mxrelayd):
    """mxrelayd on 127.0.0.1:25 relaying a.test to a private Postfix on 127.0.0.11."""
    dns.mx("a.test", [(10, "mx1.a.test")]).a("mx1.a.test", "127.0.0.11").start()
    pf = postfix("127.0.0.11", hostname="mx1.a.test")
    d = mxrelayd(conf_extra="dns_server = 127.0.0.53\nretry_intervals = 1s\nlog_level = debug",
                 relay_networks="127.0.0.0/8")
    d.postfix = pf
    return d


def delivered(relay, count=1):
    msgs = relay.postfix.messages(wait=30, count=count)
    assert len(msgs) == count, f"got {len(msgs)} messages at Postfix, want {count}\n{relay.describe()}"
    return msgs


def test_smtp_in_byte_transparent(relay):
    text = crlf_text(AWKWARD)
    c = Client()
    assert c.reply().code == 220
    c.expect("EHLO client.test", 250)
    c.expect(f"MAIL FROM:<{SENDER}> BODY=8BITMIME", 250)
    c.expect(f"RCPT TO:<{RCPT}>", 250)
    c.expect("DATA", 354)
    c.send(stuffed(text) + b".\r\n")
    queued_id(c.reply())
    c.expect("QUIT", 221)
    (got,) = delivered(relay)
    assert_same(after_received(got, HOSTNAME), as_stored(text), "SMTP in")


def test_sendmail_in_byte_transparent(relay, mxr_bin):
    # LF line ends and no newline after the last line, as scripts write them.
    lf = b"\n".join(AWKWARD)
    p = subprocess.run([mxr_bin.mxrelay, "sendmail", "-C", relay.conf, "-i", "-f", SENDER, RCPT],
                       input=lf, capture_output=True, timeout=60, env=sanitizer_env())
    assert sanitizer_report(p.stderr.decode(errors="replace")) is None, p.stderr
    assert p.returncode == 0, p
    (got,) = delivered(relay)
    assert_same(after_received(got, HOSTNAME), as_stored(crlf_text(AWKWARD)), "sendmail in")


def test_mxrelay_send_byte_transparent(dns, postfix, mxrelay_send):
    dns.mx("a.test", [(10, "mx1.a.test")]).a("mx1.a.test", "127.0.0.11").start()
    pf = postfix("127.0.0.11", hostname="mx1.a.test")
    run = mxrelay_send(["-f", SENDER, RCPT], input=b"\n".join(AWKWARD))
    assert run.rc == 0, run.describe()
    (got,) = pf.messages(wait=30)
    # No Received of ours here: the first one is Postfix's.
    assert_same(after_received(got, "mx1.a.test"), as_stored(crlf_text(AWKWARD)), "mxrelay send")


def test_python_smtplib_lf_line_ends(relay):
    # smtplib sends bytes with their LF line ends (it only stuffs the dots),
    # then CRLF "." CRLF: the LF before that CRLF ends the last line, so the
    # text gains one empty line at its end.
    lf = b"\n".join(AWKWARD) + b"\n"
    with smtplib.SMTP("127.0.0.1", 25, local_hostname="python.client.test", timeout=30) as s:
        refused = s.sendmail(SENDER, [RCPT], lf, mail_options=["BODY=8BITMIME"])
        assert refused == {}
    (got,) = delivered(relay)
    assert_same(after_received(got, HOSTNAME), as_stored(crlf_text(AWKWARD + [b""])), "smtplib")


PERL_CLIENT = r'''
use strict;
use Net::SMTP;
my ($text) = do { local $/; <STDIN> };
my $smtp = Net::SMTP->new("127.0.0.1", Port => 25, Hello => "perl.client.test", Timeout => 30)
    or die "connect: $@\n";
$smtp->mail($ARGV[0]) or die "MAIL: " . $smtp->message;
$smtp->to($ARGV[1]) or die "RCPT: " . $smtp->message;
$smtp->data() or die "DATA: " . $smtp->message;
# The text as it is: LF line ends, dot-stuffed by the caller.
$smtp->rawdatasend($text) or die "send failed\n";
$smtp->dataend() or die "end of data: " . $smtp->code . " " . $smtp->message;
print $smtp->message;
$smtp->quit;
'''


def test_perl_net_smtp_rawdatasend_lf(relay, tmp_path):
    if subprocess.run(["perl", "-MNet::SMTP", "-e1"], capture_output=True).returncode != 0:
        pytest.skip("perl with Net::SMTP is not installed")
    script = tmp_path / "client.pl"
    script.write_text(PERL_CLIENT)
    # rawdatasend sends what it is given; dataend then adds ".\r\n" only, so
    # the text must end in CRLF for CRLF.CRLF: every other line end is a bare LF.
    text = crlf_text(AWKWARD)
    wire = stuffed(text).replace(b"\r\n", b"\n")[:-1] + b"\r\n"
    p = subprocess.run(["perl", str(script), SENDER, RCPT], input=wire, capture_output=True,
                       timeout=60)
    assert p.returncode == 0, p
    assert b"queued as" in p.stdout, p
    (got,) = delivered(relay)
    assert_same(after_received(got, HOSTNAME), as_stored(text), "Net::SMTP rawdatasend")


EXIM_CONF = """\
primary_hostname = exim.client.test
exim_path = {exim}
spool_directory = {dir}/spool
log_file_path = {dir}/log/%slog
exim_user = Debian-exim
exim_group = Debian-exim
trusted_users = root
never_users =
keep_environment = LD_LIBRARY_PATH
message_size_limit = 50M
log_selector = +pipelining

begin routers
to_relay:
  driver = manualroute
  domains = *
  transport = relay_smtp
  route_list = * 127.0.0.1 byname
  self = send

begin transports
relay_smtp:
  driver = smtp
  port = 25
  hosts_try_chunking = *
  hosts_avoid_tls = *
  hosts_avoid_pipelining =
  helo_data = exim.client.test

begin retry
* * F,1m,1m
"""


@pytest.fixture(scope="session")
def exim_dir():
    """The directory Exim is unpacked into, or pytest.skip.

    Session-scoped, so it runs before the test enters its network namespace,
    where apt-get could not reach the mirror.
    """
    d = os.environ.get("MXR_EXIM_DIR", "/var/cache/mxrelay-test/exim")
    if os.geteuid() != 0 or os.environ.get("MXTEST_IN_USERNS"):
        if not os.access(os.path.join(d, "usr/sbin/exim4"), os.X_OK):
            pytest.skip("Exim is not fetched and fetching it needs root (scripts/fetch-exim)")
        return d
    p = subprocess.run([os.path.join(ROOT, "scripts", "fetch-exim"), d], capture_output=True,
                       text=True, timeout=300)
    if p.returncode != 0:
        pytest.skip(f"scripts/fetch-exim failed: {p.stderr[-500:]}")
    return d


def test_exim_bdat_and_pipelining(exim_dir, relay, netns):
    # Exim works as Debian-exim: not under pytest's 0700 directories.
    work = pathlib.Path(tempfile.mkdtemp(prefix="mxr-exim-"))
    netns.on_stop(lambda: shutil.rmtree(work, ignore_errors=True))
    os.chmod(work, 0o755)
    for sub in ("spool", "log"):
        (work / sub).mkdir()
        shutil.chown(work / sub, "Debian-exim", "Debian-exim")
    conf = work / "exim.conf"
    exim = os.path.join(exim_dir, "usr/sbin/exim4")
    conf.write_text(EXIM_CONF.format(dir=work, exim=exim))
    # The unpacked libraries Exim needs, kept across its re-exec (keep_environment).
    env = dict(os.environ, LD_LIBRARY_PATH=os.path.join(exim_dir, "usr/lib/x86_64-linux-gnu"))
    # -odf: deliver in the foreground, -oi: a "." line is text.
    p = subprocess.run([exim, "-C", str(conf), "-odf", "-oi", "-f", SENDER, RCPT],
                       input=b"\n".join(AWKWARD) + b"\n", capture_output=True, env=env, timeout=120)
    mainlog = (work / "log" / "mainlog").read_text(errors="replace") if (work / "log" / "mainlog").exists() else ""
    assert p.returncode == 0, f"{p}\n{mainlog}"
    msgs = relay.postfix.messages(wait=30)
    assert len(msgs) == 1, f"Exim's log:\n{mainlog}\n{p.stderr!r}\n{relay.describe()}"
    got = msgs[0]
    # Ours, then the one Exim adds, then the text.
    assert_same(after_received(after_received(got, HOSTNAME), "exim.client.test"),
                as_stored(crlf_text(AWKWARD)), "Exim")
    # "K": the message went with CHUNKING, "L": with PIPELINING; the relay saw BDAT.
    delivery = [l for l in mainlog.splitlines() if " => " in l]
    assert delivery and " K " in delivery[0] and " L " in delivery[0], mainlog
    log = relay.log()
    assert "to=bdat" in log, log[-3000:]
    assert "proto=ESMTP" in log
