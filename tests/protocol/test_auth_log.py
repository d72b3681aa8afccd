"""What the logs say about logins, for the admin's fail2ban filter
(doc/admin.md): a client certificate looked up at the handshake, known or
not, is a certificate lookup (cert=unknown / cert=no-preauth) and never a
line the documented failed-login filter matches; a real failed login is
exactly the documented line; a client that rejects the server's
certificate is logged with the alert it sent."""

import os
import re
import socket
import ssl

import pytest

from helpers import quote, wait_for
from test_tlscert import add_key, assert_normal, rm_key

U, PU = "authlog@example.org", "authlog-pw-1"


def _documented_failregex():
    """The fail2ban failregex doc/admin.md gives, as a Python regex."""
    path = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..",
                        "..", "doc", "admin.md")
    with open(path) as f:
        for line in f:
            if line.startswith("failregex = "):
                rx = line[len("failregex = "):].rstrip("\n")
                return re.compile(rx.replace("<HOST>", r"(?P<host>\S+)"))
    raise AssertionError("doc/admin.md has no failregex line")


# The failed-login line doc/admin.md tells admins to match.
FAILED_LOGIN = _documented_failregex()
# What common fail2ban filters for mail servers look for.
FAIL2BAN_WORDS = re.compile(r"auth failed|authentication fail|result=fail|"
                            r"login fail|password mismatch|failed",
                            re.IGNORECASE)


@pytest.fixture(scope="module")
def user(instance):
    instance.add_user(U, PU)
    return instance


def session_lines(inst, session):
    return [l for l in inst.log.splitlines() if "session=" + session in l]


def session_of(inst, before, what):
    """The session id of the first connection logged after offset before."""
    new = inst.log[before:]
    m = re.search(r"session=([0-9a-f]+) remote=\S+ connect ", new)
    assert m, (what, new[-2000:])
    return m.group(1)


def lines_when_closed(inst, before):
    sess = session_of(inst, before, "connect")
    wait_for(lambda: any("disconnect" in l or "handed off" in l
                         for l in session_lines(inst, sess)),
             what="the connection's end in the log")
    return session_lines(inst, sess)


@pytest.mark.parametrize("registered", [False, True])
def test_certificate_lookup_is_not_a_failed_login(user, certdir, registered):
    name = "lk-no-preauth" if registered else "lk-unknown"
    crt, key, fp = user.tlskey_gen(certdir, name)
    if registered:
        add_key(user, U, crt, "--no-imap-preauth")
    before = len(user.log)
    with user.imaps(ctx=user.client_ctx(crt, key)) as c:
        assert_normal(c)
        _, tagged = c.command("l", "LOGOUT")
    lines = lines_when_closed(user, before)
    want = "cert=no-preauth" if registered else "cert=unknown"
    assert any(want in l for l in lines), lines
    for l in lines:
        assert not FAILED_LOGIN.search(l), l
        assert not FAIL2BAN_WORDS.search(l), l
    if registered:
        rm_key(user, fp)


def test_failed_login_is_the_documented_line(user):
    before = len(user.log)
    with user.imaps() as c:
        _, tagged = c.command("l", "LOGIN %s %s" % (quote(U), quote("bad")))
        assert tagged.startswith(b"l NO [AUTHENTICATIONFAILED]"), tagged
    lines = lines_when_closed(user, before)
    hits = [l for l in lines if FAILED_LOGIN.search(l)]
    assert len(hits) == 1, lines
    assert FAILED_LOGIN.search(hits[0]).group("host") == "127.0.0.1"


@pytest.mark.parametrize("trust,alert", [
    ("system", 'alert="unknown ca"'),
    ("ours-wrong-name", 'alert="bad certificate"'),
])
def test_client_rejecting_our_certificate(user, trust, alert):
    """A client that does not trust the server certificate aborts the
    handshake with an alert (OpenSSL: unknown_ca for a chain it cannot
    build, bad_certificate for a name that does not match); the log
    names it instead of GnuTLS's "Decryption has failed"."""
    if trust == "system":
        ctx = ssl.create_default_context()
    else:
        ctx = ssl.create_default_context(cafile=user.cert_path)
    before = len(user.log)
    with socket.create_connection((user.host, user.imaps_port),
                                  timeout=10) as s:
        with pytest.raises(ssl.SSLCertVerificationError):
            ctx.wrap_socket(s, server_hostname="other.invalid")
    sess = session_of(user, before, "connect")
    wait_for(lambda: any("tls handshake" in l
                         for l in session_lines(user, sess)),
             what="the handshake's end in the log")
    lines = [l for l in session_lines(user, sess) if "tls handshake" in l]
    assert any(alert in l for l in lines), lines
    assert not any("Decryption has failed" in l for l in lines), lines
