"""procmon: CPU time and memory (PSS) of a relay's whole process tree.

Owns the reading of /proc for the bench: which processes belong to a relay
(the process the bench started and all its descendants), the CPU seconds
they used, and a sampler that records the peak of their summed PSS every
100 ms. It only reads /proc; it never signals or changes a process.
"""

import os
import threading
import time

CLK_TCK = os.sysconf("SC_CLK_TCK")


def _stat_fields(pid):
    """Fields of /proc/PID/stat after the command name, or None if gone."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            data = f.read()
    except OSError:
        return None
    # The command name may hold spaces and parentheses: split after the last ')'.
    return data[data.rindex(b")") + 2:].split()


def tree(root_pid):
    """The PIDs of root_pid (or of each of a list of roots: a relay of several
    processes, such as mxrelay nodes and their PostgreSQL server) and all their
    descendants that are alive now."""
    children = {}
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        fields = _stat_fields(name)
        if fields is None:
            continue
        children.setdefault(int(fields[1]), []).append(int(name))
    found, todo = [], list(root_pid) if isinstance(root_pid, (list, tuple)) else [root_pid]
    while todo:
        pid = todo.pop()
        found.append(pid)
        todo.extend(children.get(pid, ()))
    return found


def cpu_seconds(pids):
    """User plus system CPU of the processes and of the children they reaped.

    A child still alive is counted on its own; one that exited and was waited
    for is in its parent's cutime/cstime: together nothing is counted twice,
    and Postfix's short-lived smtpd and smtp processes are not lost.
    """
    ticks = 0
    for pid in pids:
        fields = _stat_fields(pid)
        if fields is None:
            continue
        # utime, stime, cutime, cstime are stat fields 14-17 (1-based).
        ticks += sum(int(x) for x in fields[11:15])
    return ticks / CLK_TCK


def pss_kib(pid):
    """Proportional set size of one process in KiB (0 if it is gone)."""
    try:
        with open(f"/proc/{pid}/smaps_rollup") as f:
            for line in f:
                if line.startswith("Pss:"):
                    return int(line.split()[1])
    except (OSError, ValueError):
        pass
    return 0


class Sampler:
    """Samples the summed PSS of a process tree every interval seconds.

    peak_kib is the largest sum seen since start() or reset_peak(); nprocs is
    the number of processes at that peak.
    """

    def __init__(self, root_pid, interval=0.1):
        self.root_pid = root_pid
        self.interval = interval
        self.peak_kib = 0
        self.nprocs = 0
        self.last_kib = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def start(self):
        self._thread.start()
        return self

    def reset_peak(self):
        self.peak_kib = 0
        self.nprocs = 0

    def sample(self):
        """One sample now; returns (sum_kib, nprocs)."""
        pids = tree(self.root_pid)
        total = sum(pss_kib(p) for p in pids)
        self.last_kib = total
        if total > self.peak_kib:
            self.peak_kib = total
            self.nprocs = len(pids)
        return total, len(pids)

    def _run(self):
        while not self._stop.is_set():
            start = time.monotonic()
            self.sample()
            self._stop.wait(max(0.0, self.interval - (time.monotonic() - start)))

    def stop(self):
        self._stop.set()
        self._thread.join()
