"""workloads: the loads of the benchmark, run once against one relay.

Owns what each workload sends, how long it waits for the sinks, and which
figures it returns: ingest and end-to-end rates, end-of-data latency, CPU
seconds per 1,000 messages, and peak PSS of the relay's process tree. Each
run starts the relay fresh with an empty queue and stops it at the end, so
one run's queue or memory never leaks into the next.
"""

import json
import os
import subprocess
import sys
import time

import procmon
from relays import RELAY_ADDR

HERE = os.path.dirname(os.path.abspath(__file__))
LOADGEN = [sys.executable, os.path.join(HERE, "loadgen.py")]
SERVER = f"{RELAY_ADDR}:25"
SENDER = "sender@src.bench.test"


class Workload:
    """A named load with its counts for a full and a QUICK run."""

    def __init__(self, key, title, full, quick, run):
        self.key, self.title = key, title
        self.full, self.quick = full, quick
        self.run = run

    def count(self, quick):
        return self.quick if quick else self.full


class Ctx:
    """What a workload run needs: sinks by domain, the work directory, limits."""

    def __init__(self, sinks, work, quick):
        self.sinks = sinks            # domain -> netsvc.Sink
        self.work = work
        self.quick = quick
        self.e2e_timeout = 60 if quick else 180


class Measure:
    """CPU and PSS of a relay's process tree over one run. A relay whose tree
    holds a server it shares (the PostgreSQL queue's) names its own processes
    with own_pids(roots); their peak PSS is kept apart as own_pss_mib."""

    def __init__(self, root_pid, relay=None):
        self.root = root_pid
        time.sleep(0.5)               # let start-up settle before the baseline
        self.sampler = procmon.Sampler(root_pid).start()
        own = getattr(relay, "own_pids", None)
        self.own = procmon.Sampler(own(root_pid)).start() if own else None
        self.cpu0 = procmon.cpu_seconds(procmon.tree(root_pid))

    def finish(self):
        cpu = procmon.cpu_seconds(procmon.tree(self.root)) - self.cpu0
        for s in (self.sampler, self.own):
            if s is not None:
                s.sample()
                s.stop()
        self.own_pss_mib = self.own.peak_kib / 1024.0 if self.own else None
        return cpu, self.sampler.peak_kib / 1024.0, self.sampler.nprocs


def _loadgen(args, stdin=None):
    return subprocess.Popen(LOADGEN + ["--server", SERVER, "--sender", SENDER] + args,
                            stdin=stdin, stdout=subprocess.PIPE, text=True)


def _result(proc):
    out, _ = proc.communicate()
    lines = [l for l in out.splitlines() if l.startswith("{")]
    if not lines:
        raise RuntimeError(f"loadgen exited {proc.returncode} without a result")
    return json.loads(lines[-1])


def _base(ctx):
    return {d: s.count for d, s in ctx.sinks.items()}


def _wait_sinks(ctx, base, want, t_ingest_end):
    """Wait for want[domain] new transactions at each sink; time or None, and a note."""
    deadline = t_ingest_end + ctx.e2e_timeout
    t_done = t_ingest_end
    for domain, n in want.items():
        sink = ctx.sinks[domain]
        t = sink.wait_for(base[domain] + n, deadline)
        if t is None:
            got = sink.count - base[domain]
            return None, f"{domain}: {got} of {n} delivered"
        t_done = max(t_done, t)
    return t_done, ""


def _smtp_source(ctx, count, size, sessions, rcpt="rcpt@d1.bench.test", servers=(SERVER,)):
    """smtp-source's sessions plus one loadgen session measuring latency. A relay of
    several listeners (a fleet) gets the messages and sessions split evenly among them."""
    probe = _loadgen(["--sessions", "1", "--count", "0", "--size", str(size),
                      "--rcpts", "probe{n}@d1.bench.test"], stdin=subprocess.PIPE)
    t0 = time.monotonic()
    k = len(servers)
    srcs = [subprocess.Popen(["smtp-source", "-s", str(sessions // k + (i < sessions % k)),
                              "-m", str(count // k + (i < count % k)), "-l", str(size), "-N",
                              "-f", SENDER, "-t", rcpt, "-M", "client.bench.test", server],
                             stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
            for i, server in enumerate(servers)]
    errs = []
    for p in srcs:
        _, err = p.communicate()
        errs.append((p.returncode, err))
    t1 = time.monotonic()
    probe.stdin.write("stop\n")
    probe.stdin.flush()
    p = _result(probe)
    for rc, err in errs:
        if rc != 0:
            raise RuntimeError("smtp-source: " + (err.strip().splitlines() or ["failed"])[-1])
    return t0, t1, p


def run_source(ctx, relay, count, size, sessions=20):
    """Workloads (a) and (c): smtp-source load, one recipient at d1."""
    pid = relay.start()
    try:
        m = Measure(pid, relay)
        base = _base(ctx)
        t0, t1, probe = _smtp_source(ctx, count, size, sessions,
                                     servers=getattr(relay, "addrs", [SERVER]))
        total = count + probe["messages_ok"]
        t_last = max(t1, probe["t_last_ok"] or t1)
        t_done, note = _wait_sinks(ctx, base, {"d1.bench.test": total}, t_last)
        cpu, pss, nprocs = m.finish()
    finally:
        relay.stop()
    fig = {
        "ingest": total / (t_last - t0),
        "e2e": total / (t_done - t0) if t_done else None,
        "p50_ms": _ms(probe["latency_p50"]), "p99_ms": _ms(probe["latency_p99"]),
        "cpu_per_1k": cpu * 1000.0 / total, "pss_mib": pss, "own_pss_mib": m.own_pss_mib,
        "procs": nprocs,
    }
    return fig, note


# A Python TLS client costs more CPU per message than a relay: the TLS
# workloads spread their 20 sessions over two loadgen processes.
TLS_CLIENT_PROCS = 2


def run_loadgen(ctx, relay, count, size, rcpts, wait_domains=None, sessions=20, tls=False):
    """Workloads (b), (d), (f), (g), (h): loadgen's recipient sets; e2e over
    wait_domains; with tls, STARTTLS in every session."""
    pid = relay.start()
    try:
        m = Measure(pid, relay)
        base = _base(ctx)
        t0 = time.monotonic()
        res = _result(_loadgen(["--sessions", str(sessions), "--count", str(count),
                                "--size", str(size), "--rcpts", rcpts] +
                               (["--tls", "--procs", str(TLS_CLIENT_PROCS)] if tls else [])))
        t_last = res["t_last_ok"] or time.monotonic()
        want = {d: n for d, n in res["domain_txns"].items()
                if wait_domains is None or d in wait_domains}
        t_done, note = _wait_sinks(ctx, base, want, t_last)
        cpu, pss, nprocs = m.finish()
    finally:
        relay.stop()
    ok = res["messages_ok"]
    if res["errors"]:
        note = (note + "; " if note else "") + "client: " + _errors(res["errors"])
    if tls and res["tls_sessions"] < res["messages_ok"]:
        note = (note + "; " if note else "") + \
            f"only {res['tls_sessions']} TLS sessions for {res['messages_ok']} messages"
    delivered = sum(want.values())
    fig = {
        "ingest": ok / (t_last - t0) if ok else None,
        # For (f), the rate of the messages whose domain was waited for.
        "e2e": (sum(want.values()) if wait_domains else ok) / (t_done - t0)
        if t_done and delivered else None,
        "p50_ms": _ms(res["latency_p50"]), "p99_ms": _ms(res["latency_p99"]),
        "cpu_per_1k": cpu * 1000.0 / ok if ok else None,
        "pss_mib": pss, "own_pss_mib": m.own_pss_mib, "procs": nprocs,
    }
    if count == 1:
        fig["ingest_seconds"] = t_last - t0 if ok else None
        fig["seconds"] = (t_done - t0) if t_done else None
    return fig, note


def run_idle(ctx, relay, count):
    """Workload (e): hold count idle connections, measure PSS, close them."""
    pid = relay.start()
    try:
        m = Measure(pid, relay)
        time.sleep(0.5)
        idle_mib = m.sampler.last_kib / 1024.0
        m.sampler.reset_peak()
        gen = _loadgen(["--idle", str(count), "--settle", "5",
                        "--timeout", "120"], stdin=subprocess.PIPE)
        up = json.loads(gen.stdout.readline() or "{}")
        time.sleep(1.0)              # ten samples while all are held
        held_mib = m.sampler.sample()[0] / 1024.0
        gen.stdin.write("close\n")
        gen.stdin.flush()
        _result(gen)
        cpu, pss, nprocs = m.finish()
    finally:
        relay.stop()
    greeted = up.get("greeted", 0)
    fig = {
        "pss_mib": pss, "own_pss_mib": m.own_pss_mib, "procs": nprocs, "greeted": greeted,
        "kib_per_conn": (held_mib - idle_mib) * 1024.0 / greeted if greeted else None,
    }
    note = f"{greeted} of {count} connections greeted"
    if up.get("errors"):
        note += "; client: " + _errors(up["errors"])
    return fig, note


def run_sink_only(ctx, count):
    """The ceiling of this machine: smtp-source straight into a sink, no relay."""
    sink = ctx.sinks["d1.bench.test"]
    base = sink.count
    t0 = time.monotonic()
    subprocess.run(["smtp-source", "-s", "20", "-m", str(count), "-l", "1024",
                    "-f", SENDER, "-t", "rcpt@d1.bench.test", "127.0.0.21:25"],
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    t = sink.wait_for(base + count, time.monotonic() + 30)
    return count / (t - t0) if t else None


def _ms(seconds):
    return None if seconds is None else seconds * 1000.0


def _errors(errors):
    return ", ".join(f"{k} x{v}" for k, v in sorted(errors.items(), key=lambda kv: -kv[1])[:3])


def run_signed(ctx, relay, count, alg):
    """Workload (a) with every message DKIM-signed by mxrelay (smtp-source's From is
    sender@src.bench.test, the domain the key is for). Postfix signs nothing here: its
    figures are (a)'s again, the baseline the signing is measured against."""
    if relay.name.startswith("mxrelay"):
        relay.extra = relay.dkim_key(alg) if hasattr(relay, "dkim_key") else \
            relay.nodes[0].dkim_key(alg)
    try:
        return run_source(ctx, relay, count, 1024)
    finally:
        relay.extra = ""


# 5 recipients over 2 domains: 3 at d1, 2 at d2.
FIVE_RCPTS = ",".join([f"r{i}-{{n}}@d1.bench.test" for i in range(3)] +
                      [f"r{i}-{{n}}@d2.bench.test" for i in range(3, 5)])
# One message in six goes to the slow domain.
SLOW_MIX = ";".join(["f{n}@d1.bench.test"] * 5 + ["s{n}@slow.bench.test"])

WORKLOADS = [
    Workload("a", "1 KiB, 1 recipient, 20 sessions", 5000, 500,
             lambda ctx, r, n: run_source(ctx, r, n, 1024)),
    Workload("b", "1 KiB, 5 recipients over 2 domains, 20 sessions", 2000, 300,
             lambda ctx, r, n: run_loadgen(ctx, r, n, 1024, FIVE_RCPTS)),
    Workload("c", "100 KiB, 1 recipient, 20 sessions", 1000, 100,
             lambda ctx, r, n: run_source(ctx, r, n, 100 * 1024)),
    Workload("d", "one 50 MiB message", 1, 1,
             lambda ctx, r, n: run_loadgen(ctx, r, n, 50 * 1024 * 1024,
                                           "big{n}@d1.bench.test", sessions=1)),
    Workload("e", "idle connections held open", 10000, 1000,
             lambda ctx, r, n: run_idle(ctx, r, n)),
    Workload("f", "1 KiB, 1 in 6 to an MX that waits 1 s before each reply; "
                  "end-to-end counts the fast domain", 1200, 300,
             lambda ctx, r, n: run_loadgen(ctx, r, n, 1024, SLOW_MIX,
                                           wait_domains={"d1.bench.test"})),
    Workload("g", "1 KiB over STARTTLS on both hops (client to relay, relay to a "
                  "STARTTLS MX), 1 recipient, 20 sessions", 2000, 300,
             lambda ctx, r, n: run_loadgen(ctx, r, n, 1024, "t{n}@tls.bench.test", tls=True)),
    Workload("h", "1 MiB over STARTTLS on both hops, 1 recipient, 20 sessions", 200, 30,
             lambda ctx, r, n: run_loadgen(ctx, r, n, 1024 * 1024, "t{n}@tls.bench.test",
                                           tls=True)),
    Workload("i", "as (a), each message DKIM-signed by mxrelay with an RSA-2048 key "
                  "(Postfix unsigned)", 5000, 500,
             lambda ctx, r, n: run_signed(ctx, r, n, "rsa-sha256")),
    Workload("j", "as (a), each message DKIM-signed by mxrelay with an Ed25519 key "
                  "(Postfix unsigned)", 5000, 500,
             lambda ctx, r, n: run_signed(ctx, r, n, "ed25519-sha256")),
]
