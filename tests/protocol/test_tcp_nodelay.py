"""TCP_NODELAY on every client socket, read from the serving process's own
descriptor (pidfd_getfd, root only): the pre-auth socket of a login process
on both listeners, and the client socket a TLS proxy keeps after login.
Without it each reply of a few bytes may wait for the client's delayed ACK
(the 40 ms greeting stall of bench/README.md)."""

import ctypes
import os
import socket

import pytest

import conftest

pytestmark = pytest.mark.skipif(os.geteuid() != 0,
                                reason="reading another process's socket "
                                "needs root")

USER, PW = "nagle@example.org", "nagle-pw-1"
SYS_PIDFD_GETFD = 438  # same number on every Linux architecture

_libc = ctypes.CDLL(None, use_errno=True)


def _pidfd_getfd(pidfd, fd):
    r = _libc.syscall(SYS_PIDFD_GETFD, pidfd, fd, 0)
    if r < 0:
        e = ctypes.get_errno()
        raise OSError(e, os.strerror(e))
    return r


def _server_socket_nodelay(pids, client_sock):
    """TCP_NODELAY of the socket, in any of pids, whose peer is the local
    end of client_sock; None if no process holds it."""
    want = client_sock.getsockname()[:2]
    for pid in pids:
        try:
            pidfd = os.pidfd_open(pid)
        except OSError:
            continue
        try:
            for name in os.listdir("/proc/%d/fd" % pid):
                try:
                    target = os.readlink("/proc/%d/fd/%s" % (pid, name))
                except OSError:
                    continue
                if not target.startswith("socket:"):
                    continue
                fd = _pidfd_getfd(pidfd, int(name))
                s = socket.socket(fileno=fd)
                try:
                    if s.family not in (socket.AF_INET, socket.AF_INET6) \
                            or s.type != socket.SOCK_STREAM:
                        continue
                    try:
                        peer = s.getpeername()[:2]
                    except OSError:
                        continue  # a listener
                    if peer == want:
                        return s.getsockopt(socket.IPPROTO_TCP,
                                            socket.TCP_NODELAY)
                finally:
                    s.close()
        finally:
            os.close(pidfd)
    return None


def _raw(sock):
    """The TCP socket under an ssl wrapper (same descriptor)."""
    return socket.socket(fileno=os.dup(sock.fileno()))


@pytest.mark.parametrize("mode", ["imaps", "imap"])
def test_preauth_socket_nodelay(instance, mode):
    c = instance.imaps() if mode == "imaps" else instance.imap_plain()
    with c:
        raw = _raw(c.sock)
        try:
            got = _server_socket_nodelay(
                instance.pool_pids() | instance.tls_proxy_pids(), raw)
        finally:
            raw.close()
    assert got is not None, "no login process or tls-proxy holds it"
    assert got != 0, "TCP_NODELAY not set on the pre-auth socket"


def test_proxied_socket_nodelay(instance):
    instance.add_user(USER, PW)
    before = instance.proxy_pids()
    c = instance.login(USER, PW)
    with c:
        _, tagged = c.command("n", "NOOP")
        assert tagged.startswith(b"n OK"), tagged
        raw = _raw(c.sock)
        try:
            mine = instance.proxy_pids() - before
            got = _server_socket_nodelay(
                (mine or instance.proxy_pids()) | instance.tls_proxy_pids(),
                raw)
        finally:
            raw.close()
    assert got is not None, "no TLS proxy holds the connection"
    assert got != 0, "TCP_NODELAY not set on the proxied socket"


def test_forked_proxy_socket_nodelay():
    """The same with tls_proxy_processes = 0 (a proxy forked per logged-in
    connection keeps the login process's socket)."""
    inst = conftest._run_instance({"tls_proxy_processes": "0"})
    try:
        _forked_proxy_check(inst)
    finally:
        conftest._finish(inst)


def _forked_proxy_check(inst):
    inst.add_user(USER, PW)
    c = inst.login(USER, PW)
    with c:
        _, tagged = c.command("n", "NOOP")
        assert tagged.startswith(b"n OK"), tagged
        raw = _raw(c.sock)
        try:
            got = _server_socket_nodelay(inst.proxy_pids(), raw)
        finally:
            raw.close()
    assert got not in (None, 0), got


def test_starttls_socket_nodelay(instance, ssl_ctx):
    with instance.imap_plain() as c:
        instance.starttls(c)
        raw = _raw(c.sock)
        try:
            got = _server_socket_nodelay(
                instance.pool_pids() | instance.tls_proxy_pids(), raw)
        finally:
            raw.close()
    assert got not in (None, 0), got
