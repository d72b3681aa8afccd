"""The tls-proxy pool: implicit-TLS connections carried by a few processes,
many each. Several hundred IMAPS sessions spread over the pool; killing one
proxy drops exactly its connections, the others' sessions go on, and the
master starts a replacement. Also: pre-auth through a proxy, SIGHUP."""

import os
import signal
import socket

import pytest

import helpers
from helpers import quote, wait_for

N_USERS = 4
PER_USER = 75  # 300 connections; below worker_max_clients (100)
USERS = [("px%d@example.org" % i, "px-pw-%d" % i) for i in range(N_USERS)]
# 75 sessions of one user from 127.0.0.1: above the default
# max_userip_connections (50), which is not what this module tests
POSTERN_CONF = {"tls_proxy_processes": "2", "log_level": "info",
                "max_userip_connections": "100"}


def _proc_net_tcp():
    """{(local_port, remote_port): inode} of the IPv4 TCP sockets."""
    out = {}
    with open("/proc/net/tcp") as f:
        next(f)
        for line in f:
            p = line.split()
            lport = int(p[1].rpartition(":")[2], 16)
            rport = int(p[2].rpartition(":")[2], 16)
            out[(lport, rport)] = int(p[9])
    return out


def _socket_inodes(pid):
    out = set()
    for name in os.listdir("/proc/%d/fd" % pid):
        try:
            t = os.readlink("/proc/%d/fd/%s" % (pid, name))
        except OSError:
            continue
        if t.startswith("socket:["):
            out.add(int(t[8:-1]))
    return out


def _holders(inst, conns):
    """{proxy pid: [indexes of conns whose TLS socket it holds]}."""
    tcp = _proc_net_tcp()
    by_inode = {}
    for pid in inst.tls_proxy_pids():
        for ino in _socket_inodes(pid):
            by_inode[ino] = pid
    out = {}
    for i, c in enumerate(conns):
        port = c.sock.getsockname()[1]
        ino = tcp.get((inst.imaps_port, port))
        pid = by_inode.get(ino)
        assert pid is not None, "connection %d held by no tls-proxy" % i
        out.setdefault(pid, []).append(i)
    return out


def _login(inst, user, pw):
    c = inst.imaps()
    _, tagged = c.command("l", "LOGIN %s %s" % (quote(user), quote(pw)))
    assert tagged.startswith(b"l OK"), tagged
    return c


def _noop(c, tag):
    _, tagged = c.command(tag, "NOOP")
    assert tagged.startswith(tag.encode() + b" OK"), tagged


def _gone(c):
    c.sock.settimeout(10)
    try:
        c.send("x NOOP\r\n")
        c.read_eof()
    except (OSError, helpers.ConnectionClosed):
        return True
    except socket.timeout:
        return False
    return True


def _users_and_proxies(inst, users, n):
    """Adds the accounts; the tls-proxy pids, asserted to be n."""
    for u, p in users:
        inst.add_user(u, p)
    proxies = inst.tls_proxy_pids()
    assert len(proxies) == n, proxies
    return proxies


def _kill_proxy(pid):
    os.kill(pid, signal.SIGKILL)
    wait_for(lambda: not helpers.pid_alive(pid),
             what="tls-proxy %d to die" % pid)


def test_kill_one_proxy(fresh_instance):
    inst = fresh_instance
    proxies = _users_and_proxies(inst, USERS, 2)
    conns = []
    try:
        for k in range(PER_USER):
            for u, p in USERS:
                conns.append(_login(inst, u, p))
        for i, c in enumerate(conns):
            _noop(c, "a%d" % i)
            _, tagged = c.command("s%d" % i, "SELECT INBOX")
            assert tagged.startswith(b"s%d OK" % i), tagged
        held = _holders(inst, conns)
        assert set(held) == proxies, (held.keys(), proxies)
        # the proxy with more connections goes
        print("connections per tls-proxy:",
              {p: len(v) for p, v in held.items()})
        victim = max(held, key=lambda p: len(held[p]))
        survivor = (proxies - {victim}).pop()
        assert len(held[victim]) >= 100, {p: len(v) for p, v in
                                          held.items()}
        assert held[survivor], "every connection on one proxy"
        workers = inst.worker_pids()
        _kill_proxy(victim)
        for i in held[victim]:
            assert _gone(conns[i]), "connection %d outlived its proxy" % i
        for i in held[survivor]:
            _noop(conns[i], "b%d" % i)
            lines, tagged = conns[i].command("f%d" % i, "STATUS INBOX "
                                             "(MESSAGES)")
            assert tagged.startswith(b"f%d OK" % i), tagged
        # the workers serve the survivors: none was lost with the proxy
        assert workers <= inst.worker_pids()
        wait_for(lambda: len(inst.tls_proxy_pids()) == 2
                 and victim not in inst.tls_proxy_pids(), timeout=15,
                 what="master to restart the tls-proxy")
        assert "tls-proxy pid=%d killed by signal 9" % victim in inst.log
        for _ in range(6):
            c = _login(inst, *USERS[0])
            _noop(c, "new")
            c.close()
        for i in held[survivor]:
            _noop(conns[i], "c%d" % i)
    finally:
        for c in conns:
            c.close()


def test_preauth_through_proxy(instance):
    """The login process sees a TLS session it does not hold: STARTTLS is
    refused, the capabilities are those of a TLS connection, PLAIN works,
    and the log names the proxied TLS."""
    u, p = USERS[0]
    instance.add_user(u, p)
    with instance.imaps() as c:
        caps = helpers.caps_of([c.greeting])
        assert "AUTH=PLAIN" in caps and "STARTTLS" not in caps, caps
        _, tagged = c.command("t", "STARTTLS")
        assert tagged.startswith(b"t BAD"), tagged
        _, tagged = c.command("a", "AUTHENTICATE PLAIN " +
                              helpers.plain_ir(u, p))
        assert tagged.startswith(b"a OK"), tagged
        _noop(c, "n")
    assert "via=tls-proxy" in instance.log
    assert "handoff user=%s tls=proxied" % u in instance.log


def test_sighup_keeps_proxied_sessions(fresh_instance):
    inst = fresh_instance
    u, p = USERS[1]
    inst.add_user(u, p)
    c = _login(inst, u, p)
    old = inst.tls_proxy_pids()
    inst.master.send_signal(signal.SIGHUP)
    wait_for(lambda: len(inst.tls_proxy_pids() - old) == 2, timeout=15,
             what="a new tls-proxy pool after SIGHUP")
    # the old proxy keeps its session until it ends, then exits
    _noop(c, "m")
    c2 = _login(inst, u, p)
    _noop(c2, "m2")
    c.close()
    wait_for(lambda: not [x for x in old if helpers.pid_alive(x)],
             timeout=15, what="old tls-proxies to exit")
    _noop(c2, "m3")
    c2.close()
