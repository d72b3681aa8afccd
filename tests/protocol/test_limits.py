"""Pre-auth limits: overlong command lines, idle connections."""

import socket

import pytest

from helpers import ConnectionClosed

POSTERN_CONF = {"login_idle_timeout": "2"}


def _connect(inst, mode):
    return inst.imaps() if mode == "imaps" else inst.imap_plain()


@pytest.mark.parametrize("mode", ["imaps", "imap"])
def test_overlong_line(instance, mode):
    max_line = int(instance.settings["login_max_line"])
    pool = instance.pool_pids()
    with _connect(instance, mode) as c:
        c.send(b"a LOGIN " + b"x" * (max_line + 100) + b" pw\r\n")
        try:
            first = c.readline()
        except (ConnectionClosed, ConnectionResetError) as e:
            raise AssertionError("closed without BAD/BYE: %s" % e)
        assert first.startswith((b"a BAD", b"* BAD", b"* BYE")), first
    # No crash: the same pool processes still serve.
    with _connect(instance, mode) as c:
        _, tagged = c.command("b", "NOOP")
        assert tagged.startswith(b"b OK"), tagged
    assert instance.pool_pids() == pool


@pytest.mark.parametrize("mode", ["imaps", "imap"])
def test_idle_preauth_closed(instance, mode):
    with _connect(instance, mode) as c:
        c.sock.settimeout(15)
        try:
            lines = c.read_eof()
        except socket.timeout:
            raise AssertionError("idle pre-auth connection still open after "
                                 "15s (login_idle_timeout = 2)")
        assert all(x.upper().startswith(b"* BYE") for x in lines), lines
