#!/usr/bin/python3
"""bench: run every workload against mxrelay and Postfix, alternating, and report.

Runs inside the network namespace that bench/run made. Owns the order of
the runs (each repetition alternates which relay goes first), the peers
that live for the whole run (nsd, one smtp-sink per MX address), the
progress lines, and stopping everything it started however the run ends.
Writes the report to BENCH_OUT (default bench/RESULTS.md; a QUICK run only
prints it unless BENCH_OUT is set). Never fails on a number.
"""

import argparse
import os
import resource
import signal
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import netsvc          # noqa: E402
import relays          # noqa: E402
import report          # noqa: E402
import workloads       # noqa: E402


def _terminate(signum, frame):
    raise KeyboardInterrupt(f"signal {signum}")


def log(msg):
    print(f"bench: {msg}", file=sys.stderr, flush=True)


def _fmt(fig):
    parts = []
    for key, label, fmt, _ in report.FIGURES:
        if fig.get(key) is not None:
            parts.append(f"{key}=" + fmt.format(fig[key]))
    return " ".join(parts)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--root", required=True)
    ap.add_argument("--work", required=True)
    ap.add_argument("--netns", default="")
    args = ap.parse_args()

    quick = os.environ.get("QUICK", "0") not in ("", "0")
    reps = int(os.environ.get("REPS", "1" if quick else "3"))
    wanted = os.environ.get("WORKLOADS", "").split()
    chosen = [w for w in workloads.WORKLOADS if not wanted or w.key in wanted]
    relay_names = os.environ.get("RELAYS", " ".join(report.RELAYS)).split()
    out = os.environ.get("BENCH_OUT") or \
        (None if quick else os.path.join(args.root, "bench", "RESULTS.md"))

    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    signal.signal(signal.SIGTERM, _terminate)
    signal.signal(signal.SIGHUP, _terminate)

    pg = relays.PgServer(args.work)
    all_relays = [relays.Mxrelay(args.root, args.work),
                  relays.MxrelayPg(args.root, args.work, pg, 1),
                  relays.MxrelayPg(args.root, args.work, pg, 2),
                  relays.Postfix(args.root, args.work)]
    under_test = [r for r in all_relays if r.name in relay_names]
    res = report.Results()
    for r in all_relays:
        why = r.unavailable() if r in under_test else "not selected (RELAYS)"
        if why:
            res.unavailable[r.name] = why
            log(f"{r.name}: n/a ({why})")
    running = [r for r in under_test if r.name not in res.unavailable]

    nsd = netsvc.Nsd(args.work)
    sinks = {}
    tls_mx = None
    interrupted = False
    try:
        nsd.start()
        netsvc.make_cert(args.work)
        for domain, (_host, addr) in netsvc.DOMAINS.items():
            extra = ["-W", f".:{netsvc.SLOW_DELAY_S}"] if domain.startswith("slow.") else []
            port = netsvc.TLS_SINK_PORT if domain.startswith("tls.") else 25
            sinks[domain] = netsvc.Sink(addr, args.work, extra, port=port)
            sinks[domain].start()
        tls_mx = netsvc.TlsMx(netsvc.DOMAINS["tls.bench.test"][1], args.work,
                              sinks["tls.bench.test"])
        tls_mx.start()
        ctx = workloads.Ctx(sinks, args.work, quick)
        log(f"namespace {args.netns}, work {args.work}, {reps} repetition(s)"
            f"{', QUICK' if quick else ''}, workloads {' '.join(w.key for w in chosen)}")
        for rep in range(reps):
            res.ceiling.append(workloads.run_sink_only(ctx, workloads.WORKLOADS[0].count(quick)))
        for wl in chosen:
            n = wl.count(quick)
            for rep in range(reps):
                order = running if rep % 2 == 0 else list(reversed(running))
                for relay in order:
                    if wl.key not in getattr(relay, "only", (wl.key,)):
                        continue
                    t = time.monotonic()
                    try:
                        fig, note = wl.run(ctx, relay, n)
                    except KeyboardInterrupt:
                        raise
                    except Exception as e:   # a failed run is reported, not fatal
                        fig, note = None, f"{type(e).__name__}: {e}"
                    res.add(wl.key, relay.name, fig, note)
                    log(f"({wl.key}) rep {rep + 1}/{reps} {relay.name}: "
                        f"{_fmt(fig) if fig else 'failed'}"
                        f"{' [' + note + ']' if note else ''} ({time.monotonic() - t:.0f} s)")
    except KeyboardInterrupt as e:
        interrupted = True
        log(f"interrupted ({e or 'Ctrl-C'}); stopping")
    finally:
        for r in all_relays:
            try:
                r.stop()
            except Exception as e:
                log(f"stopping {r.name}: {e}")
        if tls_mx is not None:
            tls_mx.stop()
        for s in sinks.values():
            s.stop()
        nsd.stop()
        try:
            pg.stop()
        except Exception as e:
            log(f"stopping PostgreSQL: {e}")

    text = report.markdown(res, chosen, args.root, args.work, reps, quick)
    print(text)
    if interrupted:
        log("interrupted: report not written")
        return 130
    if out:
        with open(out, "w") as f:
            f.write(text)
        log(f"report written to {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
