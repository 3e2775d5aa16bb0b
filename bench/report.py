"""report: medians, spreads and ratios of the runs, as a Markdown table.

Owns the presentation of a bench run: one row per workload and figure with
each relay's median and min-max over the repetitions, the ratio
mxrelay/Postfix of the medians, the issue's targets read off those medians,
and the machine the run happened on. It computes nothing about relays
itself and never judges a run as failed.
"""

import datetime
import os
import platform
import statistics
import subprocess

# key, label, format, which way is better
FIGURES = [
    ("ingest", "ingest rate, msg/s", "{:.0f}", "higher"),
    ("e2e", "end-to-end rate, msg/s", "{:.0f}", "higher"),
    ("ingest_seconds", "time until the 250 reply, s", "{:.2f}", "lower"),
    ("seconds", "time until delivered, s", "{:.2f}", "lower"),
    ("p50_ms", "end-of-data reply p50, ms", "{:.1f}", "lower"),
    ("p99_ms", "end-of-data reply p99, ms", "{:.1f}", "lower"),
    ("cpu_per_1k", "relay CPU s per 1,000 msgs", "{:.2f}", "lower"),
    ("pss_mib", "peak PSS, MiB", "{:.1f}", "lower"),
    ("own_pss_mib", "peak PSS of the relay without its database server, MiB", "{:.1f}",
     "lower"),
    ("procs", "relay processes at peak", "{:.0f}", "lower"),
    ("greeted", "connections greeted", "{:.0f}", "higher"),
    ("kib_per_conn", "PSS per held connection, KiB", "{:.1f}", "lower"),
]

# Every relay the bench knows, in the order of the table's columns; Postfix last.
RELAYS = ("mxrelay", "mxrelay-pg1", "mxrelay-pg2", "postfix")
LABELS = {
    "mxrelay": "mxrelay (SQLite)",
    "mxrelay-pg1": "mxrelay, PostgreSQL, 1 node",
    "mxrelay-pg2": "mxrelay, PostgreSQL, 2 nodes",
    "postfix": "Postfix",
}


class Results:
    """runs[(workload, relay)] = list of (figures dict or None, note)."""

    def __init__(self):
        self.runs = {}
        self.unavailable = {}          # relay -> reason
        self.ceiling = []              # sink-only rates, msg/s

    def add(self, wl, relay, figures, note):
        self.runs.setdefault((wl, relay), []).append((figures, note))

    def values(self, wl, relay, key):
        return [f[key] for f, _ in self.runs.get((wl, relay), [])
                if f is not None and f.get(key) is not None]

    def median(self, wl, relay, key):
        v = self.values(wl, relay, key)
        return statistics.median(v) if v else None

    def reason(self, wl, relay):
        """Why a relay has no figure for a workload."""
        if relay in self.unavailable:
            return self.unavailable[relay]
        notes = [n for f, n in self.runs.get((wl, relay), []) if n]
        if notes:
            return notes[-1]
        return "not run" if (wl, relay) not in self.runs else "no value"


def _cell(res, wl, relay, key, fmt):
    v = res.values(wl, relay, key)
    if not v:
        return "n/a (" + res.reason(wl, relay).replace("|", "/") + ")"
    med = fmt.format(statistics.median(v))
    if len(v) == 1:
        return med
    return f"{med} ({fmt.format(min(v))}-{fmt.format(max(v))})"


def _columns(res):
    """The relays the run measured (or tried to), in RELAYS order."""
    seen = {relay for _, relay in res.runs}
    cols = [r for r in RELAYS if r in seen]
    return cols or ["mxrelay", "postfix"]


def table(res, workloads):
    cols = _columns(res)
    mxs = [r for r in cols if r != "postfix"]
    head = ("| workload | figure | " +
            " | ".join(f"{LABELS[r]} median (min-max)" for r in cols) + " | " +
            " | ".join(f"{LABELS[r]}/Postfix" for r in mxs) + " |")
    lines = [head, "|" + " --- |" * (2 + len(cols) + len(mxs))]
    for wl in workloads:
        keys = set()
        for relay in cols:
            for f, _ in res.runs.get((wl.key, relay), []):
                if f:
                    keys.update(k for k, v in f.items() if v is not None)
        if not keys:
            keys = {"ingest", "e2e", "pss_mib"}
        first = True
        for key, label, fmt, _better in FIGURES:
            if key not in keys:
                continue
            pf = res.median(wl.key, "postfix", key)
            ratios = []
            for r in mxs:
                mx = res.median(wl.key, r, key)
                ratios.append(f"{mx / pf:.2f}" if mx is not None and pf else "n/a")
            name = f"({wl.key}) {wl.title}" if first else ""
            first = False
            cells = " | ".join(_cell(res, wl.key, r, key, fmt) for r in cols)
            lines.append(f"| {name} | {label} | {cells} | {' | '.join(ratios)} |")
    return "\n".join(lines)


def notes(res, workloads):
    out = []
    for wl in workloads:
        for relay in _columns(res):
            seen = []
            for _, n in res.runs.get((wl.key, relay), []):
                if n and n not in seen:
                    seen.append(n)
            for n in seen:
                out.append(f"- ({wl.key}) {relay}: {n}")
    return "\n".join(out)


def targets(res):
    """The issues' targets, read off the medians of this run."""
    def ratio(wl, key, relay="mxrelay"):
        mx, pf = res.median(wl, relay, key), res.median(wl, "postfix", key)
        return mx / pf if mx is not None and pf else None

    def show(v, ok, fmt="{:.2f}"):
        if v is None:
            return "n/a"
        return fmt.format(v) + (" (met)" if ok(v) else " (not met)")

    pss_a = res.median("a", "mxrelay", "pss_mib")
    pss_d = res.median("d", "mxrelay", "pss_mib")
    d_over_a = pss_d / pss_a if pss_a and pss_d is not None else None
    e_pss = res.median("e", "mxrelay", "pss_mib")
    e_greeted = res.median("e", "mxrelay", "greeted")
    rows = [
        ("end-to-end (a), mxrelay/Postfix >= 3", show(ratio("a", "e2e"), lambda v: v >= 3)),
        ("end-to-end (b), mxrelay/Postfix >= 3", show(ratio("b", "e2e"), lambda v: v >= 3)),
        ("ingest (a), mxrelay/Postfix >= 5", show(ratio("a", "ingest"), lambda v: v >= 5)),
        ("PSS (a), mxrelay/Postfix <= 0.25", show(ratio("a", "pss_mib"), lambda v: v <= 0.25)),
        ("mxrelay PSS (d) / PSS (a) <= 2", show(d_over_a, lambda v: v <= 2)),
        ("mxrelay PSS with 10,000 idle connections < 64 MiB",
         "n/a" if e_pss is None else
         f"{e_pss:.1f} MiB, {e_greeted:.0f} greeted" +
         (" (met)" if e_pss < 64 and e_greeted >= 10000 else " (not met)")),
    ]
    d250 = ratio("d", "ingest_seconds")
    ddel = ratio("d", "seconds")
    rows += [
        ("end-to-end (g) 1 KiB over TLS, mxrelay/Postfix >= 3",
         show(ratio("g", "e2e"), lambda v: v >= 3)),
        ("end-to-end (h) 1 MiB over TLS, mxrelay/Postfix >= 1",
         show(ratio("h", "e2e"), lambda v: v >= 1)),
        ("(d) time until the 250 reply, mxrelay/Postfix <= 1", show(d250, lambda v: v <= 1)),
        ("(d) time until delivered, mxrelay/Postfix <= 1", show(ddel, lambda v: v <= 1)),
    ]

    def signed(wl):
        """mxrelay's end-to-end rate signing (wl) over not signing (a), same counts."""
        a, s = res.median("a", "mxrelay", "e2e"), res.median(wl, "mxrelay", "e2e")
        return s / a if a and s is not None else None
    rows += [
        ("DKIM RSA-2048: mxrelay end-to-end (i)/(a) >= 0.90",
         show(signed("i"), lambda v: v >= 0.90)),
        ("DKIM Ed25519: mxrelay end-to-end (j)/(a) >= 0.90",
         show(signed("j"), lambda v: v >= 0.90)),
    ]

    def cost(wl, relay):
        v = res.median(wl, relay, "cpu_per_1k")
        return "n/a" if v is None else f"{v:.2f}"
    rows += [
        ("fleet: end-to-end (a), PostgreSQL 2 nodes/Postfix >= 2",
         show(ratio("a", "e2e", "mxrelay-pg2"), lambda v: v >= 2)),
        ("fleet: end-to-end (c), PostgreSQL 2 nodes/Postfix (no target)",
         "n/a" if ratio("c", "e2e", "mxrelay-pg2") is None else
         f"{ratio('c', 'e2e', 'mxrelay-pg2'):.2f}"),
        ("cost (a): CPU s per 1,000 msgs, SQLite / PostgreSQL 1 node / 2 nodes / Postfix "
         "(PostgreSQL's server counted)",
         " / ".join(cost("a", r) for r in RELAYS)),
        ("cost (c): the same for 100 KiB", " / ".join(cost("c", r) for r in RELAYS)),
    ]
    return "\n".join(f"| {a} | {b} |" for a, b in
                     [("target", "this run"), ("---", "---")] + rows)


def machine(root, work):
    def cmd(*argv):
        try:
            return subprocess.run(argv, capture_output=True, text=True).stdout.strip()
        except OSError:
            return "?"
    model = "?"
    with open("/proc/cpuinfo") as f:
        for line in f:
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    mem = "?"
    with open("/proc/meminfo") as f:
        for line in f:
            if line.startswith("MemTotal:"):
                mem = f"{int(line.split()[1]) / 1024 / 1024:.1f} GiB"
    fs = cmd("df", "--output=fstype,source", work).splitlines()[-1:]
    return [
        ("date", datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")),
        ("cpus (nproc)", str(os.cpu_count())),
        ("cpu model", model),
        ("memory", mem),
        ("kernel", platform.release()),
        ("queue file system", " ".join(fs[0].split()) if fs else "?"),
        ("Postfix", cmd("dpkg-query", "-W", "-f", "${Version}", "postfix")),
        ("mxrelay commit", cmd("git", "-C", root, "rev-parse", "--short", "HEAD")),
    ]


def markdown(res, workloads, root, work, reps, quick):
    mach = "\n".join(f"| {k} | {v} |" for k, v in [("machine", ""), ("---", "---")] + machine(root, work))
    ceiling = ""
    if res.ceiling:
        c = [v for v in res.ceiling if v]
        if c:
            ceiling = (f"\nNo relay at all (smtp-source straight into the sink, 20 sessions, "
                       f"1 KiB, one connection per message): {statistics.median(c):.0f} msg/s "
                       f"(median of {len(c)}), the ceiling of this machine for (a).\n")
    n = notes(res, workloads)
    return f"""# mxrelay and Postfix, side by side

Written by `make bench` (bench/run); see bench/README.md for what each figure
means and how it is measured. {reps} repetition(s) per workload and relay,
alternating which relay goes first{", QUICK counts (a smoke run, not a result)" if quick else ""}.
Ratios are of the medians: above 1 is better for rates and connections
greeted, below 1 for latency, CPU and memory.

{table(res, workloads)}
{ceiling}
## Targets (issues 5 and 8, the DKIM issue, the fleet issue)

{targets(res)}

## Notes from the runs

{n or "- none"}

## Machine

{mach}
"""
