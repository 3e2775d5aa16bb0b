"""Which configuration file mxrelayd and the mxrelay commands read when no
-c names one (mxrelayd(8), mxrelay(1)): the installed file when it exists,
else the embedded default; a file named with -c always, and a named file
that is missing is an error. The daemon and the commands that steer it
(check-config, queue, reload, mailq) must agree, or `mxrelay queue` looks
at another queue than the one mxrelayd runs.

The installed path is asked of the program (`mxrelay check-config --help`).
Each case runs in a private mount namespace where an overlay covers the
installed file's directory, so the machine's own files are never touched.
"""

import os
import re
import subprocess
import textwrap

import pytest

from conftest import sanitizer_env, sanitizer_report

COMMANDS = {
    # name: argv after the binary; {other} is a file named with -c
    "check-config": ["mxrelay", "check-config", "--print"],
    "check-config-named": ["mxrelay", "check-config", "--print", "-c", "{other}"],
    "mxrelayd": ["mxrelayd", "-t"],
    "mxrelayd-named": ["mxrelayd", "-t", "-c", "{other}"],
    "mxrelayd-missing": ["mxrelayd", "-t", "-c", "{missing}"],
    "queue": ["mxrelay", "queue", "list"],
    "reload": ["mxrelay", "reload"],
    "mailq": ["mailq"],
}


def installed_path(mxr_bin):
    """The installed configuration file, as `mxrelay check-config --help` names it."""
    r = subprocess.run([mxr_bin.mxrelay, "check-config", "--help"], capture_output=True, text=True,
                       timeout=30, env=sanitizer_env())
    m = re.search(r"\(default (/\S+),", r.stdout + r.stderr)
    assert m, f"check-config --help names no default file:\n{r.stdout}{r.stderr}"
    return m.group(1)


def run_in_mount_namespace(mxr_bin, tmp_path, installed, text):
    """Run every command of COMMANDS with installed holding text (None: no such
    file) in a private mount namespace; {name: (exit, output)}."""
    cover = os.path.dirname(installed)
    while not os.path.isdir(cover):
        cover = os.path.dirname(cover)
    assert cover != "/", f"no directory above {installed} to cover"
    upper, work, out = tmp_path / "upper", tmp_path / "work", tmp_path / "out"
    for d in (upper, work, out):
        d.mkdir()
    os.symlink(mxr_bin.mxrelay, tmp_path / "mailq")
    other = tmp_path / "other.conf"
    other.write_text(f"listen = 127.0.0.1:2525 relay\nqueue_dir = {tmp_path}/other-queue\n")
    content = tmp_path / "installed.conf"
    if text is not None:
        content.write_text(text)
    binaries = {"mxrelay": mxr_bin.mxrelay, "mxrelayd": mxr_bin.mxrelayd, "mailq": str(tmp_path / "mailq")}
    lines = []
    for name, argv in COMMANDS.items():
        cmd = [binaries[argv[0]]] + [a.format(other=other, missing=tmp_path / "missing.conf")
                                     for a in argv[1:]]
        quoted = " ".join("'" + a + "'" for a in map(str, cmd))
        lines.append(f"{quoted} > '{out}/{name}' 2>&1; echo $? > '{out}/{name}.rc'")
    place = (f"mkdir -p '{os.path.dirname(installed)}' && cp '{content}' '{installed}'"
             if text is not None else f"rm -f '{installed}'")
    script = textwrap.dedent(f"""\
        set -e
        mount -t overlay overlay -o lowerdir='{cover}',upperdir='{upper}',workdir='{work}' '{cover}' \\
            || exit 99
        {place}
        set +e
        """) + "\n".join(lines) + "\n"
    if os.geteuid() != 0:
        pytest.skip("needs root to mount in a private mount namespace")
    p = subprocess.run(["unshare", "--mount", "--propagation", "private", "sh", "-c", script],
                       capture_output=True, text=True, timeout=120, env=sanitizer_env(), cwd=tmp_path)
    if p.returncode == 99 or "unshare failed" in p.stderr:
        pytest.skip(f"no private mount namespace with an overlay here: {p.stderr.strip()[:300]}")
    assert p.returncode == 0, f"exit {p.returncode}\n{p.stdout}{p.stderr}"
    results = {}
    for name in COMMANDS:
        output = (out / name).read_text()
        report = sanitizer_report(output)
        assert report is None, f"{name}: sanitizer report:\n{report}"
        results[name] = (int((out / f"{name}.rc").read_text()), output)
    return results


def printed(output, key):
    values = [l.split("=", 1)[1].strip() for l in output.splitlines()
              if "=" in l and l.split("=", 1)[0].strip() == key]
    assert len(values) == 1, f"no single {key} line in:\n{output}"
    return values[0]


def test_every_command_and_the_daemon_read_the_installed_file(mxr_bin, short_tmp):
    tmp_path = short_tmp
    installed = installed_path(mxr_bin)
    queue = tmp_path / "installed-queue"
    got = run_in_mount_namespace(mxr_bin, tmp_path, installed,
                                 f"listen = 127.0.0.1:2525 relay\nqueue_dir = {queue}\n")

    rc, out = got["check-config"]
    assert rc == 0 and printed(out, "queue_dir") == str(queue), out
    rc, out = got["mxrelayd"]
    assert rc == 0 and f"mxrelayd: {installed}: configuration ok" in out, \
        f"mxrelayd -t without -c does not read {installed}:\n{out}"
    # No daemon runs: each command says where it looked, and that is the installed file's queue.
    rc, out = got["queue"]
    assert rc != 0 and str(queue) in out, out
    rc, out = got["reload"]
    assert rc != 0 and f"{queue}/control.sock" in out, out
    rc, out = got["mailq"]
    assert rc != 0 and str(queue) in out, out


def test_a_named_file_wins_and_a_missing_one_is_an_error(mxr_bin, short_tmp):
    tmp_path = short_tmp
    installed = installed_path(mxr_bin)
    got = run_in_mount_namespace(mxr_bin, tmp_path, installed,
                                 f"listen = 127.0.0.1:2525 relay\nqueue_dir = {tmp_path}/installed-queue\n")

    rc, out = got["check-config-named"]
    assert rc == 0 and printed(out, "queue_dir") == f"{tmp_path}/other-queue", out
    rc, out = got["mxrelayd-named"]
    assert rc == 0 and f"mxrelayd: {tmp_path}/other.conf: configuration ok" in out, out
    rc, out = got["mxrelayd-missing"]
    assert rc != 0 and "missing.conf" in out, out


def test_without_the_installed_file_every_one_takes_the_embedded_default(mxr_bin, tmp_path):
    installed = installed_path(mxr_bin)
    got = run_in_mount_namespace(mxr_bin, tmp_path, installed, None)

    # The embedded default keeps its queue in ./var, here under the working directory.
    rc, out = got["check-config"]
    assert rc == 0 and printed(out, "queue_dir") == "./var", out
    rc, out = got["mxrelayd"]
    assert rc == 0 and "mxrelayd: (embedded default): configuration ok" in out, out
    rc, out = got["reload"]
    assert rc != 0 and "./var/control.sock" in out, out
    rc, out = got["queue"]
    assert rc != 0 and "./var" in out, out
