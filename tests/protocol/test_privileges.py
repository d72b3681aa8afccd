"""Privilege separation as seen in /proc (root only)."""

import os
import pwd

import pytest

import helpers

# the metrics endpoint runs only where it is configured
POSTERN_CONF = {"metrics_listen": "/tmp/postern-priv-metrics-%d.sock" %
                os.getpid()}

pytestmark = pytest.mark.skipif(os.geteuid() != 0,
                                reason="privilege separation needs root")

USER, PW = "judy@example.org", "judy-pw-1"
NO_CAPS = "0000000000000000"


@pytest.fixture(scope="module")
def session(instance):
    """A logged-in IMAPS session, so that a proxy and a worker exist."""
    instance.add_user(USER, PW)
    c = instance.login(USER, PW)
    _, tagged = c.command("n", "NOOP")
    assert tagged.startswith(b"n OK"), tagged
    yield c
    c.close()


def _uid(name):
    return pwd.getpwnam(name).pw_uid


def _check_unprivileged(pid, user):
    st = helpers.proc_status(pid)
    assert st is not None, "process %d vanished" % pid
    uid = str(_uid(user))
    assert st["Uid"].split() == [uid] * 4, (pid, user, st["Uid"])
    assert "0" not in st["Gid"].split(), (pid, st["Gid"])
    for k in ("CapEff", "CapPrm", "CapInh", "CapAmb"):
        assert st.get(k, NO_CAPS) == NO_CAPS, (pid, k, st.get(k))
    return st


def _limits(pid):
    """(soft, hard) of 'Max open files' and 'Max core file size'."""
    out = {}
    with open("/proc/%d/limits" % pid) as f:
        for line in f:
            for name in ("Max open files", "Max core file size"):
                if line.startswith(name):
                    soft, hard = line[len(name):].split()[:2]
                    out[name] = (soft, hard)
    return out


def _hard_nofile(pid):
    with open("/proc/%d/limits" % pid) as f:
        for line in f:
            if line.startswith("Max open files"):
                v = line.split()[4]
                return 1 << 62 if v == "unlimited" else int(v)
    raise AssertionError("no open-files limit for %d" % pid)


def _can_raise_nofile():
    """Whether this (root) process holds CAP_SYS_RESOURCE, which raising a
    hard limit needs; some containers withhold it."""
    eff = int(helpers.proc_status(os.getpid())["CapEff"], 16)
    return bool(eff & (1 << 24))


def _check_limits(pid, nofile):
    lim = _limits(pid)
    assert lim["Max core file size"] == ("0", "0"), (pid, lim)
    # lowered to what the configured connection limit needs, hard limit too
    assert lim["Max open files"] == (str(nofile), str(nofile)), (pid, lim)


def test_tls_proxies(instance, session):
    proxies = instance.tls_proxy_pids()
    assert len(proxies) == int(instance.settings["tls_proxy_processes"]), \
        proxies
    chroot = os.path.realpath(instance.settings["login_chroot"])
    for pid in proxies:
        st = _check_unprivileged(pid, instance.settings["login_user"])
        assert st["NoNewPrivs"] == "1", (pid, st["NoNewPrivs"])
        assert os.readlink("/proc/%d/root" % pid) == chroot, pid
        # raised while root to what tls_proxy_max_clients needs, unless
        # the master's own hard limit cannot be raised (no
        # CAP_SYS_RESOURCE): then that limit, and a warning
        need = int(instance.settings["tls_proxy_max_clients"]) * 2 + 64
        master_hard = _hard_nofile(instance.master.pid)
        if master_hard < need and not _can_raise_nofile():
            _check_limits(pid, master_hard)
            assert "tls_proxy_max_clients lowered" in instance.log
        else:
            _check_limits(pid, need)


def _check_login_processes(instance, pids):
    chroot = os.path.realpath(instance.settings["login_chroot"])
    for pid in pids:
        st = _check_unprivileged(pid, instance.settings["login_user"])
        assert st["NoNewPrivs"] == "1", (pid, st["NoNewPrivs"])
        assert os.readlink("/proc/%d/root" % pid) == chroot, pid
        _check_limits(pid,
                      int(instance.settings["login_max_clients"]) * 2 + 64)


def test_login_processes(instance, session):
    pool = instance.pool_pids()
    # with the tls-proxy pool (the default) an IMAPS session forks no proxy
    proxies = instance.proxy_pids()
    assert pool, pool
    _check_login_processes(instance, pool | proxies)


def test_lmtp_process(instance, session):
    """LMTP writes every recipient's home: mail_user, no capabilities, no
    way back; not chrooted (doc/security.md)."""
    lmtp = instance.pids("lmtp")
    assert len(lmtp) == 1, lmtp
    for pid in lmtp:
        st = _check_unprivileged(pid, instance.settings["mail_user"])
        assert st["NoNewPrivs"] == "1", (pid, st["NoNewPrivs"])


def test_metrics_process(instance, session):
    """The metrics endpoint parses HTTP from whoever reaches it: login_user,
    chrooted, no capabilities."""
    chroot = os.path.realpath(instance.settings["login_chroot"])
    metrics = instance.pids("postern-metrics")
    assert len(metrics) == 1, metrics
    for pid in metrics:
        st = _check_unprivileged(pid, instance.settings["login_user"])
        assert st["NoNewPrivs"] == "1", (pid, st["NoNewPrivs"])
        assert os.readlink("/proc/%d/root" % pid) == chroot, pid


def test_auth_process(instance, session):
    auth = instance.pids("postern-auth")
    assert len(auth) == 1, auth
    for pid in auth:
        _check_unprivileged(pid, instance.settings["auth_user"])


def test_worker_process(instance, session):
    workers = instance.worker_pids(USER)
    assert len(workers) == 1, workers
    for pid in workers:
        _check_unprivileged(pid, instance.settings["mail_user"])
        # two per connection, 256 for the store, WORKER_SAVES_MAX (10000)
        # for the message files of APPENDs in progress
        _check_limits(pid,
                      int(instance.settings["worker_max_clients"]) * 2 + 256
                      + 10000)


def test_only_master_is_root(instance, session):
    pids = instance.member_pids()
    assert instance.master.pid in pids
    st = helpers.proc_status(instance.master.pid)
    assert st["Uid"].split()[1] == "0"
    for pid in pids - {instance.master.pid}:
        st = helpers.proc_status(pid)
        if st is None:
            continue
        assert "0" not in st["Uid"].split(), \
            (pid, helpers.proc_cmdline(pid), st["Uid"])


def _try_as(user, paths):
    """In a forked child running as user: which of paths (directories are
    listed, files opened for reading) are accessible."""
    pw = pwd.getpwnam(user)
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:
        try:
            os.close(r)
            os.setgroups([])
            os.setresgid(pw.pw_gid, pw.pw_gid, pw.pw_gid)
            os.setresuid(pw.pw_uid, pw.pw_uid, pw.pw_uid)
            opened = []
            for p in paths:
                try:
                    if os.path.isdir(p):
                        os.listdir(p)
                    else:
                        open(p, "rb").close()
                    opened.append(p)
                except (PermissionError, FileNotFoundError):
                    pass
            os.write(w, ("\n".join(opened) + "\n").encode())
            os._exit(0)
        except BaseException:
            os._exit(1)
    os.close(w)
    out = b""
    while True:
        chunk = os.read(r, 65536)
        if not chunk:
            break
        out += chunk
    os.close(r)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    return [x for x in out.decode().splitlines() if x]


@pytest.mark.parametrize("who", ["login_user", "mail_user"])
def test_account_database_closed(instance, session, who):
    auth_dir = instance.settings["auth_dir"]
    paths = [auth_dir]
    for base, dirs, files in os.walk(auth_dir):
        paths += [os.path.join(base, x) for x in dirs + files]
    assert len(paths) > 1, "auth_dir is empty: %s" % auth_dir
    opened = _try_as(instance.settings[who], paths)
    assert opened == [], opened


@pytest.fixture(scope="module")
def submission_session(instance, session):
    """A logged-in submission session (465), so that the account's
    submission worker exists."""
    from smtpa import login
    c = login(instance, USER, PW)
    assert c.cmd("NOOP")[0] == 250
    yield c
    c.close()


def test_submission_login_processes(instance, submission_session):
    logins = instance.pids("submission-login")
    pool = {p for p in logins if helpers.proc_ppid(p) == instance.master.pid}
    proxies = {p for p in logins if helpers.proc_ppid(p) in pool}
    assert len(pool) == int(instance.settings["login_processes"]), logins
    if instance.settings.get("tls_proxy_processes", "0") != "0":
        # 465 is carried by the tls-proxy pool (w10), not by a proxy
        # forked from submission-login
        assert not proxies, logins
        assert instance.pids("tls-proxy")
    else:
        assert proxies, logins
    _check_login_processes(instance, pool | proxies)


def test_submission_worker_process(instance, submission_session):
    workers = [p for p in instance.pids("submission")
               if USER in (helpers.proc_cmdline(p) or [])]
    assert len(workers) == 1, workers
    for pid in workers:
        st = _check_unprivileged(pid, instance.settings["mail_user"])
        assert st["NoNewPrivs"] == "1", (pid, st["NoNewPrivs"])
        _check_limits(pid,
                      int(instance.settings["worker_max_clients"]) * 3 + 256)
