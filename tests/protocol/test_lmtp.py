"""LMTP delivery (RFC 2033): LHLO keywords, one reply per recipient,
recipients and aliases resolved by the auth daemon, quota at RCPT and at
commit, DATA dot-stuffing and bare LF, BDAT (RFC 3030), pipelining, IDLE
wake-up; driven by swaks --protocol LMTP, by a raw socket, and by Debian's
Postfix as the mail exchanger (virtual_transport = lmtp:unix:...). Every
delivered message is read back through IMAP."""

import os
import re
import shutil
import smtplib
import socket
import subprocess

import pytest

import helpers
from imapa import ok, users_fixture
from postfix_mx import PostfixMX

A, AP = "lmtp-a@example.test", "lmtp-a-pw"
B, BP = "lmtp-b@example.test", "lmtp-b-pw"
Q, QP = "lmtp-q@example.test", "lmtp-q-pw"
S, SP = "lmtp-s@example.test", "lmtp-s-pw"
ALIAS = "alias-of-a@example.test"
SWAKS = shutil.which("swaks") or "/usr/bin/swaks"
POSTERN_CONF = {"lmtp_max_recipients": "5"}

users = users_fixture((A, AP), (B, BP), (Q, QP), (S, SP))


@pytest.fixture(scope="module", autouse=True)
def alias(instance, users):
    r = instance.mailadm("user", "alias", "add", A, ALIAS)
    assert r.returncode == 0, r.stderr


def sock_path(instance):
    return instance.settings["lmtp_socket"]


class Lmtp:
    """A raw LMTP client on the Unix socket: replies as (code, text)
    lists, multi-line replies joined."""

    def __init__(self, instance):
        self.s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.s.settimeout(helpers.TIMEOUT)
        self.s.connect(sock_path(instance))
        self.buf = b""
        code, text = self.reply()
        assert code == 220, text

    def line(self):
        while b"\r\n" not in self.buf:
            chunk = self.s.recv(65536)
            if not chunk:
                raise helpers.ConnectionClosed(self.buf)
            self.buf += chunk
        line, self.buf = self.buf.split(b"\r\n", 1)
        return line.decode()

    def reply(self):
        lines = []
        while True:
            line = self.line()
            lines.append(line[4:])
            if line[3:4] != "-":
                return int(line[:3]), "\n".join(lines)

    def cmd(self, text):
        self.s.sendall(text.encode() + b"\r\n")
        return self.reply()

    def send(self, data):
        self.s.sendall(data)

    def close(self):
        self.s.close()


def swaks(instance, *args, data=None):
    if not os.access(SWAKS, os.X_OK):
        pytest.fail("swaks missing (dev.sh TEST_PKGS)", pytrace=False)
    cmd = [SWAKS, "--protocol", "LMTP", "--socket", sock_path(instance),
           "--helo", "mx.test", "--from", "sender@remote.test"] + list(args)
    if data is not None:
        cmd += ["--data", data]
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=60)
    return r.returncode, r.stdout + r.stderr


def server_replies(out):
    """Lines swaks received (<- or <** prefixed), without the prefix."""
    return [l.split(" ", 1)[1].strip() if " " in l else ""
            for l in out.splitlines()
            if l.startswith("<-") or l.startswith("<**")]


def inbox(instance, user, pw):
    """Every INBOX message of user as bytes, in UID order."""
    c = instance.login(user, pw)
    lines, _ = ok(c, "s", "SELECT INBOX")
    n = int([re.search(rb"(\d+) EXISTS", l).group(1) for l in lines
             if b" EXISTS" in l][0])
    out = []
    if n:
        lines, _ = ok(c, "f", "FETCH 1:* BODY.PEEK[]")
        for l in lines:
            m = re.search(rb"BODY\[\] \{(\d+)\}\r\n", l)
            if m:
                out.append(l[m.end():m.end() + int(m.group(1))])
    c.close()
    return out


def header(msg, name):
    """Values of header `name` in msg's header section (unfolded)."""
    head = msg.split(b"\r\n\r\n", 1)[0].decode(errors="replace")
    head = re.sub(r"\r\n[ \t]+", " ", head)
    return [l.split(":", 1)[1].strip() for l in head.split("\r\n")
            if l.lower().startswith(name.lower() + ":")]


def test_lhlo_keywords(instance):
    c = Lmtp(instance)
    code, text = c.cmd("EHLO mx.test")
    assert code == 500 and "LHLO" in text, text
    code, text = c.cmd("MAIL FROM:<x@remote.test>")
    assert code == 503, text
    code, text = c.cmd("LHLO mx.test")
    assert code == 250, text
    kw = [l.split()[0] for l in text.splitlines()[1:]]
    for k in ("PIPELINING", "SIZE", "8BITMIME", "SMTPUTF8", "CHUNKING",
              "ENHANCEDSTATUSCODES"):
        assert k in kw, text
    assert "STARTTLS" not in kw and "AUTH" not in kw, text
    assert c.cmd("QUIT")[0] == 221
    c.close()


def test_swaks_per_recipient_replies(instance):
    before_a = len(inbox(instance, A, AP))
    before_b = len(inbox(instance, B, BP))
    rc, out = swaks(instance, "--to",
                    "%s,nobody@example.test,%s" % (A, B),
                    "--header", "Subject: per-recipient")
    replies = server_replies(out)
    assert "550 5.1.1 <nobody@example.test> User unknown" in replies, out
    delivered = [r for r in replies if r.startswith("250 2.0.0 <")]
    assert delivered == ["250 2.0.0 <%s> Delivered" % A,
                         "250 2.0.0 <%s> Delivered" % B], out
    for user, pw, before, rcpt in ((A, AP, before_a, A),
                                   (B, BP, before_b, B)):
        msgs = inbox(instance, user, pw)
        assert len(msgs) == before + 1
        m = msgs[-1]
        assert header(m, "Subject") == ["per-recipient"]
        assert header(m, "Return-Path") == ["<sender@remote.test>"]
        assert header(m, "Delivered-To") == [rcpt]
        assert "with LMTP" in header(m, "Received")[0]
    assert "unknown recipient <nobody@example.test>" in instance.log


def test_alias_delivers_to_account(instance):
    before = len(inbox(instance, A, AP))
    rc, out = swaks(instance, "--to", ALIAS, "--header",
                    "Subject: to the alias")
    assert rc == 0, out
    msgs = inbox(instance, A, AP)
    assert len(msgs) == before + 1
    assert header(msgs[-1], "Delivered-To") == [ALIAS]
    assert header(msgs[-1], "Subject") == ["to the alias"]


def test_quota_messages_refused_at_rcpt(instance):
    r = instance.mailadm("user", "quota", Q, "--messages", "1")
    assert r.returncode == 0, r.stderr
    rc, out = swaks(instance, "--to", Q)
    assert rc == 0, out
    rc, out = swaks(instance, "--to", "%s,%s" % (Q, B))
    replies = server_replies(out)
    assert "452 4.2.2 <%s> Mailbox full" % Q in replies, out
    assert "250 2.0.0 <%s> Delivered" % B in replies, out
    assert len(inbox(instance, Q, QP)) == 1
    assert "refused to=<%s> user=%s at RCPT: over quota" % (Q, Q) \
        in instance.log
    r = instance.mailadm("user", "quota", Q, "none")
    assert r.returncode == 0, r.stderr
    rc, out = swaks(instance, "--to", Q)
    assert rc == 0, out
    assert len(inbox(instance, Q, QP)) == 2


def test_quota_storage_at_commit_and_size(instance):
    """No SIZE: the commit decides (552 5.2.2, the message alone is larger
    than the quota); with SIZE= the RCPT is refused before any data."""
    r = instance.mailadm("user", "quota", S, "--storage", "2K")
    assert r.returncode == 0, r.stderr
    big = "Subject: big\r\n\r\n" + ("x" * 70 + "\r\n") * 100
    rc, out = swaks(instance, "--to", "%s,%s" % (S, B), data=big)
    replies = server_replies(out)
    assert "552 5.2.2 <%s> Message larger than the mailbox quota" % S \
        in replies, out
    assert "250 2.0.0 <%s> Delivered" % B in replies, out
    assert inbox(instance, S, SP) == []
    c = Lmtp(instance)
    assert c.cmd("LHLO mx.test")[0] == 250
    assert c.cmd("MAIL FROM:<x@remote.test> SIZE=5000")[0] == 250
    code, text = c.cmd("RCPT TO:<%s>" % S)
    assert (code, text) == (552, "5.2.2 <%s> Message larger than the "
                                 "mailbox quota" % S)
    c.close()
    r = instance.mailadm("user", "quota", S, "none")
    assert r.returncode == 0


def test_dot_stuffing_and_bare_lf(instance):
    before = len(inbox(instance, B, BP))
    c = Lmtp(instance)
    assert c.cmd("LHLO mx.test")[0] == 250
    assert c.cmd("MAIL FROM:<x@remote.test>")[0] == 250
    assert c.cmd("RCPT TO:<%s>" % B)[0] == 250
    assert c.cmd("DATA")[0] == 354
    c.send(b"Subject: dots\r\n\r\n..leading dot\r\n.\r\n")
    assert c.reply() == (250, "2.0.0 <%s> Delivered" % B)
    m = inbox(instance, B, BP)[-1]
    assert m.endswith(b"\r\n\r\n.leading dot\r\n"), m
    # a bare LF never ends the data and the message is refused
    assert c.cmd("MAIL FROM:<x@remote.test>")[0] == 250
    assert c.cmd("RCPT TO:<%s>" % B)[0] == 250
    assert c.cmd("RCPT TO:<%s>" % A)[0] == 250
    assert c.cmd("DATA")[0] == 354
    c.send(b"Subject: smuggle\r\n\r\nx\n.\nMAIL FROM:<evil>\r\n.\r\n")
    for rcpt in (B, A):
        code, text = c.reply()
        assert code == 550 and text.startswith("5.5.2 <%s>" % rcpt), text
    assert c.cmd("NOOP")[0] == 250
    c.close()
    assert len(inbox(instance, B, BP)) == before + 1


def test_bdat_pipelined(instance):
    """CHUNKING and PIPELINING: every command in one write, one reply per
    command and one per recipient after BDAT LAST."""
    before = len(inbox(instance, A, AP))
    body = b"Subject: chunks\r\n\r\nfirst part, "
    tail = b"second part\r\n"
    c = Lmtp(instance)
    c.send(b"LHLO mx.test\r\nMAIL FROM:<x@remote.test> BODY=8BITMIME\r\n"
           b"RCPT TO:<%s>\r\nRCPT TO:<nobody@example.test>\r\n"
           b"RCPT TO:<%s>\r\nBDAT %d\r\n%sBDAT %d LAST\r\n%sQUIT\r\n"
           % (A.encode(), ALIAS.encode(), len(body), body, len(tail), tail))
    assert c.reply()[0] == 250  # LHLO
    assert c.reply()[0] == 250  # MAIL
    assert c.reply()[0] == 250  # RCPT A
    assert c.reply()[0] == 550  # unknown
    assert c.reply()[0] == 250  # RCPT alias
    assert c.reply() == (250, "2.0.0 %d octets received" % len(body))
    assert c.reply() == (250, "2.0.0 <%s> Delivered" % A)
    assert c.reply() == (250, "2.0.0 <%s> Delivered" % ALIAS)
    assert c.reply()[0] == 221
    c.close()
    msgs = inbox(instance, A, AP)
    assert len(msgs) == before + 2
    for m in msgs[-2:]:
        assert m.endswith(b"\r\n\r\nfirst part, second part\r\n"), m


def test_recipient_limit_logged(instance):
    c = Lmtp(instance)
    assert c.cmd("LHLO mx.test")[0] == 250
    assert c.cmd("MAIL FROM:<x@remote.test>")[0] == 250
    for _ in range(5):
        assert c.cmd("RCPT TO:<%s>" % B)[0] == 250
    assert c.cmd("RCPT TO:<%s>" % B) == (452, "4.5.3 Too many recipients")
    assert c.cmd("RSET")[0] == 250
    c.close()
    assert "limit lmtp_max_recipients=5 hit" in instance.log


def test_smtputf8_address(instance):
    c = Lmtp(instance)
    assert c.cmd("LHLO mx.test")[0] == 250
    code, _ = c.cmd("MAIL FROM:<j\u00f6rg@remote.test>")
    assert code == 553
    assert c.cmd("MAIL FROM:<j\u00f6rg@remote.test> SMTPUTF8")[0] == 250
    assert c.cmd("RCPT TO:<%s>" % B)[0] == 250
    assert c.cmd("DATA")[0] == 354
    c.send("Subject: gr\u00fc\u00dfe\r\n\r\nhej\r\n.\r\n".encode())
    assert c.reply()[0] == 250
    c.close()
    m = inbox(instance, B, BP)[-1]
    assert header(m, "Return-Path") == ["<j\u00f6rg@remote.test>"]
    assert "gr\u00fc\u00dfe".encode() in m


def test_idle_session_woken(instance):
    c = instance.login(B, BP)
    lines, _ = ok(c, "s", "SELECT INBOX")
    n = int([re.search(rb"(\d+) EXISTS", l).group(1) for l in lines
             if b" EXISTS" in l][0])
    c.send(b"i IDLE\r\n")
    assert c.readline().startswith(b"+")
    rc, out = swaks(instance, "--to", B)
    assert rc == 0, out
    line = c.readline()
    assert line == b"* %d EXISTS" % (n + 1), line
    c.send(b"DONE\r\n")
    c.read_until_tagged("i")
    c.close()


def test_postfix_delivers_over_lmtp(instance):
    """Postfix accepts mail over SMTP and hands it to Postern over the LMTP
    socket; the messages are then read through IMAP."""
    mx = PostfixMX(sock_path(instance), ["example.test"])
    try:
        before_a = len(inbox(instance, A, AP))
        before_b = len(inbox(instance, B, BP))
        with smtplib.SMTP("127.0.0.1", mx.port, timeout=30) as s:
            s.sendmail("someone@remote.test", [A, B, ALIAS],
                       b"Subject: through postfix\r\nFrom: someone@remote."
                       b"test\r\n\r\nHello from the MX.\r\n.dot line\r\n")
            s.sendmail("other@remote.test", ["nobody@example.test"],
                       b"Subject: bounce me\r\n\r\nno such user\r\n")

        def done():
            st = mx.statuses()
            return len(st) >= 4 and st
        st = helpers.wait_for(done, timeout=60, what="Postfix deliveries")
        by_rcpt = {to: (status, reply) for to, status, reply in st}
        for rcpt in (A, B, ALIAS):
            assert by_rcpt[rcpt][0] == "sent", st
            assert "250 2.0.0 <%s> Delivered" % rcpt in by_rcpt[rcpt][1]
        assert by_rcpt["nobody@example.test"][0] == "bounced", st
        assert "550 5.1.1" in by_rcpt["nobody@example.test"][1]
        got_a = inbox(instance, A, AP)[before_a:]
        got_b = inbox(instance, B, BP)[before_b:]
        assert len(got_a) == 2 and len(got_b) == 1
        for m in got_a + got_b:
            assert header(m, "Subject") == ["through postfix"]
            assert header(m, "Return-Path") == ["<someone@remote.test>"]
            assert m.endswith(b"Hello from the MX.\r\n.dot line\r\n"), m
        assert sorted(header(m, "Delivered-To")[0] for m in got_a) == \
            sorted([A, ALIAS])
    finally:
        mx.stop()
        mx.cleanup()
