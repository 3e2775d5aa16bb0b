"""lib/dns against a DNSSEC-signed hierarchy (the `dnssec` fixture).

The bed itself is checked first (drill through the validating unbound);
then tests/tools/mxr_dnsq runs each kind of lookup (MX, host, TLSA, TXT)
with the bed's trust anchor, without one, and with the real root anchor,
forwarding to the validating unbound or straight to nsd. A recording
relay shows what libunbound asks a validating server when data is bogus.
"""

import json
import os
import subprocess

import pytest

from conftest import sanitizer_env, sanitizer_report

pytestmark = pytest.mark.netns

DIG256 = "8cd28a9d428fc31c0b668421f2347a21414d7bd6598d12b53164f355258a6a5b"
DIG256B = "0123456789abcdef" * 4
ROOT_KEY = "/usr/share/dns/root.key"


def dnsq(mxr_bin, *args, timeout=30):
    """Run mxr_dnsq with args; its JSON objects, in the order of the names asked
    (answers come in any order; each says its "query")."""
    prog = os.path.join(mxr_bin.dir, "mxr_dnsq")
    if not os.access(prog, os.X_OK):
        pytest.fail(f"{prog} is not built (a test build makes it)")
    res = subprocess.run([prog, "--timeout", "10000", *args], capture_output=True, text=True,
                         timeout=timeout, env=sanitizer_env())
    report = sanitizer_report(res.stderr)
    assert report is None, f"sanitizer report from mxr_dnsq {args}:\n{report}"
    assert res.returncode in (0, 1), f"mxr_dnsq {args}: exit {res.returncode}\n{res.stdout}{res.stderr}"
    out = [json.loads(line) for line in res.stdout.splitlines() if line.strip()]
    if all("query" in o for o in out) and len(out) > 1:
        names = [a for a in args if not str(a).startswith("-")]
        out.sort(key=lambda o: names.index(o["query"]))
    return out


def one(mxr_bin, *args):
    out = dnsq(mxr_bin, *args)
    assert len(out) == 1, out
    return out[0]


def drill(server, name, rtype="A", cd=False):
    """drill -D through server: (rcode, flags) of the answer."""
    argv = ["drill", "-D", f"@{server}", name, rtype]
    if cd:
        argv[1:1] = ["-o", "CD"]
    out = subprocess.run(argv, capture_output=True, text=True, timeout=20).stdout
    rcode = flags = None
    for line in out.splitlines():
        if "rcode:" in line:
            rcode = line.split("rcode:")[1].split(",")[0].strip()
        if line.startswith(";; flags:"):
            flags = line.split(":")[1].split(";")[0].split()
    return rcode, flags, out


def standard_bed(bed):
    """The three kinds of zone with an MX, its host and its TLSA in each."""
    bed.zone("secure.test", signed=True).zone("insecure.test", signed=False)
    bed.zone("bogus.test", signed=True, bogus=True)
    for z, ip in (("secure", "127.0.0.11"), ("insecure", "127.0.0.12"), ("bogus", "127.0.0.13")):
        bed.mx(f"{z}.test", [(10, f"mx.{z}.test")]).a(f"mx.{z}.test", ip)
        bed.record(f"_25._tcp.mx.{z}.test", "TLSA", f"3 1 1 {DIG256}")
    return bed


def test_bed_says_secure_insecure_bogus(dnssec):
    standard_bed(dnssec).start()
    rcode, flags, out = drill(dnssec.resolver, "mx.secure.test")
    assert rcode == "NOERROR" and "ad" in flags, out
    rcode, flags, out = drill(dnssec.resolver, "mx.insecure.test")
    assert rcode == "NOERROR" and "ad" not in flags and "127.0.0.12" in out, out
    rcode, flags, out = drill(dnssec.resolver, "mx.bogus.test")
    assert rcode == "SERVFAIL", out
    # Bogus, not missing: with checking disabled the data is there.
    rcode, flags, out = drill(dnssec.resolver, "mx.bogus.test", cd=True)
    assert rcode == "NOERROR" and "127.0.0.13" in out, out
    with open(dnssec.anchor_file) as f:
        assert " DS " in f.read().replace("\t", " ")


def test_mx_secure_insecure_bogus(dnssec, mxr_bin):
    standard_bed(dnssec).start()
    sec, insec, bog = dnsq(mxr_bin, "--server", dnssec.resolver, "--anchors", dnssec.anchor_file,
                           "mx", "secure.test", "insecure.test", "bogus.test")
    assert sec["status"] == "ok" and sec["dnssec"] and sec["secure"] and not sec["bogus"], sec
    assert sec["hosts"][0]["secure"] and sec["hosts"][0]["addrs"] == ["127.0.0.11"], sec
    assert sec["hosts"][0]["canon"] == "", sec
    assert insec["status"] == "ok" and insec["dnssec"] and not insec["secure"], insec
    assert not insec["hosts"][0]["secure"] and insec["hosts"][0]["addrs"] == ["127.0.0.12"], insec
    assert bog["status"] == "tempfail" and bog["esc"] == "4.7.5" and bog["bogus"], bog
    assert "DNSSEC validation failed" in bog["reason"] and "bogus.test" in bog["reason"], bog
    assert bog["hosts"] == []


def test_implicit_mx_secure_denial(dnssec, mxr_bin):
    dnssec.zone("secure.test").a("plain.secure.test", "127.0.0.21").start()
    res = one(mxr_bin, "--server", dnssec.resolver, "--anchors", dnssec.anchor_file, "mx", "plain.secure.test")
    assert res["status"] == "ok" and res["implicit"] and res["secure"], res
    assert res["hosts"][0]["secure"] and res["hosts"][0]["addrs"] == ["127.0.0.21"], res


def test_host_addresses_secure_insecure(dnssec, mxr_bin):
    standard_bed(dnssec).a("mx.secure.test", "::1").start()
    sec, insec = dnsq(mxr_bin, "--server", dnssec.resolver, "--anchors", dnssec.anchor_file,
                      "host", "mx.secure.test", "mx.insecure.test")
    assert sec["status"] == "ok" and sec["hosts"][0]["secure"], sec
    assert sorted(sec["hosts"][0]["addrs"]) == ["127.0.0.11", "::1"], sec
    assert not sec["secure"], "a host lookup has no MX RRset to be secure"
    assert insec["status"] == "ok" and not insec["hosts"][0]["secure"], insec


def test_bogus_address_drops_that_family_only(dnssec, mxr_bin):
    dnssec.zone("secure.test").zone("bogus.test", bogus=True)
    dnssec.mx("secure.test", [(10, "mx.secure.test")]).a("mx.secure.test", "127.0.0.11", "::1")
    dnssec.corrupt("mx.secure.test", "AAAA")
    dnssec.mx("other.secure.test", [(10, "mx.bogus.test")]).a("mx.bogus.test", "127.0.0.13")
    dnssec.start()
    res, other = dnsq(mxr_bin, "--server", dnssec.resolver, "--anchors", dnssec.anchor_file,
                      "mx", "secure.test", "other.secure.test")
    host = res["hosts"][0]
    assert res["status"] == "ok" and host["addrs"] == ["127.0.0.11"], res
    assert host["addr_bogus"] and host["addr_tempfail"] and host["secure"], res
    # The only host's addresses are bogus: 4.7.5, not 4.4.3, and nothing to connect to.
    assert other["status"] == "tempfail" and other["esc"] == "4.7.5" and other["bogus"], other
    assert other["secure"] is False and other["hosts"] == [], other
    assert "DNSSEC validation failed" in other["reason"] and "mx.bogus.test" in other["reason"], other


def test_cname_host_gives_canon(dnssec, mxr_bin):
    dnssec.zone("secure.test").zone("insecure.test", signed=False)
    dnssec.mx("secure.test", [(10, "alias.secure.test"), (20, "away.secure.test")])
    dnssec.record("alias.secure.test", "CNAME", "real.secure.test").a("real.secure.test", "127.0.0.11")
    dnssec.record("away.secure.test", "CNAME", "real.insecure.test").a("real.insecure.test", "127.0.0.12")
    dnssec.start()
    res = one(mxr_bin, "--server", dnssec.resolver, "--anchors", dnssec.anchor_file, "mx", "secure.test")
    assert res["status"] == "ok" and res["secure"], res
    alias, away = res["hosts"]
    assert alias["name"] == "alias.secure.test" and alias["canon"] == "real.secure.test", res
    assert alias["secure"] and alias["addrs"] == ["127.0.0.11"], res
    # From a secure zone into an insecure one: the chain is not secure.
    assert away["canon"] == "real.insecure.test" and not away["secure"], res
    assert away["addrs"] == ["127.0.0.12"], res


def test_tlsa_found_absent_insecure_bogus(dnssec, mxr_bin):
    standard_bed(dnssec)
    dnssec.record("_25._tcp.mx.secure.test", "TLSA", f"2 1 1 {DIG256B}")
    dnssec.a("notlsa.secure.test", "127.0.0.11")
    dnssec.start()
    base = ["--server", dnssec.resolver, "--anchors", dnssec.anchor_file, "tlsa"]
    found = one(mxr_bin, *base, "mx.secure.test")
    assert found["status"] == "found" and found["base"] == "mx.secure.test", found
    rows = sorted((r["usage"], r["selector"], r["mtype"], r["data"]) for r in found["records"])
    assert rows == [(2, 1, 1, DIG256B), (3, 1, 1, DIG256)], found
    absent = one(mxr_bin, *base, "notlsa.secure.test")
    assert absent["status"] == "absent" and absent["records"] == [], absent
    nxd = one(mxr_bin, *base, "nosuchhost.secure.test")
    assert nxd["status"] == "absent", nxd
    insec = one(mxr_bin, *base, "mx.insecure.test")
    assert insec["status"] == "insecure" and insec["records"] == [], insec
    bog = one(mxr_bin, *base, "mx.bogus.test")
    assert bog["status"] == "bogus" and "DNSSEC validation failed" in bog["reason"], bog
    # Another port is another name.
    other = one(mxr_bin, "--port", "465", *base, "mx.secure.test")
    assert other["status"] == "absent", other


def test_tlsa_expanded_name_first_then_original(dnssec, mxr_bin):
    dnssec.zone("secure.test").zone("insecure.test", signed=False)
    dnssec.a("real.secure.test", "127.0.0.11").a("mx.secure.test", "127.0.0.11")
    dnssec.record("_25._tcp.mx.secure.test", "TLSA", f"3 1 1 {DIG256}")
    dnssec.a("both.secure.test", "127.0.0.11")
    dnssec.record("_25._tcp.both.secure.test", "TLSA", f"3 1 1 {DIG256B}")
    dnssec.a("real.insecure.test", "127.0.0.12")
    # A TLSA record reached through a CNAME, all in signed zones.
    dnssec.record("_25._tcp.cn.secure.test", "CNAME", "_25._tcp.mx.secure.test")
    dnssec.start()
    base = ["--server", dnssec.resolver, "--anchors", dnssec.anchor_file, "tlsa"]
    res = one(mxr_bin, *base, "real.secure.test", "mx.secure.test")
    assert res["status"] == "found" and res["base"] == "mx.secure.test", res
    assert [r["data"] for r in res["records"]] == [DIG256], res
    res = one(mxr_bin, *base, "both.secure.test", "mx.secure.test")
    assert res["status"] == "found" and res["base"] == "both.secure.test", res
    assert [r["data"] for r in res["records"]] == [DIG256B], res
    # Insecure at the first name goes on too.
    res = one(mxr_bin, *base, "real.insecure.test", "mx.secure.test")
    assert res["status"] == "found" and res["base"] == "mx.secure.test", res
    # Nothing anywhere: the status of the last name.
    res = one(mxr_bin, *base, "mx.secure.test.", "real.insecure.test")
    assert res["status"] == "found", "the first name with records stops the walk"
    res = one(mxr_bin, *base, "real.secure.test", "real.insecure.test")
    assert res["status"] == "insecure" and res["base"] == "real.insecure.test", res
    res = one(mxr_bin, *base, "cn.secure.test")
    assert res["status"] == "found" and [r["data"] for r in res["records"]] == [DIG256], res


def test_txt_secure_insecure_nxdomain_several(dnssec, mxr_bin):
    standard_bed(dnssec)
    dnssec.record("_mta-sts.secure.test", "TXT", "v=STSv1; id=20260101")
    dnssec.record("_smtp._tls.secure.test", "TXT", '"v=TLSRPTv1; " "rua=mailto:tls@secure.test"')
    dnssec.record("_smtp._tls.secure.test", "TXT", "second record")
    dnssec.record("_mta-sts.insecure.test", "TXT", "v=STSv1; id=2")
    dnssec.record("_mta-sts.bogus.test", "TXT", "v=STSv1; id=3")
    dnssec.start()
    sts, rpt, insec, nx, nodata, bog = dnsq(
        mxr_bin, "--server", dnssec.resolver, "--anchors", dnssec.anchor_file, "txt",
        "_mta-sts.secure.test", "_smtp._tls.secure.test", "_mta-sts.insecure.test",
        "_mta-sts.nowhere.secure.test", "mx.secure.test", "_mta-sts.bogus.test")
    assert sts["status"] == "ok" and sts["secure"] and sts["texts"] == ["v=STSv1; id=20260101"], sts
    assert rpt["status"] == "ok" and rpt["secure"], rpt
    assert sorted(rpt["texts"]) == ["second record", "v=TLSRPTv1; rua=mailto:tls@secure.test"], rpt
    assert insec["status"] == "ok" and not insec["secure"] and insec["texts"] == ["v=STSv1; id=2"], insec
    assert nx["status"] == "ok" and nx["nxdomain"] and nx["secure"] and nx["texts"] == [], nx
    assert nodata["status"] == "ok" and not nodata["nxdomain"] and nodata["texts"] == [], nodata
    assert nodata["secure"], nodata
    assert bog["status"] == "tempfail" and bog["bogus"] and bog["texts"] == [], bog


def test_no_anchors_everything_insecure_nothing_bogus(dnssec, mxr_bin):
    standard_bed(dnssec).start()
    sec, insec, bog = dnsq(mxr_bin, "--server", dnssec.resolver, "mx", "secure.test", "insecure.test",
                           "bogus.test")
    for res in (sec, insec):
        assert res["status"] == "ok" and not res["dnssec"] and not res["secure"], res
        assert not res["hosts"][0]["secure"], res
    # The validating server answers SERVFAIL for bogus data: without validation of
    # its own the relay cannot tell it from any other failure.
    assert bog["status"] == "tempfail" and bog["esc"] == "4.4.3" and not bog["bogus"], bog
    tlsa = one(mxr_bin, "--server", dnssec.resolver, "tlsa", "mx.secure.test")
    assert tlsa["status"] == "insecure", tlsa
    # Straight to nsd, nothing validates: the bogus zone's data comes back as insecure.
    res = one(mxr_bin, "--server", dnssec.nsd_addr, "mx", "bogus.test")
    assert res["status"] == "ok" and not res["secure"] and not res["bogus"], res


def test_straight_to_nsd_libunbound_validates(dnssec, mxr_bin):
    standard_bed(dnssec).start()
    sec, insec, bog = dnsq(mxr_bin, "--server", dnssec.nsd_addr, "--anchors", dnssec.anchor_file,
                           "mx", "secure.test", "insecure.test", "bogus.test")
    assert sec["status"] == "ok" and sec["secure"] and sec["hosts"][0]["secure"], sec
    assert insec["status"] == "ok" and not insec["secure"], insec
    assert bog["status"] == "tempfail" and bog["esc"] == "4.7.5" and bog["bogus"], bog


def test_root_anchor_leaves_special_use_names_insecure(dnssec, mxr_bin):
    """Under the real root, test. is unsigned: domain-insecure keeps it resolving,
    and an anchor for test. itself overrides that."""
    if not os.path.exists(ROOT_KEY):
        pytest.skip(f"{ROOT_KEY} missing (package dns-root-data)")
    standard_bed(dnssec).start()
    sec, insec = dnsq(mxr_bin, "--server", dnssec.nsd_addr, "--anchors", ROOT_KEY, "mx",
                      "secure.test", "insecure.test")
    for res in (sec, insec):
        assert res["status"] == "ok" and res["dnssec"] and not res["secure"] and not res["bogus"], res
        assert res["hosts"][0]["addrs"], res
    sec, bog = dnsq(mxr_bin, "--server", dnssec.nsd_addr, "--anchors", ROOT_KEY, "--anchors",
                    dnssec.anchor_file, "mx", "secure.test", "bogus.test")
    assert sec["status"] == "ok" and sec["secure"], sec
    assert bog["status"] == "tempfail" and bog["esc"] == "4.7.5", bog


def test_validating_server_bogus_is_asked_again_with_cd(dnssec, mxr_bin, recording_proxy):
    """What libunbound does when its server validates and the data is bogus:
    the server's SERVFAIL makes it ask again with CD=1, and it validates the
    data itself and finds it bogus (so the relay says 4.7.5, not 4.4.3)."""
    standard_bed(dnssec).start()
    proxy = recording_proxy("127.0.0.55", (dnssec.resolver, 53))
    res = one(mxr_bin, "--server", "127.0.0.55", "--anchors", dnssec.anchor_file, "mx", "bogus.test")
    assert res["esc"] == "4.7.5" and res["bogus"], res
    asked = [(q["cd"], q["rcode"]) for q in proxy.queries if q["name"] == "bogus.test" and q["type"] == 15]
    assert asked[:2] == [(False, 2), (True, 0)], proxy.queries
    assert any(q["type"] == 48 and q["cd"] for q in proxy.queries), "DNSKEY fetched for its own validation"
    # Without anchors: one query, no CD, the SERVFAIL is all it learns.
    proxy.queries.clear()
    res = one(mxr_bin, "--server", "127.0.0.55", "mx", "bogus.test")
    assert res["esc"] == "4.4.3" and not res["bogus"], res
    assert all(not q["cd"] for q in proxy.queries), proxy.queries


def test_bad_anchor_file_is_refused_with_its_line(mxr_bin, tmp_path):
    bad = tmp_path / "anchor"
    bad.write_text("; header\ntest. IN DS 1 13 2 00ff\n")
    res = one(mxr_bin, "--anchors", str(bad), "mx", "a.test")
    assert res == {"error": "trust anchor line 2: DS digest length does not match its digest type"}, res
    bad.write_text("; only comments\n")
    res = one(mxr_bin, "--anchors", str(bad), "mx", "a.test")
    assert res == {"error": "trust anchor: no trust anchor"}, res
