"""Test certificates made with the openssl command line.

One test CA per session; server certificates signed by it for the names a
test asks for, a self-signed one, and one signed by the CA for a name that
is not the server's. Keys are P-256, which openssl makes in milliseconds.
"""

import os
import subprocess

OPENSSL = "openssl"


def _run(*args, cwd):
    res = subprocess.run([OPENSSL, *args], cwd=cwd, capture_output=True, text=True)
    if res.returncode != 0:
        raise RuntimeError(f"openssl {' '.join(args)}: {res.stderr}")
    return res.stdout


class Certs:
    def __init__(self, workdir):
        self.dir = workdir
        os.makedirs(workdir, exist_ok=True)
        self._made = {}
        self.ca_key = os.path.join(workdir, "ca.key")
        self.ca_file = os.path.join(workdir, "ca.pem")
        _run("req", "-x509", "-new", "-nodes", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256",
             "-keyout", self.ca_key, "-out", self.ca_file, "-days", "30",
             "-subj", "/CN=mxrelay test CA", "-addext", "basicConstraints=critical,CA:TRUE",
             "-addext", "keyUsage=critical,keyCertSign,cRLSign", cwd=workdir)

    def _key_and_csr(self, stem, cn):
        key = os.path.join(self.dir, stem + ".key")
        csr = os.path.join(self.dir, stem + ".csr")
        _run("req", "-new", "-nodes", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256",
             "-keyout", key, "-out", csr, "-subj", f"/CN={cn}", cwd=self.dir)
        return key, csr

    def _ext(self, stem, names):
        path = os.path.join(self.dir, stem + ".ext")
        sans = ",".join(f"IP:{n}" if n.replace(".", "").isdigit() or ":" in n else f"DNS:{n}" for n in names)
        with open(path, "w") as f:
            f.write("basicConstraints=critical,CA:FALSE\n"
                    "keyUsage=critical,digitalSignature,keyEncipherment\n"
                    "extendedKeyUsage=serverAuth\n"
                    f"subjectAltName={sans}\n")
        return path

    def server(self, *names):
        """(certfile, keyfile) signed by the test CA for names (the first is the CN)."""
        key = ("ca",) + names
        if key in self._made:
            return self._made[key]
        stem = "srv-" + "-".join(names).replace("*", "star")
        keyfile, csr = self._key_and_csr(stem, names[0])
        cert = os.path.join(self.dir, stem + ".pem")
        _run("x509", "-req", "-in", csr, "-CA", self.ca_file, "-CAkey", self.ca_key,
             "-CAcreateserial", "-out", cert, "-days", "30", "-extfile", self._ext(stem, names), cwd=self.dir)
        self._made[key] = (cert, keyfile)
        return cert, keyfile

    def self_signed(self, *names):
        """(certfile, keyfile) for names, signed by its own key: no chain to the CA."""
        key = ("self",) + names
        if key in self._made:
            return self._made[key]
        stem = "self-" + "-".join(names)
        keyfile = os.path.join(self.dir, stem + ".key")
        cert = os.path.join(self.dir, stem + ".pem")
        _run("req", "-x509", "-new", "-nodes", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256",
             "-keyout", keyfile, "-out", cert, "-days", "30", "-subj", f"/CN={names[0]}",
             "-addext", "subjectAltName=" + ",".join(f"DNS:{n}" for n in names), cwd=self.dir)
        self._made[key] = (cert, keyfile)
        return cert, keyfile

    def wrong_name(self, name="wrong.example"):
        """A certificate the test CA signed, but for a name no test host has."""
        return self.server(name)


def tlsa_rdata(certfile, usage=3, selector=1, mtype=1):
    """The TLSA record data (RFC 6698) matching the first certificate in certfile:
    "USAGE SELECTOR MTYPE HEX", selector 0 the whole certificate, 1 its
    SubjectPublicKeyInfo; matching type 0 the DER itself, 1 SHA-256, 2 SHA-512."""
    import hashlib
    der = subprocess.run([OPENSSL, "x509", "-in", certfile, "-outform", "DER"],
                         capture_output=True, check=True).stdout
    if selector == 1:
        pem = subprocess.run([OPENSSL, "x509", "-in", certfile, "-noout", "-pubkey"],
                             capture_output=True, check=True).stdout
        der = subprocess.run([OPENSSL, "pkey", "-pubin", "-outform", "DER"], input=pem,
                             capture_output=True, check=True).stdout
    data = {0: der, 1: hashlib.sha256(der).digest(), 2: hashlib.sha512(der).digest()}[mtype]
    return f"{usage} {selector} {mtype} {data.hex()}"


def chain_file(certfile, *more, dest):
    """A PEM file holding certfile then the certificates in more (a server's chain)."""
    with open(dest, "w") as out:
        for path in (certfile,) + more:
            with open(path) as f:
                out.write(f.read())
    return dest
