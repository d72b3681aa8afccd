"""SMTP submission (issue 8) on 587 (STARTTLS) and 465 (implicit TLS):
EHLO keywords, every AUTH path, certificate login without AUTH, the
transaction rules (MAIL FROM owned, RCPT limit, SIZE, DATA and BDAT, bare
CR/LF), local delivery seen through IMAP and waking IDLE, STARTTLS
injection, a killed worker, and real clients (smtplib, swaks, msmtp,
gsasl)."""

import base64
import os
import re
import signal
import smtplib
import subprocess

import pytest

import helpers
from smtpa import Smtp, inbox_count, inbox_messages, login, need, plain

MAX_SIZE = 200000
MAX_RCPT = 5
POSTERN_CONF = {
    "submission_max_message_size": str(MAX_SIZE),
    "submission_max_recipients": str(MAX_RCPT),
}

A, PA = "ann@example.org", "ann-pw-1"
A2 = "ann.alias@example.org"
B, PB = "ben@example.org", "ben-pw-2"
C, PC = "cat@example.org", "cat-pw-3"

MSG = b"From: ann@example.org\r\nSubject: test\r\n\r\nbody line\r\n"


@pytest.fixture(scope="module")
def inst(instance):
    instance.add_user(A, PA)
    instance.add_user(B, PB)
    instance.add_user(C, PC)
    r = instance.mailadm("user", "alias", "add", A, A2)
    assert r.returncode == 0, r.stderr
    return instance


def send_data(c, body):
    code, lines = c.cmd("DATA")
    assert code == 354, (code, lines)
    c.send(body + b".\r\n")
    return c.reply()


def transaction(c, frm, rcpts, body=MSG):
    code, lines = c.cmd("MAIL FROM:<%s>" % frm)
    assert code == 250, (code, lines)
    for r in rcpts:
        code, lines = c.cmd("RCPT TO:<%s>" % r)
        assert code == 250, (code, lines)
    return send_data(c, body)


# ---- EHLO -------------------------------------------------------------------

def test_ehlo_587_before_and_after_tls(inst):
    with Smtp.open(inst, inst.submission_port) as c:
        assert c.greeting[0] == 220
        kw = c.ehlo()
        assert "STARTTLS" in kw
        assert not any(k.startswith("AUTH") for k in kw), kw
        for k in ("PIPELINING", "8BITMIME", "SMTPUTF8", "CHUNKING",
                  "ENHANCEDSTATUSCODES", "SIZE %d" % MAX_SIZE):
            assert k in kw, (k, kw)
        code, lines = c.cmd("AUTH PLAIN " + plain(A, PA))
        assert (code, lines[0][:5]) == (530, "5.7.0"), (code, lines)
        code, lines = c.cmd("MAIL FROM:<%s>" % A)
        assert (code, lines[0][:5]) == (530, "5.7.0"), (code, lines)
        c.starttls(inst)
        kw = c.ehlo()
        assert "STARTTLS" not in kw
        auth = [k for k in kw if k.startswith("AUTH ")]
        assert len(auth) == 1, kw
        mechs = auth[0].split()[1:]
        for m in ("PLAIN", "LOGIN", "SCRAM-SHA-256", "SCRAM-SHA-256-PLUS",
                  "SCRAM-SHA-1", "SCRAM-SHA-1-PLUS"):
            assert m in mechs, (m, mechs)
        assert "EXTERNAL" not in mechs  # no certificate was sent


def test_ehlo_465(inst):
    with Smtp.open(inst, inst.submissions_port, inst.ssl_ctx) as c:
        kw = c.ehlo()
        assert "STARTTLS" not in kw
        assert any(k.startswith("AUTH PLAIN") for k in kw), kw
        code, lines = c.cmd("HELO x.example")
        assert code == 250
        code, lines = c.cmd("NOOP")
        assert (code, lines[0][:5]) == (250, "2.0.0")
        code, lines = c.cmd("FOO")
        assert (code, lines[0][:5]) == (500, "5.5.2")
        code, lines = c.cmd("QUIT")
        assert (code, lines[0][:5]) == (221, "2.0.0")


def test_starttls_before_ehlo_and_injection(inst):
    """STARTTLS is accepted without EHLO; a command pipelined behind it
    in plaintext is discarded, never answered inside TLS."""
    with Smtp.open(inst, inst.submission_port) as c:
        c.send(b"STARTTLS\r\nMAIL FROM:<evil@example.org>\r\n")
        code, lines = c.reply()
        assert code == 220, (code, lines)
        c.sock = inst.ssl_ctx.wrap_socket(c.sock,
                                          server_hostname=inst.tls_name)
        code, lines = c.cmd("NOOP")
        assert (code, lines) == (250, ["2.0.0 OK"]), (code, lines)
        kw = c.ehlo()
        assert any(k.startswith("AUTH") for k in kw)


# ---- AUTH -------------------------------------------------------------------

def test_auth_plain_587_smtplib(inst):
    s = smtplib.SMTP(inst.host, inst.submission_port, timeout=10)
    s.starttls(context=inst.ssl_ctx)
    s.login(A, PA)  # smtplib picks PLAIN
    assert s.sendmail(A, [B], MSG) == {}
    s.quit()


def test_auth_login_465_smtplib(inst):
    before = inbox_count(inst, B, PB)
    s = smtplib.SMTP_SSL(inst.host, inst.submissions_port, timeout=10,
                         context=inst.ssl_ctx)
    s.ehlo()
    s.user, s.password = A, PA
    code, resp = s.auth("LOGIN", s.auth_login, initial_response_ok=False)
    assert code == 235, (code, resp)
    assert s.sendmail(A2, [B], MSG) == {}  # an alias of the account
    s.quit()
    assert inbox_count(inst, B, PB) == before + 1


def test_auth_login_with_initial_response(inst):
    with Smtp.open(inst, inst.submissions_port, inst.ssl_ctx) as c:
        c.ehlo()
        code, lines = c.cmd("AUTH LOGIN " + base64.b64encode(
            A.encode()).decode())
        assert (code, lines) == (334, ["UGFzc3dvcmQ6"]), (code, lines)
        code, lines = c.cmd(base64.b64encode(PA.encode()).decode())
        assert (code, lines[0][:5]) == (235, "2.7.0"), (code, lines)


def test_auth_failures(inst):
    with Smtp.open(inst, inst.submissions_port, inst.ssl_ctx) as c:
        code, lines = c.cmd("AUTH PLAIN " + plain(A, PA))
        assert (code, lines[0][:5]) == (503, "5.5.1")  # EHLO first
        c.ehlo()
        code, lines = c.cmd("AUTH PLAIN " + plain(A, "wrong"))
        assert (code, lines[0][:5]) == (535, "5.7.8"), (code, lines)
        code, lines = c.cmd("AUTH CRAM-MD5")
        assert (code, lines[0][:5]) == (504, "5.5.4"), (code, lines)
        code, lines = c.cmd("AUTH PLAIN !!!")
        assert (code, lines[0][:5]) == (501, "5.5.2"), (code, lines)
        code, lines = c.cmd("AUTH PLAIN")
        assert (code, lines) == (334, [""]), (code, lines)
        code, lines = c.cmd("*")
        assert (code, lines[0][:5]) == (501, "5.7.0"), (code, lines)
        # still usable
        code, lines = c.cmd("AUTH PLAIN " + plain(A, PA))
        assert code == 235, (code, lines)
        code, lines = c.cmd("AUTH PLAIN " + plain(A, PA))
        assert (code, lines[0][:5]) == (503, "5.5.1"), (code, lines)


def _gsasl(inst, mech, user, pw, port, tls_flag, priority=None):
    gsasl = need("gsasl")
    cmd = [gsasl, "--smtp", "--connect", "%s:%d" % (inst.host, port),
           tls_flag, "--x509-ca-file=", "-a", user, "-p", pw,
           "--mechanism", mech, "--verbose"]
    if priority:
        cmd.append("--priority=" + priority)
    return subprocess.run(cmd, capture_output=True, text=True, timeout=30,
                          stdin=subprocess.DEVNULL)


@pytest.mark.parametrize("mech", ["SCRAM-SHA-256-PLUS", "SCRAM-SHA-256",
                                  "SCRAM-SHA-1-PLUS", "SCRAM-SHA-1",
                                  "PLAIN"])
def test_gsasl_587(inst, mech):
    """gsasl sends STARTTLS before any EHLO; -PLUS binds to tls-exporter
    (TLS 1.3)."""
    extra = "--no-cb" if mech in ("SCRAM-SHA-256", "SCRAM-SHA-1") else None
    r = _gsasl(inst, mech, A, PA, inst.submission_port, "--starttls")
    if extra and r.returncode != 0:
        gsasl = need("gsasl")
        r = subprocess.run(
            [gsasl, "--smtp", "--connect",
             "%s:%d" % (inst.host, inst.submission_port), "--starttls",
             "--x509-ca-file=", "-a", A, "-p", PA, "--mechanism", mech,
             "--verbose", extra], capture_output=True, text=True,
            timeout=30, stdin=subprocess.DEVNULL)
    out = r.stdout + r.stderr
    assert r.returncode == 0, (out, inst.log_tail())
    assert re.search(r"235 2\.7\.0", out), out


def test_gsasl_scram_plus_tls12(inst):
    """-PLUS over TLS 1.2 binds to tls-unique. (gsasl has no implicit TLS:
    465 is covered by the Python SCRAM-free paths and swaks/msmtp.)"""
    r = _gsasl(inst, "SCRAM-SHA-256-PLUS", A, PA, inst.submission_port,
               "--starttls", priority="NORMAL:-VERS-ALL:+VERS-TLS1.2")
    out = r.stdout + r.stderr
    assert r.returncode == 0, (out, inst.log_tail())
    assert "235 2.7.0" in out, out


# ---- client certificates ------------------------------------------------------

def _add_key(inst, addr, crt):
    with open(crt) as f:
        r = inst.mailadm("tlskey", "add", addr, input=f.read())
    assert r.returncode == 0, r.stderr


def test_cert_login_without_auth_465(inst, certdir):
    crt, key, _ = inst.tlskey_gen(certdir, "sub-phone")
    _add_key(inst, A, crt)
    before = inbox_count(inst, C, PC)
    with Smtp.open(inst, inst.submissions_port,
                   inst.client_ctx(crt, key)) as c:
        kw = c.ehlo()
        auth = [k for k in kw if k.startswith("AUTH ")]
        assert auth and "EXTERNAL" in auth[0].split(), kw
        code, lines = transaction(c, A, [C])
        assert (code, lines[0][:5]) == (250, "2.0.0"), (code, lines)
        # a second transaction on the same session
        code, lines = transaction(c, A2, [C])
        assert code == 250, (code, lines)
    assert inbox_count(inst, C, PC) == before + 2
    msgs = inbox_messages(inst, C, PC)
    assert b"(authenticated as %s)" % A.encode() in msgs[-1]


def test_cert_login_after_starttls_587_and_external(inst, certdir):
    crt, key, _ = inst.tlskey_gen(certdir, "sub-laptop")
    _add_key(inst, A, crt)
    with Smtp.open(inst, inst.submission_port) as c:
        c.starttls(inst, inst.client_ctx(crt, key))
        c.ehlo()
        code, lines = c.cmd("AUTH EXTERNAL =")
        assert (code, lines[0][:5]) == (235, "2.7.0"), (code, lines)
        code, lines = transaction(c, A, [B])
        assert code == 250, (code, lines)


def test_cert_same_account_rule(inst, certdir):
    """A registered key binds the connection to its account: a password
    login as another account on it fails; as the same account it works."""
    crt, key, _ = inst.tlskey_gen(certdir, "sub-tablet")
    _add_key(inst, A, crt)
    ctx = inst.client_ctx(crt, key)
    with Smtp.open(inst, inst.submissions_port, ctx) as c:
        c.ehlo()
        code, lines = c.cmd("AUTH PLAIN " + plain(B, PB))
        assert (code, lines[0][:5]) == (535, "5.7.8"), (code, lines)
        code, lines = c.cmd("AUTH PLAIN " + plain(A, PA))
        assert code == 235, (code, lines)


def test_unregistered_cert_needs_auth(inst, certdir):
    crt, key, _ = inst.tlskey_gen(certdir, "sub-stranger")
    with Smtp.open(inst, inst.submissions_port,
                   inst.client_ctx(crt, key)) as c:
        kw = c.ehlo()
        assert not any("EXTERNAL" in k for k in kw), kw
        code, lines = c.cmd("MAIL FROM:<%s>" % A)
        assert (code, lines[0][:5]) == (530, "5.7.0"), (code, lines)


# ---- the transaction ---------------------------------------------------------

def test_mail_from_not_owned(inst):
    with login(inst, A, PA) as c:
        code, lines = c.cmd("MAIL FROM:<%s>" % B)
        assert (code, lines[0][:5]) == (550, "5.7.1"), (code, lines)
        code, lines = c.cmd("MAIL FROM:<nobody@elsewhere.example>")
        assert (code, lines[0][:5]) == (550, "5.7.1"), (code, lines)
        code, lines = c.cmd("MAIL FROM:<>")
        assert (code, lines[0][:5]) == (550, "5.7.1"), (code, lines)
        code, lines = c.cmd("RCPT TO:<%s>" % B)
        assert (code, lines[0][:5]) == (503, "5.5.1"), (code, lines)
        # the domain's case does not matter
        code, lines = c.cmd("MAIL FROM:<ann@EXAMPLE.ORG>")
        assert (code, lines[0][:5]) == (250, "2.1.0"), (code, lines)


def test_relaying_not_configured(inst):
    with login(inst, A, PA) as c:
        c.cmd("MAIL FROM:<%s>" % A)
        code, lines = c.cmd("RCPT TO:<someone@remote.example>")
        assert code == 550 and lines[0].startswith("5.7.1"), (code, lines)
        assert "relaying not configured" in lines[0]


def test_rcpt_limit(inst):
    many = ["many%d@example.org" % i for i in range(MAX_RCPT)]
    for who in many:
        inst.add_user(who, "many-pw")
    with login(inst, A, PA) as c:
        c.cmd("MAIL FROM:<%s>" % A)
        for i, who in enumerate(many):
            code, lines = c.cmd("RCPT TO:<%s>" % who)
            assert code == 250, (code, lines)
            if i == 0:
                # the same account in another spelling is no new one
                code, lines = c.cmd("RCPT TO:<many0@EXAMPLE.ORG>")
                assert code == 250, (code, lines)
        code, lines = c.cmd("RCPT TO:<%s>" % B)
        assert (code, lines[0][:5]) == (452, "4.5.3"), (code, lines)
        code, lines = send_data(c, MSG)
        assert code == 250, (code, lines)
    for who in many:
        assert inbox_count(inst, who, "many-pw") == 1


def test_size_refused_before_data(inst):
    with login(inst, A, PA) as c:
        code, lines = c.cmd("MAIL FROM:<%s> SIZE=%d" % (A, MAX_SIZE + 1))
        assert (code, lines[0][:5]) == (552, "5.3.4"), (code, lines)
        code, lines = c.cmd("MAIL FROM:<%s> SIZE=100 BODY=8BITMIME" % A)
        assert code == 250, (code, lines)


def test_data_too_big(inst):
    before = inbox_count(inst, B, PB)
    with login(inst, A, PA) as c:
        c.cmd("MAIL FROM:<%s>" % A)
        c.cmd("RCPT TO:<%s>" % B)
        body = MSG + (b"x" * 998 + b"\r\n") * (MAX_SIZE // 1000 + 2)
        code, lines = send_data(c, body)
        assert (code, lines[0][:5]) == (552, "5.3.4"), (code, lines)
        code, lines = c.cmd("NOOP")
        assert code == 250
    assert inbox_count(inst, B, PB) == before


@pytest.mark.parametrize("body", [
    b"Subject: lf\r\n\r\nbare\nLF\r\n",
    b"Subject: cr\r\n\r\nbare\rCR\r\n",
    # the smuggling shape: a fake end of data with a bare LF
    b"Subject: smuggle\r\n\r\nx\n.\r\nMAIL FROM:<ben@example.org>\r\n",
])
def test_bare_cr_lf_refused(inst, body):
    before = inbox_count(inst, B, PB)
    with login(inst, A, PA) as c:
        c.cmd("MAIL FROM:<%s>" % A)
        c.cmd("RCPT TO:<%s>" % B)
        code, lines = send_data(c, body)
        assert (code, lines[0][:5]) == (550, "5.5.2"), (code, lines)
        code, lines = c.cmd("NOOP")  # nothing was read as a command
        assert code == 250, (code, lines)
    assert inbox_count(inst, B, PB) == before


def test_dot_unstuffing_and_headers(inst):
    with login(inst, A, PA) as c:
        body = (b"Subject: dots\r\nMessage-ID: <keep@example.org>\r\n\r\n"
                b"..leading dot\r\n.\r\n")
        # ".\r\n" ends it: the line "." above is the terminator
        code, lines = transaction(c, A, [B], body[:-3])
        assert code == 250, (code, lines)
    msg = inbox_messages(inst, B, PB)[-1]
    assert msg.startswith(b"Received: from client.example ([127.0.0.1])")
    m = re.search(rb"\(TLSv1\.[23] [A-Z0-9_]+\)", msg)
    assert m, msg
    assert b"(authenticated as %s)" % A.encode() in msg
    assert msg.count(b"Message-ID:") == 1 and b"<keep@example.org>" in msg
    assert re.search(rb"\r\nDate: \w{3}, \d\d \w{3} \d{4} ", msg), msg
    assert msg.endswith(b"\r\n\r\n.leading dot\r\n"), msg


def test_bdat(inst):
    before = inbox_count(inst, B, PB)
    with login(inst, A, PA) as c:
        c.cmd("MAIL FROM:<%s>" % A)
        c.cmd("RCPT TO:<%s>" % B)
        part1 = b"Subject: chunks\r\n\r\nfirst "
        part2 = b"second\r\n"
        c.send(b"BDAT %d\r\n" % len(part1) + part1)
        code, lines = c.reply()
        assert (code, lines[0][:5]) == (250, "2.0.0"), (code, lines)
        c.send(b"BDAT %d LAST\r\n" % len(part2) + part2)
        code, lines = c.reply()
        assert code == 250, (code, lines)
        # BDAT 0 LAST ends a message whose data came before
        c.cmd("MAIL FROM:<%s>" % A)
        c.cmd("RCPT TO:<%s>" % B)
        c.send(b"BDAT 10\r\nSubject: z")
        assert c.reply()[0] == 250
        code, lines = c.cmd("BDAT 0 LAST")
        assert code == 250, (code, lines)
        # bare LF through BDAT is refused too
        c.cmd("MAIL FROM:<%s>" % A)
        c.cmd("RCPT TO:<%s>" % B)
        c.send(b"BDAT 12 LAST\r\nSubject: x\n\n")
        code, lines = c.reply()
        assert (code, lines[0][:5]) == (550, "5.5.2"), (code, lines)
        # BDAT without a transaction: the chunk is read and refused
        c.send(b"BDAT 4 LAST\r\nRSET")
        code, lines = c.reply()
        assert (code, lines[0][:5]) == (503, "5.5.1"), (code, lines)
        code, _ = c.cmd("NOOP")
        assert code == 250
    msgs = inbox_messages(inst, B, PB)
    assert len(msgs) == before + 2
    assert msgs[-2].endswith(b"\r\n\r\nfirst second\r\n"), msgs[-2]
    assert msgs[-1].endswith(b"Subject: z\r\n") or b"Subject: z" in msgs[-1]


def test_pipelining(inst):
    before = inbox_count(inst, C, PC)
    with login(inst, A, PA) as c:
        c.send("MAIL FROM:<%s>\r\nRCPT TO:<%s>\r\nRCPT TO:<%s>\r\nDATA\r\n"
               % (A, C, "nobody@remote.example"))
        assert c.reply()[0] == 250
        assert c.reply()[0] == 250
        assert c.reply()[0] == 550
        code, _ = c.reply()
        assert code == 354
        c.send(MSG + b".\r\nQUIT\r\n")
        code, lines = c.reply()
        assert code == 250, (code, lines)
        assert c.reply()[0] == 221
    assert inbox_count(inst, C, PC) == before + 1


def test_pipelined_after_auth(inst):
    """Commands sent behind AUTH travel with the hand-off, once."""
    with Smtp.open(inst, inst.submissions_port, inst.ssl_ctx) as c:
        c.ehlo()
        c.send("AUTH PLAIN %s\r\nMAIL FROM:<%s>\r\nNOOP\r\n"
               % (plain(A, PA), A))
        assert c.reply()[0] == 235
        assert c.reply()[0] == 250
        code, lines = c.reply()
        assert (code, lines) == (250, ["2.0.0 OK"])


# ---- local delivery and IDLE ------------------------------------------------

def test_delivery_wakes_idle(inst):
    with inst.login(C, PC) as imap:
        _, tagged = imap.command("s", "SELECT INBOX")
        assert tagged.startswith(b"s OK"), tagged
        imap.send("i IDLE\r\n")
        assert imap.readline().startswith(b"+")
        s = smtplib.SMTP_SSL(inst.host, inst.submissions_port, timeout=10,
                             context=inst.ssl_ctx)
        s.login(A, PA)
        assert s.sendmail(A, [C], MSG) == {}
        # the 250 came after the commit; IDLE must see it promptly
        imap.sock.settimeout(1.0)
        line = imap.readline()
        assert re.match(rb"\* \d+ EXISTS", line), line
        s.quit()
        imap.sock.settimeout(helpers.TIMEOUT)
        imap.send("DONE\r\n")
        assert imap.read_until_tagged("i")[-1].startswith(b"i OK")


def test_worker_killed_during_data(inst):
    before = inbox_count(inst, B, PB)
    c = login(inst, A, PA)
    c.cmd("MAIL FROM:<%s>" % A)
    c.cmd("RCPT TO:<%s>" % B)
    assert c.cmd("DATA")[0] == 354
    c.send(b"Subject: partial\r\n\r\n" + b"half a message\r\n" * 500)
    workers = helpers.wait_for(
        lambda: [p for p in inst.pids("submission")
                 if A in (helpers.proc_cmdline(p) or [])],
        what="the submission worker of %s" % A)
    for pid in workers:
        os.kill(pid, signal.SIGKILL)
    with pytest.raises((helpers.ConnectionClosed, ConnectionResetError,
                        OSError)):
        c.send(b"more\r\n.\r\n")
        c.reply()
    c.close()
    assert inbox_count(inst, B, PB) == before
    # a new worker serves the next session
    with login(inst, A, PA) as c2:
        code, lines = transaction(c2, A, [B])
        assert code == 250, (code, lines)
    msgs = inbox_messages(inst, B, PB)
    assert len(msgs) == before + 1
    assert b"half a message" not in msgs[-1]


# ---- other clients ------------------------------------------------------------

@pytest.mark.parametrize("mode", ["starttls", "tls"])
def test_swaks(inst, mode):
    swaks = need("swaks")
    before = inbox_count(inst, C, PC)
    port = inst.submission_port if mode == "starttls" else \
        inst.submissions_port
    r = subprocess.run(
        [swaks, "--server", "%s:%d" % (inst.host, port),
         "--tls" if mode == "starttls" else "--tls-on-connect",
         "--auth", "PLAIN", "--auth-user", A, "--auth-password", PA,
         "--from", A, "--to", C, "--header", "Subject: via swaks"],
        capture_output=True, text=True, timeout=60,
        stdin=subprocess.DEVNULL)
    assert r.returncode == 0, (r.stdout, r.stderr, inst.log_tail())
    assert inbox_count(inst, C, PC) == before + 1
    assert b"Subject: via swaks" in inbox_messages(inst, C, PC)[-1]


def _msmtp(inst, port, starttls, args, msg):
    """msmtp verifying the server against the instance's certificate (if it
    names something we can check), exit status asserted 0."""
    argv = [need("msmtp"), "--host=" + inst.host, "--port=%d" % port,
            "--tls=on", "--tls-starttls=" + ("on" if starttls else "off")]
    if inst.tls_name is not None:
        argv.append("--tls-trust-file=" + inst.cert_path)
    else:
        argv.append("--tls-certcheck=off")
    r = subprocess.run(argv + args, input=msg, capture_output=True,
                       timeout=60)
    assert r.returncode == 0, (r.stdout, r.stderr, inst.log_tail())


@pytest.mark.parametrize("mode", ["starttls", "tls"])
def test_msmtp(inst, mode, tmp_path):
    before = inbox_count(inst, B, PB)
    port = inst.submission_port if mode == "starttls" else \
        inst.submissions_port
    pwfile = tmp_path / "pw"
    pwfile.write_text(PA + "\n")
    _msmtp(inst, port, mode == "starttls",
           ["--auth=on", "--user=" + A, "--passwordeval=cat " + str(pwfile),
            "--from=" + A, B], b"Subject: via msmtp\r\n\r\nhi\r\n")
    assert inbox_count(inst, B, PB) == before + 1


# ---- quota ------------------------------------------------------------------

def test_quota(inst):
    """Full by message count: 452 4.2.2 at RCPT; room for no more bytes
    than a small message: 552 5.2.2 after the data; nothing stored."""
    user, pw = "quo@example.org", "quo-pw-1"
    inst.add_user(user, pw)
    with login(inst, A, PA) as c:
        assert transaction(c, A, [user])[0] == 250
    r = inst.mailadm("user", "quota", user, "--messages", "1")
    assert r.returncode == 0, r.stderr
    with login(inst, A, PA) as c:
        c.cmd("MAIL FROM:<%s>" % A)
        code, lines = c.cmd("RCPT TO:<%s>" % user)
        assert (code, lines[0][:5]) == (452, "4.2.2"), (code, lines)
    r = inst.mailadm("user", "quota", user, "--messages", "100",
                     "--storage", "2000")
    assert r.returncode == 0, r.stderr
    with login(inst, A, PA) as c:
        c.cmd("MAIL FROM:<%s>" % A)
        code, lines = c.cmd("RCPT TO:<%s>" % user)
        assert code == 250, (code, lines)
        code, lines = send_data(c, MSG + b"y" * 3000 + b"\r\n")
        assert (code, lines[0][:5]) == (552, "5.2.2"), (code, lines)
    assert inbox_count(inst, user, pw) == 1


# ---- save-sent ----------------------------------------------------------------

def _sent_count(inst, user, pw):
    with inst.login(user, pw) as c:
        lines, tagged = c.command("s", "STATUS Sent (MESSAGES)")
        assert tagged.startswith(b"s OK"), tagged
        return int(lines[-1].rsplit(b"MESSAGES ", 1)[1].rstrip(b")"))


def test_save_sent(inst):
    """Off by default; `mailadm user set ACCOUNT save-sent on` makes the
    worker file a \\Seen copy into Sent -- also for a session already
    running (the setting is pushed)."""
    user, pw = "sender@example.org", "sender-pw-1"
    inst.add_user(user, pw)
    r = inst.mailadm("user", "show", user)
    assert r.returncode == 0 and "save-sent: off" in r.stdout, r.stdout
    with login(inst, user, pw) as c:
        assert transaction(c, user, [B])[0] == 250
        assert _sent_count(inst, user, pw) == 0
        r = inst.mailadm("user", "set", user, "save-sent", "on")
        assert r.returncode == 0, r.stderr
        r = inst.mailadm("user", "show", user)
        assert "save-sent: on" in r.stdout, r.stdout
        helpers.wait_for(lambda: "settings changed: save-sent=on"
                         in inst.log, what="the settings push")
        assert transaction(c, user, [B])[0] == 250
    assert _sent_count(inst, user, pw) == 1
    with inst.login(user, pw) as c:
        _, tagged = c.command("x", "EXAMINE Sent")
        lines, tagged = c.command("f", "FETCH 1 (FLAGS BODY.PEEK[])")
        assert b"\\Seen" in lines[0] and b"Subject: test" in lines[0]
    r = inst.mailadm("user", "set", user, "save-sent", "maybe")
    assert r.returncode != 0
    r = inst.mailadm("user", "set", user, "save-sent", "off")
    assert r.returncode == 0, r.stderr


# ---- every reply has an enhanced code; overlong lines ------------------------

ENH = re.compile(r"^[245]\.\d{1,3}\.\d{1,3} ")


def _all_enhanced(c, cmds):
    for cmd in cmds:
        code, lines = c.cmd(cmd)
        for l in lines:
            assert ENH.match(l), (cmd, code, l)


def test_enhanced_codes_everywhere(inst):
    with Smtp.open(inst, inst.submission_port) as c:
        c.ehlo()
        _all_enhanced(c, ["NOOP", "RSET", "HELP", "VRFY x", "FOO",
                          "MAIL FROM:<%s>" % A, "RCPT TO:<%s>" % B, "DATA",
                          "BDAT 0 LAST", "AUTH PLAIN", "STARTTLS x"])
    with Smtp.open(inst, inst.submissions_port, inst.ssl_ctx) as c:
        c.ehlo()
        _all_enhanced(c, ["AUTH PLAIN " + plain(A, "bad"), "AUTH X",
                          "AUTH PLAIN " + plain(A, PA), "AUTH PLAIN x",
                          "STARTTLS", "MAIL FROM:<>", "MAIL FROM:<%s>" % B,
                          "MAIL FROM:<%s> SIZE=x" % A,
                          "MAIL FROM:<%s> FOO=1" % A,
                          "RCPT TO:<%s>" % B, "DATA",
                          "MAIL FROM:<%s>" % A, "MAIL FROM:<%s>" % A,
                          "RCPT TO:<x>", "RCPT TO:<%s> NOTIFY=NEVER" % B,
                          "DATA x", "RSET", "NOOP", "VRFY a", "HELP",
                          "FOO", "QUIT"])


@pytest.mark.parametrize("where", ["login", "worker"])
def test_overlong_line(inst, where):
    """An overlong line is answered once and the next command pipelined
    behind it in the same write is answered too."""
    if where == "login":
        c = Smtp.open(inst, inst.submissions_port, inst.ssl_ctx)
        size = int(inst.settings["login_max_line"]) + 10
    else:
        c = login(inst, A, PA)
        size = 8192
    with c:
        c.send(b"NOOP " + b"x" * size + b"\r\nNOOP\r\n")
        code, lines = c.reply()
        assert (code, lines[0][:5]) == (500, "5.5.2"), (code, lines)
        assert c.reply() == (250, ["2.0.0 OK"])


def test_msmtp_client_certificate(inst, certdir):
    """A real client with a registered certificate and no AUTH at all."""
    crt, key, _ = inst.tlskey_gen(certdir, "sub-msmtp")
    _add_key(inst, A, crt)
    before = inbox_count(inst, C, PC)
    _msmtp(inst, inst.submissions_port, False,
           ["--tls-cert-file=" + crt, "--tls-key-file=" + key, "--auth=off",
            "--from=" + A, C], b"Subject: cert only\r\n\r\nhi\r\n")
    assert inbox_count(inst, C, PC) == before + 1
    assert b"(authenticated as %s)" % A.encode() in \
        inbox_messages(inst, C, PC)[-1]


def test_init_dev_writes_submission_listeners(tmp_path):
    base = helpers.free_port_base()
    d = tmp_path / "inst"
    r = subprocess.run([helpers.POSTERN, "--init-dev", str(d), "--port-base",
                        str(base)], capture_output=True, text=True,
                       timeout=60, stdin=subprocess.DEVNULL)
    assert r.returncode == 0, r.stderr
    assert "submission STARTTLS on 127.0.0.1:%d" % (base + 587) in r.stdout
    assert "submission TLS on 127.0.0.1:%d" % (base + 465) in r.stdout
    conf = (d / "postern.conf").read_text()
    assert "submission_listen = 127.0.0.1:%d\n" % (base + 587) in conf
    assert "submissions_listen = 127.0.0.1:%d\n" % (base + 465) in conf
    assert re.search(r"^tls_request_client_cert = .*\bsubmissions\b", conf,
                     re.M), conf
