"""A private Postfix instance as a real receiving MX.

Postfix(netns, "127.0.0.11", domains=["a.test"], main={...}).start() writes
its own configuration directory, starts `postfix -c DIR start-fg` inside
the test's namespace and waits for its greeting. Mail for the listed
domains is delivered by Postfix's virtual(8) agent into one Maildir,
read back with messages(). The smtpd of every listener logs each command
it receives (debug_peer_list), so log() shows the MAIL and RCPT
parameters as Postfix saw them. stop() ends the master by its PID.

Options:
  main        extra main.cf settings, e.g. {"smtpd_recipient_limit": 2}
  cert        (certfile, keyfile): smtpd offers STARTTLS with them
  wrapper     True: one more smtpd on port 465 with implicit TLS
              (smtpd_tls_wrappermode, needs cert)
"""

import os
import pwd
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import time

POSTFIX = "/usr/sbin/postfix"
DAEMON_DIR = "/usr/lib/postfix/sbin"


def available():
    """None when Postfix can run here, else why not."""
    if not os.access(POSTFIX, os.X_OK) or not os.path.isdir(DAEMON_DIR):
        return "Postfix is not installed (/usr/sbin/postfix)"
    try:
        pwd.getpwnam("postfix")
    except KeyError:
        return "no postfix user"
    if os.geteuid() != 0 or os.environ.get("MXTEST_IN_USERNS"):
        return "a Postfix instance needs real root (it switches to the postfix user)"
    return None


class Postfix:
    def __init__(self, netns, addr="127.0.0.11", domains=("a.test",), hostname=None,
                 main=None, cert=None, wrapper=False):
        self.netns = netns
        self.addr = addr
        self.domains = list(domains)
        self.hostname = hostname or f"postfix-{addr}.test"
        self.main = dict(main or {})
        self.cert = cert
        self.wrapper = wrapper
        self.dir = None
        self.master_pid = None
        self.proc = None

    def _write_config(self):
        d = self.dir
        conf = os.path.join(d, "etc")
        os.makedirs(conf)
        nobody = pwd.getpwnam("nobody")
        box = os.path.join(d, "mail")
        os.makedirs(box)
        os.chown(box, nobody.pw_uid, nobody.pw_gid)
        settings = {
            "compatibility_level": "3.6",
            "config_directory": conf,
            "queue_directory": f"{d}/queue",
            "data_directory": f"{d}/data",
            "mail_owner": "postfix",
            "setgid_group": "postdrop",
            "myhostname": self.hostname,
            "inet_interfaces": self.addr,
            "inet_protocols": "ipv4",
            "mynetworks": "127.0.0.0/8",
            "mydestination": "",
            "relay_domains": "",
            "local_recipient_maps": "",
            "alias_maps": "",
            "alias_database": "",
            "smtpd_peername_lookup": "no",
            "virtual_mailbox_domains": " ".join(self.domains),
            "virtual_mailbox_base": box,
            "virtual_mailbox_maps": "static:inbox/",
            "virtual_uid_maps": f"static:{nobody.pw_uid}",
            "virtual_gid_maps": f"static:{nobody.pw_gid}",
            "virtual_minimum_uid": "1",
            "smtpd_relay_restrictions": "permit_mynetworks, reject_unauth_destination",
            "debug_peer_list": "127.0.0.0/8",
            "debug_peer_level": "1",
            "maillog_file": f"{d}/maillog",
            "maillog_file_prefixes": d,
            "smtp_dns_support_level": "disabled",
        }
        if self.cert:
            settings.update({
                "smtpd_tls_cert_file": self.cert[0],
                "smtpd_tls_key_file": self.cert[1],
                "smtpd_tls_security_level": "may",
            })
        settings.update({k: str(v) for k, v in self.main.items()})
        with open(os.path.join(conf, "main.cf"), "w") as f:
            for k, v in settings.items():
                f.write(f"{k} = {v}\n")
        services = [
            ("smtp", "inet", "n", "-", "n", "-", "-", "smtpd"),
            ("cleanup", "unix", "n", "-", "n", "-", "0", "cleanup"),
            ("qmgr", "unix", "n", "-", "n", "300", "1", "qmgr"),
            ("tlsmgr", "unix", "-", "-", "n", "1000?", "1", "tlsmgr"),
            ("rewrite", "unix", "-", "-", "n", "-", "-", "trivial-rewrite"),
            ("bounce", "unix", "-", "-", "n", "-", "0", "bounce"),
            ("defer", "unix", "-", "-", "n", "-", "0", "bounce"),
            ("trace", "unix", "-", "-", "n", "-", "0", "bounce"),
            ("verify", "unix", "-", "-", "n", "-", "1", "verify"),
            ("proxymap", "unix", "-", "-", "n", "-", "-", "proxymap"),
            ("error", "unix", "-", "-", "n", "-", "-", "error"),
            ("retry", "unix", "-", "-", "n", "-", "-", "error"),
            ("discard", "unix", "-", "-", "n", "-", "-", "discard"),
            ("virtual", "unix", "-", "n", "n", "-", "-", "virtual"),
            ("smtp", "unix", "-", "-", "n", "-", "-", "smtp"),
            ("anvil", "unix", "-", "-", "n", "-", "1", "anvil"),
            ("scache", "unix", "-", "-", "n", "-", "1", "scache"),
            ("postlog", "unix-dgram", "n", "-", "n", "-", "1", "postlogd"),
        ]
        with open(os.path.join(conf, "master.cf"), "w") as f:
            for row in services:
                f.write("  ".join(row) + "\n")
            if self.wrapper:
                f.write("465  inet  n  -  n  -  -  smtpd\n"
                        "  -o smtpd_tls_wrappermode=yes\n  -o smtpd_tls_security_level=encrypt\n")
        return conf

    def start(self):
        reason = available()
        if reason:
            import pytest
            pytest.skip(reason)
        self.netns.add_addr(self.addr)
        # Postfix's daemons run as postfix and nobody: the directory must be
        # reachable by them, which the 0700 pytest directories are not.
        self.dir = tempfile.mkdtemp(prefix="mxr-postfix-")
        os.chmod(self.dir, 0o755)
        os.makedirs(os.path.join(self.dir, "queue"))
        conf = self._write_config()
        env = dict(os.environ, MAIL_CONFIG=conf)
        subprocess.run([POSTFIX, "-c", conf, "check"], env=env, capture_output=True)
        self.proc = self.netns.spawn([POSTFIX, "-c", conf, "start-fg"], name=f"postfix-{self.addr}", env=env)
        self.proc.described = True
        self.netns.on_stop(self.stop)
        self.netns.peers.append(self)
        ports = [25] + ([465] if self.wrapper else [])
        for port in ports:
            self._wait_greeting(port)
        with open(os.path.join(self.dir, "queue", "pid", "master.pid")) as f:
            self.master_pid = int(f.read().split()[0])
        return self

    def _wait_greeting(self, port, timeout=20.0):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"postfix exited: {self.log()[-3000:]}{self.proc.output()[-2000:]}")
            try:
                with socket.create_connection((self.addr, port), timeout=2):
                    return
            except OSError:
                time.sleep(0.05)
        raise RuntimeError(f"postfix does not listen on {self.addr}:{port}: {self.log()[-3000:]}")

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
        if self.proc:
            self.proc.stop()
        if self.dir:
            self._saved_log = self.log()
            shutil.rmtree(self.dir, ignore_errors=True)
            self.dir = None

    def log(self):
        if self.dir is None:
            return getattr(self, "_saved_log", "")
        try:
            with open(os.path.join(self.dir, "maillog"), errors="replace") as f:
                return f.read()
        except OSError:
            return ""

    def commands(self):
        """Every SMTP command line smtpd received, in order."""
        return re.findall(r"smtpd\[\d+\]: < [^:]+: (.*)$", self.log(), re.M)

    def messages(self, wait=5.0, count=1):
        """The delivered messages (bytes, LF line ends), oldest first; waits for count of them."""
        new = os.path.join(self.dir, "mail", "inbox", "new")
        deadline = time.monotonic() + wait
        while True:
            try:
                names = sorted(os.listdir(new), key=lambda n: os.stat(os.path.join(new, n)).st_mtime)
            except FileNotFoundError:
                names = []
            if len(names) >= count or time.monotonic() >= deadline:
                out = []
                for n in names:
                    with open(os.path.join(new, n), "rb") as f:
                        out.append(f.read())
                return out
            time.sleep(0.05)

    def describe(self):
        return f"--- postfix {self.addr} ---\n{self.log()[-5000:]}"
