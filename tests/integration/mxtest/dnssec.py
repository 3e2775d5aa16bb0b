"""A DNSSEC test bed: a signed hierarchy under test., served by nsd, and a
validating unbound in front of it, as a real deployment has it.

    bed.zone("secure.test", signed=True)
    bed.zone("insecure.test", signed=False)
    bed.zone("bogus.test", signed=True, bogus=True)
    bed.mx("secure.test", [(10, "mx.secure.test")]).a("mx.secure.test", "127.0.0.11")
    bed.record("_25._tcp.mx.secure.test", "TLSA", "3 1 1 " + "ab" * 32)
    bed.start()
    # bed.resolver ("127.0.0.54"): the validating unbound;
    # bed.anchor_file: the DS of test., what an administrator would give
    # as dnssec_trust_anchor; bed.nsd_addr ("127.0.0.53"): nsd itself.

The parent zone test. is always signed and holds the delegations: NS and
glue for every child, a DS for each signed one and none for an unsigned
one, so an unsigned child is proven insecure by the parent's NSEC, as on
the Internet. Keys are ECDSAP256SHA256 (algorithm 13) made with
ldns-keygen; zones are signed with ldns-signzone (package ldnsutils). A
bogus zone is signed with validity dates long past, so its DNSKEY RRset
(and everything under it) fails validation; bed.corrupt(owner, type)
alters one RRSIG after signing, for a bogus RRset in an otherwise secure
zone. unbound runs in the foreground with its own configuration in the
test's directory (no chroot, no user change) and a stub zone for test.
pointing at nsd. Everything stops at the test's teardown.

RecordingProxy is a UDP relay that records each query's name, type and CD
bit and each answer's rcode: what a resolver asks its server.
"""

import datetime
import os
import struct
import subprocess
import threading
import time

from .dns import Nsd, UdpDns, absolute, query

LDNS_KEYGEN = "/usr/bin/ldns-keygen"
LDNS_SIGNZONE = "/usr/bin/ldns-signzone"
UNBOUND = "/usr/sbin/unbound"
UNBOUND_CHECKCONF = "/usr/sbin/unbound-checkconf"
ALGORITHM = "ECDSAP256SHA256"


def _stamp(when):
    return when.strftime("%Y%m%d%H%M%S")


class SignedNsd(Nsd):
    """nsd whose zones are signed (or not) as the bed says before it starts."""

    def __init__(self, netns, workdir, bed, addr):
        super().__init__(netns, workdir, addr=addr)
        self.bed = bed

    def _write(self):
        conf = super()._write()
        self.bed._sign_all()
        return conf


class DnssecBed:
    """The signed hierarchy, nsd and the validating unbound of one test."""

    def __init__(self, netns, workdir, nsd_addr="127.0.0.53", resolver_addr="127.0.0.54"):
        self.netns = netns
        self.dir = os.path.join(workdir, "dnssec")
        os.makedirs(self.dir, exist_ok=True)
        self.nsd_addr = nsd_addr
        self.resolver = resolver_addr
        self.nsd = SignedNsd(netns, workdir, self, nsd_addr)
        self.children = {}        # origin -> {"signed": bool, "bogus": bool}
        self.corrupted = []       # (owner, type) whose RRSIG is altered after signing
        self.anchor_file = os.path.join(self.dir, "test.anchor")
        self.unbound_log = os.path.join(self.dir, "unbound.log")
        self.unbound = None
        self.nsd.zone("test.")
        netns.peers.append(self)

    # --- declaring ----------------------------------------------------------

    def zone(self, origin, signed=True, bogus=False):
        """Declare a child zone of test., signed or not; bogus ones fail validation."""
        origin = absolute(origin.lower())
        if origin == "test." or not origin.endswith(".test."):
            raise ValueError(f"{origin}: the bed's zones are children of test.")
        if bogus and not signed:
            raise ValueError(f"{origin}: a bogus zone must be signed")
        self.children[origin] = {"signed": signed, "bogus": bogus}
        self.nsd.zone(origin)
        # The delegation: NS and glue in the parent.
        self.nsd.record(origin, "NS", f"ns.{origin}", zone="test.")
        self.nsd.record(f"ns.{origin}", "A", self.nsd_addr, zone="test.")
        return self

    def record(self, owner, rtype, rdata, ttl=60):
        self.nsd.record(owner, rtype, rdata, ttl=ttl)
        return self

    def mx(self, domain, hosts):
        self.nsd.mx(domain, hosts)
        return self

    def a(self, name, *addrs):
        self.nsd.a(name, *addrs)
        return self

    def corrupt(self, owner, rtype):
        """After signing, alter the RRSIG over owner's rtype RRset: that RRset is bogus."""
        self.corrupted.append((absolute(owner.lower()), rtype.upper()))
        return self

    # --- signing ------------------------------------------------------------

    def _run(self, argv):
        res = subprocess.run(argv, cwd=self.dir, capture_output=True, text=True)
        if res.returncode != 0:
            raise RuntimeError(f"{' '.join(argv)}: exit {res.returncode}: {res.stdout}{res.stderr}")
        return res.stdout

    def _keys(self, origin):
        """A KSK and a ZSK for origin: their base names, and the KSK's DS line."""
        ksk = self._run([LDNS_KEYGEN, "-a", ALGORITHM, "-k", origin]).strip()
        zsk = self._run([LDNS_KEYGEN, "-a", ALGORITHM, origin]).strip()
        with open(os.path.join(self.dir, ksk + ".ds")) as f:
            ds = f.read().strip()
        return ksk, zsk, ds

    def _zonefile(self, origin):
        return os.path.join(self.nsd.dir, (origin.rstrip(".") or "root") + ".zone")

    def _sign(self, origin, ksk, zsk, bogus):
        now = datetime.datetime.now(datetime.timezone.utc)
        if bogus:
            # Validity long past: every signature of the zone has expired.
            start, end = datetime.datetime(2020, 1, 1), datetime.datetime(2020, 2, 1)
        else:
            start, end = now - datetime.timedelta(days=1), now + datetime.timedelta(days=30)
        path = self._zonefile(origin)
        signed = path + ".signed"
        self._run([LDNS_SIGNZONE, "-i", _stamp(start), "-e", _stamp(end), "-f", signed, path,
                   os.path.join(self.dir, zsk), os.path.join(self.dir, ksk)])
        self._corrupt(signed, origin)
        os.replace(signed, path)

    def _corrupt(self, path, origin):
        """Alter the signature of each RRSIG asked for by corrupt() in this zone."""
        wanted = {(o, t) for o, t in self.corrupted if self.nsd._zone_for(o) == origin}
        if not wanted:
            return
        with open(path) as f:
            lines = f.read().splitlines()
        done = set()
        for i, line in enumerate(lines):
            fields = line.split()
            if len(fields) < 13 or fields[3] != "RRSIG" or (fields[0].lower(), fields[4]) not in wanted:
                continue
            sig = fields[-1]
            pos = len(sig) // 2
            fields[-1] = sig[:pos] + ("A" if sig[pos] != "A" else "B") + sig[pos + 1:]
            lines[i] = "\t".join(fields)
            done.add((fields[0].lower(), fields[4]))
        missing = wanted - done
        if missing:
            raise RuntimeError(f"corrupt(): no RRSIG for {sorted(missing)} in {path}")
        with open(path, "w") as f:
            f.write("\n".join(lines) + "\n")

    def _sign_all(self):
        """Keys, DS records in the parent, signatures: children first, then test."""
        ds_lines = []
        for origin, how in self.children.items():
            if not how["signed"]:
                continue
            ksk, zsk, ds = self._keys(origin)
            ds_lines.append(ds)
            self._sign(origin, ksk, zsk, how["bogus"])
        with open(self._zonefile("test."), "a") as f:
            f.write("".join(line + "\n" for line in ds_lines))
        ksk, zsk, ds = self._keys("test.")
        self._sign("test.", ksk, zsk, False)
        with open(self.anchor_file, "w") as f:
            f.write(f"; trust anchor of the test bed: the DS of test.\n{ds}\n")

    # --- running ------------------------------------------------------------

    def _unbound_conf(self):
        conf = os.path.join(self.dir, "unbound.conf")
        d = self.dir
        with open(conf, "w") as f:
            f.write(
                "server:\n"
                f"\tinterface: {self.resolver}@53\n"
                "\tusername: \"\"\n"
                "\tchroot: \"\"\n"
                f"\tdirectory: \"{d}\"\n"
                f"\tpidfile: \"{d}/unbound.pid\"\n"
                "\tuse-syslog: no\n"
                f"\tlogfile: \"{self.unbound_log}\"\n"
                "\tverbosity: 1\n"
                "\tval-log-level: 2\n"
                "\tnum-threads: 1\n"
                "\tso-reuseport: no\n"
                "\tdo-ip6: no\n"
                "\tdo-not-query-localhost: no\n"
                "\taccess-control: 127.0.0.0/8 allow\n"
                f"\ttrust-anchor-file: \"{self.anchor_file}\"\n"
                "\tmodule-config: \"validator iterator\"\n"
                # test. is one of unbound's built-in special-use zones (RFC 6761).
                "\tlocal-zone: \"test.\" nodefault\n"
                "\tqname-minimisation: no\n"
                "remote-control:\n"
                "\tcontrol-enable: no\n"
                "stub-zone:\n"
                "\tname: \"test.\"\n"
                f"\tstub-addr: {self.nsd_addr}@53\n"
            )
        check = subprocess.run([UNBOUND_CHECKCONF, conf], capture_output=True, text=True)
        if check.returncode != 0:
            raise RuntimeError(f"unbound-checkconf {conf}: {check.stdout}{check.stderr}")
        return conf

    def start(self, timeout=15.0):
        """Sign, start nsd and unbound, and wait until unbound answers for test."""
        self.nsd.start()
        conf = self._unbound_conf()
        self.netns.add_addr(self.resolver)
        self.unbound = self.netns.spawn([UNBOUND, "-d", "-c", conf], name="unbound")
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.unbound.poll() is not None:
                raise RuntimeError(f"unbound exited with {self.unbound.returncode}: {self.log()}")
            resp = query(self.resolver, "test.", "SOA", timeout=0.3)
            if resp and resp["rcode"] == "NOERROR" and resp["ancount"] > 0:
                return self
            time.sleep(0.05)
        raise RuntimeError(f"unbound on {self.resolver} did not answer within {timeout}s: {self.log()}")

    def log(self):
        try:
            with open(self.unbound_log, errors="replace") as f:
                return f.read()[-6000:]
        except OSError:
            return ""

    def describe(self):
        zones = ", ".join(f"{o} ({'bogus' if h['bogus'] else 'signed' if h['signed'] else 'unsigned'})"
                          for o, h in self.children.items())
        return f"dnssec bed: {zones}; corrupted {self.corrupted}\nunbound log:\n{self.log()}"


class RecordingProxy(UdpDns):
    """A UDP relay on addr:53 to upstream that records what passes.

    self.queries holds one dict per query: name, type (number), cd (the
    checking-disabled bit), and rcode of the answer (None when none came).
    """

    thread_name = "recording-proxy"

    def __init__(self, netns, addr, upstream):
        super().__init__(netns, addr)
        self.upstream = upstream
        self.queries = []

    def _relay(self, pkt, peer):
        try:
            name, qtype, _ = self.question(pkt)
        except (IndexError, struct.error):
            return
        flags = struct.unpack("!H", pkt[2:4])[0]
        rec = {"name": name, "type": qtype, "cd": bool(flags & 0x0010), "rcode": None}
        self.queries.append(rec)
        out = self.forward(pkt, self.upstream, timeout=3)
        if out is None:
            return
        rec["rcode"] = struct.unpack("!H", out[2:4])[0] & 0xF
        self.send(out, peer)

    def serve(self, pkt, peer):
        # Each in a thread of its own: a validating resolver asks many at once.
        threading.Thread(target=self._relay, args=(pkt, peer), daemon=True).start()
