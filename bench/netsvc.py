"""netsvc: the peers around the relay under test, inside the namespace.

Owns the DNS server (nsd on 127.0.0.53, authoritative for bench.test, with
the MX records of the destination domains) and the MX hosts (Postfix's
smtp-sink, one per address, counting transactions without writing them
anywhere). It knows nothing of relays or workloads.
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
}
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

    def __init__(self, addr, work, extra=()):
        self.addr = addr
        self.extra = list(extra)
        self.count = 0
        self.cond = threading.Condition()
        self.proc = None
        self.errpath = os.path.join(work, f"sink-{addr}.err")

    def start(self):
        # -c prints "sess=N quit=N mesg=N" after each event; nothing is
        # written to disk. -m bounds simultaneous sessions.
        argv = ["smtp-sink", "-c", "-u", "nobody", "-m", "2000", *self.extra,
                f"{self.addr}:25", "1024"]
        self.proc = subprocess.Popen(argv, stdout=subprocess.PIPE,
                                     stderr=open(self.errpath, "w"),
                                     start_new_session=True)
        threading.Thread(target=self._read, daemon=True).start()
        if not _wait_port(self.addr, 25, proc=self.proc):
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
