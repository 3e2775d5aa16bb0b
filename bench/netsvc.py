"""netsvc: the peers around the relay under test, inside the namespace.

Owns the DNS server (nsd on 127.0.0.53, authoritative for bench.test, with
the MX records of the destination domains), the MX hosts (Postfix's
smtp-sink, one per address, counting transactions without writing them
anywhere), the MX that offers STARTTLS (a private Postfix smtpd handing
each transaction as it comes to a smtp-sink behind it: smtp-sink cannot do
TLS), and the bench's self-signed certificate, which that MX and both
relays present. It knows nothing of relays or workloads.
"""

import os
import re
import subprocess
import threading
import time

DNS_ADDR = "127.0.0.53"

# Destination domain -> (MX host name, address). "slow" is served by a sink
# that waits before answering the end of DATA.
DOMAINS = {
    "d1.bench.test": ("mx1.bench.test", "127.0.0.21"),
    "d2.bench.test": ("mx2.bench.test", "127.0.0.22"),
    "slow.bench.test": ("mx3.bench.test", "127.0.0.23"),
    "tls.bench.test": ("mx4.bench.test", "127.0.0.24"),
}
# The TLS MX's smtpd listens on port 25 of its address; its sink on this port.
TLS_SINK_PORT = 2525
SLOW_DELAY_S = 1


def _zone():
    lines = [
        "$ORIGIN bench.test.",
        "$TTL 3600",
        "@ IN SOA ns.bench.test. hostmaster.bench.test. 1 3600 600 86400 3600",
        "@ IN NS ns.bench.test.",
        f"ns IN A {DNS_ADDR}",
        "relay IN A 127.0.0.10",
    ]
    for domain, (host, addr) in DOMAINS.items():
        lines.append(f"{domain}. IN MX 10 {host}.")
        lines.append(f"{host}. IN A {addr}")
    return "\n".join(lines) + "\n"


class Nsd:
    """nsd in the foreground, serving the bench.test zone."""

    def __init__(self, work):
        self.dir = os.path.join(work, "dns")
        self.proc = None

    def start(self):
        os.makedirs(self.dir, exist_ok=True)
        with open(os.path.join(self.dir, "bench.test.zone"), "w") as f:
            f.write(_zone())
        d = self.dir
        conf = os.path.join(d, "nsd.conf")
        with open(conf, "w") as f:
            f.write(f"""server:
    ip-address: {DNS_ADDR}
    port: 53
    username: ""
    chroot: ""
    zonesdir: "{d}"
    pidfile: "{d}/nsd.pid"
    database: ""
    zonelistfile: "{d}/zone.list"
    xfrdfile: "{d}/xfrd.state"
    xfrdir: "{d}"
    logfile: "{d}/nsd.log"
    server-count: 1
    verbosity: 1
    # Response rate limiting would drop the relays' queries: Postfix asks
    # for the MX and A records of every delivery (it keeps no cache).
    rrl-ratelimit: 0
    rrl-whitelist-ratelimit: 0
remote-control:
    control-enable: no
zone:
    name: "bench.test"
    zonefile: "bench.test.zone"
""")
        self.proc = subprocess.Popen(["nsd", "-d", "-c", conf],
                                     stdout=subprocess.DEVNULL,
                                     stderr=open(os.path.join(d, "nsd.err"), "w"),
                                     start_new_session=True)
        if not _wait_port(DNS_ADDR, 53, udp=True, proc=self.proc):
            raise RuntimeError("nsd did not start; see " + d)

    def stop(self):
        stop_process(self.proc)


_MESG = re.compile(rb"mesg=(\d+)")


class Sink:
    """One smtp-sink: counts finished transactions (mesg=) as they happen."""

    def __init__(self, addr, work, extra=(), port=25):
        self.addr = addr
        self.port = port
        self.extra = list(extra)
        self.count = 0
        self.cond = threading.Condition()
        self.proc = None
        self.errpath = os.path.join(work, f"sink-{addr}.err")

    def start(self):
        # -c prints "sess=N quit=N mesg=N" after each event; nothing is
        # written to disk. -m bounds simultaneous sessions.
        argv = ["smtp-sink", "-c", "-u", "nobody", "-m", "2000", *self.extra,
                f"{self.addr}:{self.port}", "1024"]
        self.proc = subprocess.Popen(argv, stdout=subprocess.PIPE,
                                     stderr=open(self.errpath, "w"),
                                     start_new_session=True)
        threading.Thread(target=self._read, daemon=True).start()
        if not _wait_port(self.addr, self.port, proc=self.proc):
            raise RuntimeError(f"smtp-sink on {self.addr} did not start")

    def _read(self):
        fd = self.proc.stdout.fileno()
        tail = b""
        while True:
            try:
                data = os.read(fd, 65536)
            except OSError:
                return
            if not data:
                return
            found = _MESG.findall(tail + data)
            tail = data[-64:]
            if found:
                with self.cond:
                    self.count = max(self.count, int(found[-1]))
                    self.cond.notify_all()

    def wait_for(self, target, deadline, stall=30.0):
        """Wait until count >= target; return the time it got there or None.

        Gives up at the monotonic deadline, or when the count has not moved
        for stall seconds.
        """
        last, moved = self.count, time.monotonic()
        with self.cond:
            while self.count < target:
                now = time.monotonic()
                if now >= deadline or now - moved > stall:
                    return None
                self.cond.wait(min(0.5, deadline - now))
                if self.count != last:
                    last, moved = self.count, time.monotonic()
            return time.monotonic()

    def stop(self):
        stop_process(self.proc)


def cert_paths(work):
    """(certificate, key) of the bench, PEM, under work/tls."""
    d = os.path.join(work, "tls")
    return os.path.join(d, "cert.pem"), os.path.join(d, "key.pem")


def make_cert(work):
    """A self-signed RSA 2048 certificate for the relay and MX names, readable by all
    (the relays read it after dropping root; it protects nothing)."""
    cert, key = cert_paths(work)
    os.makedirs(os.path.dirname(cert), exist_ok=True)
    os.chmod(os.path.dirname(cert), 0o755)
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
                    "-subj", "/CN=relay.bench.test", "-addext",
                    "subjectAltName=DNS:relay.bench.test,DNS:mx4.bench.test",
                    "-keyout", key, "-out", cert],
                   check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    for p in (cert, key):
        os.chmod(p, 0o644)
    return cert, key


class TlsMx:
    """A private Postfix smtpd on addr:25 offering STARTTLS (smtpd_tls_security_level
    = may), passing every transaction on as it arrives (smtpd_proxy_filter) to
    sink, a smtp-sink on addr:TLS_SINK_PORT: nothing is queued or written."""

    def __init__(self, addr, work, sink):
        self.addr = addr
        self.dir = os.path.join(work, "tls-mx")
        self.sink = sink
        self.proc = None
        self.master_pid = None

    def start(self):
        d = self.dir
        conf = os.path.join(d, "etc")
        os.makedirs(conf, exist_ok=True)
        os.makedirs(os.path.join(d, "queue"), exist_ok=True)
        os.chmod(d, 0o755)
        cert, key = cert_paths(os.path.dirname(d))
        # in_flow_delay = 0: no queue manager hands out tokens here (nothing
        # is queued), and the MX must not slow down the relay under test.
        with open(os.path.join(conf, "main.cf"), "w") as f:
            f.write(f"""\
compatibility_level = 3.6
config_directory = {conf}
queue_directory = {d}/queue
data_directory = {d}/data
mail_owner = postfix
setgid_group = postdrop
myhostname = mx4.bench.test
inet_interfaces = {self.addr}
inet_protocols = ipv4
mynetworks = 127.0.0.0/8
mydestination =
local_recipient_maps =
alias_maps =
alias_database =
smtpd_relay_restrictions = permit_mynetworks, reject
smtpd_client_connection_count_limit = 0
smtpd_client_connection_rate_limit = 0
smtpd_tls_security_level = may
smtpd_tls_cert_file = {cert}
smtpd_tls_key_file = {key}
smtpd_proxy_filter = {self.addr}:{TLS_SINK_PORT}
in_flow_delay = 0
message_size_limit = 0
maillog_file = {d}/maillog
""")
        services = [
            ("smtp", "inet", "n", "-", "n", "-", "-", "smtpd"),
            ("pickup", "unix", "n", "-", "n", "60", "1", "pickup"),
            ("cleanup", "unix", "n", "-", "n", "-", "0", "cleanup"),
            ("qmgr", "unix", "n", "-", "n", "300", "1", "qmgr"),
            ("tlsmgr", "unix", "-", "-", "n", "1000?", "1", "tlsmgr"),
            ("rewrite", "unix", "-", "-", "n", "-", "-", "trivial-rewrite"),
            ("bounce", "unix", "-", "-", "n", "-", "0", "bounce"),
            ("defer", "unix", "-", "-", "n", "-", "0", "bounce"),
            ("trace", "unix", "-", "-", "n", "-", "0", "bounce"),
            ("proxymap", "unix", "-", "-", "n", "-", "-", "proxymap"),
            ("anvil", "unix", "-", "-", "n", "-", "1", "anvil"),
            ("scache", "unix", "-", "-", "n", "-", "1", "scache"),
            ("postlog", "unix-dgram", "n", "-", "n", "-", "1", "postlogd"),
        ]
        with open(os.path.join(conf, "master.cf"), "w") as f:
            for row in services:
                f.write("  ".join(row) + "\n")
        env = dict(os.environ, MAIL_CONFIG=conf)
        out = open(os.path.join(d, "start.log"), "w")
        subprocess.run(["postfix", "-c", conf, "check"], env=env, stdout=out,
                       stderr=subprocess.STDOUT)
        self.proc = subprocess.Popen(["postfix", "-c", conf, "start-fg"], env=env, stdout=out,
                                     stderr=subprocess.STDOUT, start_new_session=True)
        if not _wait_port(self.addr, 25, proc=self.proc, timeout=30):
            raise RuntimeError("the TLS MX (postfix smtpd) did not start; see " + d)
        with open(os.path.join(d, "queue", "pid", "master.pid")) as f:
            self.master_pid = int(f.read().split()[0])

    def stop(self):
        if self.master_pid:
            try:
                os.kill(self.master_pid, 15)
            except ProcessLookupError:
                pass
            end = time.monotonic() + 10
            while time.monotonic() < end and os.path.exists(f"/proc/{self.master_pid}"):
                time.sleep(0.05)
            self.master_pid = None
        stop_process(self.proc)


def _wait_port(addr, port, udp=False, proc=None, timeout=10.0):
    """Wait until something listens on addr:port (TCP), or for UDP a bound socket."""
    import socket
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if proc is not None and proc.poll() is not None:
            return False
        if udp:
            s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            try:
                s.bind((addr, port))
            except OSError:
                return True  # in use: the server has bound it
            finally:
                s.close()
        else:
            s = socket.socket()
            s.settimeout(0.5)
            try:
                s.connect((addr, port))
                return True
            except OSError:
                pass
            finally:
                s.close()
        time.sleep(0.1)
    return False


def stop_process(proc, grace=5.0):
    """SIGTERM a process the bench started, then SIGKILL it after grace."""
    if proc is None or proc.poll() is not None:
        return
    proc.terminate()
    try:
        proc.wait(grace)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
