"""DNS for the tests: nsd serving zones the test writes, a hand-built query
to poll it, and a small UDP responder for answers no honest server gives
(SERVFAIL, truncation without TCP, garbage, a wrong query id).

Records are given as (owner, type, rdata) in zone-file syntax, e.g.
("a.test", "MX", "10 mx1.a.test") or ("mx1.a.test", "A", "127.0.0.11");
owners and names inside rdata are made absolute here.
"""

import os
import random
import socket
import struct
import subprocess
import threading
import time

TYPES = {"A": 1, "NS": 2, "CNAME": 5, "SOA": 6, "MX": 15, "TXT": 16, "AAAA": 28}
RCODES = {0: "NOERROR", 1: "FORMERR", 2: "SERVFAIL", 3: "NXDOMAIN", 4: "NOTIMP", 5: "REFUSED"}

NSD = "/usr/sbin/nsd"


def absolute(name):
    return name if name.endswith(".") else name + "."


def encode_name(name):
    out = b""
    for label in name.rstrip(".").split("."):
        if label:
            raw = label.encode("idna") if not label.isascii() else label.encode()
            out += bytes([len(raw)]) + raw
    return out + b"\0"


def build_query(name, qtype="A", qid=None, rd=True):
    """A DNS query packet, and its id."""
    qid = random.randrange(65536) if qid is None else qid
    flags = 0x0100 if rd else 0
    header = struct.pack("!HHHHHH", qid, flags, 1, 0, 0, 0)
    return header + encode_name(name) + struct.pack("!HH", TYPES[qtype], 1), qid


def _skip_name(pkt, off):
    while True:
        n = pkt[off]
        if n == 0:
            return off + 1
        if n & 0xC0 == 0xC0:
            return off + 2
        off += n + 1


def parse_response(pkt):
    """Header fields and the answer count of a response, as a dict."""
    qid, flags, qd, an, ns, ar = struct.unpack("!HHHHHH", pkt[:12])
    return {
        "id": qid,
        "qr": bool(flags & 0x8000),
        "aa": bool(flags & 0x0400),
        "tc": bool(flags & 0x0200),
        "rcode": RCODES.get(flags & 0xF, str(flags & 0xF)),
        "qdcount": qd,
        "ancount": an,
        "nscount": ns,
    }


def query(server, name, qtype="A", port=53, timeout=1.0):
    """Ask server once over UDP; the parsed header, or None on timeout."""
    pkt, qid = build_query(name, qtype)
    family = socket.AF_INET6 if ":" in server else socket.AF_INET
    with socket.socket(family, socket.SOCK_DGRAM) as s:
        s.settimeout(timeout)
        s.sendto(pkt, (server, port))
        try:
            data, _ = s.recvfrom(4096)
        except (socket.timeout, ConnectionRefusedError):
            return None
    resp = parse_response(data)
    return resp if resp["id"] == qid else None


class Nsd:
    """nsd, authoritative for the zones a test declares, on addr:port.

    Use zone() or record() before start(). Zones get an SOA and an NS by
    themselves. nsd's log is in self.logfile for failure reports.
    """

    def __init__(self, netns, workdir, addr="127.0.0.53", port=53):
        self.netns = netns
        self.dir = os.path.join(workdir, "nsd")
        os.makedirs(self.dir, exist_ok=True)
        self.addr = addr
        self.port = port
        self.zones = {}
        self.proc = None
        self.logfile = os.path.join(self.dir, "nsd.log")

    def zone(self, origin, records=()):
        """Declare the zone origin (e.g. "test.") with records; adds to it if known."""
        origin = absolute(origin.lower())
        self.zones.setdefault(origin, [])
        for rec in records:
            self.record(*rec, zone=origin)
        return self

    def _zone_for(self, owner):
        owner = absolute(owner.lower())
        best = None
        for origin in self.zones:
            if owner == origin or owner.endswith("." + origin) or origin == ".":
                if best is None or len(origin) > len(best):
                    best = origin
        if best is None:
            best = "test."
            self.zones.setdefault(best, [])
        return best

    def record(self, owner, rtype, rdata, ttl=60, zone=None):
        rtype = rtype.upper()
        zone = zone or self._zone_for(owner)
        self.zones.setdefault(zone, []).append((absolute(owner), ttl, rtype, self._rdata(rtype, rdata)))
        return self

    # Shorthands for the common records.
    def mx(self, domain, hosts):
        """hosts: [(preference, name)], e.g. [(10, "mx1.a.test")]."""
        for pref, host in hosts:
            self.record(domain, "MX", f"{pref} {host}")
        return self

    def a(self, name, *addrs):
        for addr in addrs:
            self.record(name, "AAAA" if ":" in addr else "A", addr)
        return self

    @staticmethod
    def _rdata(rtype, rdata):
        rdata = str(rdata)
        if rtype == "MX":
            pref, host = rdata.split()
            return f"{pref} {absolute(host)}"
        if rtype in ("CNAME", "NS"):
            return absolute(rdata)
        if rtype == "TXT" and not rdata.startswith('"'):
            return '"' + rdata.replace('"', '\\"') + '"'
        return rdata

    def _write(self):
        zonelines = []
        for origin, records in self.zones.items():
            fname = (origin.rstrip(".") or "root") + ".zone"
            path = os.path.join(self.dir, fname)
            lines = [
                f"$ORIGIN {origin}",
                "$TTL 60",
                f"@ IN SOA ns.{origin} hostmaster.{origin} 1 3600 600 86400 60",
                f"@ IN NS ns.{origin}",
                f"ns.{origin} IN A {self.addr}" if ":" not in self.addr else f"ns.{origin} IN AAAA {self.addr}",
            ]
            for owner, ttl, rtype, rdata in records:
                lines.append(f"{owner} {ttl} IN {rtype} {rdata}")
            with open(path, "w") as f:
                f.write("\n".join(lines) + "\n")
            zonelines.append(f"zone:\n\tname: \"{origin}\"\n\tzonefile: \"{path}\"\n")
        conf = os.path.join(self.dir, "nsd.conf")
        d = self.dir
        with open(conf, "w") as f:
            f.write(
                "server:\n"
                f"\tip-address: {self.addr}@{self.port}\n"
                "\tusername: \"\"\n"
                "\tchroot: \"\"\n"
                f"\tzonesdir: \"{d}\"\n"
                "\tdatabase: \"\"\n"
                f"\tzonelistfile: \"{d}/zone.list\"\n"
                f"\tpidfile: \"{d}/nsd.pid\"\n"
                f"\txfrdfile: \"{d}/xfrd.state\"\n"
                f"\txfrdir: \"{d}/xfr\"\n"
                f"\tlogfile: \"{self.logfile}\"\n"
                "\tserver-count: 1\n"
                "\tverbosity: 1\n"
                "\thide-version: yes\n"
                "\treuseport: no\n"
                "\ttcp-count: 20\n"
                "remote-control:\n"
                "\tcontrol-enable: no\n"
                + "".join(zonelines)
            )
        return conf

    def start(self, timeout=10.0):
        """Write the config and zones, start nsd and wait until it answers."""
        if not self.zones:
            self.zone("test.")
        conf = self._write()
        check = subprocess.run(["/usr/sbin/nsd-checkconf", conf], capture_output=True, text=True)
        if check.returncode != 0:
            raise RuntimeError(f"nsd-checkconf {conf}: {check.stdout}{check.stderr}")
        self.netns.add_addr(self.addr)
        self.proc = self.netns.spawn([NSD, "-d", "-c", conf], name="nsd", logfile=self.logfile + ".out")
        self.proc.described = True
        probe = next(iter(self.zones))
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"nsd exited with {self.proc.returncode}: {self.log()}")
            resp = query(self.addr, probe, "SOA", port=self.port, timeout=0.2)
            if resp and resp["rcode"] == "NOERROR" and resp["ancount"] > 0:
                return self
            time.sleep(0.05)
        raise RuntimeError(f"nsd on {self.addr}:{self.port} did not answer within {timeout}s: {self.log()}")

    def replace(self, owner, rtype, rdata, ttl=60):
        """owner's records of rtype become rdata alone (then restart() to serve them)."""
        rtype = rtype.upper()
        zone = self._zone_for(owner)
        self.zones[zone] = [r for r in self.zones[zone]
                            if not (r[0] == absolute(owner) and r[2] == rtype)]
        return self.record(owner, rtype, rdata, ttl=ttl, zone=zone)

    def restart(self, timeout=10.0):
        """Stop nsd and start it again on the zones as they are now."""
        if self.proc is not None:
            self.proc.stop()
        return self.start(timeout=timeout)

    def log(self):
        out = ""
        for path in (self.logfile, self.logfile + ".out"):
            try:
                with open(path, errors="replace") as f:
                    out += f.read()
            except OSError:
                pass
        return out

    def describe(self):
        text = ""
        for origin, records in self.zones.items():
            text += f"zone {origin}\n" + "".join(f"  {o} {t} {r}\n" for o, _, t, r in records)
        return text + "nsd log:\n" + self.log()


class UdpDns:
    """A DNS server on UDP addr:port in a thread of the test's namespace: its
    socket, its thread and their end, the question of a query, a forward to
    an upstream server. A subclass answers each datagram in serve(pkt, peer).
    """

    thread_name = "udp-dns"

    def __init__(self, netns, addr, port=53):
        self.netns = netns
        self.addr = addr
        self.port = port
        self.sock = None
        self.thread = None
        self.stopping = threading.Event()

    def start(self):
        self.netns.add_addr(self.addr)
        family = socket.AF_INET6 if ":" in self.addr else socket.AF_INET
        self.sock = socket.socket(family, socket.SOCK_DGRAM)
        self.sock.bind((self.addr, self.port))
        self.sock.settimeout(0.2)
        self.thread = threading.Thread(target=self._run, name=self.thread_name, daemon=True)
        self.thread.start()
        self.netns.on_stop(self.stop)
        return self

    def stop(self):
        self.stopping.set()
        if self.thread:
            self.thread.join(5)
        if self.sock:
            self.sock.close()

    @staticmethod
    def question(pkt):
        """(name in lower case, qtype, the question section's octets) of a query."""
        labels = []
        off = 12
        while pkt[off] != 0:
            n = pkt[off]
            labels.append(pkt[off + 1:off + 1 + n].decode("ascii", "replace"))
            off += n + 1
        off += 1
        qtype = struct.unpack("!H", pkt[off:off + 2])[0]
        return ".".join(labels).lower(), qtype, pkt[12:off + 4]

    @staticmethod
    def forward(pkt, upstream, timeout=2):
        """The answer of upstream (an (addr, port) pair) to pkt, or None."""
        family = socket.AF_INET6 if ":" in upstream[0] else socket.AF_INET
        with socket.socket(family, socket.SOCK_DGRAM) as s:
            s.settimeout(timeout)
            s.sendto(pkt, upstream)
            try:
                return s.recvfrom(65535)[0]
            except (socket.timeout, ConnectionRefusedError):
                return None

    def send(self, out, peer):
        try:
            self.sock.sendto(out, peer)
        except OSError:
            pass

    def serve(self, pkt, peer):
        raise NotImplementedError

    def _run(self):
        while not self.stopping.is_set():
            try:
                pkt, peer = self.sock.recvfrom(65535)
            except socket.timeout:
                continue
            except OSError:
                return
            self.serve(pkt, peer)


class FaultyDns(UdpDns):
    """A UDP responder for the answers a good server never gives.

    rules maps a lower-case name (no trailing dot) or "*" to one of:
      "servfail", "refused", "nxdomain", "truncated" (TC bit, no answers,
      and nobody on TCP), "garbage" (random bytes), "wrongid" (a well-formed
      answer with another id), "drop" (no answer at all), "short" (12 bytes
      cut to 7).
    Names without a rule are forwarded to upstream (an (addr, port) pair)
    when given, else answered SERVFAIL. Runs in a thread of the test's
    namespace; every query is recorded in self.queries as (name, type).
    """

    thread_name = "faulty-dns"

    def __init__(self, netns, addr="127.0.0.53", port=53, rules=None, upstream=None):
        super().__init__(netns, addr, port)
        self.rules = {k.lower().rstrip("."): v for k, v in (rules or {}).items()}
        self.upstream = upstream
        self.queries = []

    def _reply(self, pkt, rcode, tc=False, qid=None):
        rid = struct.unpack("!H", pkt[:2])[0] if qid is None else qid
        rd = struct.unpack("!H", pkt[2:4])[0] & 0x0100
        flags = 0x8000 | 0x0400 | 0x0080 | rd | rcode | (0x0200 if tc else 0)
        _, _, question = self.question(pkt)
        return struct.pack("!HHHHHH", rid, flags, 1, 0, 0, 0) + question

    def serve(self, pkt, peer):
        try:
            name, qtype, _ = self.question(pkt)
        except (IndexError, struct.error):
            return
        self.queries.append((name, qtype))
        rule = self.rules.get(name, self.rules.get("*"))
        out = None
        if rule is None:
            out = self.forward(pkt, self.upstream) if self.upstream else self._reply(pkt, 2)
        elif rule == "servfail":
            out = self._reply(pkt, 2)
        elif rule == "refused":
            out = self._reply(pkt, 5)
        elif rule == "nxdomain":
            out = self._reply(pkt, 3)
        elif rule == "truncated":
            out = self._reply(pkt, 0, tc=True)
        elif rule == "garbage":
            out = os.urandom(40)
        elif rule == "short":
            out = self._reply(pkt, 0)[:7]
        elif rule == "wrongid":
            qid = (struct.unpack("!H", pkt[:2])[0] + 1) & 0xFFFF
            out = self._reply(pkt, 0, qid=qid)
        if out:
            self.send(out, peer)
