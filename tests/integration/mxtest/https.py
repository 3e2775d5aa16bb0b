"""An HTTPS server for MTA-STS policies (RFC 8461) and TLS reports (RFC 8460).

HttpsServer(netns, certs, "127.0.0.80").start() runs a threaded server
made of http.server and ssl in its own process inside the test's
namespace (spawned with netns.spawn, so it is stopped at teardown and its
log is in the failure report). It serves many host names on one address:
the SNI callback picks the certificate the test CA signed for the name
asked; a name it has no certificate for gets one for DEFAULT_NAME, which
no test uses, so a client checking the name fails as against a wrong
server. No SNI at all gets the same default certificate.

The test steers the server through files it rereads on every request, so
content can change between two deliveries without a restart:
  policy(domain, text)       the body of https://mta-sts.DOMAIN/.well-known/mta-sts.txt
  route(host, path, body, content_type=, status=, headers=)   anything else
  delay(host, path, seconds) wait that long after reading the request, then answer
  cert(host, (certfile, keyfile))   serve another certificate for host
A request without a route gets 404. Routes match the Host header's name
(without the port), or the SNI name when there is no Host header, and the
request target, first as sent, then without its query string.

Every request is recorded on arrival, before any delay: requests(),
posts() and posted_json() read them back, wait_requests() waits for them.
Every TLS handshake, good or failed, is recorded too: handshakes(),
wait_handshakes().

Run as a program, this file is the server itself:
  https.py DIR ADDR PORT
"""

import gzip
import http.server
import json
import os
import socket
import ssl
import sys
import threading
import time

from .netns import wait_port

# The name of the certificate for names the server has none for. No test
# uses it; start() checks the server with it.
DEFAULT_NAME = "default.https.mxtest.invalid"

POLICY_PATH = "/.well-known/mta-sts.txt"


def _write_atomic(path, data):
    tmp = path + ".tmp"
    with open(tmp, "wb") as f:
        f.write(data)
    os.replace(tmp, path)


def _read_json(path, default):
    try:
        with open(path) as f:
            return json.load(f)
    except (OSError, ValueError):
        return default


class HttpsServer:
    """The test's side: writes the content files, reads the records back."""

    def __init__(self, netns, certs, addr="127.0.0.80", port=443, hosts=()):
        self.netns = netns
        self.certs = certs
        self.addr = addr
        self.port = port
        self.name = f"https {addr}:{port}"
        self.dir = os.path.join(netns.workdir, f"https-{addr.replace(':', '_')}-{port}")
        self.reqdir = os.path.join(self.dir, "requests")
        self.bodydir = os.path.join(self.dir, "bodies")
        os.makedirs(self.reqdir, exist_ok=True)
        os.makedirs(self.bodydir, exist_ok=True)
        self.proc = None
        self._certs = {"": list(certs.server(DEFAULT_NAME))}
        self._routes = {}   # host -> path -> entry
        self._nbodies = 0
        for host in hosts:
            self._cert_for(host)
        self._save()

    # --- what the server serves -----------------------------------------------
    def _save(self):
        _write_atomic(os.path.join(self.dir, "certs.json"), json.dumps(self._certs).encode())
        _write_atomic(os.path.join(self.dir, "routes.json"), json.dumps(self._routes).encode())

    def _cert_for(self, host):
        host = host.lower().rstrip(".")
        if host not in self._certs:
            self._certs[host] = list(self.certs.server(host))
        return host

    def url(self, host, path="/"):
        port = "" if self.port == 443 else f":{self.port}"
        return f"https://{host.lower().rstrip('.')}{port}{path}"

    def cert(self, host, pair):
        """Serve pair = (certfile, keyfile) for SNI host from now on."""
        self._certs[host.lower().rstrip(".")] = list(pair)
        self._save()
        return self

    def route(self, host, path, body=b"", content_type="text/plain", status=200, headers=None):
        """Answer requests for https://host/path (any method) with status and body.

        body is bytes, str (sent as UTF-8) or an os.PathLike naming a file to
        send. headers are sent as given and replace the automatic
        Content-Type and Content-Length of the same name (then the server
        closes the connection after the body). content_type=None sends no
        Content-Type. Returns the URL.
        """
        host = self._cert_for(host)
        if isinstance(body, os.PathLike):
            bodyfile = os.fspath(body)
        else:
            if isinstance(body, str):
                body = body.encode()
            self._nbodies += 1
            bodyfile = os.path.join(self.bodydir, f"{self._nbodies:06d}.bin")
            _write_atomic(bodyfile, body)
        entry = self._routes.setdefault(host, {}).setdefault(path, {})
        entry.update({"status": status, "content_type": content_type, "headers": dict(headers or {}),
                      "body_file": bodyfile})
        self._save()
        return self.url(host, path)

    def policy(self, domain, text, content_type="text/plain", status=200, headers=None):
        """Serve text at https://mta-sts.DOMAIN/.well-known/mta-sts.txt; returns the URL."""
        return self.route(f"mta-sts.{domain.lower().rstrip('.')}", POLICY_PATH, text,
                          content_type=content_type, status=status, headers=headers)

    def delay(self, host, path, seconds):
        """Hang seconds after reading a request for host/path before answering it (404 without a route)."""
        host = self._cert_for(host)
        self._routes.setdefault(host, {}).setdefault(path, {})["delay"] = seconds
        self._save()
        return self

    # --- what the server saw -----------------------------------------------------
    def requests(self, host=None, path=None, method=None):
        """Requests in arrival order, as dicts: seq, time, peer, sni, host_header,
        host (the one routes match), method, path (the request target as sent),
        version, headers (lower-case name -> value, repeated ones joined by
        ", "), raw_headers ([name, value] as sent) and body (bytes, chunked
        transfer coding undone)."""
        out = []
        for name in sorted(os.listdir(self.reqdir)):
            if not name.endswith(".json"):
                continue
            with open(os.path.join(self.reqdir, name)) as f:
                req = json.load(f)
            if host is not None and req["host"] != host.lower().rstrip("."):
                continue
            if path is not None and req["path"] != path:
                continue
            if method is not None and req["method"] != method.upper():
                continue
            with open(os.path.join(self.reqdir, name[:-5] + ".body"), "rb") as f:
                req["body"] = f.read()
            out.append(req)
        return out

    def posts(self, path=None, host=None):
        """The POST requests (see requests()), with their bodies."""
        return self.requests(host=host, path=path, method="POST")

    def posted_json(self, path=None, host=None):
        """The JSON objects of the gzip'd bodies POSTed to path, in order.

        A body that is not gzip'd JSON fails the test, showing the request.
        """
        out = []
        for req in self.posts(path, host):
            try:
                out.append(json.loads(gzip.decompress(req["body"])))
            except (OSError, EOFError, ValueError) as e:
                raise AssertionError(f"POST {req['host']}{req['path']}: body is not gzip'd JSON ({e!r}): "
                                     f"{req['headers']} {req['body'][:200]!r}") from None
        return out

    def wait_requests(self, count=1, host=None, path=None, method=None, timeout=10.0):
        """Wait until count matching requests came; returns them (fewer after timeout)."""
        deadline = time.monotonic() + timeout
        while True:
            got = self.requests(host=host, path=path, method=method)
            if len(got) >= count or time.monotonic() >= deadline:
                return got
            time.sleep(0.05)

    def handshakes(self):
        """TLS handshakes in order, as dicts: time, peer, sni, cert (the name served,
        DEFAULT_NAME for unknown names), ok, error (the server's view, e.g. the
        client's alert). start()'s own checks are left out. A handshake with an
        HTTP request after it is recorded before the request; see
        wait_handshakes() for the others."""
        out = []
        try:
            with open(os.path.join(self.dir, "handshakes.jsonl")) as f:
                lines = f.read().splitlines()
        except FileNotFoundError:
            return out
        for line in lines:
            try:
                hs = json.loads(line)
            except ValueError:
                continue  # being written
            if hs.get("sni") != DEFAULT_NAME:
                out.append(hs)
        return out

    def wait_handshakes(self, count=1, timeout=10.0):
        """Wait until count handshakes are recorded; returns them (fewer after timeout).

        A client finishes its side of a handshake, or rejects the
        certificate, before the server has noted it: read handshakes
        that no HTTP request followed through this.
        """
        deadline = time.monotonic() + timeout
        while True:
            got = self.handshakes()
            if len(got) >= count or time.monotonic() >= deadline:
                return got
            time.sleep(0.05)

    # --- process --------------------------------------------------------------------
    def start(self, timeout=10.0):
        """Start the server and wait until it completes a TLS handshake checked against the test CA."""
        self.netns.add_addr(self.addr)
        argv = [sys.executable if sys.executable.startswith("/usr/bin/") else "/usr/bin/python3",
                "-u", "-m", "mxtest.https", self.dir, self.addr, str(self.port)]
        here = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
        self.proc = self.netns.spawn(argv, name=self.name.replace(" ", "-"), cwd=here)
        self.proc.described = True
        self.netns.peers.append(self)
        wait_port(self.addr, self.port, timeout=timeout, proc=self.proc)
        ctx = ssl.create_default_context(cafile=self.certs.ca_file)
        deadline = time.monotonic() + timeout
        while True:
            if self.proc.poll() is not None:
                raise RuntimeError(f"{self.name} exited with {self.proc.returncode}: {self.proc.output()[-2000:]}")
            try:
                with socket.create_connection((self.addr, self.port), timeout=1) as raw:
                    with ctx.wrap_socket(raw, server_hostname=DEFAULT_NAME):
                        return self
            except (OSError, ssl.SSLError) as e:
                if time.monotonic() >= deadline:
                    raise RuntimeError(f"{self.name}: no TLS handshake within {timeout}s: {e!r}\n"
                                       f"{self.proc.output()[-2000:]}")
            time.sleep(0.05)

    def describe(self):
        lines = [f"--- {self.name} ---", "routes:"]
        for host, paths in self._routes.items():
            for path, e in paths.items():
                size = os.path.getsize(e["body_file"]) if os.path.exists(e.get("body_file", "")) else None
                lines.append(f"  {host}{path}: status {e.get('status', 404)} {e.get('content_type')} "
                             f"{size} octets headers {e.get('headers', {})} delay {e.get('delay', 0)}")
        lines.append("handshakes:")
        lines.extend(f"  {h['peer']} sni={h['sni']} cert={h['cert']} ok={h['ok']} {h.get('error') or ''}"
                     for h in self.handshakes()[-100:])
        lines.append("requests:")
        try:
            for r in self.requests()[-100:]:
                lines.append(f"  {r['method']} {r['host']}{r['path']} sni={r['sni']} host={r['host_header']} "
                             f"{len(r['body'])} octets {r['headers'].get('content-type', '')}")
        except OSError as e:
            lines.append(f"  (unreadable: {e!r})")
        lines.append("log:")
        lines.append(self.proc.output()[-4000:] if self.proc else "")
        return "\n".join(lines)


# --- the server process -----------------------------------------------------------

class _Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    timeout = 60  # idle keep-alive connections

    def do_GET(self):
        self._serve()

    do_HEAD = do_POST = do_PUT = do_DELETE = do_OPTIONS = do_GET

    def _read_body(self):
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            body = b""
            while True:
                size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass  # trailers
                    return body
                body += self.rfile.read(size)
                self.rfile.readline()
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length > 0 else b""

    def _record(self, body):
        srv = self.server
        sni = getattr(self.connection, "mxtest_sni", None)
        host_header = self.headers.get("Host")
        name = host_header
        if name:
            name = name.strip()
            if name.startswith("["):
                name = name[1:name.index("]")] if "]" in name else name
            elif name.count(":") == 1:
                name = name.split(":")[0]
        host = (name or sni or "").lower().rstrip(".")
        headers = {}
        for k, v in self.headers.items():
            k = k.lower()
            headers[k] = headers[k] + ", " + v if k in headers else v
        with srv.lock:
            srv.seq += 1
            seq = srv.seq
        rec = {"seq": seq, "time": time.time(), "peer": self.client_address[0], "sni": sni,
               "host_header": host_header, "host": host, "method": self.command, "path": self.path,
               "version": self.request_version, "headers": headers,
               "raw_headers": [[k, v] for k, v in self.headers.items()]}
        stem = os.path.join(srv.dir, "requests", f"{seq:06d}")
        _write_atomic(stem + ".body", body)
        _write_atomic(stem + ".json", json.dumps(rec).encode())
        return host

    def _serve(self):
        body = self._read_body()
        host = self._record(body)
        routes = _read_json(os.path.join(self.server.dir, "routes.json"), {})
        paths = routes.get(host, {})
        entry = paths.get(self.path) or paths.get(self.path.split("?")[0]) or {}
        if entry.get("delay"):
            self.log_message("delaying %s%s by %ss", host, self.path, entry["delay"])
            time.sleep(entry["delay"])
        if "body_file" in entry:
            status, ctype, extra = entry["status"], entry["content_type"], entry["headers"]
            with open(entry["body_file"], "rb") as f:
                data = f.read()
        else:
            status, ctype, extra = 404, "text/plain", {}
            data = f"no route for {host}{self.path}\n".encode()
        auto = {"Content-Length": str(len(data))}
        if ctype is not None:
            auto["Content-Type"] = ctype
        given = {k.lower() for k in extra}
        self.send_response(status)
        for k, v in auto.items():
            if k.lower() not in given:
                self.send_header(k, v)
        for k, v in extra.items():
            self.send_header(k, v)
        if "content-length" in given:
            self.close_connection = True
            self.send_header("Connection", "close")
        self.end_headers()
        if self.command != "HEAD":
            try:
                self.wfile.write(data)
            except OSError as e:
                self.log_message("writing the body: %r", e)

    def log_message(self, fmt, *args):
        sni = getattr(self.connection, "mxtest_sni", None)
        sys.stderr.write(f"{time.strftime('%H:%M:%S')} {self.client_address[0]} sni={sni} {fmt % args}\n")


class _Server(http.server.ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 64

    def __init__(self, workdir, addr, port):
        self.dir = workdir
        self.lock = threading.Lock()
        self.seq = 0
        self.contexts = {}  # (certfile, keyfile) -> SSLContext
        self.address_family = socket.AF_INET6 if ":" in addr else socket.AF_INET
        self.default = self._context(*_read_json(os.path.join(workdir, "certs.json"), {})[""])
        self.default.sni_callback = self._sni
        super().__init__((addr, port), _Handler)

    def server_bind(self):
        # HTTPServer.server_bind looks the address up in DNS: not here.
        import socketserver
        socketserver.TCPServer.server_bind(self)
        self.server_name, self.server_port = self.server_address[:2]

    def _context(self, certfile, keyfile):
        key = (certfile, keyfile)
        ctx = self.contexts.get(key)
        if ctx is None:
            ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            ctx.load_cert_chain(certfile, keyfile)
            self.contexts[key] = ctx
        return ctx

    def _sni(self, sslsock, server_name, _ctx):
        sslsock.mxtest_sni = server_name
        certs = _read_json(os.path.join(self.dir, "certs.json"), {})
        name = (server_name or "").lower().rstrip(".")
        if name and name in certs:
            try:
                sslsock.context = self._context(*certs[name])
                sslsock.mxtest_cert = name
            except (OSError, ssl.SSLError) as e:
                sys.stderr.write(f"certificate for {name}: {e!r}\n")
                return ssl.ALERT_DESCRIPTION_INTERNAL_ERROR
        return None

    def _note_handshake(self, tls, peer, error):
        rec = {"time": time.time(), "peer": peer[0], "sni": getattr(tls, "mxtest_sni", None),
               "cert": getattr(tls, "mxtest_cert", DEFAULT_NAME), "ok": error is None, "error": error}
        with self.lock:
            with open(os.path.join(self.dir, "handshakes.jsonl"), "a") as f:
                f.write(json.dumps(rec) + "\n")
        if error:
            sys.stderr.write(f"{time.strftime('%H:%M:%S')} {peer[0]} sni={rec['sni']} handshake failed: {error}\n")

    def finish_request(self, request, client_address):
        # The handshake happens here, in the connection's own thread.
        request.settimeout(30)
        tls = self.default.wrap_socket(request, server_side=True, do_handshake_on_connect=False)
        try:
            try:
                tls.do_handshake()
            except (OSError, ssl.SSLError) as e:
                self._note_handshake(tls, client_address, str(e) or repr(e))
                return
            self._note_handshake(tls, client_address, None)
            self.RequestHandlerClass(tls, client_address, self)
        finally:
            tls.close()


def _serve(workdir, addr, port):
    server = _Server(workdir, addr, int(port))
    sys.stderr.write(f"https listening on {addr}:{port}\n")
    server.serve_forever()


if __name__ == "__main__":
    _serve(*sys.argv[1:])
