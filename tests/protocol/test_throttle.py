"""Brute-force protection: after auth_fail_limit failures from an address,
new attempts from it are refused (any mechanism) until auth_block_time has
passed; the account itself stays usable from elsewhere."""

import base64
import socket

import helpers
from helpers import Conn

POSTERN_CONF = {
    "auth_fail_limit": "3",
    "auth_fail_window": "600",
    "auth_block_time": "2",
    "login_auth_failure_delay": "0",
}

USER, PW = "victim@example.org", "correct-Horse-7"
REFUSED = (b"a NO [UNAVAILABLE] Too many failed login attempts from your "
           b"address; try again later")


def imaps_from(inst, source):
    sock = socket.create_connection((inst.host, inst.imaps_port),
                                    timeout=helpers.TIMEOUT,
                                    source_address=(source, 0))
    sock = inst.ssl_ctx.wrap_socket(sock, server_hostname=inst.tls_name)
    c = Conn(sock)
    c.greeting = c.readline()
    return c


def plain(c, pw):
    ir = base64.b64encode(b"\0" + USER.encode() + b"\0" +
                          pw.encode()).decode()
    return c.command("a", "AUTHENTICATE PLAIN " + ir)[1]


def test_block_and_expiry(instance):
    instance.add_user(USER, PW)
    for i in range(3):
        with imaps_from(instance, "127.0.0.1") as c:
            t = plain(c, "guess-%d" % i)
            assert t.startswith(b"a NO [AUTHENTICATIONFAILED]"), t
    # blocked now: the right password, another mechanism, LOGIN
    with imaps_from(instance, "127.0.0.1") as c:
        assert plain(c, PW) == REFUSED
        c.send("a AUTHENTICATE SCRAM-SHA-256 %s\r\n" %
               base64.b64encode(b"n,,n=" + USER.encode() +
                                b",r=abcdefgh").decode())
        assert c.readline() == REFUSED
        t = c.command("a", "LOGIN %s %s" % (USER, PW))[1]
        assert t == REFUSED
    # the account is not locked: another address logs in meanwhile
    with imaps_from(instance, "127.0.0.2") as c:
        t = plain(c, PW)
        assert t.startswith(b"a OK"), (t, instance.log_tail())
    log = instance.log
    assert "blocking remote=127.0.0.1 for 2s after 3 failed" in log
    assert "result=fail reason=throttled name=" in log
    assert "failed authentications within 600s for account name=" + \
        USER in log
    assert PW not in log

    def unblocked():
        with imaps_from(instance, "127.0.0.1") as c:
            t = plain(c, PW)
            if t == REFUSED:
                return False
            assert t.startswith(b"a OK"), t
            return True
    helpers.wait_for(unblocked, timeout=20, interval=0.3,
                     what="the block to expire")


def test_failures_elsewhere_do_not_block(instance):
    """127.0.0.3 has its own count."""
    with imaps_from(instance, "127.0.0.3") as c:
        t = plain(c, PW)
        assert t.startswith(b"a OK"), t


def test_sighup_changes_limits(fresh_instance):
    """auth_fail_limit changed in the file takes effect at SIGHUP (the master
    forwards it to the auth daemon), without a restart: counts survive."""
    import os
    import signal
    inst = fresh_instance
    inst.add_user(USER, PW)
    with imaps_from(inst, "127.0.0.4") as c:
        assert plain(c, "wrong-1").startswith(b"a NO [AUTHENTICATIONFAILED]")
    auth_pid = inst.pids("postern-auth")
    inst.set_conf("auth_fail_limit", "2")
    inst.set_conf("auth_block_time", "600")
    os.kill(inst.master.pid, signal.SIGHUP)
    helpers.wait_for(lambda: "settings reloaded: scram_iterations=4096 "
                     "auth_fail_limit=2" in inst.log, what="auth reload")
    assert inst.pids("postern-auth") == auth_pid  # same daemon
    with imaps_from(inst, "127.0.0.4") as c:
        assert plain(c, "wrong-2").startswith(b"a NO [AUTHENTICATIONFAILED]")
    with imaps_from(inst, "127.0.0.4") as c:
        assert plain(c, PW) == REFUSED


def test_shared_with_submission(instance):
    """Guesses over SMTP submission count for the same address as IMAP
    ones: both protocols refuse it afterwards."""
    from smtpa import Smtp
    source = "127.0.0.3"

    def smtp_from():
        sock = socket.create_connection(
            (instance.host, instance.submissions_port),
            timeout=helpers.TIMEOUT, source_address=(source, 0))
        sock = instance.ssl_ctx.wrap_socket(sock,
                                            server_hostname=instance.tls_name)
        c = Smtp(sock)
        c.greeting = c.reply()
        c.ehlo()
        return c

    def smtp_plain(c, pw):
        return c.cmd("AUTH PLAIN " + helpers.plain_ir(USER, pw))

    with smtp_from() as c:
        for i in range(3):
            code, lines = smtp_plain(c, "smtp-guess-%d" % i)
            if code == 421:
                break
            assert (code, lines[0][:5]) == (535, "5.7.8"), (code, lines)
    with imaps_from(instance, source) as c:
        assert plain(c, PW) == REFUSED
    with smtp_from() as c:
        code, lines = smtp_plain(c, PW)
        assert (code, lines[0][:5]) == (454, "4.7.0"), (code, lines)
        assert "Too many failed login attempts" in lines[0]
