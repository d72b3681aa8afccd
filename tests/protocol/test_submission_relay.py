"""Relay of remote recipients to the smarthost (issue 8), in step with the
client: a loopback aiosmtpd (Debian python3-aiosmtpd) that requires
STARTTLS with a certificate the worker must verify (smarthost_ca_file) and
AUTH (smarthost_user / smarthost_password_file), and records what it got.
Each remote RCPT is relayed at once and the client gets the smarthost's own
reply to it; a smarthost that is down gives a 4xx at RCPT; the smarthost's
refusal of the data is the client's reply and no local copy is committed;
RSET (and the end of every transaction) closes the smarthost session."""

import os
import shutil
import socket
import ssl
import subprocess
import tempfile
import threading

import helpers

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
    """Keeps every message and the commands of each session; refuses
    recipients starting with 'refuse' and data for those starting with
    'nodata'."""

    def __init__(self):
        self.messages = []
        self.events = []  # ("MAIL", from, options), ("RCPT", addr), ...
        self.lock = threading.Lock()

    def _event(self, *ev):
        with self.lock:
            self.events.append(ev)

    async def handle_MAIL(self, server, session, envelope, address,
                          mail_options):
        self._event("MAIL", address, list(mail_options))
        envelope.mail_from = address
        envelope.mail_options.extend(mail_options)
        return "250 2.1.0 Sender fine"

    async def handle_RCPT(self, server, session, envelope, address,
                          rcpt_options):
        self._event("RCPT", address)
        if address.startswith("refuse"):
            return "550 5.1.1 <%s>: no such user here" % address
        if address.startswith("hangup"):
            server.transport.close()  # the connection goes, no reply
            return "250 2.1.5 never sent"
        if address.startswith("multi"):
            return ("550-5.7.1 first line\x1b[31m\r\n"
                    "550 5.7.1 second line")
        envelope.rcpt_tos.append(address)
        return "250 2.1.5 smarthost-ok <%s>" % address

    async def handle_RSET(self, server, session, envelope):
        self._event("RSET")
        return "250 2.0.0 OK"

    async def handle_QUIT(self, server, session, envelope):
        self._event("QUIT")
        return "221 2.0.0 Bye"

    async def handle_DATA(self, server, session, envelope):
        if any(r.startswith("nodata") for r in envelope.rcpt_tos):
            self._event("DATA-REFUSED")
            return "554 5.6.0 Content refused by the smarthost"
        with self.lock:
            self.messages.append((envelope.mail_from,
                                  list(envelope.rcpt_tos),
                                  bytes(envelope.original_content),
                                  session.authenticated))
        return "250 2.0.0 queued as R1"

    def count(self, what):
        with self.lock:
            return sum(1 for e in self.events if e[0] == what)


def _authenticator(server, session, envelope, mechanism, auth_data):
    ok = (getattr(auth_data, "login", None) == RELAY_USER.encode() and
          getattr(auth_data, "password", None) == RELAY_PW.encode())
    # handled=False: aiosmtpd sends the 535 itself (by default it sends
    # nothing on failure, and the client waits forever)
    return AuthResult(success=ok, handled=False)


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


def _delivered_to(smarthost, addr):
    with smarthost["rec"].lock:
        return sum(1 for m in smarthost["rec"].messages if addr in m[1])


def _wait_quits(smarthost, n):
    helpers.wait_for(lambda: smarthost["rec"].count("QUIT") >= n,
                     what="the worker to close the smarthost session")


def test_relay_remote(inst, smarthost):
    n = len(smarthost["rec"].messages)
    quits = smarthost["rec"].count("QUIT")
    code, lines = _send(inst, ["friend@remote.example"])
    assert (code, lines) == (250, ["2.0.0 queued as R1"]), (
        code, lines, inst.log_tail())
    assert len(smarthost["rec"].messages) == n + 1
    frm, rcpts, content, authed = _last(smarthost)
    assert frm == A and rcpts == ["friend@remote.example"]
    assert authed, "the worker did not authenticate at the smarthost"
    assert content.startswith(b"Received: from client.example"), content
    assert b"(authenticated as %s)" % A.encode() in content
    assert content.endswith(b"\r\n\r\nto the world\r\n"), content
    # the session is not held once the transaction is over
    _wait_quits(smarthost, quits + 1)


def test_relay_traced_at_the_accounts_level(inst, smarthost):
    """`mailadm user trace` reaches the smarthost conversation too: the
    relay's commands and replies are in the log, the smarthost password
    and the message text are not (level trace)."""
    r = inst.mailadm("user", "trace", A, "trace")
    assert r.returncode == 0, r.stderr
    try:
        code, lines = _send(inst, ["traced@remote.example"])
        assert code == 250, (code, lines)
        log = inst.log
        assert "smtpc: C: RCPT TO:<traced@remote.example>" in log, \
            inst.log_tail()
        assert "smtpc: S: 250 2.1.5 smarthost-ok <traced@remote.example>" \
            in log, inst.log_tail()
        assert RELAY_PW not in log
        assert "to the world" not in log
    finally:
        r = inst.mailadm("user", "trace", A, "none")
        assert r.returncode == 0, r.stderr


def test_rcpt_reply_is_the_smarthosts(inst, smarthost):
    """code, enhanced code and text of the smarthost's RCPT reply, both for
    acceptance and refusal; the MAIL parameters are passed on."""
    with login(inst, A, PA) as c:
        code, lines = c.cmd("MAIL FROM:<%s> SIZE=%d BODY=8BITMIME" %
                            (A, len(MSG)))
        assert code == 250, (code, lines)
        assert c.cmd("RCPT TO:<text@remote.example>") == (
            250, ["2.1.5 smarthost-ok <text@remote.example>"])
        assert c.cmd("RCPT TO:<refuse-text@remote.example>") == (
            550, ["5.1.1 <refuse-text@remote.example>: no such user here"])
        # a multi-line reply stays one, control bytes made harmless
        assert c.cmd("RCPT TO:<multi@remote.example>") == (
            550, ["5.7.1 first line?[31m", "5.7.1 second line"])
        assert c.cmd("RSET")[0] == 250
    with smarthost["rec"].lock:
        mails = [e for e in smarthost["rec"].events if e[0] == "MAIL"]
    opts = [o.upper() for o in mails[-1][2]]
    assert "BODY=8BITMIME" in opts, opts
    size = [int(o[5:]) for o in opts if o.startswith("SIZE=")]
    # the client's estimate and room for the header fields we add
    assert size and size[0] > len(MSG), opts


def test_smarthost_refuses_one_of_two_remote(inst, smarthost):
    """The refusal reaches the client at that RCPT; the other recipient
    gets the message, once, and the client gets 250 for it."""
    n = len(smarthost["rec"].messages)
    with login(inst, A, PA) as c:
        assert c.cmd("MAIL FROM:<%s>" % A)[0] == 250
        assert c.cmd("RCPT TO:<once@remote.example>")[0] == 250
        code, lines = c.cmd("RCPT TO:<refuse-me@remote.example>")
        assert code == 550 and lines[0].startswith("5.1.1"), (code, lines)
        assert "no such user here" in lines[0], lines
        assert c.cmd("DATA")[0] == 354
        c.send(MSG + b".\r\n")
        code, lines = c.reply()
        assert code == 250, (code, lines)
    assert len(smarthost["rec"].messages) == n + 1
    assert _last(smarthost)[1] == ["once@remote.example"]
    assert _delivered_to(smarthost, "once@remote.example") == 1
    assert _delivered_to(smarthost, "refuse-me@remote.example") == 0


def test_bdat_relayed(inst, smarthost):
    """BDAT chunks (CHUNKING) end the same way: the message goes to the
    smarthost at BDAT LAST and its reply is the client's."""
    n = len(smarthost["rec"].messages)
    with login(inst, A, PA) as c:
        assert c.cmd("MAIL FROM:<%s>" % A)[0] == 250
        assert c.cmd("RCPT TO:<chunks@remote.example>")[0] == 250
        half = len(MSG) // 2
        c.send(b"BDAT %d\r\n" % half + MSG[:half])
        assert c.reply()[0] == 250
        c.send(b"BDAT %d LAST\r\n" % (len(MSG) - half) + MSG[half:])
        assert c.reply() == (250, ["2.0.0 queued as R1"])
    assert len(smarthost["rec"].messages) == n + 1
    frm, rcpts, content, _ = _last(smarthost)
    assert rcpts == ["chunks@remote.example"]
    assert content.endswith(b"\r\n\r\nto the world\r\n"), content


def test_relay_mixed_local_and_remote(inst, smarthost):
    before = inbox_count(inst, B, PB)
    n = len(smarthost["rec"].messages)
    code, lines = _send(inst, [B, "other@remote.example"])
    assert code == 250, (code, lines)
    assert inbox_count(inst, B, PB) == before + 1
    assert len(smarthost["rec"].messages) == n + 1
    assert _last(smarthost)[1] == ["other@remote.example"]


def test_smarthost_refuses_data(inst, smarthost):
    """The smarthost's reply to the data is the client's reply, and the
    local recipient of the same transaction gets nothing."""
    before = inbox_count(inst, B, PB)
    n = len(smarthost["rec"].messages)
    refused = smarthost["rec"].count("DATA-REFUSED")
    code, lines = _send(inst, [B, "nodata@remote.example"])
    assert (code, lines) == (554, ["5.6.0 Content refused by the "
                                   "smarthost"]), (code, lines)
    assert smarthost["rec"].count("DATA-REFUSED") == refused + 1
    assert inbox_count(inst, B, PB) == before
    assert len(smarthost["rec"].messages) == n


def test_rset_mid_transaction(inst, smarthost):
    """RSET after a relayed RCPT ends the smarthost session; the next
    transaction starts afresh and carries only its own recipients."""
    n = len(smarthost["rec"].messages)
    with login(inst, A, PA) as c:
        assert c.cmd("MAIL FROM:<%s>" % A)[0] == 250
        assert c.cmd("RCPT TO:<dropped@remote.example>")[0] == 250
        quits = smarthost["rec"].count("QUIT")
        assert c.cmd("RSET")[0] == 250
        _wait_quits(smarthost, quits + 1)
        assert c.cmd("MAIL FROM:<%s>" % A)[0] == 250
        assert c.cmd("RCPT TO:<kept@remote.example>")[0] == 250
        assert c.cmd("DATA")[0] == 354
        c.send(MSG + b".\r\n")
        assert c.reply()[0] == 250
    assert len(smarthost["rec"].messages) == n + 1
    assert _last(smarthost)[1] == ["kept@remote.example"]
    assert _delivered_to(smarthost, "dropped@remote.example") == 0


def test_smarthost_connection_lost_at_rcpt(inst, smarthost):
    """The smarthost drops the connection at a RCPT: that one gets a 4xx,
    and so does every later remote RCPT and the DATA, as the recipient
    accepted before was lost with that transaction."""
    before = inbox_count(inst, B, PB)
    n = len(smarthost["rec"].messages)
    with login(inst, A, PA) as c:
        assert c.cmd("MAIL FROM:<%s>" % A)[0] == 250
        assert c.cmd("RCPT TO:<%s>" % B)[0] == 250
        assert c.cmd("RCPT TO:<first@remote.example>")[0] == 250
        code, lines = c.cmd("RCPT TO:<hangup@remote.example>")
        assert code == 451 and lines[0].startswith("4.4."), (code, lines)
        code, lines = c.cmd("RCPT TO:<later@remote.example>")
        assert (code, lines[0][:6]) == (451, "4.4.2 "), (code, lines)
        code, lines = c.cmd("DATA")
        assert (code, lines[0][:6]) == (451, "4.4.2 "), (code, lines)
        assert c.cmd("RSET")[0] == 250
        # the next transaction has a smarthost session of its own
        assert c.cmd("MAIL FROM:<%s>" % A)[0] == 250
        assert c.cmd("RCPT TO:<again@remote.example>")[0] == 250
        assert c.cmd("DATA")[0] == 354
        c.send(MSG + b".\r\n")
        assert c.reply()[0] == 250
    assert inbox_count(inst, B, PB) == before
    assert len(smarthost["rec"].messages) == n + 1
    assert _last(smarthost)[1] == ["again@remote.example"]


def test_smarthost_refuses_our_auth(smarthost, tmp_path):
    """A smarthost that refuses the relay's own credentials is our
    failure, not the client's: a 451 at RCPT, never its 535."""
    pw = tmp_path / "bad-pw"
    pw.write_text("not-the-password\n")
    os.chmod(str(pw), 0o600)
    bad = conftest._run_instance({
        "smarthost": "127.0.0.1:%d" % smarthost["port"],
        "smarthost_tls": "starttls",
        "smarthost_ca_file": smarthost["ca"],
        "smarthost_user": RELAY_USER,
        "smarthost_password_file": str(pw),
    })
    try:
        bad.add_user(A, PA)
        with login(bad, A, PA) as c:
            assert c.cmd("MAIL FROM:<%s>" % A)[0] == 250
            code, lines = c.cmd("RCPT TO:<someone@remote.example>")
            assert code == 451 and lines[0].startswith("4.7."), (
                code, lines)
            assert "smarthost" in lines[0].lower(), lines
        assert "submission" in bad.log and "535" in bad.log
    finally:
        conftest._finish(bad)


def test_smarthost_down(inst, smarthost):
    """Run last: stops the smarthost. The remote RCPT gets a 4xx at once,
    nothing is claimed; the local recipient of the same transaction still
    gets the message, as the client chose to go on without the other."""
    before = inbox_count(inst, B, PB)
    with login(inst, A, PA) as c:
        # it goes away in the middle of a transaction: the data gets a
        # 4xx and the local recipient nothing
        assert c.cmd("MAIL FROM:<%s>" % A)[0] == 250
        assert c.cmd("RCPT TO:<%s>" % B)[0] == 250
        assert c.cmd("RCPT TO:<midway@remote.example>")[0] == 250
        smarthost["ctl"].stop()
        code, lines = c.cmd("DATA")
        if code == 354:
            c.send(MSG + b".\r\n")
            code, lines = c.reply()
        assert code == 451 and lines[0].startswith("4.4."), (code, lines)
        assert c.cmd("RSET")[0] == 250
    assert inbox_count(inst, B, PB) == before
    with login(inst, A, PA) as c:
        assert c.cmd("MAIL FROM:<%s>" % A)[0] == 250
        code, lines = c.cmd("RCPT TO:<late@remote.example>")
        assert (code, lines[0][:6]) == (451, "4.4.1 "), (code, lines)
        assert c.cmd("RCPT TO:<%s>" % B)[0] == 250
        assert c.cmd("DATA")[0] == 354
        c.send(MSG + b".\r\n")
        assert c.reply()[0] == 250
        # a transaction with only the remote recipient has none
        assert c.cmd("MAIL FROM:<%s>" % A)[0] == 250
        assert c.cmd("RCPT TO:<late2@remote.example>")[0] == 451
        assert c.cmd("DATA")[0] == 554
    assert inbox_count(inst, B, PB) == before + 1
    assert b"to the world" in inbox_messages(inst, B, PB)[-1]

