"""A private PostgreSQL server as a test peer: Debian's own binaries, run
as the `postgres` user on a temporary directory (initdb refuses root).

PgCluster(base).start() makes a cluster (a copy of one made by initdb once
per test session, which saves most of the start-up), with fsync and
synchronous_commit on as a production server has them, and starts it
listening on a UNIX socket in its own directory (reachable from every
network namespace) and, when given tcp=ADDR, on ADDR:5432 as well (then
start it inside the test's namespace). stop(mode) and start() again on
demand: "immediate" is a crash (no checkpoint, WAL recovery at the next
start), "fast" an orderly stop.

standby() makes a streaming replica of a running cluster (pg_basebackup,
then a server of its own in recovery, synchronous by default: the
primary's commits return only once the standby has them), and promote()
makes a standby the primary, as an operator's failover does.

database(name) creates a database owned by the role `mxrelay` (login,
no password: the cluster trusts local connections) and returns a
PgDatabase: .dsn for mxrelay.conf's queue_dsn, .rows(sql) and .value(sql)
to read it back with psql, .sql(sql) to change it.

Only the standard library: everything goes through Debian's psql.
"""

import atexit
import csv
import glob
import io
import os
import pwd
import shutil
import subprocess
import tempfile
import threading
import time

_template_lock = threading.Lock()
_template_dir = None


def bindir():
    """The newest installed PostgreSQL's bin directory, or None."""
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"),
                   key=lambda p: int(p.split("/")[-3]) if p.split("/")[-3].isdigit() else 0)
    return os.path.dirname(found[-1]) if found else None


def available():
    """None when a private PostgreSQL can run here, else why not."""
    if bindir() is None:
        return "PostgreSQL is not installed (scripts/install-deps test installs postgresql)"
    try:
        pwd.getpwnam("postgres")
    except KeyError:
        return "no postgres user (the postgresql package makes it)"
    if os.geteuid() != 0 or os.environ.get("MXTEST_IN_USERNS"):
        return "a private PostgreSQL needs real root (initdb and the server run as postgres)"
    return None


def _as_postgres():
    pw = pwd.getpwnam("postgres")

    def drop():
        os.setgid(pw.pw_gid)
        os.initgroups("postgres", pw.pw_gid)
        os.setuid(pw.pw_uid)
    return drop


def _run(argv, **kw):
    res = subprocess.run(argv, capture_output=True, text=True, preexec_fn=_as_postgres(),
                         cwd="/", **kw)
    if res.returncode != 0:
        raise RuntimeError(f"{' '.join(argv)} exited {res.returncode}: {res.stderr.strip()}")
    return res.stdout


def _template():
    """A data directory made by initdb once per session, copied for each cluster."""
    global _template_dir
    with _template_lock:
        if _template_dir is None:
            d = tempfile.mkdtemp(prefix="mxpg-tpl-")
            # The session's template goes with the session (each worker has its own).
            atexit.register(shutil.rmtree, d, True)
            os.chmod(d, 0o755)
            shutil.chown(d, "postgres", "postgres")
            data = os.path.join(d, "data")
            _run([os.path.join(bindir(), "initdb"), "-D", data, "-U", "postgres", "-A", "trust",
                  "-E", "UTF8", "--locale=C", "--no-instructions"])
            _template_dir = data
        return _template_dir


class PgDatabase:
    """One database of a PgCluster, owned by the role mxrelay."""

    def __init__(self, cluster, name):
        self.cluster = cluster
        self.name = name

    @property
    def dsn(self):
        return f"postgresql:///{self.name}?host={self.cluster.sockdir}&user=mxrelay"

    def rows(self, sql):
        """The rows of sql (a list of lists of strings, None for NULL)."""
        return self.cluster.rows(sql, db=self.name)

    def value(self, sql):
        rows = self.rows(sql)
        return rows[0][0] if rows else None

    def sql(self, sql):
        self.cluster.psql(sql, db=self.name)


class PgCluster:
    def __init__(self, base=None, tcp=None, settings=None):
        self.base = base or tempfile.mkdtemp(prefix="mxpg-")
        os.chmod(self.base, 0o755)
        shutil.chown(self.base, "postgres", "postgres")
        self.data = os.path.join(self.base, "data")
        self.sockdir = self.base
        self.logfile = os.path.join(self.base, "server.log")
        self.tcp = tcp
        self.settings = dict(settings or {})
        self.running = False
        self.made = False
        self.start_seconds = None
        self.standbys = []     # made by standby(); destroyed with this one

    def _make(self):
        subprocess.run(["cp", "-a", _template(), self.data], check=True)
        conf = {
            "listen_addresses": f"'{self.tcp or ''}'",
            "unix_socket_directories": f"'{self.sockdir}'",
            # As a production server has them: the 250 rests on both.
            "fsync": "on",
            "synchronous_commit": "on",
            "shared_buffers": "32MB",
            "max_connections": "200",
            "log_min_messages": "warning",
            "log_line_prefix": "'%m [%p] '",
        }
        conf.update(self.settings)
        with open(os.path.join(self.data, "postgresql.auto.conf"), "a") as f:
            for k, v in conf.items():
                f.write(f"{k} = {v}\n")
        with open(os.path.join(self.data, "pg_hba.conf"), "w") as f:
            f.write("local all all trust\nlocal replication all trust\n"
                    "host all all 127.0.0.0/8 trust\n")
        shutil.chown(os.path.join(self.data, "pg_hba.conf"), "postgres", "postgres")
        self.made = True

    def start(self):
        t0 = time.monotonic()
        if not self.made:
            self._make()
        _run([os.path.join(bindir(), "pg_ctl"), "-D", self.data, "-l", self.logfile, "-w",
              "-t", "30", "start"])
        self.running = True
        self.start_seconds = time.monotonic() - t0
        return self

    def stop(self, mode="fast"):
        """Stop the server: "fast" (orderly) or "immediate" (as a crash)."""
        if not self.running:
            return
        _run([os.path.join(bindir(), "pg_ctl"), "-D", self.data, "-m", mode, "-w", "-t", "30",
              "stop"])
        self.running = False

    def standby(self, synchronous=True):
        """A started streaming replica of this running cluster, as a PgCluster.

        With synchronous, the primary waits for it at every commit (and
        waits for it until it is connected)."""
        s = PgCluster()
        self.standbys.append(s)
        name = f"standby{len(self.standbys)}"
        _run([os.path.join(bindir(), "pg_basebackup"), "-D", s.data, "-h", self.sockdir,
              "-U", "postgres", "-X", "stream", "-c", "fast"])
        with open(os.path.join(s.data, "postgresql.auto.conf"), "a") as f:
            f.write(f"unix_socket_directories = '{s.sockdir}'\n"
                    f"listen_addresses = ''\n"
                    f"primary_conninfo = 'host={self.sockdir} user=postgres"
                    f" application_name={name}'\n")
        with open(os.path.join(s.data, "standby.signal"), "w"):
            pass
        shutil.chown(os.path.join(s.data, "standby.signal"), "postgres", "postgres")
        s.made = True
        s.start()
        if synchronous:
            self.psql(f"ALTER SYSTEM SET synchronous_standby_names = '{name}'")
            self.psql("SELECT pg_reload_conf()")
        deadline = time.monotonic() + 30
        want = "sync" if synchronous else "async"
        while self.rows("SELECT sync_state FROM pg_stat_replication"
                        f" WHERE application_name = '{name}'") != [[want]]:
            if time.monotonic() > deadline:
                raise RuntimeError(f"{name} did not become a {want} standby:\n{s.log()[-2000:]}")
            time.sleep(0.1)
        return s

    def promote(self):
        """A standby becomes a primary (pg_ctl promote, waiting until it takes writes)."""
        _run([os.path.join(bindir(), "pg_ctl"), "-D", self.data, "-w", "-t", "30", "promote"])

    def psql(self, sql, db="postgres"):
        return _run([os.path.join(bindir(), "psql"), "-X", "-q", "-v", "ON_ERROR_STOP=1",
                     "-h", self.sockdir, "-U", "postgres", "-d", db, "-c", sql])

    def rows(self, sql, db="postgres"):
        out = _run([os.path.join(bindir(), "psql"), "-X", "-q", "-v", "ON_ERROR_STOP=1",
                    "--csv", "-P", "null=\\N", "-t", "-h", self.sockdir, "-U", "postgres",
                    "-d", db, "-c", sql])
        return [[None if v == "\\N" else v for v in row] for row in csv.reader(io.StringIO(out))]

    def database(self, name):
        """A new database name, owned by the role mxrelay (made once per cluster)."""
        self.psql("DO $$BEGIN IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'mxrelay')"
                  " THEN CREATE ROLE mxrelay LOGIN; END IF; END$$")
        self.psql(f'CREATE DATABASE "{name}" OWNER mxrelay')
        return PgDatabase(self, name)

    def log(self):
        try:
            with open(self.logfile, errors="replace") as f:
                return f.read()
        except OSError:
            return ""

    def describe(self):
        state = "running" if self.running else "stopped"
        return (f"--- PostgreSQL in {self.base} ({state}) ---\n{self.log()[-3000:]}" +
                "".join(s.describe() for s in self.standbys))

    def destroy(self):
        for s in self.standbys:
            s.destroy()
        try:
            self.stop("immediate")
        except RuntimeError:
            pass
        shutil.rmtree(self.base, ignore_errors=True)
