"""A private network namespace for the running pytest process.

enter() saves a descriptor of the current namespace, unshares a new one
(only the calling thread moves; threads and processes started afterwards
are born inside it), brings loopback up and adds addresses on demand.
leave() stops everything that was started inside and goes back with
setns(). Ports 25 and 53 on every 127.0.0.x are then free for the test.
"""

import ctypes
import os
import signal
import subprocess
import time

CLONE_NEWNET = 0x40000000

_libc = ctypes.CDLL(None, use_errno=True)


def _check(ret, what):
    if ret != 0:
        err = ctypes.get_errno()
        raise OSError(err, f"{what}: {os.strerror(err)}")


def can_unshare():
    """Whether this process may make a network namespace (needs CAP_SYS_ADMIN)."""
    pid = os.fork()
    if pid == 0:
        os._exit(0 if _libc.unshare(CLONE_NEWNET) == 0 else 1)
    _, status = os.waitpid(pid, 0)
    return os.waitstatus_to_exitcode(status) == 0


def ip(*args):
    res = subprocess.run(["ip", *args], capture_output=True, text=True)
    if res.returncode != 0:
        raise RuntimeError(f"ip {' '.join(args)}: {res.stderr.strip()}")
    return res.stdout


class Proc:
    """A process started in the namespace, with its output in a file."""

    def __init__(self, popen, name, logfile):
        self.popen = popen
        self.name = name
        self.logfile = logfile
        self.described = False  # True when a peer's describe() already shows the output

    @property
    def pid(self):
        return self.popen.pid

    @property
    def returncode(self):
        return self.popen.returncode

    def poll(self):
        return self.popen.poll()

    def output(self):
        try:
            with open(self.logfile, errors="replace") as f:
                return f.read()
        except OSError:
            return ""

    def stop(self, sig=signal.SIGTERM, timeout=5.0):
        """Signal the process group, then kill it if it lingers."""
        if self.popen.poll() is not None:
            return self.popen.returncode
        try:
            os.killpg(self.popen.pid, sig)
        except ProcessLookupError:
            pass
        try:
            return self.popen.wait(timeout)
        except subprocess.TimeoutExpired:
            try:
                os.killpg(self.popen.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            return self.popen.wait(timeout)


class Netns:
    """The namespace of one test: addresses, processes and cleanups."""

    def __init__(self, workdir):
        self.workdir = workdir
        self.addrs = set()
        self.procs = []
        self.cleanups = []
        self.peers = []  # objects with describe(), for failure reports
        self._saved = None

    def enter(self):
        self._saved = os.open("/proc/self/ns/net", os.O_RDONLY | os.O_CLOEXEC)
        try:
            _check(_libc.unshare(CLONE_NEWNET), "unshare(CLONE_NEWNET)")
        except OSError:
            os.close(self._saved)
            self._saved = None
            raise
        ip("link", "set", "lo", "up")
        # Wait for ::1, which the kernel adds when lo comes up (DAD is off on lo).
        for _ in range(50):
            if "::1" in ip("-6", "addr", "show", "dev", "lo"):
                break
            time.sleep(0.01)
        self.addrs.update({"127.0.0.1", "::1"})
        return self

    def leave(self):
        errors = []
        for fn in reversed(self.cleanups):
            try:
                fn()
            except Exception as e:  # keep cleaning up; report at the end
                errors.append(f"{fn}: {e!r}")
        self.cleanups.clear()
        for p in reversed(self.procs):
            try:
                p.stop()
            except Exception as e:
                errors.append(f"stop {p.name}: {e!r}")
        if self._saved is not None:
            _check(_libc.setns(self._saved, CLONE_NEWNET), "setns back")
            os.close(self._saved)
            self._saved = None
        return errors

    def add_addr(self, addr):
        """Put addr on lo (127.0.0.x/8 or an IPv6 address), once."""
        if addr in self.addrs:
            return
        if ":" in addr:
            ip("-6", "addr", "add", f"{addr}/128", "dev", "lo", "nodad")
        else:
            ip("addr", "add", f"{addr}/8", "dev", "lo")
        self.addrs.add(addr)

    def spawn(self, argv, name=None, logfile=None, env=None, cwd=None, stdin=subprocess.DEVNULL):
        """Start argv in its own process group; output goes to logfile."""
        name = name or os.path.basename(argv[0])
        if logfile is None:
            logfile = os.path.join(self.workdir, f"{name}.{len(self.procs)}.log")
        with open(logfile, "ab") as out:
            popen = subprocess.Popen(argv, stdin=stdin, stdout=out, stderr=subprocess.STDOUT,
                                     env=env, cwd=cwd, start_new_session=True)
        proc = Proc(popen, name, logfile)
        self.procs.append(proc)
        return proc

    def on_stop(self, fn):
        """Run fn at teardown, before the processes are stopped (last added runs first)."""
        self.cleanups.append(fn)

    def blackhole(self, addr, port=25):
        """A listener on addr:port whose full backlog drops every further SYN:
        connecting there times out instead of being refused."""
        import socket
        self.add_addr(addr)
        family = socket.AF_INET6 if ":" in addr else socket.AF_INET
        lsn = socket.socket(family, socket.SOCK_STREAM)
        lsn.bind((addr, port))
        lsn.listen(0)
        fillers = []
        # Fill the accept queue (backlog 0 still holds one connection).
        for _ in range(2):
            c = socket.socket(family, socket.SOCK_STREAM)
            c.setblocking(False)
            try:
                c.connect((addr, port))
            except BlockingIOError:
                pass
            fillers.append(c)
        time.sleep(0.05)

        def close():
            for c in fillers:
                c.close()
            lsn.close()
        self.on_stop(close)
        return lsn

    def describe(self):
        parts = []
        for peer in self.peers:
            try:
                parts.append(peer.describe())
            except Exception as e:
                parts.append(f"{peer!r}: describe failed: {e!r}")
        for p in self.procs:
            out = "" if p.described else p.output()
            if out.strip():
                parts.append(f"--- output of {p.name} (pid {p.pid}, exit {p.returncode}) ---\n{out[-4000:]}")
        return "\n".join(parts)


def listening(addr, port):
    """Whether a TCP socket listens on addr:port (or the wildcard) in this namespace."""
    import ipaddress
    want = ipaddress.ip_address(addr)
    for fname, size in (("tcp", 4), ("tcp6", 16)):
        try:
            with open(f"/proc/thread-self/net/{fname}") as f:
                rows = f.read().splitlines()[1:]
        except OSError:
            continue
        for row in rows:
            fields = row.split()
            local, state = fields[1], fields[3]
            if state != "0A":  # LISTEN
                continue
            hexaddr, hexport = local.split(":")
            if int(hexport, 16) != port:
                continue
            raw = bytes.fromhex(hexaddr)
            # /proc prints each 32-bit word in host (little-endian) order.
            raw = b"".join(raw[i:i + 4][::-1] for i in range(0, len(raw), 4))
            got = ipaddress.ip_address(raw)
            if got == want or got.is_unspecified:
                return True
            if got.version == 6 and got.ipv4_mapped == want:
                return True
    return False


def wait_port(addr, port, timeout=10.0, proc=None):
    """Wait until a TCP listener is on addr:port, without connecting to it."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"{proc.name} exited with {proc.returncode}: {proc.output()[-2000:]}")
        if listening(addr, port):
            return
        time.sleep(0.02)
    raise RuntimeError(f"nothing listens on {addr}:{port} after {timeout}s")
