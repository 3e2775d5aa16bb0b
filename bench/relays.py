"""relays: the two relays under test, each started fresh from files the bench writes.

Owns the configuration of Postfix and of mxrelay for the bench, starting
each one on 127.0.0.10:25 with an empty queue, finding the root of its
process tree (for CPU and memory), and stopping it with everything it
spawned. Both relay for 127.0.0.0/8 to the MX hosts that the bench DNS
server names, at their default durability.
"""

import os
import pwd
import shutil
import signal
import socket
import subprocess
import time

from netsvc import DNS_ADDR, cert_paths, stop_process

RELAY_ADDR = "127.0.0.10"
# Large enough for the 50 MiB workload; both relays get the same limit.
MAX_MESSAGE_SIZE = 64 * 1024 * 1024


def _wait_port_free(addr, port, timeout=15):
    """Wait until nothing listens on addr:port any more.

    Postfix's master exits on SIGTERM before the smtpd processes that
    inherited its listening socket; the next relay's bind would fail with
    EADDRINUSE while one of them lingers.
    """
    end = time.monotonic() + timeout
    while True:
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind((addr, port))
            return True
        except OSError:
            if time.monotonic() >= end:
                return False
            time.sleep(0.05)
        finally:
            s.close()


def _wait_greeting(addr, port, proc, timeout):
    """Wait until addr:port answers with a 220 greeting; False if proc died."""
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if proc.poll() is not None:
            return False
        try:
            with socket.create_connection((addr, port), timeout=1.0) as s:
                if s.recv(512).startswith(b"220"):
                    s.sendall(b"QUIT\r\n")
                    return True
        except OSError:
            pass
        time.sleep(0.1)
    return False


def _keep_log(src, work, name):
    """Copy a relay's log to work/logs/NAME-SEQ.log before its directory goes."""
    logs = os.path.join(work, "logs")
    os.makedirs(logs, exist_ok=True)
    seq = len(os.listdir(logs)) + 1
    try:
        shutil.copyfile(src, os.path.join(logs, f"{seq:03d}-{name}.log"))
    except OSError:
        pass


def _last_lines(path, n=3):
    try:
        with open(path, errors="replace") as f:
            lines = [l.strip() for l in f if l.strip()]
        return " / ".join(lines[-n:])
    except OSError:
        return ""


class Postfix:
    """A private Postfix instance: own config directory, queue and log."""

    name = "postfix"

    def __init__(self, root, work):
        self.work = work
        self.dir = os.path.join(work, "postfix")
        self.proc = None
        self.master_pid = None

    def unavailable(self):
        """Why this relay cannot run, or None."""
        if shutil.which("postfix") is None:
            return "postfix not installed"
        return None

    def _write_config(self):
        d = self.dir
        conf = os.path.join(d, "etc")
        os.makedirs(conf)
        # Everything not set here is Postfix's default, as an administrator
        # gets it: one fsync per queue file, in_flow_delay = 1s, 100
        # processes per service, 20 deliveries in parallel per destination,
        # connection cache on demand. Set only: where it lives, who it relays
        # for, no local delivery, a log file, and a size limit large enough
        # for the 50 MiB workload, and STARTTLS offered and used when the
        # peer offers it (the bench's self-signed certificate), as for mxrelay.
        cert, key = cert_paths(self.work)
        main_cf = f"""\
compatibility_level = 3.6
config_directory = {conf}
queue_directory = {d}/queue
data_directory = {d}/data
mail_owner = postfix
setgid_group = postdrop
myhostname = relay.bench.test
inet_interfaces = {RELAY_ADDR}
inet_protocols = ipv4
mynetworks = 127.0.0.0/8
mydestination =
relay_domains =
local_recipient_maps =
alias_maps =
alias_database =
smtpd_relay_restrictions = permit_mynetworks, reject_unauth_destination
message_size_limit = {MAX_MESSAGE_SIZE}
maillog_file = {d}/maillog
smtpd_tls_security_level = may
smtpd_tls_cert_file = {cert}
smtpd_tls_key_file = {key}
smtp_tls_security_level = may
"""
        with open(os.path.join(conf, "main.cf"), "w") as f:
            f.write(main_cf)
        # The services Postfix needs to relay, none chrooted: the chroot
        # would need a copy of resolv.conf inside the private queue.
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
            ("verify", "unix", "-", "-", "n", "-", "1", "verify"),
            ("flush", "unix", "n", "-", "n", "1000?", "0", "flush"),
            ("proxymap", "unix", "-", "-", "n", "-", "-", "proxymap"),
            ("proxywrite", "unix", "-", "-", "n", "-", "1", "proxymap"),
            ("smtp", "unix", "-", "-", "n", "-", "-", "smtp"),
            ("relay", "unix", "-", "-", "n", "-", "-", "smtp"),
            ("showq", "unix", "n", "-", "n", "-", "-", "showq"),
            ("error", "unix", "-", "-", "n", "-", "-", "error"),
            ("retry", "unix", "-", "-", "n", "-", "-", "error"),
            ("discard", "unix", "-", "-", "n", "-", "-", "discard"),
            ("local", "unix", "-", "n", "n", "-", "-", "local"),
            ("anvil", "unix", "-", "-", "n", "-", "1", "anvil"),
            ("scache", "unix", "-", "-", "n", "-", "1", "scache"),
            ("postlog", "unix-dgram", "n", "-", "n", "-", "1", "postlogd"),
        ]
        with open(os.path.join(conf, "master.cf"), "w") as f:
            for row in services:
                f.write("  ".join(row) + "\n")

    def start(self):
        """Start with an empty queue; return the root PID of its process tree."""
        shutil.rmtree(self.dir, ignore_errors=True)
        os.makedirs(self.dir)
        os.chmod(self.dir, 0o755)
        os.makedirs(os.path.join(self.dir, "queue"))
        self._write_config()
        conf = os.path.join(self.dir, "etc")
        env = dict(os.environ, MAIL_CONFIG=conf)
        out = open(os.path.join(self.dir, "start.log"), "w")
        # Creates the queue directories with their owners and modes.
        subprocess.run(["postfix", "-c", conf, "check"], env=env,
                       stdout=out, stderr=subprocess.STDOUT)
        self.proc = subprocess.Popen(["postfix", "-c", conf, "start-fg"],
                                     env=env, stdout=out,
                                     stderr=subprocess.STDOUT,
                                     start_new_session=True)
        if not _wait_greeting(RELAY_ADDR, 25, self.proc, 30):
            reason = _last_lines(os.path.join(self.dir, "maillog")) or \
                _last_lines(os.path.join(self.dir, "start.log"))
            self.stop()
            raise RuntimeError("postfix did not start: " + reason)
        with open(os.path.join(self.dir, "queue", "pid", "master.pid")) as f:
            self.master_pid = int(f.read().split()[0])
        return self.master_pid

    def stop(self):
        if self.master_pid:
            try:
                os.kill(self.master_pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
            end = time.monotonic() + 10
            while time.monotonic() < end and os.path.exists(f"/proc/{self.master_pid}"):
                time.sleep(0.05)
            if os.path.exists(f"/proc/{self.master_pid}"):
                os.kill(self.master_pid, signal.SIGKILL)
            self.master_pid = None
            _wait_port_free(RELAY_ADDR, 25)
        if self.proc is not None:
            stop_process(self.proc)
            _keep_log(self.log_path(), self.work, self.name)
        self.proc = None

    def log_path(self):
        return os.path.join(self.dir, "maillog")


class Mxrelay:
    """build/mxrelayd with a configuration in the format of mxrelay.conf(5)."""

    name = "mxrelay"

    def __init__(self, root, work):
        self.work = work
        # MXRELAYD names another binary, e.g. to compare two builds.
        self.bin = os.environ.get("MXRELAYD") or os.path.join(root, "build", "mxrelayd")
        self.dir = os.path.join(work, "mxrelay")
        self.proc = None
        # Lines a workload adds to the configuration for its runs (DKIM keys).
        self.extra = ""
        # Where it listens (a fleet's second node listens elsewhere).
        self.listen_addr = RELAY_ADDR
        self.addrs = [f"{RELAY_ADDR}:25"]

    def dkim_key(self, alg):
        """A DKIM key for the sender's domain, made once by `mxrelay dkim keygen`: its
        dkim_sign line. The key stays root's (mode 0600), as the daemon wants it."""
        sel = {"rsa-sha256": "rsa2048", "ed25519-sha256": "ed25519"}[alg]
        keydir = os.path.join(self.work, "dkim")
        path = os.path.join(keydir, f"src.bench.test.{sel}.key")
        if not os.path.exists(path):
            mxrelay = os.path.join(os.path.dirname(self.bin), "mxrelay")
            subprocess.run([mxrelay, "dkim", "keygen", "src.bench.test", sel, "--algorithm", alg,
                            "--dir", keydir], check=True, stdout=subprocess.DEVNULL)
        return f"dkim_sign = src.bench.test {sel} {path} algorithm={alg}\n"

    def unavailable(self):
        if not os.access(self.bin, os.X_OK):
            return f"{os.path.relpath(self.bin)} not built"
        return None

    def _write_config(self):
        d = self.dir
        # Defaults except: where it listens and queues, the DNS server of the
        # namespace, the limits the workloads need (a 50 MiB message,
        # 10,000 connections from one client address), and the bench's
        # certificate for STARTTLS (outbound_tls is opportunistic by default).
        cert, key = cert_paths(self.work)
        text = f"""\
# written by bench/relays.py
hostname = relay.bench.test
listen = {self.listen_addr}:25 relay
relay_networks = 127.0.0.0/8
queue_dir = {d}/queue
control_socket = {d}/control.sock
dns_server = {DNS_ADDR}
user = nobody
max_message_size = {MAX_MESSAGE_SIZE}
max_connections = 12000
max_connections_per_ip = 12000
tls_cert = {cert}
tls_key = {key}
{self.extra}"""
        path = os.path.join(d, "mxrelay.conf")
        with open(path, "w") as f:
            f.write(text)
        return path

    def start(self):
        shutil.rmtree(self.dir, ignore_errors=True)
        os.makedirs(os.path.join(self.dir, "queue"))
        os.chmod(self.dir, 0o755)
        nobody = pwd.getpwnam("nobody")
        os.chown(os.path.join(self.dir, "queue"), nobody.pw_uid, nobody.pw_gid)
        os.chown(self.dir, nobody.pw_uid, nobody.pw_gid)
        conf = self._write_config()
        log = open(self.log_path(), "w")
        self.proc = subprocess.Popen([self.bin, "-c", conf], stdout=log,
                                     stderr=subprocess.STDOUT,
                                     start_new_session=True)
        if not _wait_greeting(self.listen_addr, 25, self.proc, 15):
            reason = _last_lines(self.log_path()) or "no greeting on port 25"
            self.stop()
            raise RuntimeError("mxrelayd did not start: " + reason)
        return self.proc.pid

    def stop(self):
        if self.proc is not None:
            stop_process(self.proc, grace=10)
            _keep_log(self.log_path(), self.work, self.name)
        self.proc = None

    def log_path(self):
        return os.path.join(self.dir, "mxrelayd.log")


def _pg_bin():
    """The newest installed PostgreSQL's bin directory, or None."""
    import glob
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"),
                   key=lambda p: int(p.split("/")[-3]) if p.split("/")[-3].isdigit() else 0)
    return os.path.dirname(found[-1]) if found else None


def _as_postgres():
    pw = pwd.getpwnam("postgres")

    def drop():
        os.setgid(pw.pw_gid)
        os.initgroups("postgres", pw.pw_gid)
        os.setuid(pw.pw_uid)
    return drop


class PgServer:
    """The PostgreSQL server a fleet's queue lives on: Debian's binaries, run as
    postgres on the scratch disk, at its defaults (fsync and synchronous_commit
    on, shared_buffers 128 MB), made once per bench run and listening on a UNIX
    socket only. Its processes count in the CPU and memory of the relays on it."""

    def __init__(self, work):
        self.dir = os.path.join(work, "pg")
        self.data = os.path.join(self.dir, "data")
        self.made = False
        self.running = False

    def _run(self, *argv):
        subprocess.run([os.path.join(_pg_bin(), argv[0]), *argv[1:]], check=True, cwd="/",
                       preexec_fn=_as_postgres(), stdout=subprocess.DEVNULL,
                       stderr=subprocess.PIPE)

    def start(self):
        if self.running:
            return
        if not self.made:
            os.makedirs(self.dir)
            os.chmod(self.dir, 0o755)
            shutil.chown(self.dir, "postgres", "postgres")
            self._run("initdb", "-D", self.data, "-U", "postgres", "-A", "trust", "-E", "UTF8",
                      "--locale=C", "--no-instructions")
            with open(os.path.join(self.data, "postgresql.auto.conf"), "a") as f:
                f.write(f"listen_addresses = ''\nunix_socket_directories = '{self.dir}'\n"
                        "fsync = on\nsynchronous_commit = on\nmax_connections = 100\n")
            self.made = True
        self._run("pg_ctl", "-D", self.data, "-l", os.path.join(self.dir, "server.log"), "-w",
                  "start")
        self.running = True

    def psql(self, sql):
        subprocess.run([os.path.join(_pg_bin(), "psql"), "-X", "-q", "-v", "ON_ERROR_STOP=1",
                        "-h", self.dir, "-U", "postgres", "-d", "postgres", "-c", sql],
                       check=True, cwd="/", preexec_fn=_as_postgres(), stdout=subprocess.DEVNULL)

    def fresh_database(self):
        """An empty database for one run; its DSN."""
        self.psql("DROP DATABASE IF EXISTS mxrelay WITH (FORCE)")
        self.psql("DO $$BEGIN IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'mxrelay')"
                  " THEN CREATE ROLE mxrelay LOGIN; END IF; END$$")
        self.psql("CREATE DATABASE mxrelay OWNER mxrelay")
        # A checkpoint now, so that the last run's dirty pages are not written during this one.
        self.psql("CHECKPOINT")
        return f"postgresql:///mxrelay?host={self.dir}&user=mxrelay"

    def postmaster_pid(self):
        with open(os.path.join(self.data, "postmaster.pid")) as f:
            return int(f.readline())

    def stop(self):
        if self.running:
            self._run("pg_ctl", "-D", self.data, "-m", "fast", "-w", "stop")
        self.running = False


# The second node of a two-node fleet listens here (bench/run adds the address).
FLEET_ADDRS = (RELAY_ADDR, "127.0.0.11")


class MxrelayPg:
    """build/mxrelayd on a PostgreSQL queue: one node, or a fleet of two on one
    database (each node its own listener, node_id and queue_dir). The workloads
    split their load over the nodes' listeners; every process of the nodes and of
    the PostgreSQL server counts in the figures."""

    # Workloads run against this relay: small and mid-size mail, and one 50 MiB message
    # (flat memory through the server); others would take long and say little more.
    only = ("a", "c", "d")

    def __init__(self, root, work, pg, nodes):
        self.pg = pg
        self.nodes = [Mxrelay(root, work) for _ in range(nodes)]
        self.name = "mxrelay-pg1" if nodes == 1 else f"mxrelay-pg{nodes}"
        self.extra = ""
        for i, n in enumerate(self.nodes):
            n.dir = os.path.join(work, f"{self.name}-node{i + 1}")
        self.addrs = [f"{a}:25" for a in FLEET_ADDRS[:nodes]]

    def unavailable(self):
        why = self.nodes[0].unavailable()
        if why:
            return why
        if _pg_bin() is None:
            return "PostgreSQL not installed (scripts/install-deps bench installs it)"
        return None

    def start(self):
        self.pg.start()
        dsn = self.pg.fresh_database()
        pids = []
        for i, n in enumerate(self.nodes):
            addr = FLEET_ADDRS[i]
            n.extra = (f"queue_backend = postgresql\nqueue_dsn = {dsn}\nnode_id = node{i + 1}\n"
                       + self.extra)
            n.listen_addr = addr
            pids.append(n.start())
        return pids + [self.pg.postmaster_pid()]

    def own_pids(self, pids):
        """The nodes' processes of what start() returned (the server is last)."""
        return pids[:-1]

    def stop(self):
        for n in self.nodes:
            n.stop()

    def log_path(self):
        return self.nodes[0].log_path()
