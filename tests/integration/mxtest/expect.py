"""Assertions over `mxrelay send --json` runs that say what was got and
what was wanted, with the whole run attached."""

EX_OK = 0
EX_USAGE = 64
EX_UNAVAILABLE = 69
EX_TEMPFAIL = 75

NO_CODE = (0, None)


def message(sender="alice@sender.test", to=("bob@a.test",), subject="test", body="Hello.\r\n", extra=()):
    """A small RFC 5322 message with CRLF line ends, as bytes."""
    lines = [f"From: <{sender}>", "To: " + ", ".join(f"<{t}>" for t in to), f"Subject: {subject}",
             "Message-ID: <test.1@sender.test>", "Date: Thu, 1 Jan 2026 00:00:00 +0000", *extra]
    text = "\r\n".join(lines) + "\r\n\r\n" + body
    return text.encode("utf-8")


def _show(run):
    return "\n" + run.describe()


def exit_code(run, want):
    assert run.rc == want, f"exit code: got {run.rc}, want {want}{_show(run)}"


def result(run, rcpt, status=None, code=None, esc=None, stage=None, mx=None, ip=None, tls=None,
           esc_prefix=None, code_in=None, text=False):
    """Check the result line of rcpt field by field; returns it."""
    res = run.result(rcpt)
    want = {"status": status, "code": code, "esc": esc, "stage": stage, "mx": mx, "ip": ip, "tls": tls}
    bad = []
    for key, value in want.items():
        if value is not None and res.get(key) != value:
            bad.append(f"{key}: got {res.get(key)!r}, want {value!r}")
    if esc_prefix is not None and not str(res.get("esc") or "").startswith(esc_prefix):
        bad.append(f"esc: got {res.get('esc')!r}, want {esc_prefix}*")
    if code_in is not None and res.get("code") not in code_in:
        bad.append(f"code: got {res.get('code')!r}, want one of {code_in}")
    if text and not str(res.get("text") or "").strip():
        bad.append(f"text: got {res.get('text')!r}, want a reason")
    assert not bad, f"result for {rcpt}: " + "; ".join(bad) + _show(run)
    return res


def delivered(run, rcpt, mx=None, ip=None, code=250, tls=None):
    return result(run, rcpt, status="delivered", code=code, stage="data", mx=mx, ip=ip, tls=tls)


def deferred(run, rcpt, **kw):
    kw.setdefault("text", True)
    return result(run, rcpt, status="deferred", **kw)


def failed(run, rcpt, **kw):
    kw.setdefault("text", True)
    return result(run, rcpt, status="failed", **kw)


def only_recipients(run, rcpts):
    got = sorted(run.results)
    assert got == sorted(rcpts), f"results for: got {got}, want {sorted(rcpts)}" + _show(run)


def no_connection(*peers):
    for peer in peers:
        assert peer.connections == 0, f"{peer.name} should have seen no connection:\n{peer.describe()}"
