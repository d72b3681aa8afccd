"""The master supervising its tree: a killed login process, SIGTERM,
SIGHUP. Each test gets an instance of its own."""

import os
import shutil
import signal
import socket
import ssl
import subprocess
import tempfile


import helpers
from helpers import wait_for

USER, PW = "erin@example.org", "erin-pw-1"
# the per-connection proxies forked by login processes; the tls-proxy pool
# has its own tests in test_tls_proxy.py
POSTERN_CONF = {"tls_proxy_processes": "0"}


def _noop(c, tag="n"):
    _, tagged = c.command(tag, "NOOP")
    assert tagged.startswith(tag.encode() + b" OK"), tagged


def _pool_size(inst):
    return int(inst.settings["login_processes"])


def _full_pool(inst):
    n = _pool_size(inst)
    return wait_for(lambda: len(inst.pool_pids()) == n and inst.pool_pids(),
                    what="%d pool processes" % n)


def test_kill9_login_process(fresh_instance):
    inst = fresh_instance
    inst.add_user(USER, PW)
    sessions = [inst.login(USER, PW) for _ in range(4)]
    try:
        for c in sessions:
            _noop(c)
        pool = _full_pool(inst)
        proxies = inst.proxy_pids()
        assert len(proxies) >= len(sessions), (proxies, pool)
        # Prefer a pool process that forked proxies: they must outlive it.
        parents = {helpers.proc_ppid(p) for p in proxies}
        assert parents <= pool, (parents, pool)
        victim = min(parents)
        orphans = {p for p in proxies if helpers.proc_ppid(p) == victim}
        os.kill(victim, signal.SIGKILL)
        wait_for(lambda: not helpers.pid_alive(victim),
                 what="pool process %d to die" % victim)
        for c in sessions:
            _noop(c, "m")
        assert all(helpers.pid_alive(p) for p in orphans), orphans
        n = _pool_size(inst)
        wait_for(lambda: len(inst.pool_pids()) == n
                 and victim not in inst.pool_pids(), timeout=15,
                 what="master to restore the pool to %d" % n)
        for _ in range(2 * n):
            c = inst.login(USER, PW)
            _noop(c)
            c.close()
        for c in sessions:
            _noop(c, "o")
    finally:
        for c in sessions:
            c.close()


def test_sigterm_stops_tree(fresh_instance):
    inst = fresh_instance
    inst.add_user(USER, PW)
    c = inst.login(USER, PW)
    _noop(c)
    before = inst.member_pids()
    names = {helpers.proc_name(helpers.proc_cmdline(p)) for p in before}
    assert {"postern", "postern-auth", "imap-login", "imap"} <= names, names
    assert inst.proxy_pids(), "no proxy process for the IMAPS session"
    inst.master.send_signal(signal.SIGTERM)
    try:
        inst.master.wait(10)
    except subprocess.TimeoutExpired:
        raise AssertionError("master still running 10s after SIGTERM")
    assert inst.master.returncode == 0, inst.master.returncode
    wait_for(lambda: not [p for p in before if helpers.pid_alive(p)]
             and not inst.member_pids(), timeout=10,
             what="every process of the instance to exit: %s" % sorted(
                 "%d %s" % (p, helpers.proc_cmdline(p)) for p in before
                 if helpers.pid_alive(p)))
    c.close()


def test_sighup_keeps_sessions(fresh_instance):
    inst = fresh_instance
    inst.add_user(USER, PW)
    c = inst.login(USER, PW)
    try:
        _noop(c)
        old_pool = _full_pool(inst)
        inst.master.send_signal(signal.SIGHUP)
        n = _pool_size(inst)
        wait_for(lambda: len(inst.pool_pids()) == n
                 and old_pool.isdisjoint(inst.pool_pids()), timeout=15,
                 what="pool replaced after SIGHUP (old %s)" % sorted(old_pool))
        wait_for(lambda: not [p for p in old_pool if helpers.pid_alive(p)],
                 what="old pool processes to exit")
        _noop(c, "m")
        c2 = inst.login(USER, PW)
        _noop(c2)
        c2.close()
        assert inst.master.poll() is None
    finally:
        c.close()


def _peer_cert(inst):
    """DER certificate the IMAPS port presents now (None if the handshake
    fails, e.g. while the pool is being replaced)."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    try:
        with socket.create_connection((inst.host, inst.imaps_port), 5) as s:
            with ctx.wrap_socket(s) as t:
                return t.getpeercert(binary_form=True)
    except OSError:
        return None


def _pem_der(path):
    with open(path) as f:
        text = f.read()
    end = "-----END CERTIFICATE-----"
    return ssl.PEM_cert_to_DER_cert(text[:text.index(end) + len(end)] + "\n")


def test_sighup_reloads_certificate(fresh_instance):
    inst = fresh_instance
    inst.add_user(USER, PW)
    assert _peer_cert(inst) == _pem_der(inst.cert_path)
    # A second dev instance, never started, supplies a new key pair.
    other = tempfile.mkdtemp(prefix="postern-test-cert-", dir="/tmp")
    try:
        os.chmod(other, 0o755)
        r = subprocess.run([helpers.POSTERN, "--init-dev", other,
                            "--port-base", str(helpers.free_port_base())],
                           capture_output=True, text=True, timeout=60,
                           stdin=subprocess.DEVNULL)
        assert r.returncode == 0, r.stderr
        oconf = inst.read_conf(os.path.join(other, "postern.conf"))
        new_der = _pem_der(oconf["tls_cert"])
        assert new_der != _pem_der(inst.cert_path)
        c = inst.login(USER, PW)
        try:
            # Overwrite in place: ownership and mode of the files stay.
            shutil.copyfile(oconf["tls_key"], inst.settings["tls_key"])
            shutil.copyfile(oconf["tls_cert"], inst.cert_path)
            inst.master.send_signal(signal.SIGHUP)
            wait_for(lambda: _peer_cert(inst) == new_der, timeout=15,
                     what="new certificate served after SIGHUP")
            inst._setup_tls()
            _noop(c)
            c2 = inst.login(USER, PW)
            _noop(c2)
            c2.close()
        finally:
            c.close()
    finally:
        shutil.rmtree(other, ignore_errors=True)


def test_daemon_mode():
    """Without -F the master daemonizes: the command returns at once with
    status 0, the tree serves, logs go to state_dir/postern.log, and SIGTERM
    to the daemon (found by its command line) stops everything."""
    from conftest import Instance, POSTERN
    inst = Instance({})
    try:
        r = subprocess.run([POSTERN, "-c", inst.conf], capture_output=True,
                           timeout=30, stdin=subprocess.DEVNULL)
        assert r.returncode == 0, r
        # start-up lines before detaching; no error
        assert b"error:" not in r.stderr and b"fatal:" not in r.stderr, \
            r.stderr

        def daemon():
            for pid in helpers.all_pids():
                cmd = helpers.proc_cmdline(pid)
                if cmd and helpers.proc_name(cmd) == "postern" and \
                        inst.conf in cmd:
                    return pid
            return None
        pid = wait_for(daemon, what="daemonized master")
        # no controlling terminal: it is the leader of a new session
        with open("/proc/%d/stat" % pid) as f:
            fields = f.read().rsplit(")", 1)[1].split()
        assert int(fields[3]) == pid, fields  # session id (field 6)
        wait_for(inst._imaps_greets, what="IMAPS greeting")
        inst.add_user(USER, PW)
        c = inst.login(USER, PW)
        _noop(c)
        c.close()
        log = os.path.join(inst.settings["state_dir"], "postern.log")
        wait_for(lambda: os.path.exists(log) and
                 b"handed to imap" in open(log, "rb").read(),
                 what="log lines in %s" % log)
        os.kill(pid, signal.SIGTERM)
        wait_for(lambda: not inst.member_pids(), what="tree gone")
    finally:
        for p in inst.member_pids():
            os.kill(p, signal.SIGKILL)
        shutil.rmtree(inst.dir, ignore_errors=True)
