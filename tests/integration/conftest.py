"""Fixtures of the mxrelay integration suite.

Every test that asks for `netns` (directly or through another fixture)
runs in a fresh network namespace of its own: the pytest process unshares
one for the test and goes back at teardown, so every peer it starts (nsd,
smtp-sink, the Python SMTP server, mxrelay, mxrelayd) lives on a private
loopback where ports 25 and 53 of every 127.0.0.x are free.

Fixtures:
  netns         the namespace: add_addr(), spawn(argv) for any daemon,
                on_stop(fn); everything is stopped at teardown
  dns           nsd on 127.0.0.53:53; declare records, then dns.start()
  dnssec        a signed hierarchy under test. (nsd on 127.0.0.53) and a
                validating unbound on 127.0.0.54: bed.zone(origin, signed=,
                bogus=), records as with dns, bed.start(); bed.resolver,
                bed.anchor_file (the DS of test.); not with `dns` in one test
  recording_proxy  recording_proxy(addr, upstream): a UDP relay recording
                each query's name, type, CD bit and answer rcode
  faulty_dns    factory for a UDP responder giving broken answers
  smtp_sink     factory: smtp_sink("127.0.0.11") runs Postfix's smtp-sink
  fakesmtp      factory: fakesmtp("127.0.0.11", replies={...}) scriptable server
  postfix       factory: postfix("127.0.0.11", domains=[...], main={...}) a private
                Postfix instance delivering to a Maildir (skips without Postfix)
  postgres      factory: postgres(tcp=None, settings={}) a private PostgreSQL
                cluster (mxtest/postgres.py), started; .database(name),
                .stop(mode), .start(), .standby() a streaming replica
                (its .promote()); removed at teardown
  certs         the session's test CA and server certificates
  https         factory: https("127.0.0.80") HTTPS server choosing certificates by
                SNI; srv.policy(domain, text), srv.route(), srv.delay(); records requests
  mxr_bin       paths of the built mxrelay and mxrelayd
  mxrelay_send  mxrelay_send(args, input) runs `mxrelay send --json`
When a test fails, the report carries every mxrelay run, the transcript
of every SMTP peer and the logs of every process the test started.

Run as root, or as a user who may make user namespaces: then pytest runs
itself again under `unshare --user --map-root-user --net`.
"""

import json
import os
import shutil
import subprocess
import sys

import pytest

sys.path.insert(0, os.path.dirname(__file__))

from mxtest import netns as _netns  # noqa: E402
from mxtest.certs import Certs  # noqa: E402
from mxtest.dns import FaultyDns, Nsd  # noqa: E402
from mxtest.dnssec import DnssecBed, RecordingProxy  # noqa: E402
from mxtest.fakesmtp import FakeSmtp  # noqa: E402
from mxtest.https import HttpsServer  # noqa: E402
from mxtest.postfix import Postfix  # noqa: E402
from mxtest import postgres as _postgres  # noqa: E402
from mxtest.smtpd import SmtpSink  # noqa: E402

REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
DNS_ADDR = "127.0.0.53"

_REEXEC_FLAG = "MXTEST_IN_USERNS"
_no_netns_reason = None


def _maybe_reexec(config):
    """Without root, run pytest again inside a user and network namespace."""
    global _no_netns_reason
    if os.geteuid() == 0:
        if not _netns.can_unshare():
            _no_netns_reason = "running as root but unshare(CLONE_NEWNET) is not permitted here"
        return
    if os.environ.get(_REEXEC_FLAG):
        _no_netns_reason = "inside `unshare --user --net` but still not allowed to make network namespaces"
        return
    unshare = shutil.which("unshare")
    if not unshare or subprocess.run([unshare, "--user", "--map-root-user", "--net", "true"],
                                     capture_output=True).returncode != 0:
        _no_netns_reason = ("needs root, or `unshare --user --map-root-user --net` "
                            "(user namespaces are disabled for this user)")
        return
    env = dict(os.environ, **{_REEXEC_FLAG: "1"})
    # Inside, this user is "root": pytest would use /tmp/pytest-of-root,
    # which belongs to the real root. Give it a temporary root of our own.
    if "PYTEST_DEBUG_TEMPROOT" not in env:
        import tempfile
        env["PYTEST_DEBUG_TEMPROOT"] = tempfile.mkdtemp(prefix="mxtest-")
    argv = [unshare, "--user", "--map-root-user", "--net", sys.executable, "-m", "pytest", *sys.argv[1:]]
    # pytest captures fds 1 and 2 already; give the new process the real ones.
    capman = config.pluginmanager.getplugin("capturemanager")
    if capman is not None:
        capman.stop_global_capturing()
    sys.stdout.flush()
    sys.stderr.flush()
    os.execve(unshare, argv, env)


def pytest_configure(config):
    _maybe_reexec(config)
    config.addinivalue_line("markers", "netns: runs in a private network namespace with real peers")
    config.addinivalue_line("markers", "slow: takes more than a few seconds by design (timeouts)")


def pytest_generate_tests(metafunc):
    """A module with QUEUE_BACKENDS = ("sqlite", "postgresql") runs its tests on each backend."""
    backends = getattr(metafunc.module, "QUEUE_BACKENDS", None)
    if backends and "queue_backend" in metafunc.fixturenames:
        metafunc.parametrize("queue_backend", backends, indirect=True)


def pytest_collection_modifyitems(config, items):
    if _no_netns_reason is None:
        return
    skip = pytest.mark.skip(reason=_no_netns_reason)
    for item in items:
        if "netns" in item.keywords:
            item.add_marker(skip)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    report = outcome.get_result()
    if report.when != "call" or not report.failed:
        return
    runs = getattr(item, "_mxr_runs", [])
    if runs:
        report.sections.append(("mxrelay runs", "\n\n".join(r.describe() for r in runs)))
    ns = getattr(item, "_mxr_netns", None)
    if ns is not None:
        report.sections.append(("peers", ns.describe()))


# --- binaries ---------------------------------------------------------------

class Binaries:
    def __init__(self, bindir):
        self.dir = bindir
        self.mxrelay = os.path.join(bindir, "mxrelay")
        self.mxrelayd = os.path.join(bindir, "mxrelayd")


def _find_bindir():
    if os.environ.get("MXR_BIN"):
        return os.environ["MXR_BIN"]
    for cand in ("build-it", "build-asan", "build"):
        path = os.path.join(REPO, cand)
        if os.access(os.path.join(path, "mxrelay"), os.X_OK):
            return path
    return None


@pytest.fixture(scope="session")
def mxr_bin():
    bindir = _find_bindir()
    if bindir is None:
        pytest.fail("no mxrelay binary: build it (make asan) or set MXR_BIN to the build directory")
    bins = Binaries(os.path.abspath(bindir))
    return bins


def sanitizer_env(extra=None):
    """os.environ plus extra, set up for a sanitizer build: reports on stderr, distinct exit codes."""
    env = dict(os.environ)
    env.update(extra or {})
    env.setdefault("ASAN_OPTIONS", "detect_leaks=1:exitcode=86:abort_on_error=0")
    env.setdefault("UBSAN_OPTIONS", "print_stacktrace=1:halt_on_error=1:exitcode=87")
    env.setdefault("LSAN_OPTIONS", "exitcode=88")
    return env


SANITIZER_MARKS = ("ERROR: AddressSanitizer", "ERROR: LeakSanitizer", "runtime error:", "SUMMARY: UndefinedBehaviorSanitizer")


def sanitizer_report(stderr):
    """The sanitizer report in a process's stderr, or None."""
    for mark in SANITIZER_MARKS:
        if mark in stderr:
            return stderr[stderr.index(mark) - 200 if stderr.index(mark) > 200 else 0:][:6000]
    return None


# --- namespace and peers ------------------------------------------------------

@pytest.fixture
def netns(request, tmp_path):
    if _no_netns_reason is not None:
        pytest.skip(_no_netns_reason)
    ns = _netns.Netns(str(tmp_path))
    ns.enter()
    request.node._mxr_netns = ns
    try:
        yield ns
    finally:
        errors = ns.leave()
        if errors:
            print("teardown problems:", *errors, sep="\n  ", file=sys.stderr)


@pytest.fixture
def dns(netns, tmp_path):
    """nsd for 127.0.0.53:53, not yet started: add records, then call dns.start()."""
    server = Nsd(netns, str(tmp_path), addr=DNS_ADDR)
    netns.peers.append(server)
    return server


@pytest.fixture
def dnssec(netns, tmp_path):
    """A DNSSEC-signed hierarchy under test. (mxtest/dnssec.py), not yet started.

    bed.zone("secure.test", signed=True), bed.zone("insecure.test", signed=False),
    bed.zone("bogus.test", signed=True, bogus=True); records with bed.mx(),
    bed.a(), bed.record(owner, type, rdata) (TLSA and TXT too); bed.corrupt(owner,
    type) for one bogus RRset in a secure zone; then bed.start(). nsd serves
    it on 127.0.0.53 (bed.nsd_addr), a validating unbound on 127.0.0.54
    (bed.resolver) with bed.anchor_file, the DS of test. Uses 127.0.0.53,
    so a test takes either this or `dns`.
    """
    from mxtest import dnssec as _dnssec
    for tool in (_dnssec.LDNS_KEYGEN, _dnssec.LDNS_SIGNZONE, _dnssec.UNBOUND):
        if not os.access(tool, os.X_OK):
            pytest.skip(f"{tool} is not installed (scripts/install-deps test installs it)")
    return DnssecBed(netns, str(tmp_path))


@pytest.fixture
def recording_proxy(netns):
    """recording_proxy(addr, upstream=(addr, port)): a UDP relay recording each query's CD bit."""
    def make(addr, upstream):
        return RecordingProxy(netns, addr, upstream).start()
    return make


@pytest.fixture
def faulty_dns(netns):
    def make(addr=DNS_ADDR, rules=None, upstream=None):
        return FaultyDns(netns, addr=addr, rules=rules, upstream=upstream).start()
    return make


@pytest.fixture
def smtp_sink(netns):
    if os.environ.get(_REEXEC_FLAG):
        pytest.skip("smtp-sink must switch to user nobody, which a user namespace mapping only root cannot")

    def make(addr="127.0.0.11", port=25, **kw):
        return SmtpSink(netns, addr=addr, port=port, **kw).start()
    return make


@pytest.fixture
def fakesmtp(netns):
    def make(addr="127.0.0.11", port=25, **kw):
        return FakeSmtp(netns, addr=addr, port=port, **kw).start()
    return make


@pytest.fixture
def postfix(netns):
    def make(addr="127.0.0.11", **kw):
        return Postfix(netns, addr=addr, **kw).start()
    return make


@pytest.fixture
def queue_backend(request):
    """"sqlite", or what pytest_generate_tests parametrised it with (QUEUE_BACKENDS)."""
    return getattr(request, "param", "sqlite")


@pytest.fixture
def postgres(netns):
    """postgres(tcp=None, settings=None) -> a started mxtest.postgres.PgCluster of this test."""
    why = _postgres.available()
    if why is not None:
        pytest.skip(why)
    clusters = []

    def make(**kw):
        c = _postgres.PgCluster(**kw)
        clusters.append(c)
        netns.peers.append(c)
        return c.start()
    yield make
    for c in clusters:
        c.destroy()


@pytest.fixture
def https(netns, certs):
    """https(addr="127.0.0.80", port=443, hosts=()) -> a started mxtest.https.HttpsServer."""
    def make(addr="127.0.0.80", port=443, **kw):
        return HttpsServer(netns, certs, addr=addr, port=port, **kw).start()
    return make


@pytest.fixture
def short_tmp():
    """A pathlib directory with a short name (/tmp/mxt-XXXXXXXX), for paths a Unix
    socket name (108 octets) must hold: pytest's own, under parallel workers, are long."""
    import pathlib
    import tempfile
    d = tempfile.mkdtemp(prefix="mxt-")
    yield pathlib.Path(d)
    shutil.rmtree(d, ignore_errors=True)


@pytest.fixture(scope="session")
def certs(tmp_path_factory):
    if shutil.which("openssl") is None:
        pytest.skip("openssl command line not installed")
    return Certs(str(tmp_path_factory.mktemp("certs")))


# --- running mxrelay send -------------------------------------------------------

class SendRun:
    """One `mxrelay send` run: exit code, events, results by recipient, stderr.

    Unpacks as (rc, events, results, stderr).
    """

    def __init__(self, argv, stdin, rc, stdout, stderr, elapsed):
        self.argv = argv
        self.stdin = stdin
        self.rc = rc
        self.stdout = stdout
        self.stderr = stderr
        self.elapsed = elapsed
        self.events = []
        self.results = {}
        self.junk = []   # stdout lines that are not JSON objects
        for line in stdout.splitlines():
            if not line.strip():
                continue
            try:
                obj = json.loads(line)
            except ValueError:
                self.junk.append(line)
                continue
            if not isinstance(obj, dict):
                self.junk.append(line)
            elif obj.get("type") == "event":
                self.events.append(obj)
            elif obj.get("type") == "result":
                self.results[obj.get("rcpt")] = obj
            else:
                self.junk.append(line)

    def __iter__(self):
        return iter((self.rc, self.events, self.results, self.stderr))

    def result(self, rcpt):
        if rcpt not in self.results:
            raise AssertionError(f"no result for {rcpt!r}; results are for {sorted(self.results)}\n{self.describe()}")
        return self.results[rcpt]

    def events_for(self, rcpt, stage=None):
        return [e for e in self.events if e.get("rcpt") == rcpt and (stage is None or e.get("stage") == stage)]

    def describe(self):
        stdin = self.stdin if len(self.stdin) < 600 else self.stdin[:300] + b"..." + self.stdin[-200:]
        return (f"$ {' '.join(self.argv)}   ({self.elapsed:.2f}s)\n"
                f"stdin: {stdin!r}\n"
                f"exit: {self.rc}\n"
                f"stdout:\n{self.stdout}\n"
                f"stderr:\n{self.stderr[-6000:]}")


@pytest.fixture
def mxrelay_send(request, mxr_bin, netns):
    """mxrelay_send(args, input=b"", json=True, dns=DNS_ADDR, timeout=60, env=None) -> SendRun."""
    import time
    runs = request.node.__dict__.setdefault("_mxr_runs", [])

    def run(args, input=b"", json=True, dns=DNS_ADDR, timeout=60, env=None, check_sanitizer=True):
        if not os.access(mxr_bin.mxrelay, os.X_OK):
            pytest.fail(f"{mxr_bin.mxrelay} is not built (MXR_BIN={mxr_bin.dir})")
        argv = [mxr_bin.mxrelay, "send"]
        if dns:
            argv += ["--dns", dns]
        if json:
            argv.append("--json")
        argv += list(args)
        if isinstance(input, str):
            input = input.encode()
        started = time.monotonic()
        try:
            proc = subprocess.run(argv, input=input, capture_output=True, timeout=timeout,
                                  env=sanitizer_env(env), cwd=netns.workdir)
            rc, out, err = proc.returncode, proc.stdout, proc.stderr
        except subprocess.TimeoutExpired as e:
            rc, out, err = None, e.stdout or b"", (e.stderr or b"") + f"\n[killed after {timeout}s]".encode()
        res = SendRun(argv, input, rc, out.decode("utf-8", "replace"), err.decode("utf-8", "replace"),
                      time.monotonic() - started)
        runs.append(res)
        if rc is None:
            raise AssertionError(f"mxrelay send did not finish within {timeout}s\n{res.describe()}")
        report = sanitizer_report(res.stderr) if check_sanitizer else None
        if report:
            raise AssertionError(f"sanitizer report from mxrelay send:\n{report}\n{res.describe()}")
        if res.junk and json:
            raise AssertionError(f"--json output has lines that are not JSON objects: {res.junk}\n{res.describe()}")
        return res

    return run
