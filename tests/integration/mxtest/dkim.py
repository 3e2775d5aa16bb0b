"""DKIM verifiers that are not ours, run against the test's DNS.

dkimverify (python3-dkim) and opendkim-testmsg (opendkim-tools) look keys
up through /etc/resolv.conf. The harness makes its network namespaces
with unshare(2), not `ip netns add`, so there is no
/etc/netns/NAME/resolv.conf for `ip netns exec` to bind; with_resolv()
runs a program in a mount namespace of its own (`unshare --mount`, which
makes the mounts private) where a resolv.conf naming the test's DNS
server is bound over /etc/resolv.conf, which is what `ip netns exec`
does. Nothing outside that process sees the change.
"""

import re
import subprocess

DKIMVERIFY = "/usr/bin/dkimverify"
TESTMSG = "/usr/sbin/opendkim-testmsg"

# The zone-file line `mxrelay dkim keygen` writes: owner, then the TXT strings.
ZONE_LINE = re.compile(r'^(\S+)\. IN TXT \(((?: "[^"]*")+) \)\n$')


def write_resolv(path, server):
    """A resolv.conf at path naming server alone; path as a string."""
    with open(path, "w") as f:
        f.write(f"nameserver {server}\noptions timeout:2 attempts:2\n")
    return str(path)


def with_resolv(resolv, argv):
    """argv run with resolv bound over /etc/resolv.conf in a mount namespace of its own."""
    return ["unshare", "--mount", "sh", "-c", 'mount --bind "$0" /etc/resolv.conf && exec "$@"',
            resolv, *argv]


def dkimverify(resolv, signed, timeout=300):
    """dkimpy's verdict on the first signature: (ok, what it said)."""
    p = subprocess.run(with_resolv(resolv, [DKIMVERIFY]), input=signed, capture_output=True,
                       timeout=timeout)
    said = (p.stdout + p.stderr).decode("utf-8", "replace").strip()
    # A failed check is said, or raised (dkim.ValidationError: body hash mismatch): exit 1.
    assert p.returncode in (0, 1), f"dkimverify broke (exit {p.returncode}): {said}"
    assert (p.returncode == 0) == ("signature ok" in said), said
    return p.returncode == 0, said


def opendkim_testmsg(resolv, signed, tmpdir, timeout=300):
    """libopendkim's verdict (opendkim-testmsg says nothing when it verifies): (ok, what it said)."""
    p = subprocess.run(with_resolv(resolv, [TESTMSG, "-t", str(tmpdir)]), input=signed,
                       capture_output=True, timeout=timeout)
    said = (p.stdout + p.stderr).decode("utf-8", "replace").strip()
    return p.returncode == 0 and said == "", f"exit {p.returncode}: {said}"
