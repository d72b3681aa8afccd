"""Fixtures of the end-to-end suite: a private Postern instance per module
(or per test for destructive tests), built from `postern --init-dev`.

Binaries come from $POSTERN_BUILD (the meson build dir, default
/work/main/build). A test module may set POSTERN_CONF = {key: value} to
override config keys of its instances before they start."""

import imaplib
import os
import re
import shutil
import signal
import socket
import ssl
import subprocess
import tempfile
import time

import pytest

import helpers
from helpers import MAILADM, POSTERN, Conn, free_port_base

# Applied to every instance; modules add their own on top.
DEFAULT_CONF = {
    "login_auth_failure_delay": "200",
    "log_level": "debug",
}

START_TIMEOUT = 20.0
STOP_TIMEOUT = 10.0

_live = []  # running instances, for attaching logs to failure reports


def _need(path):
    if not os.access(path, os.X_OK):
        pytest.fail("binary missing: %s (set POSTERN_BUILD to the meson "
                    "build dir)" % path, pytrace=False)


_defaults = None


def _config_defaults():
    """Defaults of every key, from `postern --config-keys`."""
    global _defaults
    if _defaults is None:
        r = subprocess.run([POSTERN, "--config-keys"], capture_output=True,
                           text=True, timeout=10)
        assert r.returncode == 0, r.stderr
        _defaults = {}
        for line in r.stdout.splitlines():
            m = re.match(r'(\S+)\s+\S+\s+default "(.*)"$', line)
            if m:
                _defaults[m.group(1)] = m.group(2)
    return _defaults


def _parse_listen(value):
    """First host:port of a listen list -> (connect host, port)."""
    item = value.replace(",", " ").split()[0]
    host, _, port = item.rpartition(":")
    host = host.strip("[]")
    if host in ("", "0.0.0.0", "*"):
        host = "127.0.0.1"
    elif host == "::":
        host = "::1"
    return host, int(port)


class _SSLAt(imaplib.IMAP4_SSL):
    """IMAP4_SSL that connects to addr but verifies/sends SNI for host."""

    def __init__(self, addr, sni, port, **kw):
        self._addr = addr
        self._sni = sni
        super().__init__(sni or addr, port, **kw)

    def _create_socket(self, timeout):
        sock = socket.create_connection((self._addr, self.port), timeout)
        return self.ssl_context.wrap_socket(sock, server_hostname=self._sni)


class _PlainAt(imaplib.IMAP4):
    """IMAP4 that connects to addr; self.host (used by starttls() for SNI and
    verification) is the certificate's name."""

    def __init__(self, addr, sni, port, **kw):
        self._addr = addr
        super().__init__(sni or addr, port, **kw)

    def _create_socket(self, timeout):
        return socket.create_connection((self._addr, self.port), timeout)


class Instance:
    def __init__(self, overrides):
        _need(POSTERN)
        self.dir = tempfile.mkdtemp(prefix="postern-test-", dir="/tmp")
        # Unprivileged children must traverse the instance dir when root.
        os.chmod(self.dir, 0o755)
        self.master = None
        self.failed = False
        self._proxies_seen = set()
        self.port_base = free_port_base()
        r = subprocess.run([POSTERN, "--init-dev", self.dir, "--port-base",
                            str(self.port_base)], capture_output=True,
                           text=True, timeout=60, stdin=subprocess.DEVNULL)
        assert r.returncode == 0, \
            "postern --init-dev failed (%d):\n%s%s" % (r.returncode,
                                                       r.stdout, r.stderr)
        self.conf = os.path.realpath(os.path.join(self.dir, "postern.conf"))
        assert os.path.isfile(self.conf), "init-dev wrote no postern.conf"
        conf = dict(DEFAULT_CONF)
        conf.update(overrides)
        for k, v in conf.items():
            self.set_conf(k, v)
        self.settings = self.read_conf()
        self.host, self.imap_port = _parse_listen(self.settings["imap_listen"])
        _, self.imaps_port = _parse_listen(self.settings["imaps_listen"])
        _, self.submission_port = _parse_listen(
            self.settings["submission_listen"])
        _, self.submissions_port = _parse_listen(
            self.settings["submissions_listen"])
        self.run_dir = self.settings["run_dir"]
        self._setup_tls()

    # ---- config ----------------------------------------------------------

    def read_conf(self, path=None):
        """Effective settings: built-in defaults, then the file's keys."""
        out = dict(_config_defaults())
        with open(path or self.conf) as f:
            for line in f:
                s = line.strip()
                if not s or s.startswith("#") or "=" not in s:
                    continue
                k, _, v = s.partition("=")
                out[k.strip()] = v.strip()
        return out

    def set_conf(self, key, value, path=None):
        """Replaces the line of key (appends it if absent)."""
        path = path or self.conf
        with open(path) as f:
            lines = f.read().splitlines()
        done = False
        for i, line in enumerate(lines):
            s = line.strip()
            if s.startswith("#") or "=" not in s:
                continue
            if s.partition("=")[0].strip() == key:
                lines[i] = "%s = %s" % (key, value)
                done = True
        if not done:
            lines.append("%s = %s" % (key, value))
        with open(path, "w") as f:
            f.write("\n".join(lines) + "\n")
        if path == self.conf:
            self.settings = self.read_conf()

    # ---- TLS -------------------------------------------------------------

    def _setup_tls(self):
        """Verifies the server against the instance's own certificate when it
        names the address we connect to (IP SAN) or a DNS name (sent as SNI
        while connecting to the listen address). A certificate naming
        nothing usable gets CERT_NONE: the suite then tests the protocol, not
        the certificate."""
        self.cert_path = self.settings["tls_cert"]
        sans = []
        try:
            info = ssl._ssl._test_decode_cert(self.cert_path)
            sans = info.get("subjectAltName", ())
        except (ssl.SSLError, OSError, AttributeError):
            pass
        ips = [v for k, v in sans if k == "IP Address"]
        dns = [v for k, v in sans if k == "DNS"]
        if self.host in ips:
            self.tls_name = self.host
        elif dns:
            self.tls_name = "localhost" if "localhost" in dns else dns[0]
        else:
            self.tls_name = None
        self.ssl_ctx = self.client_ctx()

    def client_ctx(self, crt=None, key=None):
        """A client context that verifies the server as described above,
        presenting the client certificate crt (with key) if given."""
        if self.tls_name is not None:
            ctx = ssl.create_default_context(cafile=self.cert_path)
            # The dev certificate is a self-signed leaf (CA:FALSE, no
            # keyCertSign): trust it as the anchor itself.
            ctx.verify_flags |= ssl.VERIFY_X509_PARTIAL_CHAIN
        else:
            ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
            ctx.check_hostname = False
            ctx.verify_mode = ssl.CERT_NONE
        if crt is not None:
            ctx.load_cert_chain(crt, key)
        return ctx

    # ---- life cycle --------------------------------------------------------

    @property
    def log_path(self):
        return os.path.join(self.dir, "test-master.log")

    @property
    def log(self):
        try:
            with open(self.log_path, "rb") as f:
                return f.read().decode(errors="replace")
        except OSError:
            return ""

    def log_tail(self, n=80):
        return "\n".join(self.log.splitlines()[-n:])

    def start(self):
        with open(self.log_path, "wb") as logf:
            self.master = subprocess.Popen(
                [POSTERN, "-c", self.conf, "-F"], stdin=subprocess.DEVNULL,
                stdout=logf, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + START_TIMEOUT
        admin_sock = os.path.join(self.run_dir, "auth-admin")
        while True:
            rc = self.master.poll()
            if rc is not None:
                pytest.fail("postern exited with %d during start-up; log:\n%s"
                            % (rc, self.log_tail()), pytrace=False)
            if os.path.exists(admin_sock) and self._imaps_greets():
                return
            if time.monotonic() > deadline:
                pytest.fail("postern not ready after %ss (IMAPS greeting on "
                            "%d, %s); log:\n%s" % (START_TIMEOUT,
                            self.imaps_port, admin_sock, self.log_tail()),
                            pytrace=False)
            time.sleep(0.05)

    def _imaps_greets(self):
        try:
            with self.imaps(timeout=2) as c:
                return c.greeting.startswith(b"* OK")
        except (OSError, helpers.ConnectionClosed):
            return False

    def member_pids(self):
        """Live processes of this instance: the master, its descendants, and
        anything whose command line names this instance's config (orphans
        included)."""
        pids = helpers.all_pids()
        children = {}
        ours = set()
        me = os.getpid()
        for pid in pids:
            ppid = helpers.proc_ppid(pid)
            if ppid is not None:
                children.setdefault(ppid, []).append(pid)
            cmd = helpers.proc_cmdline(pid)
            if pid != me and cmd and self.conf in cmd:
                ours.add(pid)
        if self.master is not None and self.master.poll() is None:
            todo = [self.master.pid]
            while todo:
                p = todo.pop()
                ours.add(p)
                todo.extend(children.get(p, ()))
        return {p for p in ours if helpers.pid_alive(p)}

    def pids(self, name=None):
        """Live pids of this instance whose program name (basename of
        argv[0]) is name (all if None)."""
        out = set()
        for pid in self.member_pids():
            cmd = helpers.proc_cmdline(pid)
            if cmd and (name is None or helpers.proc_name(cmd) == name):
                out.add(pid)
        return out

    def _login_split(self):
        """(pool, proxies) among the imap-login processes. A proxy is forked
        by a pool process; the master is a subreaper, so a proxy whose pool
        process died becomes the master's child with the same command line.
        Proxies are therefore remembered once seen with an imap-login parent
        (tests look at the tree before they kill or retire a pool process)."""
        logins = self.pids("imap-login")
        for p in logins:
            if helpers.proc_ppid(p) in logins:
                self._proxies_seen.add(p)
        pool = {p for p in logins if helpers.proc_ppid(p) == self.master.pid
                and p not in self._proxies_seen}
        return pool, logins - pool

    def pool_pids(self):
        """imap-login processes the master started (the pool)."""
        return self._login_split()[0]

    def proxy_pids(self):
        """imap-login processes forked by a pool process (TLS proxies)."""
        return self._login_split()[1]

    def tls_proxy_pids(self):
        """tls-proxy processes (the pool carrying implicit-TLS
        connections)."""
        return self.pids("tls-proxy")

    def worker_pids(self, user=None):
        out = set()
        for pid in self.pids("imap"):
            cmd = helpers.proc_cmdline(pid) or []
            if user is None:
                out.add(pid)
            elif any(cmd[i] == "--user" and i + 1 < len(cmd)
                     and cmd[i + 1] == user for i in range(len(cmd))) \
                    or "--user=" + user in cmd:
                out.add(pid)
        return out

    def stop(self):
        """SIGTERM to the master; returns once the master exited and nothing
        of the instance runs any more. Leftovers are killed (by pid) and
        reported with AssertionError."""
        if self.master is None:
            return
        if self.master.poll() is None:
            self.master.send_signal(signal.SIGTERM)
        try:
            self.master.wait(STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            self.master.kill()
            self.master.wait()
            raise AssertionError("master ignored SIGTERM for %ss; log:\n%s"
                                 % (STOP_TIMEOUT, self.log_tail()))
        deadline = time.monotonic() + STOP_TIMEOUT
        left = self.member_pids()
        while left and time.monotonic() < deadline:
            time.sleep(0.05)
            left = self.member_pids()
        if left:
            desc = ["%d %s" % (p, helpers.proc_cmdline(p)) for p in left]
            for p in left:
                try:
                    os.kill(p, signal.SIGKILL)
                except OSError:
                    pass
            raise AssertionError("processes left after SIGTERM:\n%s\nlog:\n%s"
                                 % ("\n".join(desc), self.log_tail()))

    def cleanup(self):
        if not self.failed and not os.environ.get("POSTERN_KEEP"):
            shutil.rmtree(self.dir, ignore_errors=True)

    # ---- clients -----------------------------------------------------------

    def mailadm(self, *args, input=None, conf=None):
        _need(MAILADM)
        return subprocess.run([MAILADM, "-c", conf or self.conf] + list(args),
                              input=input, capture_output=True, text=True,
                              timeout=30)

    def add_user(self, addr, pw):
        r = self.mailadm("user", "add", addr, "--password-stdin",
                         input=pw + "\n")
        assert r.returncode == 0, "mailadm user add %s: %d %s" % (
            addr, r.returncode, r.stderr)

    def tlskey_gen(self, certdir, stem):
        """mailadm tlskey gen certdir/stem: (crt path, key path,
        fingerprint)."""
        path = os.path.join(certdir, stem)
        r = self.mailadm("tlskey", "gen", path)
        assert r.returncode == 0, r.stderr
        fp = r.stdout.splitlines()[0]
        assert len(fp) == 43, r.stdout
        assert oct(os.stat(path + ".key").st_mode & 0o777) == "0o600"
        return path + ".crt", path + ".key", fp

    def imaps(self, timeout=helpers.TIMEOUT, ctx=None, session=None):
        """Raw IMAPS connection, greeting read (c.greeting); ctx (default
        the suite's) and a TLS session to resume may be given."""
        return Conn.open(self.imaps_port, host=self.host,
                         tls=ctx or self.ssl_ctx,
                         server_hostname=self.tls_name, timeout=timeout,
                         session=session)

    def imap_plain(self, timeout=helpers.TIMEOUT):
        return Conn.open(self.imap_port, host=self.host, timeout=timeout)

    def starttls(self, c, ctx=None):
        """STARTTLS on a raw plain connection (ctx default the suite's)."""
        _, tagged = c.command("st", "STARTTLS")
        assert tagged.startswith(b"st OK"), tagged
        c.starttls(ctx or self.ssl_ctx, self.tls_name)
        return c

    def login(self, user, pw):
        """Raw IMAPS connection, logged in (asserted)."""
        c = self.imaps()
        _, tagged = c.command("li", "LOGIN %s %s" % (helpers.quote(user),
                                                      helpers.quote(pw)))
        assert tagged.startswith(b"li OK"), (tagged, self.log_tail())
        return c

    def imaplib_ssl(self):
        return _SSLAt(self.host, self.tls_name, self.imaps_port,
                      ssl_context=self.ssl_ctx, timeout=helpers.TIMEOUT)

    def imaplib_plain(self):
        return _PlainAt(self.host, self.tls_name, self.imap_port,
                        timeout=helpers.TIMEOUT)


def _module_conf(request):
    return dict(getattr(request.module, "POSTERN_CONF", {}))


def _run_instance(overrides):
    inst = Instance(overrides)
    try:
        inst.start()
    except BaseException:
        inst.failed = True
        try:
            inst.stop()
        except AssertionError:
            pass  # the start-up failure is the one to report
        raise
    _live.append(inst)
    return inst


def _finish(inst):
    _live.remove(inst)
    try:
        inst.stop()
    except BaseException:
        inst.failed = True
        raise
    finally:
        inst.cleanup()


@pytest.fixture(scope="module")
def instance(request):
    """A running instance shared by the tests of one module."""
    inst = _run_instance(_module_conf(request))
    yield inst
    _finish(inst)


@pytest.fixture
def fresh_instance(request):
    """A running instance of its own, for tests that kill or signal it."""
    inst = _run_instance(_module_conf(request))
    yield inst
    _finish(inst)


@pytest.fixture(scope="module")
def certdir():
    """A directory for the module's client keys and certificates."""
    d = tempfile.mkdtemp(prefix="postern-certs-", dir="/tmp")
    yield d
    shutil.rmtree(d, ignore_errors=True)


@pytest.fixture
def ssl_ctx(instance):
    return instance.ssl_ctx


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    rep = outcome.get_result()
    if rep.failed:
        for inst in _live:
            inst.failed = True
            rep.sections.append(("postern log %s" % inst.dir,
                                 inst.log_tail(120)))
