"""STARTTLS through the tls-proxy pool: plaintext-listener connections are
relayed by a tls-proxy from the start; when the login process accepts
STARTTLS the proxy delivers the go-ahead in plaintext and does the
handshake itself. Several hundred imaplib STARTTLS sessions on one proxy
process, no forked proxy per session, killing that proxy drops exactly its
connections; smtplib STARTTLS on the submission port; plaintext sent
behind STARTTLS is never read (neither what the proxy forwarded before the
switch nor what arrives after the go-ahead)."""

import imaplib
import smtplib

import helpers
from helpers import wait_for
from test_tls_proxy import (_kill_proxy, _proc_net_tcp, _socket_inodes,
                            _users_and_proxies)

N_USERS = 4
PER_USER = 75  # 300 connections; below worker_max_clients (100)
USERS = [("st%d@example.org" % i, "st-pw-%d" % i) for i in range(N_USERS)]
# 75 and 100 sessions of one user from 127.0.0.1: above the default
# max_userip_connections (50), which is not what this module tests
POSTERN_CONF = {"tls_proxy_processes": "1", "log_level": "info",
                "max_userip_connections": "110"}
SUB_USER, SUB_PW = "stsub@example.org", "stsub-pw-1"
MSG = b"From: stsub@example.org\r\nSubject: s\r\n\r\nhi\r\n"


def _holder(inst, port, sock):
    """The tls-proxy pid holding the server end of sock on port."""
    ino = _proc_net_tcp().get((port, sock.getsockname()[1]))
    for pid in inst.tls_proxy_pids():
        if ino in _socket_inodes(pid):
            return pid
    return None


def _imaplib_starttls(inst, user, pw):
    m = inst.imaplib_plain()
    typ, _ = m.starttls(ssl_context=inst.ssl_ctx)
    assert typ == "OK"
    typ, _ = m.login(user, pw)
    assert typ == "OK"
    return m


def _noop(m):
    typ, _ = m.noop()
    assert typ == "OK"


def _dropped(m):
    m.sock.settimeout(10)
    try:
        m.noop()
    except (OSError, imaplib.IMAP4.abort, imaplib.IMAP4.error):
        return True
    return False


def _forked_proxies(inst):
    """Login processes beyond the pools: forked per-connection proxies."""
    logins = inst.pids("imap-login") | inst.pids("submission-login")
    return {p for p in logins if helpers.proc_ppid(p) != inst.master.pid}


def test_many_starttls_sessions_on_one_proxy(fresh_instance):
    inst = fresh_instance
    proxy = next(iter(_users_and_proxies(inst, USERS, 1)))
    before = len(inst.member_pids())
    conns = []
    try:
        for _ in range(PER_USER):
            for u, p in USERS:
                conns.append(_imaplib_starttls(inst, u, p))
        for m in conns:
            _noop(m)
            typ, _ = m.select("INBOX")
            assert typ == "OK"
        for i, m in enumerate(conns):
            assert _holder(inst, inst.imap_port, m.sock) == proxy, i
        assert not _forked_proxies(inst), _forked_proxies(inst)
        # one worker per user, nothing per connection
        assert len(inst.member_pids()) <= before + N_USERS, \
            (before, inst.member_pids())
        assert "starttls handshake done" in inst.log
        assert inst.log.count("via=tls-proxy") >= len(conns)
    finally:
        for m in conns:
            m.shutdown()


def test_kill_proxy_drops_only_its_starttls_sessions():
    """Two proxies: the STARTTLS sessions of the killed one end, the
    other's go on, and the master starts a replacement."""
    import conftest
    inst = conftest._run_instance({"tls_proxy_processes": "2",
                                   "max_userip_connections": "110"})
    conns = []
    try:
        for u, p in USERS[:2]:
            inst.add_user(u, p)
        for k in range(60):
            conns.append(_imaplib_starttls(inst, *USERS[k % 2]))
        held = {}
        for i, m in enumerate(conns):
            held.setdefault(_holder(inst, inst.imap_port, m.sock),
                            []).append(i)
        assert None not in held and len(held) == 2, held.keys()
        victim = max(held, key=lambda p: len(held[p]))
        survivor = (set(held) - {victim}).pop()
        _kill_proxy(victim)
        for i in held[victim]:
            assert _dropped(conns[i]), "connection %d outlived its proxy" % i
        for i in held[survivor]:
            _noop(conns[i])
        wait_for(lambda: len(inst.tls_proxy_pids()) == 2
                 and victim not in inst.tls_proxy_pids(), timeout=15,
                 what="master to restart the tls-proxy")
        m = _imaplib_starttls(inst, *USERS[0])
        _noop(m)
        m.logout()
        for i in held[survivor]:
            _noop(conns[i])
    finally:
        for m in conns:
            try:
                m.shutdown()
            except OSError:
                pass
        conftest._finish(inst)


def test_submission_starttls_smtplib_through_proxy(instance):
    """Several hundred smtplib STARTTLS sessions on port 587 (two accounts,
    below worker_max_clients each), all on the one proxy; each can send."""
    inst = instance
    users = [(SUB_USER, SUB_PW), ("stsub2@example.org", "stsub-pw-2")]
    proxies = _users_and_proxies(inst, users, 1)
    sessions = []
    try:
        for k in range(200):
            u, p = users[k % 2]
            s = smtplib.SMTP(inst.host, inst.submission_port, timeout=10)
            s.starttls(context=inst.ssl_ctx)
            s.login(u, p)
            sessions.append(s)
        for s in sessions:
            assert _holder(inst, inst.submission_port, s.sock) in proxies
        assert not _forked_proxies(inst), _forked_proxies(inst)
        for k in (0, 1, len(sessions) - 2, len(sessions) - 1):
            u = users[k % 2][0]
            assert sessions[k].sendmail(u, [SUB_USER], MSG) == {}
    finally:
        for s in sessions:
            s.quit()


def test_plaintext_forwarded_before_switch_is_discarded(instance):
    """More pipelined plaintext than the login process reads at once: the
    rest was already forwarded by the proxy and must be dropped by the
    login process after the switch, never answered inside TLS."""
    with instance.imap_plain() as c:
        c.send(b"a STARTTLS\r\n" + b"b CAPABILITY\r\n" * 1000)
        lines = c.read_until_tagged("a")
        assert lines[-1].startswith(b"a OK"), lines
        c.starttls(instance.ssl_ctx, instance.tls_name)
        untagged, tagged = c.command("c", "NOOP")
        assert tagged.startswith(b"c OK"), tagged
        assert not [x for x in untagged if x.startswith(b"b ")], untagged
        untagged, tagged = c.command("d", "CAPABILITY")
        assert tagged.startswith(b"d OK"), tagged
        assert not [x for x in untagged if x.startswith(b"b ")], untagged


def test_plaintext_after_go_ahead_never_reaches_login(instance):
    """Plaintext sent after the go-ahead goes to the TLS handshake, which
    fails; the login process never answers it."""
    with instance.imap_plain() as c:
        _, tagged = c.command("a", "STARTTLS")
        assert tagged.startswith(b"a OK"), tagged
        c.send(b"b CAPABILITY\r\n")
        c.sock.settimeout(10)
        try:
            rest = c.sock.recv(4096)
        except ConnectionResetError:
            rest = b""
        assert b"b " not in rest and b"CAPABILITY" not in rest, rest
    wait_for(lambda: "tls handshake failed" in instance.log,
             what="the proxy to refuse the plaintext as TLS")
    # and the login process lets the connection go at once, not at its
    # idle timeout
    wait_for(lambda: "tls-proxy closed during STARTTLS" in instance.log,
             what="the login process to drop the connection")


def test_forked_mode_keeps_starttls_in_login():
    """tls_proxy_processes = 0: no tls-proxy; the login process does the
    STARTTLS handshake and forks the per-connection proxy at login."""
    import conftest
    inst = conftest._run_instance({"tls_proxy_processes": "0"})
    try:
        u, p = USERS[0]
        inst.add_user(u, p)
        assert not inst.tls_proxy_pids()
        m = _imaplib_starttls(inst, u, p)
        _noop(m)
        assert _forked_proxies(inst), "no forked proxy for the session"
        assert "starttls handshake done" not in inst.log
        m.logout()
    finally:
        conftest._finish(inst)
