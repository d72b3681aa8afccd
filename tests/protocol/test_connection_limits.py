"""Limits real clients never hit but abusers do, each driven to one over
and logged: pre-auth connections per address (login_max_per_ip),
connections of one user from one address (max_userip_connections) and
per user's worker (worker_max_clients); the metrics count the hits."""

import re
import socket

import helpers
from imapa import users_fixture
from test_metrics import fresh_socket_path, scrape

METRICS_SOCK = fresh_socket_path()
U, P = "limits-u@example.test", "limits-pw-1"
V, VP = "limits-v@example.test", "limits-pw-2"
POSTERN_CONF = {"login_processes": "1", "login_max_per_ip": "3",
                "max_userip_connections": "2", "worker_max_clients": "3",
                "metrics_listen": METRICS_SOCK}

users = users_fixture((U, P), (V, VP))


def greeting(instance):
    s = socket.create_connection((instance.host, instance.imap_port),
                                 helpers.TIMEOUT)
    s.settimeout(helpers.TIMEOUT)
    return s, s.recv(4096)


def test_preauth_per_ip(instance):
    before = scrape(instance)
    socks = []
    try:
        for _ in range(3):
            s, g = greeting(instance)
            assert g.startswith(b"* OK"), g
            socks.append(s)
        s, g = greeting(instance)
        socks.append(s)
        assert g == b"* BYE [UNAVAILABLE] Too many connections from your " \
                    b"address\r\n", g
        assert s.recv(4096) == b""  # closed
    finally:
        for s in socks:
            s.close()
    assert "limit login_max_per_ip=3 hit" in instance.log
    after = scrape(instance)
    key = ("postern_limit_hits_total", (("limit", "login_max_per_ip"),))
    assert after[key] == before[key] + 1
    # the slots are free again
    helpers.wait_for(lambda: greeting(instance)[1].startswith(b"* OK"),
                     what="a greeting after the others closed")


def test_user_ip_limit(instance):
    conns = [instance.login(U, P) for _ in range(2)]
    c = instance.imaps()
    c.send("a LOGIN %s %s\r\n" % (U, P))
    line = c.readline()
    assert line == b"* BYE [LIMIT] Too many connections from your address " \
                   b"for this user", line
    c.close()
    assert "limit max_userip_connections=2 hit" in instance.log
    # another user from the same address is not affected
    other = instance.login(V, VP)
    other.close()
    for x in conns:
        x.close()


def login_from(instance, source, user, pw):
    """An IMAP connection from source (another 127/8 address) and its
    answer to LOGIN: (conn, tagged line or the BYE)."""
    sock = socket.create_connection((instance.host, instance.imaps_port),
                                    helpers.TIMEOUT,
                                    source_address=(source, 0))
    sock = instance.ssl_ctx.wrap_socket(sock,
                                        server_hostname=instance.tls_name)
    c = helpers.Conn(sock)
    c.readline()
    c.send("a LOGIN %s %s\r\n" % (user, pw))
    while True:
        line = c.readline()
        if line.startswith(b"a ") or line.startswith(b"* BYE"):
            return c, line


def test_worker_limit(instance):
    """worker_max_clients=3 counts the user's connections from every
    address: two from 127.0.0.1 and one from 127.0.0.2 fill it without
    reaching max_userip_connections=2."""
    conns = []
    try:
        for src in ("127.0.0.1", "127.0.0.1", "127.0.0.2"):
            c, line = login_from(instance, src, V, VP)
            conns.append(c)
            assert line.startswith(b"a OK"), line
        c, line = login_from(instance, "127.0.0.3", V, VP)
        conns.append(c)
        assert line == b"* BYE [LIMIT] Too many connections for this user", \
            line
    finally:
        for x in conns:
            x.close()
    assert "limit worker_max_clients=3 hit" in instance.log


def test_user_ip_limit_submission(instance):
    """The same limit in the user's submission worker (465)."""
    from smtpa import Smtp, login, plain
    held = [login(instance, U, P) for _ in range(2)]
    c = Smtp.open(instance, instance.submissions_port, instance.ssl_ctx)
    c.ehlo()
    code, lines = c.cmd("AUTH PLAIN " + plain(U, P))
    assert (code, lines) == (421, ["4.7.0 Too many connections from your "
                                   "address for this user"]), lines
    c.close()
    for x in held:
        x.close()
    assert "limit max_userip_connections=2 hit: session refused" in \
        instance.log
