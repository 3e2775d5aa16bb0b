"""Test peers for the mxrelay integration suite.

Every peer here is real or speaks the real protocol on real sockets inside
the test's private network namespace: nsd serves the DNS zones, Postfix's
smtp-sink and a scriptable Python SMTP server receive the mail, and the
openssl command line makes the certificates.
"""
