"""A raw SMTP client for the submission tests: replies read line by line
(multi-line replies as one), TLS on demand. Standard library only."""

import os
import shutil
import socket

import pytest

import helpers


def need(tool):
    """Path of tool; missing it fails under CI=true and skips otherwise."""
    path = shutil.which(tool)
    if path is None:
        if os.environ.get("CI") == "true":
            pytest.fail("%s is not installed (dev.sh TEST_PKGS)" % tool,
                        pytrace=False)
        pytest.skip("%s is not installed" % tool)
    return path


class Smtp(helpers.Conn):
    """helpers.Conn's socket and line reading, SMTP replies on top."""

    @classmethod
    def open(cls, inst, port, ctx=None, timeout=helpers.TIMEOUT):
        """Connects to inst's port (implicit TLS with ctx) and reads the
        greeting into .greeting."""
        sock = socket.create_connection((inst.host, port), timeout=timeout)
        if ctx is not None:
            sock = ctx.wrap_socket(sock, server_hostname=inst.tls_name)
        c = cls(sock, timeout)
        c.greeting = c.reply()
        return c

    def _line(self):
        if b"\n" in self.buf.split(b"\r\n", 1)[0]:
            raise AssertionError("reply line without CRLF: %r" % self.buf)
        return self._rawline()

    def reply(self):
        """(code, [text of each line]) of one reply."""
        lines = []
        while True:
            line = self._line()
            assert len(line) >= 3 and line[:3].isdigit(), line
            lines.append(line[4:].decode(errors="replace"))
            if line[3:4] != b"-":
                return int(line[:3]), lines

    def cmd(self, text):
        self.send(text + "\r\n")
        return self.reply()

    def starttls(self, inst, ctx=None):
        code, _ = self.cmd("STARTTLS")
        assert code == 220, code
        assert self.buf == b"", "plaintext after 220: %r" % self.buf
        self.sock = (ctx or inst.ssl_ctx).wrap_socket(
            self.sock, server_hostname=inst.tls_name)
        return self

    def ehlo(self, name="client.example"):
        code, lines = self.cmd("EHLO " + name)
        assert code == 250, (code, lines)
        return [l.upper() for l in lines[1:]]


def plain(user, pw):
    return helpers.plain_ir(user, pw)


def login(inst, user, pw, port=None, ctx=None):
    """A session on 465 after AUTH PLAIN and EHLO (asserted)."""
    c = Smtp.open(inst, port or inst.submissions_port, ctx or inst.ssl_ctx)
    c.ehlo()
    code, lines = c.cmd("AUTH PLAIN " + plain(user, pw))
    assert code == 235, (code, lines, inst.log_tail())
    return c


def inbox_count(inst, user, pw):
    with inst.login(user, pw) as c:
        lines, tagged = c.command("s", "STATUS INBOX (MESSAGES)")
        assert tagged.startswith(b"s OK"), tagged
        for l in lines:
            if b"MESSAGES" in l:
                return int(l.rsplit(b"MESSAGES ", 1)[1].rstrip(b")"))
    raise AssertionError("no STATUS reply")


def inbox_messages(inst, user, pw):
    """Every INBOX message (bytes), in UID order."""
    with inst.login(user, pw) as c:
        _, tagged = c.command("x", "EXAMINE INBOX")
        assert tagged.startswith(b"x OK"), tagged
        lines, tagged = c.command("f", "FETCH 1:* BODY.PEEK[]")
        out = []
        for l in lines:
            if b"BODY[] {" in l:
                out.append(l.split(b"}\r\n", 1)[1][:-1])
        return out
