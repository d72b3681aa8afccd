"""Relay of remote recipients to the smarthost (issue 8): a loopback
aiosmtpd (Debian python3-aiosmtpd) that requires STARTTLS with a
certificate the worker must verify (smarthost_ca_file) and AUTH
(smarthost_user / smarthost_password_file), and records what it got. The
client gets 250 only after the smarthost accepted; the smarthost's own
refusal otherwise; a 4xx when it is down -- and nothing is delivered
locally in a failed transaction."""

import os
import shutil
import socket
import ssl
import subprocess
import tempfile
import threading

import pytest

import conftest
from smtpa import inbox_count, inbox_messages, login

aiosmtpd_controller = pytest.importorskip("aiosmtpd.controller") \
    if os.environ.get("CI") != "true" else \
    __import__("aiosmtpd.controller").controller
from aiosmtpd.smtp import AuthResult  # noqa: E402

A, PA = "amy@example.org", "amy-pw-1"
B, PB = "bea@example.org", "bea-pw-2"
RELAY_USER, RELAY_PW = "postern-relay", "relay-secret"
MSG = b"Subject: relayed\r\n\r\nto the world\r\n"


def _free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


class Recorder:
    """Keeps every message; refuses recipients starting with 'refuse'."""

    def __init__(self):
        self.messages = []
        self.lock = threading.Lock()

    async def handle_RCPT(self, server, session, envelope, address,
                          rcpt_options):
        if address.startswith("refuse"):
            return "550 5.1.1 <%s>: no such user here" % address
        envelope.rcpt_tos.append(address)
        return "250 2.1.5 OK"

    async def handle_DATA(self, server, session, envelope):
        with self.lock:
            self.messages.append((envelope.mail_from,
                                  list(envelope.rcpt_tos),
                                  bytes(envelope.original_content),
                                  session.authenticated))
        return "250 2.0.0 queued as R1"


def _authenticator(server, session, envelope, mechanism, auth_data):
    ok = (getattr(auth_data, "login", None) == RELAY_USER.encode() and
          getattr(auth_data, "password", None) == RELAY_PW.encode())
    return AuthResult(success=ok)


@pytest.fixture(scope="module")
def smarthost():
    d = tempfile.mkdtemp(prefix="postern-smarthost-")
    crt, key = os.path.join(d, "sh.crt"), os.path.join(d, "sh.key")
    r = subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
         "ec_paramgen_curve:P-256", "-nodes", "-keyout", key, "-out", crt,
         "-days", "2", "-subj", "/CN=smarthost",
         "-addext", "subjectAltName=IP:127.0.0.1",
         "-addext", "basicConstraints=critical,CA:TRUE"],
        capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    # the worker reads the CA file as mail_user at each connection; the
    # password file it reads at start, while still root
    os.chmod(d, 0o755)
    os.chmod(crt, 0o644)
    pw = os.path.join(d, "relay-pw")
    with open(pw, "w") as f:
        f.write(RELAY_PW + "\n")
    os.chmod(pw, 0o600)
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(crt, key)
    rec = Recorder()
    port = _free_port()
    ctl = aiosmtpd_controller.Controller(
        rec, hostname="127.0.0.1", port=port, tls_context=ctx,
        require_starttls=True, auth_required=True, auth_require_tls=True,
        authenticator=_authenticator)
    ctl.start()
    yield {"port": port, "ca": crt, "pw": pw, "rec": rec, "ctl": ctl}
    try:
        ctl.stop()
    except Exception:
        pass  # stopped by test_smarthost_down already
    shutil.rmtree(d, ignore_errors=True)


@pytest.fixture(scope="module")
def inst(smarthost):
    inst = conftest._run_instance({
        "smarthost": "127.0.0.1:%d" % smarthost["port"],
        "smarthost_tls": "starttls",
        "smarthost_ca_file": smarthost["ca"],
        "smarthost_user": RELAY_USER,
        "smarthost_password_file": smarthost["pw"],
    })
    inst.add_user(A, PA)
    inst.add_user(B, PB)
    yield inst
    conftest._finish(inst)


def _last(smarthost):
    with smarthost["rec"].lock:
        return smarthost["rec"].messages[-1] \
            if smarthost["rec"].messages else None


def _send(inst, rcpts):
    """One message from A to rcpts (each RCPT asserted 250): the final
    reply."""
    with login(inst, A, PA) as c:
        c.cmd("MAIL FROM:<%s>" % A)
        for r in rcpts:
            code, lines = c.cmd("RCPT TO:<%s>" % r)
            assert code == 250, (code, lines)
        assert c.cmd("DATA")[0] == 354
        c.send(MSG + b".\r\n")
        reply = c.reply()
        assert c.cmd("NOOP")[0] == 250  # the session goes on
        return reply


def test_relay_remote(inst, smarthost):
    n = len(smarthost["rec"].messages)
    code, lines = _send(inst, ["friend@remote.example"])
    assert (code, lines[0][:5]) == (250, "2.0.0"), (code, lines,
                                                    inst.log_tail())
    assert len(smarthost["rec"].messages) == n + 1
    frm, rcpts, content, authed = _last(smarthost)
    assert frm == A and rcpts == ["friend@remote.example"]
    assert authed, "the worker did not authenticate at the smarthost"
    assert content.startswith(b"Received: from client.example"), content
    assert b"(authenticated as %s)" % A.encode() in content
    assert content.endswith(b"\r\n\r\nto the world\r\n"), content


def test_relay_mixed_local_and_remote(inst, smarthost):
    before = inbox_count(inst, B, PB)
    n = len(smarthost["rec"].messages)
    code, lines = _send(inst, [B, "other@remote.example"])
    assert code == 250, (code, lines)
    assert inbox_count(inst, B, PB) == before + 1
    assert len(smarthost["rec"].messages) == n + 1
    assert _last(smarthost)[1] == ["other@remote.example"]


def test_smarthost_refuses_recipient(inst, smarthost):
    """The smarthost's own reply reaches the client, and the local
    recipient of the same transaction gets nothing."""
    before = inbox_count(inst, B, PB)
    n = len(smarthost["rec"].messages)
    code, lines = _send(inst, [B, "refuse-me@remote.example"])
    assert code == 550 and lines[0].startswith("5.1.1"), (code, lines)
    assert "no such user here" in lines[0], lines
    assert inbox_count(inst, B, PB) == before
    assert len(smarthost["rec"].messages) == n


def test_smarthost_down(inst, smarthost):
    """Run last: stops the smarthost. The client gets a 4xx and nothing is
    delivered anywhere."""
    smarthost["ctl"].stop()
    before = inbox_count(inst, B, PB)
    code, lines = _send(inst, [B, "late@remote.example"])
    assert 400 <= code < 500 and lines[0][:1] == "4", (code, lines)
    assert inbox_count(inst, B, PB) == before
    assert b"to the world" not in b"".join(inbox_messages(inst, B, PB)[before:])
