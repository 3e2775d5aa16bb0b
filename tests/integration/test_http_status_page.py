"""The status page of the HTTP listener in a real browser: Debian's headless
Chromium loads http://127.0.0.1:9425/ from mxrelayd in the test's network
namespace, runs the page's script (it fetches /status.json and draws), and
the DOM it leaves is checked: the chart has its lines, the queue table its
counts and oldest message, the backoff table the dead destination and its
last error. Screenshots at a phone's 390x844 and a wide 1600x1000 are kept
in the test's tmp_path and, when MXR_ARTIFACTS names a directory, copied
there. The browser's console must stay silent: no script error, no
Content-Security-Policy refusal.

The known state is test_control_status.py's: one message held (the
oldest) and one for dead.test, whose MX refuses connections.
"""

import html
import os
import re
import shutil
import subprocess

import pytest

from daemon import mxrelayd  # noqa: F401  (a fixture)
from mxtest.netns import wait_port
from test_control_status import DEAD, start_known_state

pytestmark = pytest.mark.netns

HTTP_PORT = 9425
URL = f"http://127.0.0.1:{HTTP_PORT}/"
CHROMIUM = shutil.which("chromium")
# Long enough for the page's fetch and drawing; the clock is virtual, so it costs no real wait.
BUDGET_MS = 5000


def chromium(tmp_path, *args):
    """Run headless Chromium on the page; (stdout, stderr).

    As root (the tests are), Chromium refuses to start without --no-sandbox;
    --disable-gpu and a fresh --user-data-dir keep it off the host's GPU and
    profile, and --no-first-run, --disable-extensions and
    --disable-background-networking keep it from reaching anything but the
    page. DBus complaints on stderr (no bus in the namespace) are harmless.
    """
    argv = [CHROMIUM, "--headless=new", "--no-sandbox", "--disable-gpu",
            "--disable-dev-shm-usage", "--no-first-run", "--disable-extensions",
            "--disable-background-networking", "--disable-component-update",
            f"--user-data-dir={tmp_path / 'chromium-profile'}",
            f"--virtual-time-budget={BUDGET_MS}", "--enable-logging=stderr", "--v=0",
            *args, URL]
    p = subprocess.run(argv, capture_output=True, text=True, timeout=60)
    assert p.returncode == 0, f"{argv}: exit {p.returncode}\n{p.stderr[-3000:]}"
    return p.stdout, p.stderr


def console_lines(stderr):
    """What the page wrote to the console, or threw: Chromium logs it as CONSOLE lines."""
    return [l for l in stderr.splitlines() if ":CONSOLE" in l or "Uncaught" in l]


def element(dom, tag, ident):
    """The serialized element <tag id="ident">...</tag> (not nested in one of its kind)."""
    m = re.search(rf'<{tag}\b[^>]*\bid="{ident}"[^>]*>(.*?)</{tag}>', dom, re.S)
    assert m, f"no <{tag} id={ident!r}> in the page's DOM:\n{dom[:4000]}"
    return m.group(1)


def rows(table_html):
    """The body rows of a table: a list of cell texts per row."""
    body = re.search(r"<tbody>(.*?)</tbody>", table_html, re.S)
    assert body, table_html
    out = []
    for tr in re.findall(r"<tr\b[^>]*>(.*?)</tr>", body.group(1), re.S):
        out.append([html.unescape(re.sub(r"<[^>]+>", "", td)).strip()
                    for td in re.findall(r"<td\b[^>]*>(.*?)</td>", tr, re.S)])
    return out


@pytest.fixture
def page_daemon(netns, dns, mxrelayd, mxr_bin):
    if CHROMIUM is None:
        pytest.skip("chromium is not installed (scripts/install-deps test)")
    known = start_known_state(netns, dns, mxrelayd, mxr_bin,
                              conf_extra=f"http_listen = 127.0.0.1:{HTTP_PORT}\n")
    wait_port("127.0.0.1", HTTP_PORT, proc=known.d.proc)
    return known


def keep(path):
    """Copy an artifact to MXR_ARTIFACTS when set."""
    dest = os.environ.get("MXR_ARTIFACTS")
    if dest:
        os.makedirs(dest, exist_ok=True)
        shutil.copy(path, os.path.join(dest, os.path.basename(path)))


def test_status_page_draws_the_known_state(page_daemon, tmp_path):
    known = page_daemon
    dom, err = chromium(tmp_path, "--dump-dom")
    (tmp_path / "status-page.html").write_text(dom)
    keep(tmp_path / "status-page.html")
    assert console_lines(err) == [], "the page wrote to the console:\n" + "\n".join(console_lines(err))

    # No banner: the page read /status.json.
    banner = re.search(r'<div id="banner"[^>]*>(.*?)</div>', dom, re.S)
    assert banner and banner.group(1).strip() == "", f"banner: {banner and banner.group(1)}"
    assert "mxrelay on mx.relay.test" in dom
    assert re.search(r'id="uptime">up \d+[smhd]', dom), dom[:2000]
    assert re.search(r'id="version">version \S+, pid \d+', dom)

    # The chart: one polyline per series, each with 60 points.
    svg = element(dom, "svg", "chart")
    lines = re.findall(r"<polyline\b([^>]*)>", svg)
    assert len(lines) == 4, f"want 4 polylines, got {len(lines)}:\n{svg[:2000]}"
    for attrs in lines:
        pts = re.search(r'points="([^"]*)"', attrs)
        assert pts, attrs
        pairs = pts.group(1).split()
        assert len(pairs) == 60 and all(re.fullmatch(r"[\d.]+,[\d.]+", p) for p in pairs), attrs

    # The queue: the counts and the oldest message, the held one.
    q = dict((r[0], r[1]) for r in rows(element(dom, "table", "queue")) if len(r) == 2)
    assert q.get("messages queued") == "1" and q.get("messages held") == "1", q
    pend = int(q.get("recipients pending", "0")) + int(q.get("recipients deferred", "0"))
    assert pend == 2, q
    assert q.get("oldest message") == known.held_id, (q, known.held_id)
    assert "2 messages" in element(dom, "div", "queue-total")

    # Backoff: the dead destination, its failures, next try and the refusal.
    bo = rows(element(dom, "table", "backoff"))
    assert len(bo) == 1, bo
    dest, failures, next_try, last_error = bo[0]
    assert dest == DEAD and int(failures) >= 1, bo
    assert re.search(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\dZ", next_try), bo
    assert "refused" in last_error.lower(), bo

    # Connections and listeners are counted.
    conns = rows(element(dom, "table", "conns"))
    assert [r[0] for r in conns] == ["inbound SMTP sessions", "outbound deliveries",
                                     "outbound idle, kept for reuse"], conns
    ls = rows(element(dom, "table", "listeners"))
    assert ["127.0.0.1:25", "relay"] in ls and [f"127.0.0.1:{HTTP_PORT}", "http"] in ls, ls
    assert len(rows(element(dom, "table", "tls"))) == 2


@pytest.mark.parametrize("width,height", [(390, 844), (1600, 1000)])
def test_status_page_screenshots(page_daemon, tmp_path, width, height):
    shot = tmp_path / f"status-page-{width}x{height}.png"
    _, err = chromium(tmp_path, f"--screenshot={shot}", f"--window-size={width},{height}",
                      "--hide-scrollbars")
    assert console_lines(err) == [], "\n".join(console_lines(err))
    data = shot.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n", f"{shot} is not a PNG"
    w, h = int.from_bytes(data[16:20], "big"), int.from_bytes(data[20:24], "big")
    assert (w, h) == (width, height), f"screenshot is {w}x{h}, want {width}x{height}"
    keep(shot)
