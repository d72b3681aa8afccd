"""The limits abusers hit first, each driven to one over: an overlong
pre-auth line (closed after * BYE), imap_max_bad_commands BAD answers in a
row before and after login, AUTHENTICATE PLAIN messages the mechanism
cannot use (NO [AUTHENTICATIONFAILED], not BAD), and mailbox names with
".", ".." or empty hierarchy levels (NO [CANNOT])."""

import base64
import socket
import ssl

import pytest

from helpers import ConnectionClosed, quote
from imapa import no, ok, users_fixture

U, P = "abuse@example.org", "abuse-pw-1"
# failures here must not get 127.0.0.1 refused for the other tests
POSTERN_CONF = {"auth_fail_limit": "0"}

users = users_fixture((U, P))


def _connect(inst, mode):
    return inst.imaps() if mode == "imaps" else inst.imap_plain()


def _closed(c):
    """Reads what is left; True once the server closed the connection."""
    c.sock.settimeout(10)
    try:
        c.read_eof()
    except socket.timeout:
        return False
    return True


def _line(total):
    """'<tag> NOOP' + CRLF of exactly total bytes."""
    tag = b"t" * (total - len(b" NOOP\r\n"))
    return tag + b" NOOP\r\n"


@pytest.mark.parametrize("mode", ["imaps", "imap"])
def test_line_at_limit_served(instance, mode):
    max_line = int(instance.settings["login_max_line"])
    with _connect(instance, mode) as c:
        # login_max_line counts the line with its CRLF; the reader stops
        # one byte early today (a line of exactly login_max_line bytes is
        # refused too), so the last length served is one below
        line = _line(max_line - 1)
        c.send(line)
        r = c.readline()
        assert r == line[:-len(b" NOOP\r\n")] + b" OK NOOP completed." or \
            r.startswith(line[:-len(b" NOOP\r\n")] + b" OK"), r[-40:]
        _, tagged = c.command("b", "NOOP")
        assert tagged.startswith(b"b OK"), tagged


@pytest.mark.parametrize("mode", ["imaps", "imap"])
def test_line_over_limit_closes(instance, mode):
    max_line = int(instance.settings["login_max_line"])
    with _connect(instance, mode) as c:
        c.send(_line(max_line + 1))
        first = c.readline()
        assert first == b"* BYE Line too long", first
        assert _closed(c), "connection kept after * BYE"


def test_huge_line_closes_early(instance):
    """A client streaming megabytes is cut off at the limit, not read to
    the end of its line."""
    max_line = int(instance.settings["login_max_line"])
    with instance.imap_plain() as c:
        sent = 0
        try:
            while sent < 4 * 1024 * 1024:
                c.sock.sendall(b"x" * 65536)
                sent += 65536
        except (BrokenPipeError, ConnectionResetError):
            pass
        assert sent < 4 * 1024 * 1024 or _closed(c)
        assert sent >= max_line


def test_sasl_response_over_limit_closes(instance):
    max_line = int(instance.settings["login_max_line"])
    with instance.imaps() as c:
        c.send(b"a AUTHENTICATE PLAIN\r\n")
        assert c.readline().startswith(b"+")
        c.send(b"A" * (max_line + 1) + b"\r\n")
        assert c.readline() == b"* BYE Line too long"
        assert _closed(c)


@pytest.mark.parametrize("mode", ["imaps", "imap"])
def test_bad_commands_preauth(instance, mode):
    limit = int(instance.settings["imap_max_bad_commands"])
    with _connect(instance, mode) as c:
        # any other answer restarts the count
        for i in range(limit - 1):
            _, tagged = c.command("x%d" % i, "FROBNICATE")
            assert tagged.startswith(b"x%d BAD" % i), tagged
        ok(c, "n", "NOOP")
        for i in range(limit - 1):
            _, tagged = c.command("y%d" % i, "SELECT INBOX")
            assert tagged.startswith(b"y%d BAD" % i), tagged
        # the limit-th in a row (a syntax error counts too) closes
        c.send(b"z (\r\n")
        assert c.readline().startswith(b"z BAD"), "no BAD"
        assert c.readline() == b"* BYE Too many invalid commands"
        assert _closed(c)


def test_bad_commands_authenticated(instance):
    limit = int(instance.settings["imap_max_bad_commands"])
    c = instance.login(U, P)
    for i in range(limit - 1):
        _, tagged = c.command("x%d" % i, "FROBNICATE")
        assert tagged.startswith(b"x%d BAD" % i), tagged
    ok(c, "n", "NOOP")
    for i in range(limit - 1):
        _, tagged = c.command("y%d" % i, "FETCH")  # BAD: arguments
        assert tagged.startswith(b"y%d BAD" % i), tagged
    c.send(b"z FROBNICATE\r\n")
    assert c.readline().startswith(b"z BAD")
    lines = c.read_eof()
    assert b"* BYE Too many invalid commands" in lines, lines
    c.close()


def _b64(b):
    return base64.b64encode(b).decode()


@pytest.mark.parametrize("msg", [
    b"\0\0" + P.encode(),              # empty authentication identity
    U.encode() + b"\0\0" + P.encode(),  # authzid but no authcid
    b"\0" + U.encode() + b"\0",         # empty password
    b"no-nul-at-all",
    b"\0" + U.encode(),                 # one NUL
    b"\0" + U.encode() + b"\0pw\0x",    # a third NUL
], ids=["empty-authcid", "authzid-only", "empty-pw", "no-nul", "one-nul",
        "three-nul"])
def test_plain_malformed(instance, msg):
    with instance.imaps() as c:
        _, tagged = c.command("a", "AUTHENTICATE PLAIN " + _b64(msg))
        assert tagged.startswith(b"a NO [AUTHENTICATIONFAILED]"), tagged
        # the same through a continuation
        c.send(b"b AUTHENTICATE PLAIN\r\n")
        assert c.readline().startswith(b"+")
        c.send(_b64(msg).encode() + b"\r\n")
        lines = c.read_until_tagged("b")
        assert lines[-1].startswith(b"b NO [AUTHENTICATIONFAILED]"), lines
        # and the connection still logs in
        _, tagged = c.command("c", "LOGIN %s %s" % (quote(U), quote(P)))
        assert tagged.startswith(b"c OK"), tagged


BAD_NAMES = ["../../etc", "a/../b", "..", ".", "a/.", "a/..", "./a",
             "/x", "a//b", "//"]


@pytest.mark.parametrize("name", BAD_NAMES)
def test_create_refuses_dot_levels(instance, name):
    c = instance.login(U, P)
    no(c, "c", "CREATE %s" % quote(name), "CANNOT")
    lines, _ = ok(c, "l", 'LIST "" *')
    assert not any(b'"%s"' % name.encode() in l for l in lines), lines
    ok(c, "c2", "CREATE renamesrc")
    no(c, "r", "RENAME renamesrc %s" % quote(name), "CANNOT")
    ok(c, "d", "DELETE renamesrc")
    c.close()


@pytest.mark.parametrize("name", ["a..b", "...", ".hidden", "x/.y",
                                  "dots../x"])
def test_create_allows_dots_inside(instance, name):
    c = instance.login(U, P)
    ok(c, "c", "CREATE %s" % quote(name))
    ok(c, "d", "DELETE %s" % quote(name))
    c.close()
