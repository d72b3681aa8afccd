"""Protocol trace (trace_level, mailadm user trace): what each level writes
to the log, in imap-login and in the worker. The log is grepped for the
password, the SASL blob and message text: the password must not show at
`trace` even when LOGIN arrives in one packet with other commands; message
and literal data show only at `tracedata`; with COMPRESS the trace is the
plaintext; a level set with mailadm reaches a live session at once."""

import base64
import zlib

import pytest

import helpers
import imapa
from conftest import _finish, _run_instance
from smtpa import Smtp
from test_compress import ZConn

U, P = "tracer@example.org", "Pw-S3cr3t-7731"
U2, P2 = "tracer2@example.org", "Pw2-S3cr3t-5519"
MARK_SMALL = b"MarkerSmallBody-4242"
MARK_BIG = b"MarkerBigBody-9393"
MARK_LIT = b"SearchLit-7777"
BLOB = base64.b64encode(b"\0%s\0%s" % (U2.encode(), P2.encode()))


@pytest.fixture(scope="module", params=["none", "trace", "traceauth",
                                        "tracedata"])
def traced(request):
    inst = _run_instance({"trace_level": request.param})
    try:
        inst.add_user(U, P)
        inst.add_user(U2, P2)
        yield request.param, inst
    finally:
        _finish(inst)


def session(inst):
    """LOGIN pipelined with other commands in one packet, then messages in
    and out, a literal in a SEARCH, COMPRESS, and a second login by
    AUTHENTICATE PLAIN without initial response. Returns the log."""
    c = inst.imaps()
    c.send(b"a CAPABILITY\r\nli LOGIN %s \"%s\"\r\nb NOOP\r\n"
           b"s SELECT INBOX\r\n" % (U.encode(), P.encode()))
    lines = c.read_until_tagged("s")
    assert lines[-1].startswith(b"s OK"), lines
    small = imapa.message(1, subject=b"small") + MARK_SMALL + b"\r\n"
    big = imapa.message(2, size=40000, subject=b"big") + MARK_BIG + b"\r\n"
    imapa.append(c, "INBOX", small, tag="ap1")
    imapa.append(c, "INBOX", big, tag="ap2", sync=True)
    imapa.ok(c, "f", "FETCH 1:* (BODY.PEEK[])")
    c.send(b"se SEARCH TEXT {%d}\r\n" % len(MARK_LIT))
    assert c.readline().startswith(b"+")
    c.send(MARK_LIT + b"\r\n")
    c.read_until_tagged("se")
    c.send(b"z COMPRESS DEFLATE\r\n")
    assert c._rawline().startswith(b"z OK")
    z = ZConn(c)
    imapa.ok(z, "zn", "NOOP")
    imapa.ok(z, "zf", "FETCH 1 (BODY.PEEK[TEXT])")
    z.send(b"lo LOGOUT\r\n")
    z.read_eof()

    c = inst.imaps()
    c.send(b"au AUTHENTICATE PLAIN\r\n")
    assert c.readline().startswith(b"+")
    c.send(BLOB + b"\r\n")
    lines = c.read_until_tagged("au")
    assert lines[-1].startswith(b"au OK"), lines
    imapa.ok(c, "lo2", "LOGOUT")
    c.close()
    # the worker's last lines (LOGOUT) are in before we look
    helpers.wait_for(lambda: inst.log.count("disconnected reason=") >= 2,
                     what="both sessions closed")
    return inst.log


def test_levels(traced):
    level, inst = traced
    log = session(inst)
    trace = [l for l in log.splitlines() if " trace " in l]
    if level == "none":
        assert trace == []
        return
    t = "\n".join(trace)
    # the parser's view: each pipelined command on a line of its own, in
    # imap-login (LOGIN) and the worker (the rest)
    assert "trace C: a CAPABILITY" in t
    assert "trace C: b NOOP" in t and "trace C: s SELECT INBOX" in t
    assert "imap-login[" in t and "imap[" in t
    assert "trace S: s OK" in t
    # COMPRESS: the trace shows the plaintext on both sides
    assert "trace C: zn NOOP" in t and "trace S: zn OK" in t
    assert "trace C: lo LOGOUT" in t
    secrets = level in ("traceauth", "tracedata")
    data = level == "tracedata"
    # secrets: never in the log below traceauth, anywhere
    assert (P in log) == secrets, level
    assert (BLOB.decode() in log) == secrets, level
    if not secrets:
        assert 'trace C: li LOGIN %s ***' % U in t
        assert "trace C: ***" in t  # the AUTHENTICATE response line
    else:
        assert 'trace C: li LOGIN %s "%s"' % (U, P) in t
    # message and literal data: only at tracedata
    for mark in (MARK_SMALL, MARK_BIG, MARK_LIT):
        assert (mark.decode() in log) == data, (level, mark)
    if not data:
        small = len(imapa.message(1, subject=b"small")) + len(MARK_SMALL) + 2
        assert "trace C: ap1 APPEND INBOX {%d}..." % small in t
        big = len(imapa.message(2, size=40000, subject=b"big")) + \
            len(MARK_BIG) + 2
        assert "trace C: ap2 APPEND INBOX {%d}..." % big in t
        assert "trace C: se SEARCH TEXT {%d}..." % len(MARK_LIT) in t
        assert "BODY[] {%d}...)" % small in t


SU, SP = "smtptrace@example.org", "Smtp-S3cr3t-4410"
SU2, SP2 = "smtptrace2@example.org", "Smtp2-S3cr3t-8823"


def _b64(s):
    return base64.b64encode(s.encode()).decode()


def test_submission_login_trace(traced):
    """AUTH LOGIN in submission-login goes through the auth daemon's LOGIN
    mechanism: its prompts as the challenges, the password never in the
    log below traceauth (with and without an initial response)."""
    level, inst = traced
    inst.add_user(SU, SP)
    inst.add_user(SU2, SP2)
    with Smtp.open(inst, inst.submissions_port, inst.ssl_ctx) as c:
        c.ehlo()
        assert c.cmd("AUTH LOGIN") == (334, ["VXNlcm5hbWU6"])
        assert c.cmd(_b64(SU)) == (334, ["UGFzc3dvcmQ6"])
        code, lines = c.cmd(_b64(SP))
        assert code == 235, (code, lines)
        assert c.cmd("QUIT")[0] == 221
    with Smtp.open(inst, inst.submissions_port, inst.ssl_ctx) as c:
        c.ehlo()
        assert c.cmd("AUTH LOGIN " + _b64(SU2)) == (334, ["UGFzc3dvcmQ6"])
        code, lines = c.cmd(_b64(SP2))
        assert code == 235, (code, lines)
        assert c.cmd("QUIT")[0] == 221
    # the workers' session lines come after everything the login wrote
    helpers.wait_for(lambda: inst.log.count("session start tls=") >= 2,
                     what="both submission sessions")
    log = inst.log
    trace = "\n".join(l for l in log.splitlines()
                      if " trace " in l and "submission-login[" in l)
    if level == "none":
        assert trace == ""
    else:
        assert "trace C: EHLO client.example" in trace, trace
        assert "trace C: AUTH LOGIN" in trace
        assert "trace S: 334 VXNlcm5hbWU6" in trace
        assert "trace S: 334 UGFzc3dvcmQ6" in trace
    secrets = level in ("traceauth", "tracedata")
    # the password travels base64-encoded only
    for secret in (SP, SP2):
        assert secret not in log, (level, secret)
    for secret in (_b64(SP), _b64(SP2)):
        assert (secret in log) == secrets, (level, secret)
    if not secrets and level != "none":
        assert "trace C: AUTH LOGIN ***" in trace
        assert "trace C: ***" in trace


U3, P3 = "livetrace@example.org", "live-pw-1"


@pytest.fixture(scope="module")
def quiet():
    inst = _run_instance({"trace_level": "none"})
    try:
        inst.add_user(U3, P3)
        yield inst
    finally:
        _finish(inst)


def _set(inst, level):
    r = inst.mailadm("user", "trace", U3, level)
    assert r.returncode == 0, r.stderr
    helpers.wait_for(lambda: "trace level=%s" % level in inst.log,
                     what="the worker to apply trace=%s" % level)


def test_mailadm_trace_reaches_live_session(quiet):
    inst = quiet
    c = inst.login(U3, P3)
    c.send(b"z COMPRESS DEFLATE\r\n")
    assert c._rawline().startswith(b"z OK")
    z = ZConn(c, zlib.Z_PARTIAL_FLUSH)
    imapa.ok(z, "before1", "NOOP")
    _set(inst, "tracedata")
    imapa.ok(z, "during1", "NOOP")
    imapa.append(z, "INBOX", imapa.message(1) + MARK_SMALL + b"\r\n",
                 tag="ap")
    _set(inst, "none")
    imapa.ok(z, "after1", "NOOP")
    _set(inst, "trace")
    imapa.ok(z, "sel", "SELECT INBOX")
    imapa.ok(z, "after2", "FETCH 1 (BODY.PEEK[])")
    z.close()
    log = inst.log
    assert "trace C: before1" not in log
    assert "trace C: during1 NOOP" in log and "trace S: during1 OK" in log
    assert MARK_SMALL.decode() in log  # the APPEND at tracedata
    assert "trace C: after1" not in log and "trace S: after1" not in log
    assert "trace C: after2 FETCH 1 (BODY.PEEK[])" in log
    assert "trace S: * 1 FETCH (BODY[] {" in log
    # the level shows in user show
    r = inst.mailadm("user", "show", U3)
    assert "trace: trace" in r.stdout, r.stdout
