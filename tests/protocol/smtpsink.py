"""A recording SMTP server for the client tests: Debian's python3-aiosmtpd
on loopback, optionally with STARTTLS or implicit TLS, AUTH PLAIN/LOGIN,
PIPELINING, and recipients it refuses. Every accepted message is kept in
`messages` with its envelope, the bytes received, and the session's TLS
and login."""

import asyncio
import os
import socket
import ssl
import subprocess
import threading

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, SMTP


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def make_ca_and_cert(d, cn="localhost",
                     san="DNS:localhost,IP:127.0.0.1"):
    """A CA and a server certificate it signed for san (by default
    localhost and 127.0.0.1). Returns (ca.pem, cert.pem, key.pem)."""
    ca_key, ca = os.path.join(d, "ca.key"), os.path.join(d, "ca.pem")
    key, csr, cert = (os.path.join(d, n) for n in
                      ("srv.key", "srv.csr", "srv.pem"))
    ext = os.path.join(d, "ext.cnf")
    with open(ext, "w") as f:
        f.write("subjectAltName=" + san + "\n"
                "basicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n")
    run = lambda *a: subprocess.run(a, check=True, capture_output=True)
    run("openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
        "ec_paramgen_curve:P-256", "-nodes", "-keyout", ca_key, "-out", ca,
        "-days", "2", "-subj", "/CN=Test CA")
    run("openssl", "req", "-newkey", "ec", "-pkeyopt",
        "ec_paramgen_curve:P-256", "-nodes", "-keyout", key, "-out", csr,
        "-subj", "/CN=" + cn)
    run("openssl", "x509", "-req", "-in", csr, "-CA", ca, "-CAkey", ca_key,
        "-CAcreateserial", "-out", cert, "-days", "2", "-extfile", ext)
    return ca, cert, key


class _Handler:
    def __init__(self, sink):
        self.sink = sink

    async def handle_EHLO(self, server, session, envelope, hostname,
                          responses):
        session.host_name = hostname
        if self.sink.pipelining:
            responses.insert(-1, "250-PIPELINING")
        return responses

    async def handle_RCPT(self, server, session, envelope, address,
                          rcpt_options):
        if address in self.sink.refuse:
            return self.sink.refuse[address]
        envelope.rcpt_tos.append(address)
        return "250 2.1.5 OK"

    async def handle_DATA(self, server, session, envelope):
        if self.sink.hold is not None:
            # the whole message is here; the client waits for our reply
            self.sink.held.set()
            while not self.sink.hold.is_set():
                await asyncio.sleep(0.01)
        tls = session.ssl is not None
        self.sink.messages.append({
            "from": envelope.mail_from,
            "mail_options": list(envelope.mail_options),
            "rcpts": list(envelope.rcpt_tos),
            "data": envelope.original_content,
            "tls": tls,
            "user": session.auth_data if session.authenticated else None,
        })
        return "250 2.0.0 queued as test"


class Sink:
    """mode: None (plaintext), "starttls" or "tls". users: {login: pw}
    enables AUTH (only inside TLS). refuse: {address: reply}."""

    def __init__(self, tmpdir, mode=None, users=None, refuse=None,
                 pipelining=True, san="DNS:localhost,IP:127.0.0.1"):
        self.mode = mode
        self.users = users or {}
        self.refuse = refuse or {}
        self.pipelining = pipelining
        self.messages = []
        # set hold to a threading.Event to make DATA's reply wait for it;
        # held is set when a message is complete
        self.hold = None
        self.held = threading.Event()
        self.port = free_port()
        self.ca = self.cert = self.key = None
        ctx = None
        if mode:
            self.ca, self.cert, self.key = make_ca_and_cert(tmpdir, san=san)
            ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
            ctx.load_cert_chain(self.cert, self.key)
        kw = {}
        if self.users:
            kw.update(authenticator=self._auth, auth_required=True,
                      auth_require_tls=mode == "starttls")
        if mode == "starttls":
            kw.update(tls_context=ctx, require_starttls=True)
        self.controller = Controller(
            _Handler(self), hostname="127.0.0.1", port=self.port,
            ssl_context=ctx if mode == "tls" else None,
            data_size_limit=10 * 1024 * 1024, **kw)

    def _auth(self, server, session, envelope, mechanism, auth_data):
        ok = (auth_data.login.decode() in self.users and
              self.users[auth_data.login.decode()] ==
              auth_data.password.decode())
        # handled=False: the server itself answers 235 or 535
        return AuthResult(success=ok, handled=False,
                          auth_data=auth_data.login.decode())

    def __enter__(self):
        self.controller.start()
        return self

    def __exit__(self, *a):
        self.controller.stop()
