"""`mxrelay check-config --print` and `--print-changed` on real files:
every setting with its value, only the ones set, and never a password;
the retry defaults it prints are the ones README, mxrelay.conf(5) and the
example configuration state.
"""

import os
import re
import subprocess

from conftest import REPO, sanitizer_env, sanitizer_report

PASSWORD = "Sm4rthost-secret-never-shown"
# The keys of mxrelay.conf(5) when this was written (the unit test test_config_print checks
# the grammar's whole table, so keys added later are covered there).
KEYS = ["listen", "hostname", "queue_dir", "user", "control_socket", "log_level",
        "relay_networks", "relay_domains", "max_message_size", "max_recipients", "hop_limit",
        "max_errors", "max_connections", "max_connections_per_ip", "command_timeout",
        "data_timeout", "vrfy", "check_recipient_domain", "tls_cert", "tls_key", "auth_file",
        "helo_name", "dns_server", "source_address", "address_preference", "outbound_tls",
        "ca_file", "smarthost", "route", "max_deliveries", "max_per_destination",
        "connection_reuse_time", "connection_reuse_limit", "retry_intervals", "max_queue_age",
        "delay_warning"]


def check_config(mxr_bin, *args):
    p = subprocess.run([mxr_bin.mxrelay, "check-config", *args], capture_output=True, text=True,
                       env=sanitizer_env(), timeout=30)
    assert sanitizer_report(p.stderr) is None, p.stderr
    return p


def write_conf(tmp_path):
    pw = tmp_path / "smarthost.pw"
    pw.write_text(PASSWORD + "\n")
    conf = tmp_path / "mxrelay.conf"
    conf.write_text(
        "# a relay for the office\n"
        "listen = 127.0.0.1:2525 relay\n"
        f"queue_dir = {tmp_path}/queue\n"
        "relay_networks = 192.0.2.0/24\n"
        "max_errors = 7\n"
        "retry_intervals = 1m 10m 2h\n"
        f"route = corp.test smarthost=[192.0.2.25]:587 tls=required auth=relayuser "
        f"password-file={pw}\n")
    return conf, pw


def keys_of(out):
    return [re.match(r"^([a-z_0-9]+) =", l).group(1) for l in out.splitlines()]


def test_print_gives_every_key_and_no_password(mxr_bin, tmp_path):
    conf, pw = write_conf(tmp_path)
    p = check_config(mxr_bin, "--print", str(conf))
    assert p.returncode == 0, p.stderr
    got = keys_of(p.stdout)
    missing = sorted(set(KEYS) - set(got))
    assert missing == [], f"keys not printed: {missing}\n{p.stdout}"
    assert len(got) == len(set(got)), f"a key printed twice:\n{p.stdout}"
    assert PASSWORD not in p.stdout and PASSWORD not in p.stderr
    lines = p.stdout.splitlines()
    # The older name of a level prints as the level's name (required is verify).
    assert (f"route = corp.test smarthost=[192.0.2.25]:587 tls=verify auth=relayuser "
            f"password-file={pw}") in lines, p.stdout
    assert "outbound_tls = dane" in lines and "tls_policy =" in lines, p.stdout
    assert "max_errors = 7" in lines and "retry_intervals = 1m 10m 2h" in lines, p.stdout
    assert "max_recipients = 1000" in lines and "hop_limit = 100" in lines, p.stdout   # defaults
    assert "relay_networks = 192.0.2.0/24" in lines, p.stdout


def test_print_changed_gives_only_the_keys_set(mxr_bin, tmp_path):
    conf, pw = write_conf(tmp_path)
    for args in (["--print-changed", str(conf)], ["-c", str(conf), "--print-changed"]):
        p = check_config(mxr_bin, *args)
        assert p.returncode == 0, p.stderr
        assert keys_of(p.stdout) == ["listen", "queue_dir", "relay_networks", "max_errors",
                                     "route", "retry_intervals"], p.stdout
        assert PASSWORD not in p.stdout


def test_print_of_a_bad_file_is_the_error(mxr_bin, tmp_path):
    conf = tmp_path / "bad.conf"
    conf.write_text("listen = 127.0.0.1:2525 relay\nmax_errors = lots\n")
    p = check_config(mxr_bin, "--print", str(conf))
    assert p.returncode == 78 and p.stdout == "", p
    assert f"{conf}:2: max_errors" in p.stderr, p.stderr
    p = check_config(mxr_bin, "--print", str(conf), str(conf))
    assert p.returncode == 64, p


# The retry schedule an administrator gets without setting it, as README,
# mxrelay.conf(5) and the example configuration state it.
RETRY_DEFAULT = "5m 10m 20m 30m 1h 2h 4h"
MAX_QUEUE_AGE_DEFAULT = "5d"


def test_retry_defaults_are_the_documented_ones(mxr_bin, tmp_path):
    conf = tmp_path / "mxrelay.conf"
    conf.write_text("listen = 127.0.0.1:2525 relay\n")
    p = check_config(mxr_bin, "--print", str(conf))
    assert p.returncode == 0, p.stderr
    printed = {}
    for line in p.stdout.splitlines():
        if "=" in line and not line.startswith("#"):
            key, value = line.split("=", 1)
            printed.setdefault(key.strip(), value.strip())
    assert printed.get("retry_intervals") == RETRY_DEFAULT, p.stdout
    assert printed.get("max_queue_age") == MAX_QUEUE_AGE_DEFAULT, p.stdout

    readme = open(os.path.join(REPO, "README.md")).read()
    assert f"`retry_intervals = {RETRY_DEFAULT}`" in readme, "README.md does not state the retry default"
    assert f"`max_queue_age = {MAX_QUEUE_AGE_DEFAULT}`" in readme, "README.md does not state max_queue_age"
    man = open(os.path.join(REPO, "man", "mxrelay.conf.5")).read()
    retry_entry = man.split(".BI retry_intervals", 1)[1].split(".TP", 1)[0]
    assert f'Default:\n.BR "{RETRY_DEFAULT}" .' in retry_entry, retry_entry
    example = open(os.path.join(REPO, "etc", "mxrelay.conf")).read().splitlines()
    assert f"#retry_intervals = {RETRY_DEFAULT}" in example
    assert f"#max_queue_age = {MAX_QUEUE_AGE_DEFAULT}" in example
