"""What an administrator installs: `make install` (PREFIX, DESTDIR) and the
Debian package of `make deb`. Each must hold the programs, the sendmail and
mailq links, the man pages, the systemd unit and the configuration where the
man pages say, with a unit that runs the installed daemon on the installed
configuration; the packaged programs must run from a scratch root.

`make install` builds in a private build directory (a release build of the
whole tree, about half a minute on two cores). The package comes from
MXR_DEB_DIR (the build-deb/ that `make deb` leaves, as `make test` and
`make deb-test` pass it), or is built here with `make deb` when debhelper
is installed."""

import glob
import os
import re
import shutil
import subprocess

import pytest

from conftest import REPO

# Every path `make install PREFIX=/usr` stages, and what each link points to.
USR_FILES = {
    "usr/sbin/mxrelayd": None,
    "usr/bin/mxrelay": None,
    "usr/sbin/sendmail": "../bin/mxrelay",
    "usr/bin/mailq": "mxrelay",
    "usr/share/man/man1/mxrelay.1": None,
    "usr/share/man/man1/mailq.1": "mxrelay.1",
    "usr/share/man/man5/mxrelay.conf.5": None,
    "usr/share/man/man8/mxrelayd.8": None,
    "usr/share/man/man8/sendmail.8": "../man1/mxrelay.1",
    "lib/systemd/system/mxrelayd.service": None,
    "etc/mxrelay/mxrelay.conf": None,
}


def run(argv, timeout=600, **kw):
    return subprocess.run(argv, capture_output=True, text=True, timeout=timeout, **kw)


def run_ok(argv, what, timeout=600, **kw):
    r = run(argv, timeout=timeout, **kw)
    assert r.returncode == 0, (f"{what}: {' '.join(map(str, argv))} exited {r.returncode}\n"
                               f"--- stdout\n{r.stdout[-6000:]}\n--- stderr\n{r.stderr[-6000:]}")
    return r


def tree(root):
    """Every file and link under root (relative path -> link target or None)."""
    out = {}
    for dirpath, dirnames, filenames in os.walk(root):
        for name in filenames + [d for d in dirnames if os.path.islink(os.path.join(dirpath, d))]:
            path = os.path.join(dirpath, name)
            rel = os.path.relpath(path, root)
            out[rel] = os.readlink(path) if os.path.islink(path) else None
    return out


def unit_commands(unit_path):
    """The program of each Exec*= line of the unit's [Service] section."""
    progs = []
    section = None
    for line in open(unit_path):
        line = line.strip()
        if line.startswith("["):
            section = line
        elif section == "[Service]" and line.startswith("Exec") and "=" in line:
            value = line.split("=", 1)[1]
            progs.append((line.split("=", 1)[0], value.lstrip("+-@!:").split()))
    return progs


def check_unit_runs_installed_files(root, sbindir, sysconfdir):
    """The unit's ExecStart runs sbindir/mxrelayd -c on the installed
    configuration, and every program the unit runs exists: ours under root,
    the system's (install(1)) on this machine."""
    unit = os.path.join(root, UNIT_DIRS[sbindir], "mxrelayd.service")
    cmds = unit_commands(unit)
    starts = [argv for key, argv in cmds if key == "ExecStart"]
    want_conf = f"{sysconfdir}/mxrelay/mxrelay.conf"
    assert starts == [[f"{sbindir}/mxrelayd", "-c", want_conf]], \
        f"ExecStart: got {starts}, want {sbindir}/mxrelayd -c {want_conf}"
    assert os.path.isfile(root + want_conf), f"the unit's configuration {want_conf} is not installed"
    for key, argv in cmds:
        prog = argv[0]
        ours = os.path.basename(prog).startswith("mxrelay")
        path = root + prog if ours else prog
        assert os.path.isfile(path) and os.access(path, os.X_OK), \
            f"{key}= runs {prog}, which is not an installed executable ({path})"
    return unit


UNIT_DIRS = {"/usr/sbin": "lib/systemd/system", "/usr/local/sbin": "usr/local/lib/systemd/system"}


def verify_unit(unit, root, sbindir):
    """systemd-analyze verify on the installed unit, the paths of our programs
    (the daemon, and mxrelay for ExecReload=) pointing into root (verify
    checks that each executable exists)."""
    if shutil.which("systemd-analyze") is None:
        pytest.skip("systemd-analyze not installed")
    bindir = sbindir[:-len("sbin")] + "bin"
    text = open(unit).read().replace(f"{sbindir}/mxrelayd", f"{root}{sbindir}/mxrelayd")
    text = text.replace(f"{bindir}/mxrelay ", f"{root}{bindir}/mxrelay ")
    check = os.path.join(os.path.dirname(root), "verify", "mxrelayd.service")
    os.makedirs(os.path.dirname(check), exist_ok=True)
    open(check, "w").write(text)
    r = run(["systemd-analyze", "verify", "--man=no", check], timeout=60)
    problems = [line for line in (r.stdout + r.stderr).splitlines() if line.strip()]
    assert r.returncode == 0 and not problems, "\n".join(problems)


def make_install(build, destdir, prefix):
    run_ok(["make", "-C", REPO, "install", f"BUILD={build}", f"DESTDIR={destdir}",
            f"PREFIX={prefix}", "JOBS=2"], f"make install PREFIX={prefix}")


@pytest.fixture(scope="module")
def install_build(tmp_path_factory):
    if shutil.which("cmake") is None or shutil.which("make") is None:
        pytest.skip("cmake and make are needed for make install")
    return tmp_path_factory.mktemp("install") / "build"


@pytest.fixture(scope="module")
def usr_root(install_build):
    root = install_build.parent / "usr-root"
    make_install(install_build, root, "/usr")
    return str(root)


@pytest.fixture(scope="module")
def local_root(install_build, usr_root):
    """PREFIX=/usr/local after /usr in the same build directory: only the
    command line, whose default configuration follows the prefix, is rebuilt."""
    root = install_build.parent / "local-root"
    make_install(install_build, root, "/usr/local")
    return str(root)


@pytest.fixture(scope="module")
def deb_dir(tmp_path_factory):
    if shutil.which("dpkg-deb") is None:
        pytest.skip("dpkg-deb not installed (scripts/install-deps deb)")
    given = os.environ.get("MXR_DEB_DIR")
    if given:
        return given
    if shutil.which("dpkg-buildpackage") is None or shutil.which("dh") is None:
        pytest.skip("debhelper and dpkg-dev are needed to build the package "
                    "(scripts/install-deps deb), or set MXR_DEB_DIR to make deb's output")
    out = tmp_path_factory.mktemp("deb") / "build-deb"
    run_ok(["make", "-C", REPO, "deb", f"DEB_BUILD={out}", "JOBS=2"], "make deb", timeout=1200)
    return str(out)


@pytest.fixture(scope="module")
def deb_file(deb_dir):
    debs = glob.glob(os.path.join(deb_dir, "mxrelay_*.deb"))
    assert len(debs) == 1, f"want one mxrelay_*.deb in {deb_dir}, got {debs}"
    return debs[0]


@pytest.fixture(scope="module")
def deb_root(deb_file, tmp_path_factory):
    root = tmp_path_factory.mktemp("debroot") / "root"
    run_ok(["dpkg-deb", "-x", deb_file, str(root)], "dpkg-deb -x")
    return str(root)


def test_make_install_stages_every_file_where_the_man_pages_say(usr_root):
    got = tree(usr_root)
    missing = sorted(set(USR_FILES) - set(got))
    extra = sorted(set(got) - set(USR_FILES))
    assert not missing and not extra, f"missing {missing}, not expected {extra}"
    for path, target in USR_FILES.items():
        assert got[path] == target, f"{path}: got link {got[path]}, want {target}"
        assert os.path.exists(os.path.join(usr_root, path)), f"{path} -> {target} dangles"
    for prog in ("usr/sbin/mxrelayd", "usr/bin/mxrelay"):
        assert os.access(os.path.join(usr_root, prog), os.X_OK), f"{prog} is not executable"


def test_make_install_unit_runs_the_installed_daemon(usr_root):
    unit = check_unit_runs_installed_files(usr_root, "/usr/sbin", "/etc")
    verify_unit(unit, usr_root, "/usr/sbin")


def test_make_install_keeps_an_existing_configuration(install_build, usr_root):
    conf = os.path.join(usr_root, "etc/mxrelay/mxrelay.conf")
    with open(conf, "w") as f:
        f.write("# the administrator's own\nlisten = 127.0.0.1:2526 relay\n")
    make_install(install_build, usr_root, "/usr")
    assert open(conf).read().startswith("# the administrator's own"), \
        "make install overwrote an existing mxrelay.conf"


def test_make_install_under_usr_local_follows_the_prefix(local_root):
    got = tree(local_root)
    for path in ("usr/local/sbin/mxrelayd", "usr/local/bin/mxrelay", "usr/local/sbin/sendmail",
                 "usr/local/bin/mailq", "usr/local/etc/mxrelay/mxrelay.conf",
                 "usr/local/share/man/man8/mxrelayd.8"):
        assert path in got, f"{path} not installed; got {sorted(got)}"
    assert not [p for p in got if not p.startswith("usr/local/")], \
        f"PREFIX=/usr/local installed outside it: {sorted(got)}"
    unit = check_unit_runs_installed_files(local_root, "/usr/local/sbin", "/usr/local/etc")
    verify_unit(unit, local_root, "/usr/local/sbin")
    man = open(os.path.join(local_root, "usr/local/share/man/man8/mxrelayd.8")).read()
    assert "/usr/local/etc/mxrelay/mxrelay.conf" in man, \
        "mxrelayd(8) does not name the installed configuration"
    stale = [line for line in man.splitlines() if re.search(r"(?<!/usr/local)/etc/mxrelay/", line)]
    assert not stale, f"mxrelayd(8) names the /usr configuration directory: {stale}"
    r = run_ok([os.path.join(local_root, "usr/local/bin/mxrelay"), "check-config", "--help"],
               "mxrelay check-config --help")
    assert "/usr/local/etc/mxrelay/mxrelay.conf" in r.stdout + r.stderr, \
        f"check-config's default is not the installed configuration:\n{r.stdout}{r.stderr}"


def test_package_holds_what_make_install_does(deb_root):
    got = tree(deb_root)
    for path, target in USR_FILES.items():
        if path.startswith("usr/share/man/"):
            path, target = path + ".gz", target and target + ".gz"
        assert path in got, f"{path} not in the package; got {sorted(got)}"
        assert got[path] == target, f"{path}: got link {got[path]}, want {target}"
    assert "usr/share/doc/mxrelay/copyright" in got


def test_package_control(deb_file, tmp_path):
    fields = run_ok(["dpkg-deb", "-f", deb_file], "dpkg-deb -f").stdout
    for key in ("Provides", "Conflicts", "Replaces"):
        line = next((l for l in fields.splitlines() if l.startswith(key + ":")), "")
        assert "mail-transport-agent" in line, f"{key}: got {line!r}, want mail-transport-agent"
    ctrl = tmp_path / "control"
    run_ok(["dpkg-deb", "-e", deb_file, str(ctrl)], "dpkg-deb -e")
    assert open(ctrl / "conffiles").read().split() == ["/etc/mxrelay/mxrelay.conf"]
    for script in ("postinst", "postrm", "prerm"):
        run_ok(["sh", "-n", str(ctrl / script)], f"{script} syntax")
    postinst = open(ctrl / "postinst").read()
    assert "adduser --system" in postinst and "/var/spool/mxrelay" in postinst
    assert "mxrelayd.service" in postinst, "dh_installsystemd did not enable the unit"
    postrm = open(ctrl / "postrm").read()
    assert "purge" in postrm and "deluser" in postrm and "rm -rf /var/spool/mxrelay" in postrm


def test_packaged_daemon_checks_the_packaged_configuration(deb_root):
    conf = os.path.join(deb_root, "etc/mxrelay/mxrelay.conf")
    r = run_ok([os.path.join(deb_root, "usr/sbin/mxrelayd"), "--check", "-c", conf],
               "mxrelayd --check", timeout=60)
    assert "configuration ok" in r.stdout + r.stderr, r.stdout + r.stderr
    r = run_ok([os.path.join(deb_root, "usr/bin/mxrelay"), "--help"], "mxrelay --help", timeout=60)
    assert r.stdout.startswith("usage: mxrelay"), r.stdout
    r = run_ok([os.path.join(deb_root, "usr/bin/mxrelay"), "check-config", "--help"],
               "mxrelay check-config --help", timeout=60)
    assert "/etc/mxrelay/mxrelay.conf" in r.stdout + r.stderr


def test_packaged_unit_runs_the_packaged_daemon(deb_root):
    unit = check_unit_runs_installed_files(deb_root, "/usr/sbin", "/etc")
    verify_unit(unit, deb_root, "/usr/sbin")
