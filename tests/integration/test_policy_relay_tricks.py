"""Relay tricks an attacker combines, from an address outside relay_networks:
each must get 550 5.7.1 (or a syntax refusal), never 250, and the session
must still take mail for the relay's own domain afterwards. The same holds
for addresses written without angle brackets (strict_envelopes off, the
default)."""

import pytest

from daemon import Client, mxrelayd, queued_id  # noqa: F401  (mxrelayd is a fixture)

pytestmark = pytest.mark.netns

COMBOS = [
    "<@example.test:victim%elsewhere.test@example.test>",      # route + % hack
    "<@example.test,@example.test:victim!elsewhere.test@example.test>",  # routes + ! path
    "<POSTMASTER@elsewhere.test>",                               # postmaster, not ours
    "<Postmaster@ElseWhere.Test.>",                              # ... mixed case, trailing dot
    '<"postmaster"@elsewhere.test>',                             # quoted postmaster elsewhere
    '<"postmaster@elsewhere.test">',                             # quoted, @ inside, no domain
    '<"postmaster%elsewhere.test">',                             # quoted, % inside, no domain
    "<postmaster%elsewhere.test@example.test>",                  # postmaster + % hack
    "<postmaster!elsewhere.test>",                               # postmaster ! path
    '<"victim\\@elsewhere.test"@example.test>',                  # quoted-pair @
    "<victim@example.test@elsewhere.test>",                      # two @
    "<victim@elsewhere.test%example.test>",                      # % in the domain
    "<victim@[127.0.0.1]>",                                      # our own address literal
    "<victim@[IPv6:::1]>",                                       # IPv6 literal
    "<victim@exаmple.test>",                                     # Cyrillic a (UTF-8 lookalike)
    "<victim@example.test.elsewhere.test>",                      # our name as a prefix
    "<victim@xexample.test>",                                    # our name as a suffix
    "<victim@sub.example.test>",                                 # a subdomain is not ours
    "<victim@example.test..>",                                   # two trailing dots
    "<victim@.example.test>",                                    # leading dot
]


def session():
    c = Client(source="127.0.0.99")
    assert c.reply().code == 220
    c.expect("EHLO client.test", 250)
    c.expect("MAIL FROM:<a@b.test> SMTPUTF8", 250)
    return c


@pytest.mark.parametrize("rcpt", COMBOS)
def test_combined_tricks_cannot_relay(mxrelayd, netns, rcpt):
    netns.add_addr("127.0.0.99")
    d = mxrelayd(relay_networks="127.0.0.1/32", relay_domains="example.test")
    c = session()
    r = c.cmd(f"RCPT TO:{rcpt}")
    assert r.code in (550, 553, 501), f"{rcpt}: got {r}, want a refusal"
    if r.code == 550:
        assert r.esc in ("5.7.1", "5.1.3"), f"{rcpt}: got {r}"
    c.expect("RCPT TO:<user@example.test>", 250, "2.1.5")
    c.expect("DATA", 354)
    c.send(b"Subject: local\r\n\r\nx\r\n.\r\n")
    _, rcpts, _ = d.message(queued_id(c.reply()))
    assert rcpts == ["user@example.test"], rcpts


BARE_TRICKS = [
    "victim@elsewhere.test",
    "user%elsewhere.test@example.test",
    "@example.test:user@elsewhere.test",
    "@example.test,@x.test:victim@elsewhere.test",
    '"victim@elsewhere.test"@example.test',
    '"victim@elsewhere.test"',
    "victim@elsewhere.test@example.test",
    "victim@example.test.elsewhere.test",
    "victim@elsewhere.test.",
] + [c[1:-1] for c in COMBOS]


@pytest.mark.parametrize("rcpt", BARE_TRICKS)
def test_bare_relay_tricks_cannot_relay(mxrelayd, netns, rcpt):
    netns.add_addr("127.0.0.99")
    d = mxrelayd(relay_networks="127.0.0.1/32", relay_domains="example.test")
    c = Client(source="127.0.0.99")
    assert c.reply().code == 220
    c.expect("EHLO client.test", 250)
    c.expect("MAIL FROM:a@b.test SMTPUTF8", 250)
    r = c.cmd(f"RCPT TO:{rcpt}")
    assert r.code in (550, 553, 501), f"{rcpt}: got {r}, want a refusal"
    if r.code == 550:
        assert r.esc in ("5.7.1", "5.1.3"), f"{rcpt}: got {r}"
    c.expect("RCPT TO:user@example.test", 250, "2.1.5")
    c.expect("DATA", 354)
    c.send(b"Subject: local\r\n\r\nx\r\n.\r\n")
    _, rcpts, _ = d.message(queued_id(c.reply()))
    assert rcpts == ["user@example.test"], rcpts
